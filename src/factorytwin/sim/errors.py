"""The simulation's error: a line or scenario the engines cannot run."""

from __future__ import annotations

from ..errors import FactoryTwinError

__all__ = ["SimulationError"]


class SimulationError(FactoryTwinError, ValueError):
    """A line, scenario or engine choice that cannot be simulated; the message says why."""

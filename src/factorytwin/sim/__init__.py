"""Simulation engines for lines described by the plant model."""

from .distributions import draw
from .line import LineSim, StationRun

__all__ = ["LineSim", "StationRun", "draw"]

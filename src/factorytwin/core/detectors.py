"""The detectors the twin runs on its stream (SPC and anomaly detection join here)."""

from __future__ import annotations

from ..model import PlantIndex
from .analytics import Detector

__all__ = ["detectors"]


def detectors(index: PlantIndex) -> list[Detector]:
    """Every finding-producing processor for a plant model."""
    del index
    return []

"""Recomputing analytics for any past window from the historian, with the same code as the live twin."""

from __future__ import annotations

from .core.analytics import Analytics
from .core.detectors import detectors
from .historian import Historian
from .model import PlantIndex

__all__ = ["replay"]


async def replay(
    index: PlantIndex,
    historian: Historian,
    start: float,
    end: float,
    lookback_s: float = 600.0,
    clear_after_s: float = 30.0,
    chunk: int = 5000,
) -> Analytics:
    """A fresh Analytics fed the stored samples: each signal's last value before ``start - lookback_s``, then
    everything up to ``end``. Ask it for KPIs, bottlenecks and states of any window inside [start, end).
    """
    analytics = Analytics(index, detectors(index), clear_after_s)
    origin = start - lookback_s
    analytics.apply(await historian.initial(origin))
    samples = await historian.window(origin, end)
    for i in range(0, len(samples), chunk):
        analytics.apply(samples[i : i + chunk])
    return analytics

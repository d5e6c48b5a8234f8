"""Production accounting from counters: parts made, good and scrap, and cycle times, per station.

Counters are cumulative; the twin counts their increments. A counter that goes down was reset
(a new shift, a PLC restart): its new value counts as the increment. The first value seen is the
baseline and counts nothing, so replaying history from any point gives the same increments.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from ..columns import Batch, select
from ..events import Sample
from ..model import PlantIndex, Role

__all__ = ["CycleStats", "Increment", "Production", "cycle_stats"]


@dataclass(frozen=True, slots=True)
class Increment:
    """Parts a station counted at a time."""

    station: str
    time: float
    good: int
    scrap: int


@dataclass(frozen=True, slots=True)
class CycleStats:
    """Cycle times observed in a window (seconds)."""

    count: int
    mean: float | None
    std: float | None
    p50: float | None
    p95: float | None


def cycle_stats(values: list[float]) -> CycleStats:
    """Summary statistics of cycle times."""
    if not values:
        return CycleStats(0, None, None, None, None)
    ordered = sorted(values)
    n = len(ordered)
    mean = sum(ordered) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in ordered) / (n - 1)) if n > 1 else 0.0
    return CycleStats(n, mean, std, ordered[(n - 1) // 2], ordered[min(n - 1, math.ceil(0.95 * n) - 1)])


class Production:
    """Counts and cycle times per station from the sample stream."""

    def __init__(self, index: PlantIndex) -> None:
        self._counter: dict[str, tuple[str, str]] = {}  # signal -> (station, "good"|"scrap")
        self._cycle: dict[str, str] = {}  # cycle-time signal -> station
        for station in index.stations:
            for sig in station.signals.values():
                if sig.role is Role.GOOD_COUNT:
                    self._counter[sig.path] = (station.path, "good")
                elif sig.role is Role.SCRAP_COUNT:
                    self._counter[sig.path] = (station.path, "scrap")
                elif sig.role is Role.CYCLE_TIME:
                    self._cycle[sig.path] = station.path
        self._watched = {*self._counter, *self._cycle}
        self._last: dict[str, float] = {}
        self.increments: dict[str, list[Increment]] = {s.path: [] for s in index.stations}
        self.cycles: dict[str, list[tuple[float, float]]] = {s.path: [] for s in index.stations}

    def apply(self, batch: Batch) -> list[Increment]:
        """Fold samples in; return the increments they produced."""
        out: list[Increment] = []
        for s in select(batch, self._watched):
            if not s.quality.usable or not isinstance(s.value, int | float):
                continue
            counter = self._counter.get(s.signal)
            if counter is not None:
                inc = self._increment(s, *counter)
                if inc is not None:
                    out.append(inc)
                    self.increments[inc.station].append(inc)
            elif s.signal in self._cycle and s.value > 0:
                self.cycles[self._cycle[s.signal]].append((s.source_time, float(s.value)))
        return out

    def _increment(self, s: Sample, station: str, kind: str) -> Increment | None:
        value = float(s.value)  # type: ignore[arg-type]
        last = self._last.get(s.signal)
        self._last[s.signal] = value
        if last is None or value == last:
            return None
        delta = int(value - last) if value > last else int(value)
        if delta <= 0:
            return None
        return Increment(station, s.source_time, delta if kind == "good" else 0, delta if kind == "scrap" else 0)

    def counts(self, station: str, start: float, end: float) -> tuple[int, int]:
        """(good, scrap) a station counted in [start, end)."""
        incs = self.increments[station]
        lo = bisect.bisect_left(incs, start, key=lambda i: i.time)
        hi = bisect.bisect_left(incs, end, key=lambda i: i.time)
        window = incs[lo:hi]
        return sum(i.good for i in window), sum(i.scrap for i in window)

    def cycle_times(self, station: str, start: float, end: float) -> CycleStats:
        """Cycle-time statistics of a station in [start, end)."""
        return cycle_stats([v for t, v in self.cycles[station] if start <= t < end])

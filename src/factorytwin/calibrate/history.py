"""What calibration reads from the historian for one line and window: per station its state intervals,
cycle times and counted parts, and the line's condition at the start of the window.

Counters count their increments in the window (core/accounting.py): the last value stored before
the window is the baseline. Cycle times are the values of the station's ``cycle_time`` signal
stamped inside the window (each published value is one part's processing time).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..core.accounting import Production
from ..core.states import StateInterval
from ..events import Quality, Sample, StationState
from ..historian.base import Historian
from ..model import LineInfo, PlantIndex, Role
from ..sim.warm import StationStart, WarmStart

__all__ = ["LineHistory", "StationHistory", "good_parts", "read_history", "warm_start"]

_MAX_SAMPLES = 10_000_000


@dataclass(frozen=True, slots=True)
class StationHistory:
    """One station's record in the window; intervals are clipped to it."""

    path: str
    intervals: list[StateInterval]
    cycles: list[float]
    good: int
    scrap: int

    def seconds(self, *states: StationState) -> float:
        """Time spent in any of the states."""
        return sum(iv.end - iv.start for iv in self.intervals if iv.state in states and iv.end is not None)


@dataclass(frozen=True, slots=True)
class LineHistory:
    """A line's record over [start, end)."""

    line: LineInfo
    start: float
    end: float
    stations: list[StationHistory]
    warm: WarmStart  # the line's condition at the start of the window

    @property
    def output(self) -> int:
        """Good parts the last station made."""
        return self.stations[-1].good

    @property
    def planned(self) -> float:
        """Production seconds of the window under the line's calendar."""
        return self.line.planned_seconds(self.start, self.end)


async def read_history(
    historian: Historian, index: PlantIndex, line_path: str, start: float, end: float
) -> LineHistory:
    """Read a line's window from the historian."""
    info = index.lines[line_path]
    wanted = {
        sig.path
        for asset in info.stations
        for sig in asset.signals.values()
        if sig.role in (Role.GOOD_COUNT, Role.SCRAP_COUNT, Role.CYCLE_TIME)
    }
    levels = [b.by_role(Role.LEVEL) for b in info.buffers]
    before = {s.signal: s for s in await historian.initial(start)}
    production = await _production(historian, index, wanted, before, start, end)
    stations, states = [], []
    for asset in info.stations:
        raw = await historian.intervals(start, end, asset.path)
        states.append(_at(raw, start))
        intervals = [StateInterval(iv.station, iv.state, *iv.clipped(start, end)) for iv in raw]
        good, scrap = production.counts(asset.path, start, end)
        cycles = [v for t, v in production.cycles[asset.path] if start <= t < end]
        stations.append(StationHistory(asset.path, intervals, cycles, good, scrap))
    level_of = {}
    for buffer, level in zip(info.buffers, levels, strict=True):
        sample = before.get(level.path) if level is not None else None
        usable = sample is not None and sample.quality is Quality.GOOD and isinstance(sample.value, int | float)
        level_of[buffer.asset.id] = int(sample.value) if usable else 0  # type: ignore[union-attr, arg-type]
    return LineHistory(info, start, end, stations, warm_start(info, level_of, states))


async def good_parts(historian: Historian, index: PlantIndex, station: str, start: float, end: float) -> int:
    """Good parts a station counted in [start, end), from its ``good_count`` history."""
    counter = index.assets[station].by_role(Role.GOOD_COUNT)
    if counter is None:
        return 0
    before = {s.signal: s for s in await historian.initial(start) if s.signal == counter.path}
    production = await _production(historian, index, {counter.path}, before, start, end)
    return production.counts(station, start, end)[0]


async def _production(
    historian: Historian, index: PlantIndex, signals: set[str], before: dict[str, Sample], start: float, end: float
) -> Production:
    """Counts and cycle times of the signals in [start, end); the last values before it are the baselines."""
    samples: list[Sample] = [before[p] for p in signals if p in before]
    for path in sorted(signals):
        samples += await historian.query(path, start, end, _MAX_SAMPLES)
    samples.sort(key=lambda s: s.source_time)
    production = Production(index)
    production.apply(samples)
    return production


def _at(intervals: list[StateInterval], t: float) -> StationStart:
    """A station's state at t and how long it had been in it (starved when nothing is known)."""
    for iv in intervals:
        if iv.start <= t and (iv.end is None or t < iv.end):
            return StationStart(iv.state, t - iv.start)
    return StationStart()


def warm_start(info: LineInfo, levels: dict[str, int], states: list[StationStart]) -> WarmStart:
    """A warm start from buffer levels (by buffer id; missing ones empty) and station states in flow order.

    Levels above a buffer's capacity are cut to it (a sensor may read one part high while one moves).
    """
    by_pair = {(b.asset.upstream, b.asset.downstream): b.asset for b in info.buffers}  # type: ignore[union-attr]
    ids = [s.asset.id for s in info.stations]
    buffers = []
    for up, down in itertools.pairwise(ids):
        buffer = by_pair.get((up, down))
        capacity = buffer.capacity if buffer is not None else 1  # type: ignore[union-attr]
        buffers.append(min(max(levels.get(buffer.id, 0) if buffer is not None else 0, 0), capacity))
    return WarmStart(tuple(buffers), tuple(states))

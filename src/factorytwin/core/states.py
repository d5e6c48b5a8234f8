"""Station states as intervals, from an explicit state signal or inferred from counters and buffers.

Explicit: the station's ``state`` signal decoded with the model's mapping; a bad or stale state
sample starts an ``unknown`` interval (a data gap is never counted as running or down).

Inferred, for stations without a state signal, re-evaluated when one of its inputs (counters,
neighbouring buffer levels, speed) changes, and exactly when "a part was counted lately" expires:

* a part was counted within the last ``k`` nominal cycles (default 3)  -> running
* else the upstream buffer is empty                                     -> starved
* else the downstream buffer is full                                    -> blocked
* else the speed setpoint is 0                                          -> idle
* else                                                                  -> down
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

from ..columns import Batch, columns_of
from ..events import Quality, Sample, StationState
from ..model import AssetInfo, PlantIndex, Role

__all__ = ["StateInterval", "StateTracker"]


@dataclass(frozen=True, slots=True)
class StateInterval:
    """A station was in one state from start to end (POSIX seconds; end is None while it lasts)."""

    station: str
    state: StationState
    start: float
    end: float | None = None

    def clipped(self, start: float, end: float) -> tuple[float, float]:
        """The part of the interval inside [start, end) as (start, end); empty when start >= end."""
        return max(self.start, start), min(self.end if self.end is not None else end, end)


class _Inference:
    """What inference needs to know about one station."""

    def __init__(self, station: AssetInfo, index: PlantIndex, cycles: float) -> None:
        line = index.lines[station.line_path]
        pos = [s.path for s in line.stations].index(station.path)
        by_up = {b.asset.upstream: b for b in line.buffers}  # type: ignore[union-attr]
        by_down = {b.asset.downstream: b for b in line.buffers}  # type: ignore[union-attr]
        up, down = by_down.get(station.asset.id), by_up.get(station.asset.id)
        self.upstream = up.by_role(Role.LEVEL) if up is not None and pos > 0 else None
        self.downstream = down.by_role(Role.LEVEL) if down is not None else None
        self.capacity = down.asset.capacity if down is not None else None  # type: ignore[union-attr]
        self.counters = [s.path for s in station.signals.values() if s.role in (Role.GOOD_COUNT, Role.SCRAP_COUNT)]
        speed = station.by_role(Role.SPEED)
        self.speed = speed.path if speed is not None else None
        self.window = cycles * station.asset.sim.processing_time.mean  # type: ignore[union-attr]
        self.last_count: float | None = None

    @property
    def inputs(self) -> list[str]:
        """The signals this station's inferred state reads."""
        levels = [b.path for b in (self.upstream, self.downstream) if b is not None]
        return [*self.counters, *levels, *([self.speed] if self.speed else [])]


class StateTracker:
    """Turns the sample stream into closed state intervals per station."""

    def __init__(self, index: PlantIndex, infer_cycles: float = 3.0) -> None:
        self._current: dict[str, StateInterval] = {}
        self._explicit: dict[str, str] = {}  # state signal path -> station
        self._decode: dict[str, Callable[[int], StationState]] = {}
        self._infer: dict[str, _Inference] = {}
        self._latest: dict[str, float] = {}  # latest usable value of signals inference reads
        self._readers: dict[str, list[str]] = {}  # signal path -> inferred stations that read it
        self._expiry: list[tuple[float, str]] = []  # (when "counted lately" runs out, station): a min-heap
        for station in index.stations:
            state = station.by_role(Role.STATE)
            if state is not None:
                self._explicit[state.path] = station.path
                self._decode[state.path] = state.state_of
            else:
                inf = self._infer[station.path] = _Inference(station, index, infer_cycles)
                for signal in inf.inputs:
                    self._readers.setdefault(signal, []).append(station.path)

    def apply(self, batch: Batch) -> list[StateInterval]:
        """Fold samples (in source-time order) in; return the intervals that closed."""
        closed: list[StateInterval] = []
        cols = columns_of(batch)
        explicit, readers, expiry = self._explicit, self._readers, self._expiry
        if explicit.keys().isdisjoint(cols.signals) and readers.keys().isdisjoint(cols.signals):
            if expiry and cols.source_times:  # what the samples' times expire, as one by one
                self._expire(max(cols.source_times), closed)
            return closed
        for i, (signal, t) in enumerate(zip(cols.signals, cols.source_times, strict=True)):
            if expiry and expiry[0][0] <= t:
                self._expire(t, closed)
            if signal in explicit or signal in readers:
                self._sample(cols.sample(i), closed)
        return closed

    def _sample(self, s: Sample, closed: list[StateInterval]) -> None:
        """One sample of a state signal or of a signal an inferred state reads."""
        station = self._explicit.get(s.signal)
        if station is not None:
            code = _state_code(s)
            state = self._decode[s.signal](code) if code is not None else StationState.UNKNOWN
            self._enter(station, state, s.source_time, closed)
        readers = self._readers.get(s.signal)
        if readers is not None:
            self._note(s, readers)
            for path in readers:
                self._enter(path, self._inferred(self._infer[path], s.source_time), s.source_time, closed)

    def _expire(self, now: float, closed: list[StateInterval]) -> None:
        """Stations whose last count has grown old stop running exactly when it did."""
        while self._expiry and self._expiry[0][0] <= now:
            at, path = heapq.heappop(self._expiry)
            inf = self._infer[path]
            if inf.last_count is not None and inf.last_count + inf.window == at:
                self._enter(path, self._inferred(inf, at, counted_lately=False), at, closed)

    def current(self, station: str) -> StateInterval | None:
        """The interval a station is in now (open)."""
        return self._current.get(station)

    def _enter(self, station: str, state: StationState, t: float, closed: list[StateInterval]) -> None:
        cur = self._current.get(station)
        if cur is not None and cur.state is state:
            return
        if cur is not None and t >= cur.start:
            closed.append(StateInterval(station, cur.state, cur.start, t))
        if cur is None or t >= cur.start:
            self._current[station] = StateInterval(station, state, t)

    def _note(self, s: Sample, readers: list[str]) -> None:
        if s.quality.usable and isinstance(s.value, int | float):
            for path in readers:
                inf = self._infer[path]
                if s.signal in inf.counters and (s.signal not in self._latest or s.value > self._latest[s.signal]):
                    inf.last_count = s.source_time
                    heapq.heappush(self._expiry, (s.source_time + inf.window, path))
            self._latest[s.signal] = float(s.value)
        else:
            self._latest.pop(s.signal, None)

    def _inferred(self, inf: _Inference, t: float, counted_lately: bool | None = None) -> StationState:
        if counted_lately is None:
            counted_lately = inf.last_count is not None and t - inf.last_count < inf.window
        if counted_lately:
            return StationState.RUNNING
        if inf.upstream is not None and self._latest.get(inf.upstream.path) == 0:
            return StationState.STARVED
        if inf.downstream is not None and self._latest.get(inf.downstream.path, -1) >= (inf.capacity or 0):
            return StationState.BLOCKED
        if inf.speed is not None and self._latest.get(inf.speed) == 0:
            return StationState.IDLE
        return StationState.DOWN if inf.last_count is not None else StationState.UNKNOWN


def _state_code(s: Sample) -> int | None:
    """The machine state code of a usable sample (the historian hands integers back as floats)."""
    if s.quality is Quality.BAD or s.quality is Quality.STALE or isinstance(s.value, bool):
        return None
    if isinstance(s.value, int):
        return s.value
    if isinstance(s.value, float) and s.value.is_integer():
        return int(s.value)
    return None

"""The general SimPy engine for a serial line: stations, buffers, blocking after service.

Semantics (shared with the virtual plant and documented in docs/simulation.md):

* the first station never starves (unlimited supply), the last never blocks (unlimited demand);
* a station takes a part from its upstream buffer, processes it for a drawn processing time divided
  by its speed factor, then scraps it (with the scrap rate) or counts it good and puts it into the
  downstream buffer, waiting there while the buffer is full (blocking after service);
* failures are operation-dependent: time to failure is drawn (exponential, mean MTBF) in busy
  time; a failure interrupts processing for a repair time (exponential, mean MTTR), after which
  processing resumes where it stopped;
* a speed factor of zero stops the station (idle) once its current part is done.

Each station draws from its own random streams (processing, scrap, failure, repair), so changing
one station does not shift another's draws (common random numbers across scenarios).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from ..events import StationState
from ..model.schema import Buffer, Line, Station
from .distributions import draw

__all__ = ["LineSim", "StationRun"]

LogEntry = tuple[float, str, str]


@dataclass(slots=True)
class StationRun:
    """The live, mutable condition of one simulated station."""

    station: Station
    state: StationState = StationState.IDLE
    good: int = 0
    scrap: int = 0
    failures: int = 0
    speed: float = 1.0
    last_cycle: float = 0.0
    busy_time: float = 0.0
    busy_since_repair: float = 0.0
    time_in_state: dict[StationState, float] = field(default_factory=dict)
    since: float = 0.0

    @property
    def wear(self) -> float:
        """Wear from 0 (new) upwards: busy time since the last repair over the MTBF."""
        mtbf = self.station.sim.mtbf
        return self.busy_since_repair / mtbf if mtbf else 0.0


class _Streams:
    """Independent random streams of one station."""

    def __init__(self, seed: np.random.SeedSequence) -> None:
        proc, scrap, fail, repair = (np.random.default_rng(s) for s in seed.spawn(4))
        self.proc, self.scrap, self.fail, self.repair = proc, scrap, fail, repair


class LineSim:
    """A serial line running on a SimPy environment."""

    def __init__(
        self,
        env: simpy.Environment,
        line: Line,
        seed: int = 0,
        record: bool = False,
        on_state: Callable[[int, StationState], None] | None = None,
    ) -> None:
        self.env = env
        self.line = line
        self.stations = [StationRun(s) for s in line.stations]
        self.buffers: list[simpy.Store] = [simpy.Store(env, capacity=b.capacity) for b in _ordered_buffers(line)]
        self.log: list[LogEntry] | None = [] if record else None
        self._on_state = on_state
        seeds = np.random.SeedSequence(seed).spawn(len(line.stations))
        self._streams = [_Streams(s) for s in seeds]
        self._speed_changed = [env.event() for _ in line.stations]
        for i in range(len(line.stations)):
            env.process(self._run(i))

    def buffer_level(self, index: int) -> int:
        """Parts currently in buffer ``index`` (between station index and index + 1)."""
        return len(self.buffers[index].items)

    def set_speed(self, index: int, factor: float) -> None:
        """Change a station's speed factor (1.0 nominal); it applies from the next part."""
        self.stations[index].speed = max(0.0, factor)
        event = self._speed_changed[index]
        self._speed_changed[index] = self.env.event()
        event.succeed()

    def _set(self, i: int, state: StationState) -> None:
        run = self.stations[i]
        if run.state is state:
            return
        now = self.env.now
        run.time_in_state[run.state] = run.time_in_state.get(run.state, 0.0) + now - run.since
        run.state, run.since = state, now
        if self.log is not None:
            self.log.append((now, run.station.id, state.value))
        if self._on_state is not None:
            self._on_state(i, state)

    def _note(self, i: int, what: str) -> None:
        if self.log is not None:
            self.log.append((self.env.now, self.stations[i].station.id, what))

    def _run(self, i: int) -> Generator[Any, Any, None]:
        run, streams = self.stations[i], self._streams[i]
        up = self.buffers[i - 1] if i > 0 else None
        down = self.buffers[i] if i < len(self.buffers) else None
        sim = run.station.sim
        ttf = _failure_draw(sim.mtbf, streams.fail)
        while True:
            while run.speed <= 0:
                self._set(i, StationState.IDLE)
                yield self._speed_changed[i]
            if up is not None:
                if not up.items:
                    self._set(i, StationState.STARVED)
                part = yield up.get()
            else:
                part = None
            while run.speed <= 0:  # stopped while waiting for the part
                self._set(i, StationState.IDLE)
                yield self._speed_changed[i]
            self._set(i, StationState.RUNNING)
            self._note(i, "start")
            duration = draw(sim.processing_time, streams.proc) / max(run.speed, 1e-9)
            ttf = yield from self._process(i, duration, ttf)
            run.last_cycle = duration
            if sim.scrap_rate > 0 and streams.scrap.random() < sim.scrap_rate:
                run.scrap += 1
                self._note(i, "scrap")
                continue
            run.good += 1
            self._note(i, "finish")
            if down is not None:
                if len(down.items) >= down.capacity:
                    self._set(i, StationState.BLOCKED)
                yield down.put(part)
                self._note(i, "release")

    def _process(self, i: int, duration: float, ttf: float) -> Generator[Any, Any, float]:
        """Process for ``duration`` busy seconds, failing whenever the failure clock runs out."""
        run, streams, sim = self.stations[i], self._streams[i], self.stations[i].station.sim
        remaining = duration
        while ttf <= remaining:
            yield self.env.timeout(ttf)
            remaining -= ttf
            run.busy_time += ttf
            run.failures += 1
            self._set(i, StationState.DOWN)
            assert sim.mttr is not None
            yield self.env.timeout(float(streams.repair.exponential(sim.mttr)))
            run.busy_since_repair = 0.0
            ttf = _failure_draw(sim.mtbf, streams.fail)
            self._set(i, StationState.RUNNING)
        yield self.env.timeout(remaining)
        run.busy_time += remaining
        run.busy_since_repair += remaining
        return ttf - remaining


def _failure_draw(mtbf: float | None, rng: np.random.Generator) -> float:
    return float(rng.exponential(mtbf)) if mtbf else float("inf")


def _ordered_buffers(line: Line) -> list[Buffer]:
    """Buffers in flow order, one between each pair of consecutive stations.

    A pair the model leaves without a buffer gets a one-place hand-over (the smallest buffer).
    """
    by_upstream = {b.upstream: b for b in line.buffers}
    result = []
    for up, down in zip(line.stations, line.stations[1:], strict=False):
        buf = by_upstream.get(up.id) or Buffer(
            id=f"{up.id}-to-{down.id}", upstream=up.id, downstream=down.id, capacity=1
        )
        result.append(buf)
    return result

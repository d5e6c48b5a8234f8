"""The general SimPy engine: serial lines and closed loops, parallel machines, blocking after service.

It runs any line the model file describes, and it is the engine of the virtual plant. The
semantics (docs/simulation.md) are shared with the fast engine (fast.py); both take their random
numbers from the same ``Draws``:

* parts are numbered in the order the first station takes them; each station draws a part's
  processing time and scrap decision by its number, a lot's setup time by the lot's number;
* a station's machines take parts FIFO from the places in front of the station, change over
  before the first part of a new lot, process it (with operation- or time-dependent failures),
  then scrap it or put it into the next station's places, waiting while they are full;
* the first station of an open line has unlimited supply (or the arrival schedule), the last
  unlimited demand; in a closed loop the last station feeds the first and all pallets start in
  front of the first station, and a scrapped part rides its pallet to the end of the loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import simpy

from ..events import StationState
from ..model.schema import Line
from .area import Area
from .draws import Draws, ReplicationDraws
from .failures import BusyClock, Timeline
from .layout import Layout
from .station import StationRun, aggregate
from .warm import Initial

__all__ = ["LineSim", "PartRecord"]

LogEntry = tuple[float, str, str]
PartRecord = list[float]  # part, taken, completed, departed (NaN until known), bad: 1.0 when scrapped
_Process = Generator[Any, Any, None]


class LineSim:
    """A line running on a SimPy environment."""

    def __init__(
        self,
        env: simpy.Environment,
        line: Line,
        seed: int = 0,
        record: bool = False,
        on_state: Callable[[int, StationState], None] | None = None,
        draws: ReplicationDraws | None = None,
        trace: bool = False,
        start: Initial | None = None,
    ) -> None:
        self.env = env
        self.line = line
        self.layout = Layout.of(line)
        self.draws = draws if draws is not None else Draws(line, 1, seed).replication(0)
        self.stations = [StationRun.of(s) for s in line.stations]
        self.log: list[LogEntry] | None = [] if record else None
        self.trace: list[list[PartRecord]] | None = [[] for _ in line.stations] if trace else None
        self._on_state = on_state
        # Asked before each part: a stop (state, seconds) the machine takes first, e.g. a wear failure.
        self.pause: Callable[[int, int], tuple[StationState, float] | None] | None = None
        self._speed_changed = [env.event() for _ in line.stations]
        self._start = start
        self._next_part = start.parts if start is not None else 0
        self._bad: set[int] = set()
        self.areas = [self._area(i) for i in range(len(line.stations))]
        self._timelines: dict[tuple[int, int], Timeline] = {}
        for i, run in enumerate(self.stations):
            for m in range(len(run.machines)):
                if run.station.sim.failure_law() is not None and run.station.sim.failure_mode == "time":
                    job = start.job(i, m, self.draws.r) if start is not None else None
                    self._timelines[i, m] = Timeline(self.draws, i, m, job[2] if job is not None else 0.0)
                    env.process(self._watch(i, m))
                env.process(self._machine(i, m))
        if line.arrivals is not None:
            env.process(self._release())

    def _area(self, i: int) -> Area | None:
        if i == 0 and self.layout.pallets is not None:
            return Area(self.env, self.layout.places(0), [-1] * self.layout.pallets)
        if i == 0 and self.line.arrivals is None:
            return None  # unlimited supply
        return Area(self.env, self.layout.places(i), self._start.queue(i) if self._start is not None else None)

    def buffer_level(self, index: int) -> int:
        """Parts currently in buffer ``index`` (after station ``index``; the last one closes a loop)."""
        area = self.areas[(index + 1) % len(self.areas)]
        return len(area.queue) if area is not None else 0

    def set_speed(self, index: int, factor: float) -> None:
        """Change a station's speed factor (1.0 nominal); it applies from the next part."""
        self.stations[index].speed = max(0.0, factor)
        event = self._speed_changed[index]
        self._speed_changed[index] = self.env.event()
        event.succeed()

    # ------------------------------------------------------------------------ states and log

    def _set(self, i: int, m: int, activity: StationState) -> None:
        """A machine starts an activity; it shows as down while its time-dependent failure lasts."""
        self.stations[i].machines[m].activity = activity
        self._show(i, m)

    def _show(self, i: int, m: int) -> None:
        run, now = self.stations[i], self.env.now
        machine = run.machines[m]
        timeline = self._timelines.get((i, m))
        down = timeline is not None and timeline.down_until(now) is not None
        machine.enter(StationState.DOWN if down else machine.activity, now)
        if run.enter(aggregate([x.state for x in run.machines]), now):
            if self.log is not None:
                self.log.append((now, run.station.id, run.state.value))
            if self._on_state is not None:
                self._on_state(i, run.state)

    def _note(self, i: int, what: str) -> None:
        if self.log is not None:
            self.log.append((self.env.now, self.stations[i].station.id, what))

    # ------------------------------------------------------------------------------ processes

    def _release(self) -> _Process:
        arrivals, area = self.line.arrivals, self.areas[0]
        assert arrivals is not None
        assert area is not None
        k = 0
        while True:
            for _ in range(arrivals.batch):
                area.put(-1)
            yield self.env.timeout(self.draws.release_gap(k))
            k += 1

    def _watch(self, i: int, m: int) -> _Process:
        """Show a time-dependent failure whatever the machine is doing."""
        timeline, machine = self._timelines[i, m], self.stations[i].machines[m]
        k = 0
        while True:
            start, end = timeline.period(k)
            yield self.env.timeout(start - self.env.now)
            machine.failures += k >= timeline.initial  # a repair left from a warm start is no new failure
            self._show(i, m)
            yield self.env.timeout(end - self.env.now)
            machine.busy_since_repair = 0.0
            self._show(i, m)
            k += 1

    def _stopped(self, i: int, m: int) -> _Process:
        while self.stations[i].speed <= 0:
            self._set(i, m, StationState.IDLE)
            yield self._speed_changed[i]

    def _machine(self, i: int, m: int) -> _Process:
        run = self.stations[i]
        sim, loop, last = run.station.sim, self.layout.loop, i == len(self.stations) - 1
        up = self.areas[i]
        down = self.areas[0] if last and loop else None if last else self.areas[i + 1]
        clock = BusyClock(self.draws, i, m) if sim.failure_law() and sim.failure_mode == "operation" else None
        job = self._start.job(i, m, self.draws.r) if self._start is not None else None  # held at time 0
        lot: int | None = None
        while True:
            yield from self._stopped(i, m)
            part = -1
            if up is not None:
                if not up.queue:
                    self._set(i, m, StationState.STARVED)
                part = yield up.get()
            yield from self._stopped(i, m)
            if job is not None:
                part = job[0]
                lot = part // sim.setup.every if sim.setup is not None else None  # set up for it already
            elif i == 0:
                part, self._next_part = self._next_part, self._next_part + 1
            record = [float(part), self.env.now, math.nan, math.nan, 0.0]
            if self.trace is not None:
                self.trace[i].append(record)
            scrapped = False
            if job is None or not job[1]:  # not a part finished before time 0
                yield from self._process(i, m, part, lot, clock, job[2] if job is not None else 0.0)
                lot = part // sim.setup.every if sim.setup is not None else None
                scrapped = self.draws.scrapped(i, part)
                run.scrap += scrapped
                run.good += not scrapped
                self._note(i, "scrap" if scrapped else "finish")
            record[2], job = self.env.now, None
            if scrapped and loop:
                self._bad.add(part)
            if down is not None and not (scrapped and not loop):
                if down.full:
                    self._set(i, m, StationState.BLOCKED)
                yield down.put(part)
                self._note(i, "release")
            if up is not None:
                up.leave()
            record[3:] = self.env.now, float(scrapped or part in self._bad)

    def _process(self, i: int, m: int, part: int, lot: int | None, clock: BusyClock | None, repair: float) -> _Process:
        """Set up for a new lot, wait out a repair left from a warm start, then process the part."""
        run = self.stations[i]
        sim = run.station.sim
        if sim.setup is not None and part // sim.setup.every != lot:
            self._set(i, m, StationState.CHANGEOVER)
            yield from self._work(i, m, self.draws.setup(i, part // sim.setup.every), None)
        if repair > 0 and (i, m) not in self._timelines:  # time-dependent failures: the timeline has it
            self._set(i, m, StationState.DOWN)
            yield self.env.timeout(repair)
        if self.pause is not None and (stop := self.pause(i, m)) is not None:
            self._set(i, m, stop[0])
            yield self.env.timeout(stop[1])
        self._set(i, m, StationState.RUNNING)
        self._note(i, "start")
        duration = self.draws.processing(i, part) / max(run.speed, 1e-9)
        yield from self._work(i, m, duration, clock)
        run.last_cycle = duration

    def _work(self, i: int, m: int, duration: float, clock: BusyClock | None) -> _Process:
        """Work ``duration`` seconds (processing when a busy clock or time failures apply, else setup)."""
        machine = self.stations[i].machines[m]
        timeline = self._timelines.get((i, m))
        processing = clock is not None or machine.activity is StationState.RUNNING
        remaining = duration
        while clock is not None and clock.left <= remaining:  # operation-dependent failures
            yield self.env.timeout(clock.left)
            remaining -= clock.left
            machine.busy_time += clock.left
            machine.failures += 1
            self._set(i, m, StationState.DOWN)
            yield self.env.timeout(clock.repair())
            machine.busy_since_repair = 0.0
            self._set(i, m, StationState.RUNNING)
        while timeline is not None:  # time-dependent failures: work only while up
            end = timeline.down_until(self.env.now)
            if end is not None:
                self._show(i, m)
                yield self.env.timeout(end - self.env.now)
                self._show(i, m)
            step = timeline.next_failure(self.env.now) - self.env.now
            if remaining <= step:
                break
            yield self.env.timeout(step)
            remaining -= step
            machine.busy_time += step if processing else 0.0
        yield self.env.timeout(remaining)
        if clock is not None:
            clock.left -= remaining
        if processing:
            machine.busy_time += remaining
            machine.busy_since_repair += remaining

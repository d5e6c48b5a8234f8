"""The fast exact engine: departure-time recursions, vectorized over replications.

With one machine per station, blocking after service and FIFO flow, a part's times follow from
earlier parts' times (Dallery and Gershwin, "Manufacturing flow line systems: a review of models
and analytical results", Queueing Systems 12, 1992):

    taken_i(n)     = max(arrival_i(n), free_i(n-1))
    completed_i(n) = taken_i(n) + S_i(n)
    departed_i(n)  = max(completed_i(n), free_{i+1}(m))   m: the part b_i + 1 places ahead

where ``S`` is the setup, processing and repair time of the part (operation-dependent failures
only strike while processing, so they are known per part before the run), ``free`` the time the
machine let the part go, ``b_i`` the places after station i. Arrival at the first station is the
release time, or in a closed loop of N pallets the departure of part n - N from the last station.
Parts scrapped in an open line leave it and the next stations skip them. The pairs (station, part)
are computed in an order that puts every pair after those it depends on (schedule.py), each pair
for all replications at once, in loops compiled with numba (kernels.py).

Supported: open serial lines and closed loops, one machine per station, buffers of any size
(zero included), operation-dependent failures, scrap, setups, arrival schedules. Parallel
machines and time-dependent failures need the event-driven engine (line.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..model.schema import Line
from .distributions import FloatArray
from .draws import Draws
from .errors import SimulationError
from .kernels import ahead_parts, fold_failures, recurse, recurse_skipping
from .layout import Layout
from .schedule import schedule
from .trace import Trace
from .warm import Initial

__all__ = ["Failures", "FastRun", "simulate", "unsupported"]

_NEVER = 2**62  # a gap no part number reaches: the station is never blocked

BoolArray = NDArray[np.bool_]


def unsupported(line: Line) -> str | None:
    """Why the fast engine cannot run a line, or None when it can."""
    for s in line.stations:
        if s.sim.machines > 1:
            return f"station '{s.id}' has {s.sim.machines} parallel machines"
        if s.sim.failure_law() is not None and s.sim.failure_mode == "time":
            return f"station '{s.id}' has time-dependent failures"
    return None


@dataclass(frozen=True, slots=True)
class Failures:
    """A station's down periods, shape (replications, failures); NaN beyond the simulated parts."""

    start: FloatArray
    end: FloatArray


@dataclass(frozen=True, slots=True)
class FastRun:
    """The fast engine's trace, and per station what station states need: setups and down periods."""

    trace: Trace
    services: tuple[_Service, ...]
    taken: FloatArray  # (stations, parts, replications)

    @property
    def setup(self) -> FloatArray:
        """Setup time of each part at each station, shape (stations, replications, parts)."""
        return np.stack([s.setup for s in self.services]).swapaxes(1, 2)

    def failures(self) -> tuple[Failures, ...]:
        """Each station's down periods."""
        return tuple(s.down_periods(self.taken[i]) for i, s in enumerate(self.services))


def simulate(draws: Draws, horizon: float, start: Initial | None = None) -> FastRun:
    """Simulate every replication until ``horizon``: every part the first station takes before it.

    ``start``: a warm start (warm.py), the parts in the line and what the stations do at time 0.
    """
    reason = unsupported(draws.line)
    if reason is not None:
        raise SimulationError(f"the fast engine cannot run this line: {reason}")
    parts = _first_guess(draws.line, horizon) + (start.parts if start is not None else 0)
    while True:
        run = _Recursion(draws, parts, start).run()
        reached = float(run.trace.taken[0, :, -1].min())
        if reached >= horizon:
            return run
        parts = int(parts * min(max(1.2 * horizon / max(reached, 1e-9), 1.25), 4.0)) + 1


def _first_guess(line: Line, horizon: float) -> int:
    """Parts the first station takes by ``horizon``: the fastest plausible rate, with a margin."""
    per_part = []
    for s in line.stations:
        sim = s.sim
        law = sim.failure_law()
        t = sim.processing_time.mean * (1 + (law[1].mean / law[0].mean if law else 0))
        per_part.append(t + (sim.setup.time.mean / sim.setup.every if sim.setup else 0))
    rate = 1 / max(per_part)
    if line.arrivals is not None:
        rate = min(rate, line.arrivals.batch / line.arrivals.interval.mean)
    keep = math.prod(1 - s.sim.scrap_rate for s in line.stations) if line.pallets is None else 1.0
    places = sum(c for c in Layout.of(line).buffer if math.isfinite(c)) + len(line.stations)
    pile_up = min(places, 1.5 * horizon / per_part[0])  # parts in the buffers: no more than the first station takes
    return int(1.1 * horizon * rate / keep + pile_up + 32)


class _Recursion:
    """One pass of the recursions over a fixed number of parts; arrays are (stations, parts, replications)."""

    def __init__(self, draws: Draws, parts: int, start: Initial | None = None) -> None:
        self.draws, self.n = draws, parts
        self.layout = layout = Layout.of(draws.line)
        self.m, self.r = len(layout.ids), draws.replications
        self.start = start
        self.preset = np.array(start.first if start is not None else [0] * self.m, dtype=np.int64)
        self.scrapped = np.stack([draws.scrapped(i, parts) for i in range(self.m)])
        if start is not None:  # parts past a station, or finished there before time 0, are good there
            for i in range(self.m):
                self.scrapped[i, : start.first[i] + (start.held[i] if start.blocked[i] else 0)] = False
        alive = [np.ones((parts, self.r), dtype=bool)]
        for i in range(self.m - 1):
            alive.append(alive[i] if layout.loop else alive[i] & ~self.scrapped[i])
        self.alive = np.stack(alive)
        self.skips = not layout.loop and bool(self.scrapped[:-1].any())
        self.total = np.empty((self.m, parts, self.r))  # service time of each part at each station
        self.services = tuple(_Service(draws, i, self.alive[i], self.total[i], start) for i in range(self.m))
        arrivals = draws.line.arrivals
        self.release = np.zeros((parts, self.r))
        if arrivals is not None and not layout.loop:
            new = int(self.preset[0]) + (start.held[0] if start is not None else 0)  # the first part released
            self.release[new:] = draws.releases(parts - new)

    def run(self) -> FastRun:
        order, total = schedule(self.layout, self.n), self.total
        times = np.empty((3, self.m, self.n, self.r))
        if self.skips:
            gaps = [int(self.layout.buffer[i]) + 1 for i in range(self.m - 1)]
            ahead = np.stack([ahead_parts(self.alive[i + 1], g) for i, g in enumerate(gaps)])
            recurse_skipping(order, total, self.alive, self.scrapped, ahead, self.release, self.preset, times)
        else:
            recurse(order, total, self._gaps(), self.layout.pallets or 0, self.release, self.preset, times)
        for i, past in enumerate(self.preset):
            times[:, i, :past] = np.nan  # parts past a station at time 0 never were there in this run
        return FastRun(self._trace(times), self.services, times[0])

    def _gaps(self) -> NDArray[np.int64]:
        """Part n leaves station i once part n - gaps[i] has left the next station (_NEVER: not blocked).

        In a closed loop the last station's next station is the first, where part n comes back as
        part n + pallets: its gap is b + 1 - pallets, often negative.
        """
        buffer, pallets = self.layout.buffer, self.layout.pallets
        gaps = [int(buffer[i]) + 1 for i in range(self.m - 1)]
        gaps.append(int(buffer[-1]) + 1 - pallets if pallets is not None else _NEVER)
        return np.array(gaps, dtype=np.int64)

    def _trace(self, times: FloatArray) -> Trace:
        taken, completed, departed = times
        last = self.m - 1
        if self.layout.loop:
            leave = departed[last]
            good = ~self.scrapped.any(axis=0)
        else:
            gone = [self.alive[i] & self.scrapped[i] for i in range(self.m)]
            leave = np.select([*gone[:last], self.alive[last]], [*departed[:last], departed[last]], np.nan)
            good = self.alive[last] & ~self.scrapped[last]
        taken, completed, departed = (np.swapaxes(x, 1, 2) for x in (taken, completed, departed))
        return Trace(taken, completed, departed, entry=taken[0], leave=leave.T, good=np.asarray(good).T)


class _Service:
    """A station's service time per part: setup, processing and the repairs of failures during it."""

    def __init__(self, draws: Draws, station: int, alive: BoolArray, total: FloatArray, start: Initial | None) -> None:
        """Write the service times of parts into ``total`` (parts, replications)."""
        sim = draws.line.stations[station].sim
        n, r = alive.shape
        held = np.zeros((n, 1), dtype=bool)  # the parts on the machine at time 0
        processed = alive.copy()
        self.delay = np.zeros((n, r))  # a repair left from a warm start, before the part's work
        if start is not None:
            first, count = start.first[station], start.held[station]
            held[first : first + count] = True
            processed[: first + (count if start.blocked[station] else 0)] = False
            if count and not start.blocked[station]:
                self.delay[first] = start.repair[station][:, 0]
        self.work = np.where(processed, draws.processing(station, n), 0.0)
        self._setup: FloatArray | None = None
        self.count = np.zeros((n, r), dtype=np.int64)  # failures up to the end of each part
        self.epochs, self.repairs = np.zeros((r, 0)), np.zeros((r, 0))  # (replications, failures)
        total[:] = self.work
        if sim.setup is not None:
            lot = np.arange(n)[:, None] // sim.setup.every
            seen = np.maximum.accumulate(np.where(processed | held, lot, -1), axis=0)
            new = processed & ~held & (lot != np.vstack([np.full((1, r), -1), seen[:-1]]))
            times = draws.setups(station, int(lot[-1, 0]) + 1)
            self._setup = np.where(new, np.take_along_axis(times, np.broadcast_to(lot, (n, r)), axis=0), 0.0)
            total += self._setup
        if sim.failure_law() is not None:
            k = 16
            while True:
                ttf, ttr = draws.failures(station, 0, k)
                epochs = np.cumsum(ttf, axis=0)  # busy time at which each failure strikes
                if bool((epochs[-1] > self.work.sum(axis=0)).all()):
                    break
                k *= 2
            down, self.count = fold_failures(self.work, epochs, ttr)
            total += down
            self.epochs, self.repairs = epochs.T, ttr.T
        total += self.delay
        self.repaired = np.concatenate([np.zeros((r, 1)), np.cumsum(self.repairs, axis=1)], axis=1)

    @property
    def setup(self) -> FloatArray:
        """Setup time before each part, shape (parts, replications)."""
        return self._setup if self._setup is not None else np.zeros_like(self.work)

    def down_periods(self, taken: FloatArray) -> Failures:
        """Start and end of every failure during the simulated parts, from the parts' start times."""
        reps, k = self.epochs.shape
        start, end = np.full((reps, k), np.nan), np.full((reps, k), np.nan)
        per_part = np.diff(self.count, axis=0, prepend=0).T  # (replications, parts): failures in each part
        rep = np.repeat(np.arange(reps), per_part.sum(axis=1))
        part = np.repeat(np.tile(np.arange(per_part.shape[1]), reps), per_part.ravel())
        first = np.concatenate([[0], np.cumsum(per_part.sum(axis=1))[:-1]])
        fail = np.arange(len(rep)) - first[rep]  # failure number within its replication
        busy = np.cumsum(self.work, axis=0)  # busy time up to the end of each part
        earlier = np.where(part > 0, self.count[part - 1, rep], 0)
        before = np.where(part > 0, busy[part - 1, rep], 0.0)
        t = taken[part, rep] + self.setup[part, rep] + self.delay[part, rep] + self.epochs[rep, fail] - before
        start[rep, fail] = t + self.repaired[rep, fail] - self.repaired[rep, earlier]
        end[rep, fail] = start[rep, fail] + self.repairs[rep, fail]
        left = self.delay.max(axis=0)  # a warm start's repair, from time 0
        if left.any():
            start = np.column_stack([np.where(left > 0, 0.0, np.nan), start])
            end = np.column_stack([np.where(left > 0, left, np.nan), end])
        return Failures(start, end)

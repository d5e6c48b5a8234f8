"""Warm start: a line's condition at simulated time 0, for short-horizon forecasts from the live state.

A ``WarmStart`` says how many parts wait in each buffer and what each station does: a station
``running``, ``changeover``, ``down`` or ``blocked`` holds a part on each of its machines; any
other state holds none. ``resolve`` turns it into an ``Initial``, the numbers both engines start
from (docs/simulation.md, "Warm start"):

* parts in the line are numbered from the end of the line backwards: part 0 is on the last
  station's machine, then come the parts waiting in front of it, then the previous station's, and
  so on; the first station takes new parts from ``Initial.parts`` on;
* a running (or changing-over) station processes its part for its full processing time; a
  blocked station's part is finished and leaves once the next station has a free place; a down
  station first waits for the rest of its repair, drawn from the repair-time law given the
  repair's age (the residual life), then processes the part;
* failure clocks start fresh: a machine's first time to failure is its first draw, as in a cold start.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr  # type: ignore[import-untyped]

from ..events import StationState
from ..model.schema import Distribution, Line
from .distributions import FloatArray, quantile, uniform
from .draws import Draws
from .errors import SimulationError
from .layout import Layout

__all__ = ["HOLDING", "Initial", "StationStart", "WarmStart", "residual"]

HOLDING = frozenset({StationState.RUNNING, StationState.CHANGEOVER, StationState.DOWN, StationState.BLOCKED})
_RESIDUAL = 7  # stream kind of the residual repair draws (Draws uses 1..6)


@dataclass(frozen=True, slots=True)
class StationStart:
    """A station's state at time 0; ``age`` is how long it has been in it (for ``down``: the repair's age)."""

    state: StationState = StationState.STARVED
    age: float = 0.0


@dataclass(frozen=True, slots=True)
class WarmStart:
    """Parts waiting in each buffer (flow order, ``buffers[i]`` after station i) and each station's state."""

    buffers: tuple[int, ...]
    stations: tuple[StationStart, ...]

    def resolve(self, draws: Draws) -> Initial:
        """The start of every replication: part numbers, blocked parts and residual repairs."""
        line = draws.line
        layout = self.check(line)
        m = len(line.stations)
        held = [layout.machines[i] if self.stations[i].state in HOLDING else 0 for i in range(m)]
        waiting = [0, *self.buffers]
        first = [0] * m
        n = 0
        for i in reversed(range(m)):
            first[i] = n
            n += held[i] + waiting[i]
        repair = tuple(self._repairs(draws, i, layout.machines[i]) for i in range(m))
        blocked = tuple(s.state is StationState.BLOCKED for s in self.stations)
        return Initial(tuple(held), tuple(first), n, blocked, repair)

    def check(self, line: Line) -> Layout:
        """The line's layout; SimulationError when the start does not fit the line."""
        layout = Layout.of(line)
        if layout.loop:
            raise SimulationError("a warm start needs an open line; closed loops start cold")
        if len(self.stations) != len(line.stations) or len(self.buffers) != len(line.stations) - 1:
            raise SimulationError(
                f"a warm start of line '{line.id}' needs {len(line.stations)} station states and "
                f"{len(line.stations) - 1} buffer levels, got {len(self.stations)} and {len(self.buffers)}"
            )
        for i, level in enumerate(self.buffers):
            if not 0 <= level <= layout.buffer[i]:
                raise SimulationError(
                    f"buffer after '{layout.ids[i]}' holds {level} parts; it takes 0 to {layout.buffer[i]:g}"
                )
        for sid, s in zip(layout.ids, self.stations, strict=True):
            if not (s.age >= 0 and math.isfinite(s.age)):
                raise SimulationError(f"station '{sid}': the age of its state must be finite and >= 0, got {s.age}")
        return layout

    def _repairs(self, draws: Draws, i: int, machines: int) -> FloatArray:
        """Residual repair time of each machine, shape (replications, machines); 0 when not down."""
        out = np.zeros((draws.replications, machines))
        start, station = self.stations[i], draws.line.stations[i]
        law = station.sim.failure_law()
        if start.state is not StationState.DOWN or law is None:
            return out
        for k in range(machines):
            rng = np.random.default_rng([draws.seed, zlib.crc32(station.id.encode()), _RESIDUAL, k])
            out[:, k] = residual(law[1], start.age, uniform(rng, draws.replications))
        return out


@dataclass(frozen=True, slots=True)
class Initial:
    """A resolved warm start: station i holds parts ``first[i]`` .. ``first[i] + held[i] - 1`` on its machines.

    Parts numbered below ``first[i]`` are past station i; parts from ``first[i] + held[i]`` to
    ``first[i - 1] - 1`` wait in front of it. ``repair[i]`` has shape (replications, machines).
    """

    held: tuple[int, ...]
    first: tuple[int, ...]
    parts: int
    blocked: tuple[bool, ...]
    repair: tuple[FloatArray, ...]

    def queue(self, i: int) -> list[int]:
        """The parts in station i's places at time 0: those on its machines first, then those waiting."""
        end = self.first[i - 1] if i > 0 else self.first[0] + self.held[0]
        return list(range(self.first[i], end))

    def job(self, i: int, machine: int, r: int) -> tuple[int, bool, float] | None:
        """The part a machine holds at time 0 in replication r: (part, finished, repair left), or None."""
        if machine >= self.held[i]:
            return None
        return self.first[i] + machine, self.blocked[i], float(self.repair[i][r, machine])


def residual(dist: Distribution, age: float, u: FloatArray) -> FloatArray:
    """What is left of durations from ``dist`` that have lasted ``age`` seconds, by inversion of ``u``."""
    if dist.dist == "empirical":
        assert dist.values is not None
        longer = np.sort(np.array([v for v in dist.values if v > age] or [age]))
        picked = longer[np.minimum((u * len(longer)).astype(np.int64), len(longer) - 1)]
        return np.asarray(picked - age, dtype=np.float64)
    done = _cdf(dist, age)
    if done >= 1.0:
        return np.zeros_like(u)
    left = quantile(dist, np.clip(done + u * (1.0 - done), 0.0, 1.0 - 1e-16)) - age
    return np.asarray(np.maximum(left, 0.0), dtype=np.float64)


def _cdf(dist: Distribution, x: float) -> float:
    """P(duration <= x) under the same truncation and parameters as ``quantile``."""
    if x <= 0:
        return 0.0
    if dist.dist == "deterministic" or (dist.cv == 0 and dist.dist in ("normal", "lognormal")):
        return 1.0 if x >= dist.mean else 0.0
    if dist.dist == "exponential":
        return -math.expm1(-x / dist.mean)
    if dist.dist == "normal":
        sd = dist.cv * dist.mean
        below = float(ndtr(-dist.mean / sd))
        return (float(ndtr((x - dist.mean) / sd)) - below) / (1.0 - below)
    sigma2 = math.log1p(dist.cv**2)  # lognormal
    mu = math.log(dist.mean) - sigma2 / 2
    return float(ndtr((math.log(x) - mu) / math.sqrt(sigma2)))

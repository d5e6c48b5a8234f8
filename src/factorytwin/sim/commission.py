"""Virtual commissioning: does a line design reach its target rate, what limits it, what would fix it.

The design is simulated over replications. It *meets* the target when the throughput's confidence
interval lies above it, *fails* when the interval lies below, and is *uncertain* otherwise. The
limiting station is the bottleneck of the run (the active period method, see ``Results``), shown
with its static figures (``capacity.py``) and its simulated state fractions. Two remedies are
searched, each until the changed line meets the target at the same confidence level:

* ``speed``: the smallest speed-up of the limiting station (bisection to 1 %, on common random
  numbers). When no speed-up up to ``max_speedup`` is enough because another station takes over,
  that station is sped up as well, and so on: the remedy is then a plan of several speed-ups;
* ``machines``: the fewest parallel machines at the limiting station, up to ``max_machines`` more
  (0 skips it). Parallel machines run on the SimPy engine, so this search takes most of the time;
* ``pallets`` (closed loops): the fewest pallets added, up to 50 more or one less than the loop's
  places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import t as student_t  # type: ignore[import-untyped]

from ..model.schema import Line
from .capacity import StationCapacity, capacities, supply_rate
from .errors import SimulationError
from .layout import ordered_buffers
from .results import Estimate, Results, StationResult
from .run import LineModel
from .scenario import Change
from .trials import Progress, RunSettings, Trials

__all__ = ["Commissioning", "Remedy", "StationEvidence", "Verdict", "commission", "verdict"]

Verdict = Literal["meets", "fails", "uncertain"]


@dataclass(frozen=True, slots=True)
class StationEvidence:
    """Why a station limits or not: its static figures and its simulated state fractions."""

    static: StationCapacity
    simulated: StationResult


@dataclass(frozen=True, slots=True)
class Remedy:
    """A change that makes the line meet the target (``reached``), or the best tried when none does."""

    kind: Literal["speed", "machines", "pallets"]
    changes: tuple[Change, ...]
    results: Results  # the changed line, run on the same random numbers
    reached: bool
    note: str


@dataclass(frozen=True, slots=True)
class Commissioning:
    """A line design checked against its target rate (good parts per hour of production time)."""

    target: float
    results: Results
    verdict: Verdict
    probability: float  # share of replications (each one horizon long) that reached the target
    confidence: float  # probability that the long-run mean reaches it (Student-t over replications)
    limiting: str
    stations: tuple[StationEvidence, ...]
    supply: float | None  # good parts/h the arrival schedule allows, if the line has one
    remedies: tuple[Remedy, ...]


def _meets(throughput: Estimate, target: float) -> bool:
    return throughput.low >= target


def verdict(throughput: Estimate, target: float) -> Verdict:
    """Meets when the interval lies above the target, fails when below, else uncertain."""
    if _meets(throughput, target):
        return "meets"
    return "fails" if throughput.high < target else "uncertain"


def _confidence(samples: np.ndarray, target: float) -> float:
    """Probability that the mean throughput reaches ``target`` (Student-t over the replications)."""
    mean, n = float(samples.mean()), len(samples)
    se = float(samples.std(ddof=1)) / math.sqrt(n)
    if se == 0:
        return 1.0 if mean >= target else 0.0
    return float(student_t.cdf((mean - target) / se, n - 1))


def commission(
    model: LineModel,
    target: float | None = None,
    settings: RunSettings | None = None,
    progress: Progress | None = None,
    *,
    max_speedup: float = 4.0,
    max_machines: int = 3,
) -> Commissioning:
    """Check ``model`` against ``target`` (default: the line's ``target_rate``) and search remedies."""
    goal = target if target is not None else model.line.target_rate
    if goal is None or not goal > 0 or not math.isfinite(goal):
        raise SimulationError(f"line '{model.line.id}' needs a positive target rate (it has no target_rate)")
    trials = Trials(model, settings or RunSettings(), progress)
    trials.expect(1)
    base = trials.results(model.line)
    evidence = tuple(StationEvidence(c, base.station(c.id)) for c in capacities(model.line))
    remedies: tuple[Remedy, ...] = ()
    if not _meets(base.throughput, goal):
        search = _Search(trials, goal, max_speedup)
        remedies = (search.speed_plan(base),)
        if max_machines > 0:
            remedies += (search.machines(base, max_machines),)
        if model.line.pallets is not None:
            remedies += (search.pallets(),)
    return Commissioning(
        target=goal,
        results=base,
        verdict=verdict(base.throughput, goal),
        probability=float(np.mean(base.samples.throughput >= goal)),
        confidence=_confidence(base.samples.throughput, goal),
        limiting=base.bottleneck,
        stations=evidence,
        supply=supply_rate(model.line),
        remedies=remedies,
    )


class _Search:
    """The remedy searches of one commissioning, on its trials."""

    def __init__(self, trials: Trials, target: float, max_speedup: float) -> None:
        self.trials, self.target, self.cap = trials, target, max_speedup

    def _reaches(self, line: Line) -> bool:
        return _meets(Estimate.of(self.trials.throughput(line)), self.target)

    def _speedup(self, line: Line, station: str) -> float | None:
        """The smallest speed factor (rounded up to 0.01) at which ``station`` alone makes ``line`` meet the target."""
        effective = next(c.effective for c in capacities(line) if c.id == station)
        guess = min(max(self.target / effective, 1.01), self.cap)
        ladder = sorted({min(guess * k, self.cap) for k in (1.02, 1.15, 1.5)} | {self.cap})
        self.trials.expect(len(ladder) + 7)
        lo, hi = 1.0, None
        for factor in ladder:
            if self._reaches(Change(station, "speed", factor).apply(line)):
                hi = factor
                break
            lo = factor
        if hi is None:
            return None
        while hi / lo > 1.005:
            mid = math.sqrt(lo * hi)
            lo, hi = (lo, mid) if self._reaches(Change(station, "speed", mid).apply(line)) else (mid, hi)
        return math.ceil(hi * 100) / 100

    def speed_plan(self, base: Results) -> Remedy:
        """Speed up the limiting station just enough; when that is not enough alone, the next one too."""
        line, results, plan = self.trials.model.line, base, list[Change]()
        note = ""
        for _ in line.stations:
            station = results.bottleneck
            if any(c.target == station for c in plan):
                note = f"speeding up {station} further does not reach the target"
                break
            factor = self._speedup(line, station)
            if factor is not None:
                plan.append(Change(station, "speed", factor))
                line = plan[-1].apply(line)
                break
            effective = next(c.effective for c in capacities(line) if c.id == station)
            factor = math.ceil(max(self.target / effective, 1.0) * 105) / 100  # no longer limiting on paper
            plan.append(Change(station, "speed", factor))
            line = plan[-1].apply(line)
            self.trials.expect(1)
            results = self.trials.results(line)
        self.trials.expect(1)
        final = self.trials.results(line)
        reached = _meets(final.throughput, self.target)
        if not reached and not note:
            note = (
                f"no station alone sped up to x{self.cap:g} reaches the target, nor the plan shown "
                "(each limiting station raised just above the target on paper)"
            )
        return Remedy("speed", tuple(plan), final, reached, note)

    def pallets(self) -> Remedy:
        """The fewest pallets in the loop that make it meet the target."""
        line = self.trials.model.line
        assert line.pallets is not None
        places = sum(b.capacity for b in ordered_buffers(line)) + sum(s.sim.machines for s in line.stations)
        most = min(places - 1, line.pallets + 50)
        self.trials.expect(most - line.pallets + 1)
        change = Change("line", "pallets", line.pallets)
        for count in range(line.pallets + 1, most + 1):
            change = Change("line", "pallets", count)
            if self._reaches(change.apply(line)):
                return Remedy("pallets", (change,), self.trials.results(change.apply(line)), True, "")
        note = f"no number of pallets up to {most} reaches the target"
        return Remedy("pallets", (change,), self.trials.results(change.apply(line)), False, note)

    def machines(self, base: Results, most: int) -> Remedy:
        """The fewest parallel machines at the limiting station that make the line meet the target."""
        station = base.bottleneck
        have = next(s.sim.machines for s in self.trials.model.line.stations if s.id == station)
        self.trials.expect(most)
        results = base
        for count in range(have + 1, have + most + 1):
            change = Change(station, "machines", count)
            results = self.trials.results(change.apply(self.trials.model.line))
            if _meets(results.throughput, self.target):
                return Remedy("machines", (change,), results, True, "")
        note = f"{have + most} machines at {station} do not reach the target: {results.bottleneck} limits then"
        return Remedy("machines", (Change(station, "machines", have + most),), results, False, note)

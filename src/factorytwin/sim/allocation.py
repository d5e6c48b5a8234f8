"""Buffer allocation: share a budget of buffer places among a line's buffers for the most throughput.

The search runs on common random numbers, so the throughput of an allocation is a deterministic
function of the allocation and every comparison is paired:

1. **greedy marginal allocation**: starting from empty buffers, add ``step`` places at a time to
   the buffer where they raise throughput most (every buffer tried, as one batch on the same draws);
2. **exchange refinement**: move ``d`` places from one buffer to another while the best such move
   raises throughput, with ``d`` halved down to 1 when no move helps.

Allocations that only move buffer places reuse the draws (``Trials``), so each candidate costs one
pass of the fast engine's recursion. Throughput after a search is biased upwards (the best of many
on the same draws), so the best, the current and the even allocation are then run again on fresh
random numbers (seed + 1), and the gains reported are paired differences on those.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..model.schema import Buffer, Line
from .errors import SimulationError
from .layout import ordered_buffers
from .results import Estimate, Results
from .run import LineModel
from .scenario import compare
from .trials import Progress, RunSettings, Trials

__all__ = ["Allocation", "allocate", "with_capacities"]

Capacities = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Allocation:
    """The best allocation found, and how it compares with the current and the even allocation."""

    budget: int
    buffers: tuple[str, ...]  # in flow order (a pair of stations without a buffer gets one)
    best: Capacities
    current: Capacities
    even: Capacities
    results: Results  # the best allocation, on fresh random numbers
    current_results: Results
    even_results: Results
    gain_vs_current: Estimate  # paired: best - current, good parts/h
    gain_vs_even: Estimate
    evaluations: int  # candidates simulated by the search
    search_throughput: float  # mean throughput of the best on the search's random numbers


def with_capacities(line: Line, capacities: Iterable[int]) -> Line:
    """The line with its buffers (in flow order, see ``ordered_buffers``) holding ``capacities`` places."""
    buffers = [
        Buffer(**{**b.model_dump(), "capacity": c}) for b, c in zip(ordered_buffers(line), capacities, strict=True)
    ]
    return line.model_copy(update={"buffers": buffers})


def _even(budget: int, count: int) -> Capacities:
    share, left = divmod(budget, count)
    return tuple(share + (1 if k < left else 0) for k in range(count))


class _Search:
    """Throughput of allocations on the search's draws, each computed once."""

    def __init__(self, trials: Trials, line: Line) -> None:
        self.trials, self.line = trials, line
        self.seen: dict[Capacities, float] = {}

    def value(self, alloc: Capacities) -> float:
        if alloc not in self.seen:
            try:
                self.seen[alloc] = float(self.trials.throughput(with_capacities(self.line, alloc)).mean())
            except SimulationError:  # a loop with too few places for its pallets jams
                self.seen[alloc] = -math.inf
        return self.seen[alloc]

    def best_of(self, batch: list[Capacities]) -> Capacities:
        """The best of a batch of candidates (the first of equals), all on the same draws."""
        return max(batch, key=self.value)

    def greedy(self, budget: int, count: int, step: int) -> Capacities:
        alloc: Capacities = (0,) * count
        left = budget
        while left > 0:
            add = min(step, left)
            alloc = self.best_of([tuple(c + add * (k == j) for k, c in enumerate(alloc)) for j in range(count)])
            left -= add
        return alloc

    def exchange(self, alloc: Capacities, step: int) -> Capacities:
        count, d = len(alloc), step
        while d >= 1:
            moves = [
                tuple(c - d * (k == i) + d * (k == j) for k, c in enumerate(alloc))
                for i in range(count)
                for j in range(count)
                if i != j and alloc[i] >= d
            ]
            best = self.best_of(moves) if moves else alloc
            if self.value(best) > self.value(alloc):
                alloc = best
            else:
                d //= 2
        return alloc


def allocate(
    model: LineModel,
    budget: int,
    settings: RunSettings | None = None,
    progress: Progress | None = None,
    *,
    step: int | None = None,
) -> Allocation:
    """The allocation of ``budget`` buffer places with the most throughput (greedy, then exchanges)."""
    line = model.line
    buffers = ordered_buffers(line)
    if not buffers:
        raise SimulationError(f"line '{line.id}' has a single station: no buffer to allocate")
    if budget < 0:
        raise SimulationError(f"the buffer budget must be at least 0, got {budget}")
    if line.pallets is not None and budget + sum(s.sim.machines for s in line.stations) <= line.pallets:
        raise SimulationError(f"{budget} buffer places leave no room to move {line.pallets} pallets: the loop jams")
    settings = settings or RunSettings()
    trials = Trials(model, settings, progress)
    count = len(buffers)
    step = step or max(1, budget // 16)
    rounds = math.floor(math.log2(step)) + 2  # exchanges: at least one round per move size, one that helps
    trials.expect(count * -(-budget // step) + count * (count - 1) * rounds + 3)
    search = _Search(trials, line)
    best = search.exchange(search.greedy(budget, count, step), step)
    current = tuple(b.capacity for b in buffers)
    even = _even(budget, count)
    fresh = [trials.results(with_capacities(line, a), reseed=1) for a in (best, current, even)]
    return Allocation(
        budget=budget,
        buffers=tuple(b.id for b in buffers),
        best=best,
        current=current,
        even=even,
        results=fresh[0],
        current_results=fresh[1],
        even_results=fresh[2],
        gain_vs_current=compare(fresh[1], fresh[0]).throughput,
        gain_vs_even=compare(fresh[2], fresh[0]).throughput,
        evaluations=len(search.seen),
        search_throughput=search.value(best),
    )

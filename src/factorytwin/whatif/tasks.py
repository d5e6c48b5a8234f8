"""The simulation tasks jobs run: what-if, commissioning, improvement ranking, buffer allocation.

Each takes its inputs and a progress callback ``(done, total)`` and returns the same JSON document
as the CLI's ``--json`` output (``factorytwin.sim.export``). They run in worker processes, so their
arguments are plain picklable values: a ``LineModel``, changes, ``RunSettings``. ``scenario_of``
checks changes up front, so a bad change is refused before a job is queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..sim.allocation import allocate
from ..sim.commission import commission
from ..sim.export import allocation_json, commission_json, comparison_json, ranking_json
from ..sim.improve import Improvement, rank
from ..sim.run import LineModel, run
from ..sim.scenario import Change, Scenario, compare
from ..sim.trials import RunSettings

__all__ = ["allocation_task", "commission_task", "ranking_task", "scenario_of", "whatif_task"]

Progress = Callable[[int, int], None]


def scenario_of(model: LineModel, changes: list[str]) -> Scenario:
    """Parse and apply the changes once (raising ``SimulationError`` for a bad one); the checked scenario."""
    scenario = Scenario("scenario", tuple(Change.parse(text) for text in changes))
    scenario.apply(model)
    return scenario


def whatif_task(model: LineModel, scenario: Scenario, settings: RunSettings, progress: Progress) -> dict[str, Any]:
    """Baseline and scenario on common random numbers; progress counts replications."""
    total = 2 * settings.replications
    progress(0, total)
    runs = []
    for k, variant in enumerate((model, scenario.apply(model))):
        s = settings
        runs.append(run(variant, s.horizon, s.replications, s.seed, warmup=s.warmup))
        progress((k + 1) * settings.replications, total)
    return comparison_json(compare(runs[0], runs[1]), scenario.changes)


def commission_task(
    model: LineModel, target: float | None, max_machines: int, settings: RunSettings, progress: Progress
) -> dict[str, Any]:
    """Virtual commissioning against ``target`` (default the line's target rate)."""
    return commission_json(commission(model, target, settings, progress, max_machines=max_machines))


def ranking_task(
    model: LineModel, improvements: tuple[Improvement, ...], settings: RunSettings, progress: Progress
) -> dict[str, Any]:
    """Improvements at every station, ranked by throughput gain."""
    return ranking_json(rank(model, settings, improvements, progress))


def allocation_task(
    model: LineModel, budget: int, step: int | None, settings: RunSettings, progress: Progress
) -> dict[str, Any]:
    """The best allocation of ``budget`` buffer places."""
    return allocation_json(allocate(model, budget, settings, progress, step=step))

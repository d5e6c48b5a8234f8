"""From what the monitor knows to a priced maintenance plan for a line.

Candidates: condition-based interventions not grouped, grouped within a shift and within a day,
against two references: run to failure and a fixed interval. The twin's simulation (price.py)
prices each on the same random numbers; the recommended plan is the candidate with the most
good output.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FactoryTwinError
from ..model import LineInfo
from ..sim.run import LineModel
from .monitor import MaintenanceMonitor
from .plan import Outlook, Plan, fixed_interval, grouped
from .price import Priced, price
from .rul import remaining

__all__ = ["Advice", "advise", "outlooks"]

_DEFAULT_REPAIR, _DEFAULT_SERVICE = 7200.0, 1800.0
_WINDOWS = (0.0, 8 * 3600.0, 86400.0)


@dataclass(frozen=True, slots=True)
class Advice:
    """The priced candidates, best first, and the references."""

    best: Priced
    candidates: tuple[Priced, ...]
    run_to_failure: Priced
    fixed: Priced
    outlooks: tuple[Outlook, ...]


def outlooks(monitor: MaintenanceMonitor, line: LineInfo, samples: int = 2000) -> list[Outlook]:
    """The planner's view of each station of a line that has a learned degradation model."""
    out = []
    for k, asset in enumerate(line.stations):
        pop = monitor.populations.get(asset.path)
        st = monitor.stations.get(asset.path)
        if pop is None or st is None:
            continue
        d = [st.health.degradation(means) for _, means in st.path]
        points = [(age, x) for (age, _), x in zip(st.path, d, strict=True) if x == x]
        ages, degradation = [a for a, _ in points], [x for _, x in points]
        _, smoothed, left = remaining(pop, ages, degradation, samples, seed=k)
        left = (left - (st.age - smoothed)).clip(min=0.0) if ages else left
        _, _, life = remaining(pop, [], [], samples, seed=1000 + k)
        wear = asset.asset.sim.wear  # type: ignore[union-attr]
        repair = wear.repair if wear is not None else _DEFAULT_REPAIR
        service = wear.service if wear is not None else _DEFAULT_SERVICE
        utilization = st.utilization if st.utilization == st.utilization else 1.0
        out.append(Outlook(asset.asset.id, left, life, utilization, service, repair))
    return out


def advise(
    line: LineInfo,
    looks: list[Outlook],
    horizon: float,
    replications: int = 4,
    seed: int = 0,
    start: float = 0.0,
) -> Advice:
    """Price the candidate plans and the references over ``horizon`` seconds from ``start`` (POSIX)."""
    if not looks:
        raise FactoryTwinError(f"no station of line '{line.line.id}' has a learned degradation model yet")
    model = LineModel.of(line, start)
    slowest = max(s.sim.processing_time.mean for s in line.line.stations)
    lot = max(1, round(120.0 / slowest))

    def priced(plan: Plan) -> Priced:
        return price(model, looks, plan, replications, seed, lot)

    candidates = tuple(sorted((priced(grouped(looks, horizon, w)) for w in _WINDOWS), key=lambda p: -p.output.mean))
    rtf = priced(Plan("run to failure", horizon, ()))
    fixed = priced(fixed_interval(looks, horizon))
    return Advice(candidates[0], candidates, rtf, fixed, tuple(looks))

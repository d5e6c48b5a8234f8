"""Short-horizon forecasts from a warm start: how many good parts by the end of a period, and the chance of a target.

``forecast(model, warm, horizon, ...)`` starts every replication from the same line condition
(warm.py) and simulates ``horizon`` seconds of production time. With ``made`` good parts already
counted in the period and a ``target`` for the whole period, the probability of reaching it is the
share of replications in which ``made + output >= target``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.schema import Line
from .draws import Draws
from .engines import Engine, choose, run_engine
from .errors import SimulationError
from .layout import Layout
from .results import Estimate, Results, summarize
from .run import LineModel
from .warm import WarmStart

__all__ = ["Forecast", "forecast"]


@dataclass(frozen=True, slots=True)
class Forecast:
    """Good parts expected by the end of the period, from what is made so far and a warm-started run."""

    results: Results  # the simulated rest of the period
    made: int  # good parts already made in the period
    target: float | None  # good parts the whole period should make
    total: Estimate  # made + simulated output
    low: float  # 5 % of replications make fewer parts in total
    high: float  # 95 % make at most this many
    probability: float | None  # share of replications reaching the target

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        r = self.results
        return {
            "line": r.line,
            "engine": r.engine,
            "horizon_s": r.horizon,
            "replications": r.replications,
            "made": self.made,
            "target": self.target,
            "expected_total": _estimate(self.total),
            "total_90": [self.low, self.high],
            "probability": self.probability,
            "rest_throughput": _estimate(r.throughput),
            "bottleneck": r.bottleneck,
        }


def forecast(
    model: LineModel | Line,
    warm: WarmStart,
    horizon: float,
    replications: int = 50,
    seed: int = 0,
    *,
    made: int = 0,
    target: float | None = None,
    engine: Engine = "auto",
) -> Forecast:
    """Simulate ``horizon`` seconds of production time from ``warm``; see the module docstring."""
    line = model.line if isinstance(model, LineModel) else model
    if replications < 2 or not horizon > 0:
        raise SimulationError(f"a forecast needs replications >= 2 and a positive horizon, got {horizon:g} s")
    draws = Draws(line, replications, seed)
    chosen = choose(draws, engine)
    trace, states = run_engine(draws, chosen, 0.0, horizon, warm.resolve(draws))
    results = summarize((line.id, chosen, horizon, 0.0, horizon, seed), Layout.of(line).ids, trace, states)
    total = made + results.samples.output
    low, high = (float(q) for q in np.quantile(total, [0.05, 0.95]))
    chance = float(np.mean(total >= target)) if target is not None else None
    return Forecast(results, made, target, Estimate.of(total), low, high, chance)


def _estimate(e: Estimate) -> dict[str, float]:
    return {"mean": e.mean, "low": e.low, "high": e.high}

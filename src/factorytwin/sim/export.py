"""JSON documents of simulation answers: runs, comparisons, commissioning, buffer allocation, rankings.

The CLI's ``--json`` output and the API's job results are these same documents. Rates are good
parts per hour of production time, times are seconds, and every estimate is
``{mean, low, high, n, level}`` (``null`` where one replication gives no interval).
"""

from __future__ import annotations

import math
from typing import Any

from .allocation import Allocation
from .commission import Commissioning, Remedy
from .improve import Ranking
from .results import Estimate, Results
from .scenario import Change, Comparison

__all__ = [
    "allocation_json",
    "change_text",
    "commission_json",
    "comparison_json",
    "estimate_json",
    "ranking_json",
    "results_json",
]


def _num(value: float) -> float | None:
    return None if math.isnan(value) else value


def estimate_json(e: Estimate) -> dict[str, Any]:
    """An estimate with its confidence interval."""
    return {"mean": _num(e.mean), "low": _num(e.low), "high": _num(e.high), "n": e.n, "level": e.level}


def change_text(change: Change) -> str:
    """A change as ``target.param=value``."""
    return f"{change.target}.{change.param}={change.value:g}"


def results_json(r: Results) -> dict[str, Any]:
    """A run: line figures with confidence intervals, each station's state fractions."""
    states = ("running", "down", "blocked", "starved", "idle", "changeover", "active")
    stations = [
        {"id": s.id, "bottleneck_share": s.bottleneck_share, **{k: estimate_json(getattr(s, k)) for k in states}}
        for s in r.stations
    ]
    return {
        "line": r.line,
        "engine": r.engine,
        "horizon_s": r.horizon,
        "warmup_s": r.warmup,
        "planned_s": r.planned,
        "replications": r.replications,
        "seed": r.seed,
        "throughput_per_h": estimate_json(r.throughput),
        "output": estimate_json(r.output),
        "wip": estimate_json(r.wip),
        "lead_time_s": estimate_json(r.lead_time),
        "bottleneck": r.bottleneck,
        "stations": stations,
    }


def comparison_json(c: Comparison, changes: list[Change] | tuple[Change, ...]) -> dict[str, Any]:
    """A scenario against the baseline (paired differences, scenario minus baseline)."""
    return {
        "changes": [change_text(ch) for ch in changes],
        "baseline": results_json(c.base),
        "scenario": results_json(c.other),
        "difference": {
            "throughput_per_h": estimate_json(c.throughput),
            "output": estimate_json(c.output),
            "wip": estimate_json(c.wip),
            "lead_time_s": estimate_json(c.lead_time),
        },
        "bottleneck_moved": c.bottleneck_moved,
    }


def _remedy_json(r: Remedy) -> dict[str, Any]:
    return {
        "kind": r.kind,
        "changes": [change_text(ch) for ch in r.changes],
        "reached": r.reached,
        "throughput_per_h": estimate_json(r.results.throughput),
        "bottleneck": r.results.bottleneck,
        "note": r.note,
    }


def commission_json(c: Commissioning) -> dict[str, Any]:
    """A design against its target: verdict, the limiting station with evidence, remedies."""
    stations = [
        {
            "id": e.static.id,
            "capacity_per_h": e.static.capacity,
            "availability": e.static.availability,
            "effective_per_h": e.static.effective,
            "blocked": estimate_json(e.simulated.blocked),
            "starved": estimate_json(e.simulated.starved),
            "down": estimate_json(e.simulated.down),
            "active": estimate_json(e.simulated.active),
            "bottleneck_share": e.simulated.bottleneck_share,
        }
        for e in c.stations
    ]
    return {
        "target_per_h": c.target,
        "verdict": c.verdict,
        "meets": c.verdict == "meets",
        "throughput_per_h": estimate_json(c.results.throughput),
        "probability": c.probability,
        "confidence": c.confidence,
        "limiting": c.limiting,
        "supply_per_h": c.supply,
        "stations": stations,
        "remedies": [_remedy_json(r) for r in c.remedies],
        "run": results_json(c.results),
    }


def allocation_json(a: Allocation) -> dict[str, Any]:
    """The best buffer allocation, with the current and even ones on the same fresh random numbers."""

    def option(caps: tuple[int, ...], r: Results) -> dict[str, Any]:
        return {
            "capacities": dict(zip(a.buffers, caps, strict=True)),
            "total": sum(caps),
            "throughput_per_h": estimate_json(r.throughput),
            "bottleneck": r.bottleneck,
        }

    return {
        "budget": a.budget,
        "buffers": list(a.buffers),
        "best": option(a.best, a.results),
        "current": option(a.current, a.current_results),
        "even": option(a.even, a.even_results),
        "gain_vs_current_per_h": estimate_json(a.gain_vs_current),
        "gain_vs_even_per_h": estimate_json(a.gain_vs_even),
        "evaluations": a.evaluations,
        "search_seed": a.results.seed - 1,
        "check_seed": a.results.seed,
    }


def ranking_json(r: Ranking) -> dict[str, Any]:
    """Improvements ranked by throughput gain, and each station at its best improvement."""
    gains = [
        {
            "station": g.station,
            "improvement": str(g.improvement),
            "label": g.improvement.label,
            "change": change_text(g.change),
            "gain_per_h": estimate_json(g.comparison.throughput),
            "relative": g.comparison.throughput.mean / r.base.throughput.mean if r.base.throughput.mean else None,
            "bottleneck_after": g.comparison.other.bottleneck,
            "bottleneck_moved": g.comparison.bottleneck_moved,
        }
        for g in r.gains
    ]
    return {
        "baseline": results_json(r.base),
        "gains": gains,
        "order": [g.station for g in r.best_per_station()],
    }

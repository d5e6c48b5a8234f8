"""`factorytwin simulate` and `factorytwin whatif`: the line model run over replications, scenarios compared."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import FactoryTwinError
from .model import PlantIndex, PlantModel
from .sim import Change, Comparison, Estimate, Results, Scenario, run
from .sim.run import LineModel

__all__ = [
    "SimOptions",
    "comparison_json",
    "comparison_table",
    "dump",
    "results_json",
    "results_table",
    "run_scenarios",
]


@dataclass(frozen=True, slots=True)
class SimOptions:
    """How long, how often and on which line to simulate."""

    hours: float = 8.0
    replications: int = 20
    seed: int = 0
    warmup_hours: float = 0.5
    line: str | None = None


def run_scenarios(model: PlantModel, scenarios: list[Scenario], options: SimOptions, quiet: bool) -> list[Results]:
    """Run each scenario on the same random numbers, with a progress display unless quiet."""
    index = PlantIndex(model)
    if options.line is not None and options.line not in index.lines:
        raise FactoryTwinError(f"unknown line '{options.line}'")
    info = index.lines[options.line] if options.line else next(iter(index.lines.values()))
    base = LineModel.of(info)
    results: list[Results] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=quiet, transient=True) as progress:
        for scenario in scenarios:
            label = f"{scenario.name}: {options.replications} replications of {options.hours:g} h"
            task = progress.add_task(label, total=1)
            horizon, warmup = options.hours * 3600, options.warmup_hours * 3600
            results.append(run(scenario.apply(base), horizon, options.replications, options.seed, warmup=warmup))
            progress.update(task, completed=1)
    return results


def _num(value: float) -> float | None:
    return None if math.isnan(value) else value


def _est(e: Estimate) -> dict[str, Any]:
    return {"mean": _num(e.mean), "low": _num(e.low), "high": _num(e.high), "n": e.n, "level": e.level}


def results_json(r: Results) -> dict[str, Any]:
    """A run as JSON: line figures with confidence intervals, each station's state fractions."""
    states = ("running", "down", "blocked", "starved", "idle", "changeover", "active")
    stations = [
        {"id": s.id, "bottleneck_share": s.bottleneck_share, **{k: _est(getattr(s, k)) for k in states}}
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
        "throughput_per_h": _est(r.throughput),
        "output": _est(r.output),
        "wip": _est(r.wip),
        "lead_time_s": _est(r.lead_time),
        "bottleneck": r.bottleneck,
        "stations": stations,
    }


def comparison_json(c: Comparison, changes: list[Change]) -> dict[str, Any]:
    """A scenario against the baseline as JSON (paired differences, scenario minus baseline)."""
    return {
        "changes": [f"{ch.target}.{ch.param}={ch.value:g}" for ch in changes],
        "baseline": results_json(c.base),
        "scenario": results_json(c.other),
        "difference": {
            "throughput_per_h": _est(c.throughput),
            "output": _est(c.output),
            "wip": _est(c.wip),
            "lead_time_s": _est(c.lead_time),
        },
        "bottleneck_moved": c.bottleneck_moved,
    }


def _pct(e: Estimate) -> str:
    return f"{max(0.0, 100 * e.mean):.1f} %"  # never "-0.0 %" from rounding


def results_table(r: Results) -> Table:
    """A run as a table: one row per station, the line's figures in the title."""
    table = Table(
        title=(
            f"{r.line}: throughput {r.throughput} good/h, WIP {r.wip}, lead time {r.lead_time} s "
            f"({r.replications} replications, {r.engine} engine, bottleneck {r.bottleneck})"
        )
    )
    for col in ("station", "running", "down", "blocked", "starved", "bottleneck in"):
        table.add_column(col, justify="left" if col == "station" else "right")
    for s in r.stations:
        table.add_row(
            s.id,
            _pct(s.running),
            _pct(s.down),
            _pct(s.blocked),
            _pct(s.starved),
            f"{100 * s.bottleneck_share:.0f} % of runs",
        )
    return table


def comparison_table(c: Comparison, changes: list[Change]) -> Table:
    """Baseline against scenario, with the paired difference and its confidence interval."""
    what = ", ".join(f"{ch.target}.{ch.param}={ch.value:g}" for ch in changes)
    table = Table(title=f"what if {what}?")
    for col in ("", "baseline", "scenario", "difference (95 % CI)"):
        table.add_column(col, justify="left" if not col else "right")
    rows: list[tuple[str, Callable[[Results], Estimate], Estimate]] = [
        ("throughput (good/h)", lambda r: r.throughput, c.throughput),
        ("output (good parts)", lambda r: r.output, c.output),
        ("WIP (parts)", lambda r: r.wip, c.wip),
        ("lead time (s)", lambda r: r.lead_time, c.lead_time),
    ]
    for name, get, diff in rows:
        table.add_row(
            name,
            f"{get(c.base).mean:.4g}",
            f"{get(c.other).mean:.4g}",
            f"{diff.mean:+.4g} [{diff.low:+.4g}, {diff.high:+.4g}]",
        )
    moved = f"moves from {c.base.bottleneck} to {c.other.bottleneck}" if c.bottleneck_moved else "stays"
    table.caption = f"bottleneck {moved} ({c.base.bottleneck if not c.bottleneck_moved else c.other.bottleneck})"
    return table


def dump(doc: dict[str, Any]) -> str:
    """JSON text."""
    return json.dumps(doc, indent=2)

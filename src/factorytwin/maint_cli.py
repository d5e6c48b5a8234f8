"""`factorytwin maintenance FILE`: health, remaining useful life and a priced maintenance plan.

The model's virtual plant runs unpaced for ``--days`` of history (stations wear and fail as their
``wear`` blocks say); the maintenance monitor watches it exactly as it watches a live plant,
learns from the failures it sees, and the plan for the next ``--horizon-days`` is priced by the
simulation against run to failure and a fixed interval. ``--write-model`` writes the model with
the plan's stops in the line's calendar, for ``factorytwin whatif`` and ``simulate``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

from .api.maintenance import advice_out
from .errors import FactoryTwinError
from .maintenance import MaintenanceMonitor
from .maintenance.advice import Advice, advise, outlooks
from .maintenance.plan import to_calendar
from .model import LineInfo, PlantIndex, PlantModel
from .model.schema import Wear
from .plant import PlantEngine
from .plant.unpaced import samples, with_wear

__all__ = ["history", "register"]

Fail = Callable[[str], NoReturn]
out = Console()


def history(model: PlantModel, days: float, seed: int, end: float) -> MaintenanceMonitor:
    """Run the virtual plant unpaced for ``days`` up to POSIX time ``end``, watched by a maintenance monitor."""
    engine = PlantEngine(model, seed=seed, physics_dt=10.0)
    monitor = MaintenanceMonitor(engine.index)
    signals = set(monitor._signals)
    for batch in samples(engine, days * 86400, 10.0, epoch=end - days * 86400, signals=signals):
        monitor.apply(batch)
    return monitor


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def _health_table(monitor: MaintenanceMonitor, line: LineInfo) -> Table:
    table = Table(title=f"{line.path}: health and remaining useful life")
    for col in ("station", "health", "signals (degradation)", "RUL (90 % interval)", "P shift/day/week", "failures"):
        table.add_column(col, justify="left" if col in ("station", "signals (degradation)") else "right")
    for asset in line.stations:
        a = monitor.latest.get(asset.path)
        seen = sum(1 for _, failed in monitor.histories.get(asset.path, []) if failed)
        if a is None:
            table.add_row(asset.asset.id, "learning", "", "", "", str(seen))
            continue
        weighted = [c for c in a.health.contributions if c.weight > 0] or list(a.health.contributions)
        signals = ", ".join(f"{c.signal} {c.degradation:.2f}" for c in weighted[:3])
        rul, p = "", ""
        if a.rul is not None:
            r = a.rul
            rul = f"{_hours(r.median)} ({_hours(r.low)}-{_hours(r.high)})"
            p = " / ".join(f"{100 * r.within[k]:.0f} %" for k in ("shift", "day", "week"))
        table.add_row(asset.asset.id, f"{a.health.index:.2f}", signals, rul, p, str(seen))
    return table


def _plan_tables(advice: Advice, start: float) -> list[Table]:
    stops = Table(title=f"recommended: {advice.best.plan.name}")
    for col in ("stop (UTC)", "duration", "stations"):
        stops.add_column(col)
    for s in advice.best.plan.stops:
        when = datetime.fromtimestamp(start + s.start, UTC).strftime("%a %Y-%m-%d %H:%M")
        stops.add_row(when, f"{s.duration / 60:.0f} min", ", ".join(s.stations))
    prices = Table(title="each plan priced by the simulation (same random numbers)")
    for col in ("plan", "good output (95 % CI)", "lost vs recommended", "wear failures", "planned stops"):
        prices.add_column(col, justify="left" if col == "plan" else "right")
    best = advice.best.output.mean
    for p in (*advice.candidates, advice.fixed, advice.run_to_failure):
        ci = f"{p.output.mean:,.0f} [{p.output.low:,.0f}, {p.output.high:,.0f}]"
        prices.add_row(p.plan.name, ci, f"{best - p.output.mean:,.0f}", f"{p.failures:.1f}", _hours(p.planned_s))
    return [stops, prices]


def _with_plan(model: PlantModel, line: LineInfo, advice: Advice, start: float) -> dict[str, Any]:
    data = model.model_dump(mode="json", exclude_none=True)
    calendar = to_calendar(advice.best.plan, line.calendar, start, line.line.id)
    for site in data["enterprise"]["sites"]:
        for area in site["areas"]:
            for ln in area["lines"]:
                if ln["id"] == line.line.id and line.path.startswith(f"{data['enterprise']['id']}/{site['id']}/"):
                    ln["calendar"] = calendar.model_dump(mode="json", exclude_none=True)
    return data


def register(app: typer.Typer, load: Callable[[Path], PlantModel], fail: Fail) -> None:
    """Add the ``maintenance`` command."""

    @app.command("maintenance")
    def _maintenance_command(
        file: Annotated[Path, typer.Argument(help="Plant model file (YAML)")],
        days: Annotated[float, typer.Option(help="Days of virtual-plant history to learn from")] = 10.0,
        horizon_days: Annotated[float, typer.Option(help="Days the plan covers")] = 7.0,
        replications: Annotated[int, typer.Option(help="Simulation replications per plan")] = 4,
        seed: Annotated[int, typer.Option(help="Seed of the virtual plant and the simulation")] = 0,
        assume_wear_days: Annotated[
            float | None, typer.Option(help="Give stations without a wear block this mean life (running days)")
        ] = None,
        line: Annotated[str | None, typer.Option("--line", help="Line path (default: the first line)")] = None,
        write_model: Annotated[Path | None, typer.Option(help="Write the model with the plan in its calendar")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    ) -> None:
        """Health, RUL and a maintenance plan priced against run to failure and a fixed interval."""
        model = load(file)
        plant = with_wear(model, Wear(life=assume_wear_days * 86400)) if assume_wear_days else model
        lines = PlantIndex(plant).lines
        if line is not None and line not in lines:
            fail(f"unknown line '{line}' ({', '.join(lines)})")
        info = lines[line] if line else next(iter(lines.values()))
        if not any(s.sim.wear for s in info.line.stations):
            fail(
                f"no station of '{info.path}' has a wear block: add one (docs/plant-model.md) "
                "or pass --assume-wear-days"
            )
        start = time.time()
        try:
            monitor = history(plant, days, seed, start)
            advice = advise(info, outlooks(monitor, info), horizon_days * 86400, replications, seed, start)
        except FactoryTwinError as exc:
            fail(str(exc))
        if write_model is not None:
            with write_model.open("w") as fh:
                YAML(typ="safe", pure=True).dump(_with_plan(model, info, advice, start), fh)
        if as_json:
            print(json.dumps({"line": info.path, "start": start, **advice_out(advice)}, indent=2))
            return
        out.print(_health_table(monitor, info))
        for table in _plan_tables(advice, start):
            out.print(table)
        if write_model is not None:
            out.print(f"model with the plan's stops in its calendar: {write_model}")

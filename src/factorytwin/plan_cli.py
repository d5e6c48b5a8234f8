"""`factorytwin commission`, `buffers` and `improve`: line design questions answered by simulation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table

from .errors import FactoryTwinError
from .model import PlantModel
from .sim.allocation import Allocation, allocate
from .sim.commission import Commissioning, commission
from .sim.export import allocation_json, change_text, commission_json, ranking_json
from .sim.improve import DEFAULT_IMPROVEMENTS, Improvement, Ranking, rank
from .sim.results import Estimate
from .sim.trials import RunSettings
from .sim_cli import FileArg, Json, LineOpt, Replications, Seed, SimHours, Warmup, dump, line_model, out, progress_bar

__all__ = ["VERDICT_EXIT", "allocation_table", "commission_table", "ranking_table", "register"]

Fail = Callable[[str], NoReturn]

VERDICT_EXIT = {"meets": 0, "fails": 1, "uncertain": 3}
"""`commission`'s exit status by verdict, like grep's: 0 meets, 1 fails, 3 uncertain (2 stays a usage error)."""


def _ci(e: Estimate, sign: str = "") -> str:
    return f"{e.mean:{sign}.4g} [{e.low:{sign}.4g}, {e.high:{sign}.4g}]"


def commission_table(c: Commissioning) -> Table:
    """The verdict in the title, one row per station with the evidence, remedies in the caption."""
    r = c.results
    table = Table(
        title=(
            f"{r.line}: {c.verdict.upper()} target {c.target:g}/h: throughput {_ci(r.throughput)} good/h, "
            f"{100 * c.probability:.0f} % of {r.replications} runs of {r.horizon / 3600:g} h reach it, "
            f"P(mean >= target) {100 * c.confidence:.0f} %; limiting station: {c.limiting}"
        )
    )
    for col in ("station", "capacity/h", "availability", "effective good/h", "blocked", "starved", "bottleneck in"):
        table.add_column(col, justify="left" if col == "station" else "right")
    for e in c.stations:
        s = e.simulated
        table.add_row(
            f"[bold]{e.static.id}[/bold]" if e.static.id == c.limiting else e.static.id,
            f"{e.static.capacity:.0f}",
            f"{100 * e.static.availability:.1f} %",
            f"{e.static.effective:.0f}",
            f"{100 * max(s.blocked.mean, 0):.1f} %",
            f"{100 * max(s.starved.mean, 0):.1f} %",
            f"{100 * s.bottleneck_share:.0f} % of runs",
        )
    lines = [f"supply allows {c.supply:.0f} good/h"] if c.supply is not None else []
    for m in c.remedies:
        what = ", ".join(change_text(ch) for ch in m.changes) or "nothing"
        status = "meets the target" if m.reached else f"does not reach it ({m.note})"
        lines.append(f"{m.kind}: {what} -> {_ci(m.results.throughput)} good/h, {status}")
    table.caption = "\n".join(lines) or None
    return table


def allocation_table(a: Allocation) -> Table:
    """Best, current and even allocations side by side, gains in the caption."""
    table = Table(title=f"buffer allocation of {a.budget} places ({a.evaluations} allocations simulated)")
    for col in ("", *a.buffers, "total", "throughput good/h"):
        table.add_column(col, justify="left" if not col else "right")
    for name, caps, res in (
        ("best", a.best, a.results),
        ("current", a.current, a.current_results),
        ("even", a.even, a.even_results),
    ):
        table.add_row(name, *map(str, caps), str(sum(caps)), _ci(res.throughput))
    table.caption = (
        f"gain vs current {_ci(a.gain_vs_current, '+')} good/h, vs even {_ci(a.gain_vs_even, '+')} good/h "
        f"(paired, on fresh random numbers)"
    )
    return table


def ranking_table(r: Ranking) -> Table:
    """Every improvement at every station, best gain first."""
    table = Table(title=f"{r.base.line}: throughput {_ci(r.base.throughput)} good/h; which station to improve first")
    for col in ("station", "improvement", "gain good/h (95 % CI)", "gain", "bottleneck after"):
        table.add_column(col, justify="left" if col in ("station", "improvement") else "right")
    for g in r.gains:
        d = g.comparison.throughput
        table.add_row(
            g.station,
            g.improvement.label,
            _ci(d, "+"),
            f"{100 * d.mean / r.base.throughput.mean:+.1f} %" if r.base.throughput.mean else "",
            g.comparison.other.bottleneck,
        )
    return table


def register(app: typer.Typer, load: Callable[[Path], PlantModel], fail: Fail) -> None:
    """Add the three commands to the CLI; ``load`` reads a model file, ``fail`` prints an error and exits."""

    def answer(file: Path, line: str | None, label: str, quiet: bool, work: Callable[..., Any]) -> Any:
        try:
            model = line_model(load(file), line)
            with progress_bar(label, quiet) as progress:
                return work(model, progress)
        except FactoryTwinError as exc:
            fail(str(exc))

    @app.command("commission")
    def _commission(
        file: FileArg,
        target: Annotated[float | None, typer.Option(help="Target good parts per hour (default: target_rate)")] = None,
        max_machines: Annotated[
            int, typer.Option(min=0, help="Machines to try adding at the limiting station (0: skip; SimPy is slower)")
        ] = 3,
        hours: SimHours = 8.0,
        replications: Replications = 10,
        seed: Seed = 0,
        warmup_hours: Warmup = 0.5,
        line: LineOpt = None,
        as_json: Json = False,
    ) -> None:
        """Check a line design against its target rate: verdict, limiting station, smallest fix.

        Exits 0 when the design meets the target, 1 when it fails, 3 when uncertain (2: bad input).
        """
        settings = _settings(hours, replications, seed, warmup_hours, fail)
        work = lambda m, p: commission(m, target, settings, p, max_machines=max_machines)  # noqa: E731
        result = answer(file, line, "commissioning", as_json, work)
        _show(as_json, commission_json, commission_table, result)
        raise typer.Exit(VERDICT_EXIT[result.verdict])

    @app.command("buffers")
    def _buffers(
        file: FileArg,
        budget: Annotated[int, typer.Option(help="Buffer places to share among the line's buffers")],
        step: Annotated[int | None, typer.Option(help="Places added per greedy step (default budget/16)")] = None,
        hours: SimHours = 8.0,
        replications: Replications = 10,
        seed: Seed = 0,
        warmup_hours: Warmup = 0.5,
        line: LineOpt = None,
        as_json: Json = False,
    ) -> None:
        """Share a budget of buffer places among the buffers for the most throughput."""
        if step is not None and step < 1:
            fail("--step must be at least 1")
        settings = _settings(hours, replications, seed, warmup_hours, fail)
        result = answer(
            file, line, "buffer allocation", as_json, lambda m, p: allocate(m, budget, settings, p, step=step)
        )
        _show(as_json, allocation_json, allocation_table, result)

    @app.command("improve")
    def _improve(
        file: FileArg,
        improvement: Annotated[
            list[str] | None,
            typer.Option(help="speed=1.1, mttr=0.8, mtbf=1.25, machines=1 or scrap_rate=0.5 (repeatable)"),
        ] = None,
        hours: SimHours = 8.0,
        replications: Replications = 10,
        seed: Seed = 0,
        warmup_hours: Warmup = 0.5,
        line: LineOpt = None,
        as_json: Json = False,
    ) -> None:
        """Rank the stations by the throughput gain of standard improvements (paired, common random numbers)."""
        settings = _settings(hours, replications, seed, warmup_hours, fail)
        try:
            chosen = tuple(Improvement.parse(t) for t in improvement) if improvement else DEFAULT_IMPROVEMENTS
        except FactoryTwinError as exc:
            fail(str(exc))
        result = answer(file, line, "improvements", as_json, lambda m, p: rank(m, settings, chosen, p))
        _show(as_json, ranking_json, ranking_table, result)


def _show(as_json: bool, doc: Callable[[Any], dict[str, Any]], table: Callable[[Any], Table], result: Any) -> None:
    if as_json:
        print(dump(doc(result)))
    else:
        out.print(table(result))


def _settings(
    hours: float, replications: int, seed: int, warmup: float, fail: Callable[[str], NoReturn]
) -> RunSettings:
    try:
        return RunSettings(hours * 3600, replications, seed, warmup * 3600)
    except FactoryTwinError as exc:
        fail(str(exc))

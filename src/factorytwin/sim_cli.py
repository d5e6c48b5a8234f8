"""`factorytwin simulate` and `factorytwin whatif`: the line model run over replications, scenarios compared."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import FactoryTwinError
from .model import PlantIndex, PlantModel
from .sim import Change, Comparison, Estimate, Results, Scenario, compare, run
from .sim.export import comparison_json, results_json
from .sim.run import LineModel
from .sim.trials import Progress as ProgressCallback

__all__ = [
    "FileArg",
    "Json",
    "LineOpt",
    "Replications",
    "Seed",
    "SimHours",
    "SimOptions",
    "Warmup",
    "comparison_json",
    "comparison_table",
    "dump",
    "line_model",
    "progress_bar",
    "register",
    "results_json",
    "results_table",
    "run_scenarios",
]

SimHours = Annotated[float, typer.Option("--hours", help="Simulated production hours per replication")]
Replications = Annotated[int, typer.Option(help="Independent replications (confidence intervals over them)")]
Seed = Annotated[int, typer.Option(help="Random seed (the same seed gives the same draws: common random numbers)")]
Warmup = Annotated[float, typer.Option("--warmup-hours", help="Hours left out of the statistics at the start")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]
LineOpt = Annotated[str | None, typer.Option("--line", help="Line path (default: the first line)")]
FileArg = Annotated[Path, typer.Argument(help="Plant model file (YAML)")]
out = Console()


@dataclass(frozen=True, slots=True)
class SimOptions:
    """How long, how often and on which line to simulate."""

    hours: float = 8.0
    replications: int = 20
    seed: int = 0
    warmup_hours: float = 0.5
    line: str | None = None


def register(app: typer.Typer, load: Callable[[Path], PlantModel], fail: Callable[[str], NoReturn]) -> None:
    """Add ``simulate`` and ``whatif`` to the CLI; ``load`` reads a model file, ``fail`` prints an error and exits."""

    def simulated(model: PlantModel, scenarios: list[Scenario], options: SimOptions, quiet: bool) -> list[Results]:
        try:
            return run_scenarios(model, scenarios, options, quiet)
        except FactoryTwinError as exc:
            fail(str(exc))

    @app.command("simulate")
    def _simulate_command(
        file: FileArg,
        hours: SimHours = 8.0,
        replications: Replications = 20,
        seed: Seed = 0,
        warmup_hours: Warmup = 0.5,
        line: LineOpt = None,
        as_json: Json = False,
    ) -> None:
        """Simulate a line from its model: throughput, WIP, lead time and station states with confidence intervals."""
        options = SimOptions(hours, replications, seed, warmup_hours, line)
        (result,) = simulated(load(file), [Scenario("baseline")], options, as_json)
        if as_json:
            print(dump(results_json(result)))
        else:
            out.print(results_table(result))

    @app.command("whatif")
    def _whatif_command(
        file: FileArg,
        changes: Annotated[list[str], typer.Option("--set", help="A change, e.g. filler.speed=1.1 or b2.capacity=15")],
        hours: SimHours = 8.0,
        replications: Replications = 20,
        seed: Seed = 0,
        warmup_hours: Warmup = 0.5,
        line: LineOpt = None,
        as_json: Json = False,
    ) -> None:
        """Compare a scenario (a set of changes) with the baseline on the same random numbers."""
        model = load(file)
        try:
            parsed = [Change.parse(text) for text in changes]
        except FactoryTwinError as exc:
            fail(str(exc))
        scenarios = [Scenario("baseline"), Scenario("scenario", tuple(parsed))]
        options = SimOptions(hours, replications, seed, warmup_hours, line)
        base, other = simulated(model, scenarios, options, as_json)
        comparison = compare(base, other)
        if as_json:
            print(dump(comparison_json(comparison, parsed)))
        else:
            out.print(comparison_table(comparison, parsed))


def run_scenarios(model: PlantModel, scenarios: list[Scenario], options: SimOptions, quiet: bool) -> list[Results]:
    """Run each scenario on the same random numbers, with a progress display unless quiet."""
    base = line_model(model, options.line)
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


def line_model(model: PlantModel, line: str | None) -> LineModel:
    """The simulation model of a line of the plant (by path; default the first line), with its calendar."""
    index = PlantIndex(model)
    if line is not None and line not in index.lines:
        raise FactoryTwinError(f"unknown line '{line}' (lines: {', '.join(index.lines)})")
    return LineModel.of(index.lines[line] if line else next(iter(index.lines.values())))


@contextmanager
def progress_bar(label: str, quiet: bool) -> Iterator[ProgressCallback]:
    """A Rich progress bar on stderr (none when quiet), fed by a ``(done, total)`` callback."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), disable=quiet, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


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

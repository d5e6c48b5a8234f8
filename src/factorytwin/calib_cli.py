"""`factorytwin calibrate` (the line model fitted to a window of history) and `factorytwin forecast` (this shift)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import httpx
import typer
from rich.console import Console
from rich.table import Table

from .calibrate import Calibration, calibrate, read_history
from .calibrate.yaml_out import write_calibrated
from .client import ApiToken, bearer
from .errors import FactoryTwinError
from .historian.stored import stored_history
from .model import PlantIndex, PlantModel
from .model.calendar import site_time
from .sim.errors import SimulationError

__all__ = ["calibration_table", "forecast_table", "register"]

Fail = Callable[[str], NoReturn]
out = Console()


def _num(x: object, digits: str = ".4g") -> str:
    return "-" if x is None else f"{x:{digits}}"


def calibration_table(c: Calibration) -> Table:
    """One row per station: the chosen families, their fit, failures and scrap; validation in the caption."""
    table = Table(title=f"{c.line_path}: calibrated on {c.planned / 3600:.3g} production hours")
    for col in ("station", "processing", "KS p", "failures", "MTBF s", "MTTR s", "repair law", "scrap rate"):
        table.add_column(col, justify="left" if col in ("station", "processing", "repair law") else "right")
    for s in c.stations:
        p, sim = s.processing, s.sim
        law = sim.failure_law()
        table.add_row(
            s.id,
            f"{p.family} {p.dist.mean:.4g} s cv {p.dist.cv:.2g} ({s.processing_source}, n={p.n})" if p else "model",
            _num(p.p_value if p else None, ".2g"),
            str(s.failures),
            f"{s.mtbf.value:.4g} [{s.mtbf.low:.3g}, {s.mtbf.high:.3g}]" if s.mtbf else "-",
            f"{s.mttr.value:.4g} [{s.mttr.low:.3g}, {s.mttr.high:.3g}]" if s.mttr else "-",
            law[1].dist if law else "-",
            f"{s.scrap_rate.value:.2%}" if s.scrap_rate else "-",
        )
    v = c.validation
    if v is not None:
        est = v.simulated
        table.caption = (
            f"observed {v.observed:.1f} good/h, simulated {est.mean:.1f} [{est.low:.1f}, {est.high:.1f}] "
            f"({v.relative_difference:+.1%}); one run: [{v.single_run[0]:.1f}, {v.single_run[1]:.1f}] "
            f"-> {'plausible' if v.plausible else 'NOT reproduced'}"
        )
    return table


def forecast_table(data: dict[str, Any]) -> Table:
    """A forecast answer of the API as a small table."""
    table = Table(title=f"{data['line']}: shift {data['shift']} until {data['shift_end']}")
    table.add_column("")
    table.add_column("", justify="right")
    total = data["expected_total"]
    rows = [
        ("made so far", str(data["made"])),
        ("target", _num(data["target"], ".0f")),
        ("expected at shift end", f"{total['mean']:.0f} [{_num(total['low'], '.0f')}, {_num(total['high'], '.0f')}]"),
        ("90 % of runs between", f"{data['total_90'][0]:.0f} and {data['total_90'][1]:.0f}"),
        ("chance to reach target", "-" if data["probability"] is None else f"{data['probability']:.0%}"),
        ("production time left", f"{data['horizon_s'] / 3600:.2f} h"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    return table


async def _calibrate_file(model: PlantModel, db: Path, line: str, start: float, end: float, reps: int) -> Calibration:
    async with stored_history(db, "ask it: GET /api/calibration") as historian:
        history = await read_history(historian, PlantIndex(model), line, start, end)
    return calibrate(history, replications=reps)


def register(app: typer.Typer, load: Callable[[Path], PlantModel], fail: Fail) -> None:
    """Add ``calibrate`` and ``forecast`` to the CLI."""

    @app.command("calibrate")
    def _calibrate(
        file: Annotated[Path, typer.Argument(help="Plant model file (YAML)")],
        start: Annotated[str, typer.Option("--from", help="Start, ISO 8601 (site time if no offset)")],
        end: Annotated[str, typer.Option("--to", help="End, ISO 8601 (site time if no offset)")],
        db: Annotated[str, typer.Option(help="Historian file (DuckDB)")] = "factorytwin.duckdb",
        line: Annotated[str | None, typer.Option(help="Line path (default: the first line)")] = None,
        out_file: Annotated[Path | None, typer.Option("--out", help="Write the calibrated model file here")] = None,
        replications: Annotated[int, typer.Option(help="Replications of the validation run")] = 30,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    ) -> None:
        """Fit each station's processing time, failures and scrap to history; validate on the same window."""
        model = load(file)
        index = PlantIndex(model)
        path = line or next(iter(index.lines))
        if path not in index.lines:
            fail(f"unknown line '{path}' (lines: {', '.join(index.lines)})")
        zone = ZoneInfo(index.lines[path].timezone)
        try:
            t0, t1 = (site_time(text, zone) for text in (start, end))
        except ValueError as exc:
            fail(str(exc))
        if not t0 < t1:
            fail("--from must be before --to")
        try:
            result = asyncio.run(_calibrate_file(model, Path(db), path, t0, t1, replications))
        except (FactoryTwinError, SimulationError) as exc:
            fail(str(exc))
        if out_file is not None:
            write_calibrated(file.read_text(encoding="utf-8"), result, str(out_file))
        if as_json:
            print(json.dumps(result.as_dict(), indent=2))
        else:
            out.print(calibration_table(result))
            if out_file is not None:
                out.print(f"wrote the calibrated model to {out_file}")

    @app.command("forecast")
    def _forecast(
        api: Annotated[str, typer.Option(help="A running twin, http://host:port")],
        line: Annotated[str | None, typer.Option(help="Line path (default: the first line)")] = None,
        replications: Annotated[int, typer.Option(help="Replications of the forecast")] = 100,
        token: ApiToken = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    ) -> None:
        """Will this shift reach its target? Simulated from the twin's live state."""
        params: dict[str, Any] = {"replications": replications} | ({"line": line} if line else {})
        headers = bearer(token)
        try:
            response = httpx.get(f"{api.rstrip('/')}/api/forecast", params=params, headers=headers, timeout=120)
        except httpx.HTTPError as exc:
            fail(f"the twin at {api} did not answer: {exc}")
        if response.status_code != 200:
            fail(f"the twin answered {response.status_code}: {response.text}")
        data = response.json()
        if as_json:
            print(json.dumps(data, indent=2))
        else:
            out.print(forecast_table(data))

"""Shift reports: KPIs per shift, station and line, as a table for people and CSV for spreadsheets."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from rich.table import Table

from .errors import FactoryTwinError
from .historian.stored import stored_history
from .model import PlantIndex, PlantModel
from .replay import replay

__all__ = ["COLUMNS", "MAX_REPORT_DAYS", "report_from_api", "report_from_file", "report_table", "write_csv"]

MAX_REPORT_DAYS = 92
COLUMNS = [
    "shift",
    "start",
    "end",
    "asset",
    "produced",
    "good",
    "scrap",
    "availability",
    "effectiveness",
    "quality_rate",
    "oee",
    "mtbf_s",
    "mttr_s",
    "throughput_per_h",
]


async def report_from_file(
    model: PlantModel, db: Path, start: float, end: float, line: str | None
) -> list[dict[str, Any]]:
    """Shift rows recomputed from a historian file (opened read-only; it must not be in use by a twin)."""
    async with stored_history(db, "ask it instead: --api http://host:port") as historian:
        index = PlantIndex(model)
        analytics = await replay(index, historian, start, end, clear_after_s=model.alerts.clear_after_s)
        path = line or next(iter(index.lines))
        return [
            {"shift": r.shift, "start": r.start, "end": r.end, "asset": r.asset, **r.kpis.as_dict()}
            for r in analytics.shift_report(path, start, end)
        ]


async def report_from_api(
    url: str, start: float, end: float, line: str | None, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Shift rows from a running twin's API (``headers`` carry its token)."""
    params = {
        "start": datetime.fromtimestamp(start, UTC).isoformat(),
        "end": datetime.fromtimestamp(end, UTC).isoformat(),
    }
    if line:
        params["line"] = line
    try:
        async with httpx.AsyncClient(timeout=60, headers=headers) as client:
            response = await client.get(f"{url.rstrip('/')}/api/report", params=params)
            response.raise_for_status()
    except httpx.HTTPError as exc:
        raise FactoryTwinError(f"the twin at {url} did not answer: {exc}") from exc
    rows: list[dict[str, Any]] = response.json()
    return rows


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def report_table(rows: list[dict[str, Any]], timezone: str = "UTC") -> Table:
    """The rows as a Rich table, times in the site's time zone."""
    zone = ZoneInfo(timezone)
    table = Table(title="Shift report")
    for col in ("shift", "from", "to", "asset", "good", "scrap", "A", "E", "Q", "OEE", "MTBF", "MTTR", "good/h"):
        table.add_column(col, justify="left" if col in ("shift", "asset") else "right")
    for r in rows:
        table.add_row(
            r["shift"],
            datetime.fromtimestamp(r["start"], zone).strftime("%Y-%m-%d %H:%M"),
            datetime.fromtimestamp(r["end"], zone).strftime("%H:%M"),
            r["asset"],
            str(r["good"]),
            str(r["scrap"]),
            _ratio(r["availability"]),
            _ratio(r["effectiveness"]),
            _ratio(r["quality_rate"]),
            _ratio(r["oee"]),
            "-" if r["mtbf_s"] is None else f"{r['mtbf_s'] / 60:.1f} min",
            "-" if r["mttr_s"] is None else f"{r['mttr_s'] / 60:.1f} min",
            f"{r['throughput_per_h']:.0f}",
        )
    return table


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """The rows as CSV (times in ISO 8601 UTC, ratios as fractions)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            iso = {k: datetime.fromtimestamp(r[k], UTC).isoformat() for k in ("start", "end")}
            writer.writerow({**r, **iso})

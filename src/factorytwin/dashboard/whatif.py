"""The what-if page: choose changes to a line, simulate them against the baseline, compare with confidence intervals.

The page queues a job on the process's what-if ``JobRunner`` (the same one ``POST /api/whatif``
uses, so the job also shows in ``GET /api/whatif``). The job runs the baseline and the scenario on
common random numbers in a worker process; the page follows its progress and draws its result.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from nicegui import ui

from ..errors import FactoryTwinError
from ..model import LineInfo
from ..runtime import Twin
from ..sim.run import LineModel
from ..sim.scenario import PARAMETERS
from ..sim.trials import RunSettings
from ..whatif import Job, shared_runner, whatif_task
from ..whatif.tasks import scenario_of
from .session import Session

__all__ = ["whatif_page"]

_WARMUP_H = 0.5  # hours left out of the statistics, as the API's default


def _targets(info: LineInfo) -> dict[str, str]:
    """Change targets of a line: station and buffer ids (and the line itself), with their kinds."""
    out = {st.asset.id: "station" for st in info.stations}
    out.update({b.asset.id: "buffer" for b in info.buffers})
    out["line"] = "line"
    return out


def _ci(e: dict[str, Any], digits: str = ",.0f") -> str:
    """An estimate of the job's result (None for NaN) with its confidence interval."""
    mean, low, high = e.get("mean"), e.get("low"), e.get("high")
    if mean is None:
        return "—"
    if low is None or high is None:
        return format(mean, digits)
    return f"{format(mean, digits)}  [{format(low, digits)} … {format(high, digits)}]"


class _ChangeRow:
    """One change being edited: target, parameter and value."""

    def __init__(self, targets: dict[str, str], rows: list[_ChangeRow], first: str, param: str, value: float) -> None:
        self.targets = targets
        with ui.row().classes("items-center gap-3") as self.row:
            self.target = ui.select(list(targets), value=first, label="station / buffer").classes("w-44")
            self.param = ui.select(list(PARAMETERS[targets[first]]), value=param, label="parameter").classes("w-44")
            self.value = ui.number("value", value=value, format="%g").classes("w-32")
            ui.button(icon="close", on_click=self.remove).props("flat round dense")
        self.target.on_value_change(self._retarget)
        self.rows = rows
        rows.append(self)

    def _retarget(self) -> None:
        params = list(PARAMETERS[self.targets[str(self.target.value)]])
        self.param.set_options(params, value=params[0])

    def remove(self) -> None:
        """Take this change out."""
        self.rows.remove(self)
        self.row.delete()

    def text(self) -> str:
        """The change as ``target.param=value``."""
        value = self.value.value
        return f"{self.target.value}.{self.param.value}={'' if value is None else f'{value:g}'}"


def whatif_page(twin: Twin, session: Session) -> None:
    """Build the what-if page."""
    del session  # the page guard already checked the role
    lines = twin.index.lines
    first = next(iter(lines.values()))
    rows: list[_ChangeRow] = []
    with ui.card().classes("w-full shadow-none border border-slate-200"):
        ui.label("Changes").classes("text-base font-medium text-slate-700")
        line = ui.select({p: i.line.name or i.line.id for p, i in lines.items()}, value=first.path, label="line")
        line.classes("w-72" if len(lines) > 1 else "hidden")
        box = ui.column().classes("gap-1")
        with box:
            _ChangeRow(_targets(first), rows, first.stations[-1].asset.id, "speed", 1.1)

        def add() -> None:
            info = lines[str(line.value)]
            with box:
                _ChangeRow(_targets(info), rows, info.stations[0].asset.id, "speed", 1.1)

        ui.button("Add change", icon="add", on_click=add).props("flat no-caps")
        ui.label(
            "speed is a factor (1.1 = 10 % faster); mtbf, mttr and processing_time are seconds; "
            "capacity and machines are counts"
        ).classes("text-xs text-slate-500")
        with ui.row().classes("items-center gap-4"):
            hours = ui.number("hours simulated", value=8, min=1, max=168, format="%g").classes("w-40")
            reps = ui.number("replications", value=10, min=2, max=100, format="%d").classes("w-40")
            go = ui.button("Run what-if", icon="play_arrow").props("unelevated no-caps")
    result = ui.column().classes("w-full")

    def start() -> None:
        changes = [r.text() for r in rows]
        try:
            if not changes:
                raise FactoryTwinError("add at least one change")
            h, n = float(hours.value or 8), int(reps.value or 10)
            model = LineModel.of(lines[str(line.value)])
            scenario = scenario_of(model, changes)  # a bad change is refused before anything is queued
            settings = RunSettings(h * 3600, n, 0, min(_WARMUP_H, h / 4) * 3600)
            params = {"line": line.value, "hours": h, "replications": n, "seed": 0, "changes": changes}
            task = partial(whatif_task, model, scenario, settings)
            job = shared_runner().submit("whatif", task, params, "replications")
        except FactoryTwinError as exc:  # a bad entry or a full queue is shown, never raised
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        go.disable()
        _follow(job, result, go.enable)

    go.on_click(start)


def _follow(job: Job, result: ui.column, finished: Callable[[], object]) -> None:
    """Show a job's progress, then its comparison (or its error)."""
    result.clear()
    with result, ui.card().classes("w-full shadow-none border border-slate-200"):
        status = ui.label("queued").classes("text-slate-600")
        bar = ui.linear_progress(0.0, show_value=False).props("rounded")

    def poll() -> None:
        doc = job.as_dict(with_result=False)
        progress = doc["progress"]
        status.set_text(f"{job.status}: {progress['done']} of {progress['total'] or '…'} {progress['unit']}")
        bar.set_value(progress["fraction"])
        if job.status in ("queued", "running"):
            return
        timer.cancel()
        finished()
        result.clear()
        with result:
            if job.status == "done" and job.result is not None:
                _comparison(job.result)
            else:
                ui.label(f"The what-if {job.status}: {job.error or ''}").classes("text-red-700")

    timer = ui.timer(0.5, poll)


def _comparison(doc: dict[str, Any]) -> None:
    """The baseline against the scenario, with 95 % confidence intervals, and where the bottleneck is."""
    base, other, diff = doc["baseline"], doc["scenario"], doc["difference"]
    what = ", ".join(c.replace("=", " = ") for c in doc["changes"])
    with ui.card().classes("w-full shadow-none border border-slate-200").props('data-testid="comparison"'):
        ui.label(f"What if {what}?").classes("text-lg font-medium text-slate-800")
        ui.label(_verdict(diff["throughput_per_h"])).classes("text-base text-slate-700").props('data-testid="verdict"')
        metrics = (
            ("Throughput (good/h)", "throughput_per_h", ",.0f"),
            ("Output (good parts)", "output", ",.0f"),
            ("Work in process (parts)", "wip", ",.1f"),
            ("Lead time (s)", "lead_time_s", ",.0f"),
        )
        rows = [
            {
                "metric": name,
                "baseline": _ci(base[key], digits),
                "scenario": _ci(other[key], digits),
                "difference": _ci(diff[key], "+" + digits),
            }
            for name, key, digits in metrics
        ]
        columns = [
            {"name": k, "label": label, "field": k, "align": "left" if k == "metric" else "right"}
            for k, label in (
                ("metric", ""),
                ("baseline", "Baseline [95 % CI]"),
                ("scenario", "What-if [95 % CI]"),
                ("difference", "Difference [95 % CI]"),
            )
        ]
        ui.table(columns=columns, rows=rows, row_key="metric").classes("w-full shadow-none")
        moved = "moved" if doc["bottleneck_moved"] else "did not move"
        ui.label(f"Bottleneck: {base['bottleneck']} → {other['bottleneck']} ({moved})").classes("text-slate-700").props(
            'data-testid="bottleneck"'
        )
        ui.label(
            f"{other['replications']} replications of {other['horizon_s'] / 3600:g} h on common random numbers, "
            f"seed {other['seed']}; engine {other['engine']}"
        ).classes("text-xs text-slate-500")


def _verdict(t: dict[str, Any]) -> str:
    mean, low, high = t.get("mean"), t.get("low"), t.get("high")
    if mean is None:
        return "No throughput in either run."
    if low is None or high is None:
        return f"Throughput changes by {mean:+,.0f} /h."
    if low > 0:
        return f"Throughput rises by {mean:,.0f} /h (95 % CI {low:,.0f} to {high:,.0f})."
    if high < 0:
        return f"Throughput falls by {-mean:,.0f} /h (95 % CI {-high:,.0f} to {-low:,.0f})."
    return f"No clear change in throughput: {mean:+,.0f} /h, 95 % CI {low:+,.0f} to {high:+,.0f}."

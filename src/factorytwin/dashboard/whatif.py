"""The what-if page: choose changes to a line, simulate them against the baseline, compare with confidence intervals.

Both runs use the same seed and replications (common random numbers), so the paired difference has a
tight interval; the simulation is CPU-bound and runs in a worker thread so the twin keeps streaming.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from nicegui import ui

from ..errors import FactoryTwinError
from ..model import LineInfo
from ..runtime import Twin
from ..sim import Change, Comparison, Estimate, Scenario, compare, run
from ..sim.run import LineModel
from ..sim.scenario import PARAMETERS
from .session import Session

__all__ = ["WhatIf", "simulate", "whatif_page"]


@dataclass(frozen=True, slots=True)
class WhatIf:
    """A what-if question: changes to one line, simulated for ``hours`` with ``replications``."""

    line: str
    changes: tuple[Change, ...]
    hours: float = 8.0
    replications: int = 10
    seed: int = 0


def simulate(info: LineInfo, question: WhatIf) -> Comparison:
    """Run the baseline and the scenario on common random numbers and compare them (CPU-bound)."""
    base = LineModel.of(info)
    horizon = question.hours * 3600
    warmup = min(3600.0, horizon / 4)
    runs = [
        run(s.apply(base), horizon, question.replications, question.seed, warmup=warmup)
        for s in (Scenario("baseline"), Scenario("what-if", question.changes))
    ]
    return compare(runs[0], runs[1])


def _targets(info: LineInfo) -> dict[str, str]:
    """Change targets of a line: station and buffer ids (and the line itself), with their kinds."""
    out = {st.asset.id: "station" for st in info.stations}
    out.update({b.asset.id: "buffer" for b in info.buffers})
    out["line"] = "line"
    return out


def _ci(e: Estimate, digits: str = ",.0f") -> str:
    if math.isnan(e.mean):
        return "—"
    if math.isnan(e.low):
        return format(e.mean, digits)
    return f"{format(e.mean, digits)}  [{format(e.low, digits)} … {format(e.high, digits)}]"


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

    def change(self) -> Change:
        """The change as entered (SimulationError when it is incomplete)."""
        return Change.parse(f"{self.target.value}.{self.param.value}={self.value.value}")


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

    async def start() -> None:
        try:
            question = WhatIf(
                str(line.value), tuple(r.change() for r in rows), float(hours.value or 8), int(reps.value or 10)
            )
            if not question.changes:
                raise ValueError("add at least one change")
            info = lines[question.line]
            for c in question.changes:  # check every change before any simulation starts
                c.apply(info.line)
        except (FactoryTwinError, ValueError, TypeError) as exc:  # a bad entry is shown, never raised
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        go.disable()
        result.clear()
        with result:
            ui.spinner(size="lg")
            ui.label(f"simulating {question.replications} replications of {question.hours:g} h, twice…").classes(
                "text-slate-500"
            )
        try:
            comparison = await asyncio.to_thread(simulate, info, question)
        finally:
            go.enable()
        result.clear()
        with result:
            _comparison(comparison, question)

    go.on_click(start)


def _comparison(c: Comparison, q: WhatIf) -> None:
    """The baseline against the scenario, with 95 % confidence intervals, and where the bottleneck is."""
    what = ", ".join(f"{x.target}.{x.param} = {x.value:g}" for x in q.changes)
    base, other = c.base, c.other
    with ui.card().classes("w-full shadow-none border border-slate-200").props('data-testid="comparison"'):
        ui.label(f"What if {what}?").classes("text-lg font-medium text-slate-800")
        verdict = _verdict(c)
        ui.label(verdict).classes("text-base text-slate-700").props('data-testid="verdict"')
        rows = [
            _metric("Throughput (good/h)", base.throughput, other.throughput, c.throughput),
            _metric("Output (good parts)", base.output, other.output, c.output),
            _metric("Work in process (parts)", base.wip, other.wip, c.wip, ",.1f", "+,.1f"),
            _metric("Lead time (s)", base.lead_time, other.lead_time, c.lead_time, ",.0f", "+,.0f"),
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
        moved = "moved" if c.bottleneck_moved else "did not move"
        ui.label(f"Bottleneck: {base.bottleneck} → {other.bottleneck} ({moved})").classes("text-slate-700").props(
            'data-testid="bottleneck"'
        )
        ui.label(
            f"{q.replications} replications of {q.hours:g} h on common random numbers, seed {q.seed}; "
            f"engine {other.engine}"
        ).classes("text-xs text-slate-500")


def _metric(
    name: str, base: Estimate, other: Estimate, diff: Estimate, digits: str = ",.0f", signed: str = "+,.0f"
) -> dict[str, str]:
    return {
        "metric": name,
        "baseline": _ci(base, digits),
        "scenario": _ci(other, digits),
        "difference": _ci(diff, signed),
    }


def _verdict(c: Comparison) -> str:
    t = c.throughput
    if math.isnan(t.low):
        return f"Throughput changes by {t.mean:+,.0f} /h."
    if t.low > 0:
        sure = "more"
    elif t.high < 0:
        sure = "less"
    else:
        return f"No clear change in throughput: {t.mean:+,.0f} /h, 95 % CI {t.low:+,.0f} to {t.high:+,.0f}."
    return f"Throughput {sure}: {t.mean:+,.0f} /h (95 % CI {t.low:+,.0f} to {t.high:+,.0f})."

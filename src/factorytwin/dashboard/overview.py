"""The plant overview (``/``): each line drawn as stations and buffers, throughput, OEE, bottleneck, alerts."""

from __future__ import annotations

import time

from nicegui import ui

from ..runtime import Twin
from .alerts import AlertList
from .charts import rate_options
from .drawing import STATE_COLOURS, line_svg, percent
from .shell import REFRESH_S, station_href, tile
from .view import StationView, shared_line_view

__all__ = ["overview"]


def overview(twin: Twin) -> None:
    """Build the overview: one section per line, refreshed in place every few seconds."""
    for path in twin.index.lines:
        _line_section(twin, path)


def _line_section(twin: Twin, path: str) -> None:
    view = shared_line_view(twin, path)
    latest = [view]  # the view of the last refresh, which the alert list reads
    href = {st.path: station_href(st.path) for st in view.stations}
    with ui.row().classes("w-full items-baseline gap-3"):
        ui.label(view.name).classes("text-lg font-medium text-slate-700")
        window = ui.label().classes("text-sm text-slate-500")
    with ui.card().classes("w-full shadow-none border border-slate-200 p-4"):
        drawing = ui.html(line_svg(view, href), sanitize=False).classes("w-full").props('data-testid="line"')
    with ui.row().classes("w-full gap-4 items-stretch"):
        throughput, target = tile("Throughput", "", "", "throughput")
        oee, apq = tile("Line OEE", "", "", "line-oee")
        bottleneck, bottleneck_note = tile("Bottleneck", "", "", "bottleneck")
        open_alerts, newest = tile("Open alerts", "", "", "open-alerts")
    with ui.card().classes("w-full shadow-none border border-slate-200"):
        ui.label("Output rate · good parts per hour").classes("text-sm text-slate-500")
        rate = ui.echart(rate_options(view.rate, view.target_per_h, view.start, view.end)).classes("w-full h-40")
        rate.props('data-testid="rate"')
    ui.label("Stations").classes("text-base font-medium text-slate-700 mt-2")
    with ui.row().classes("w-full gap-4 items-stretch"):
        cards = {st.path: _StationCard(st) for st in view.stations}
    with ui.card().classes("w-full shadow-none border border-slate-200"):
        with ui.row().classes("w-full items-center"):
            ui.label("Active alerts").classes("text-base font-medium text-slate-700")
            ui.space()
            ui.link("All alerts →", "/alerts").classes("text-sm")
        alerts = AlertList(twin, lambda: latest[0].alerts[:6], None)

    def refresh() -> None:
        v = latest[0] = shared_line_view(twin, path)
        window.set_text(f"KPIs over the last {_duration(v.end - v.start)} · updated {time.strftime('%H:%M:%S')}")
        drawing.set_content(line_svg(v, href))
        throughput.set_text(f"{v.throughput_per_h:,.0f} /h")
        target.set_text(
            f"target {v.target_per_h:,.0f} /h · {percent(v.attainment)}" if v.target_per_h else "no target rate set"
        )
        k = v.kpis
        oee.set_text(percent(k.oee))
        apq.set_text(f"A {percent(k.availability)} · P {percent(k.effectiveness)} · Q {percent(k.quality_rate)}")
        names = {st.path: st.name for st in v.stations}
        bottleneck.set_text(names.get(v.bottleneck or "", "—"))
        bottleneck_note.set_text(
            f"{percent(v.bottleneck_share)} of the time · right now: {names.get(v.momentary or '', '—')}"
        )
        open_alerts.set_text(str(len(v.alerts)))
        newest.set_text(v.alerts[0].message if v.alerts else "all clear")
        for st in v.stations:
            cards[st.path].update(st, st.path == v.bottleneck)
        alerts.refresh()
        rate.options.clear()
        rate.options.update(rate_options(v.rate, v.target_per_h, v.start, v.end))
        rate.update()

    refresh()
    ui.timer(REFRESH_S, refresh)


class _StationCard:
    """One station's OEE tiles: A, P, Q and OEE over the window, its state and output."""

    def __init__(self, st: StationView) -> None:
        link = ui.link(target=station_href(st.path)).classes("flex-1 min-w-[190px] no-underline text-inherit")
        with link, ui.card().classes("w-full shadow-none border border-slate-200 hover:shadow-md") as self.card:
            self.card.props(f'data-testid="station-{st.id}"')
            with ui.row().classes("w-full items-center no-wrap"):
                ui.label(st.name).classes("font-medium text-slate-800")
                ui.space()
                self.state = ui.badge("", color=None).classes("text-xs")
            self.figures: dict[str, ui.label] = {}
            with ui.grid(columns=4).classes("w-full gap-1 mt-1"):
                for key in ("A", "P", "Q", "OEE"):
                    with ui.column().classes("items-center gap-0"):
                        ui.label(key).classes("text-[11px] text-slate-500")
                        self.figures[key] = ui.label("").classes("text-base font-semibold tabular-nums")
            self.output = ui.label("").classes("text-xs text-slate-500")
        self.update(st, False)

    def update(self, st: StationView, bottleneck: bool) -> None:
        """Show the station's latest figures."""
        k = st.kpis
        self.state.set_text(st.state.value.replace("_", " "))
        self.state.style(f"background-color: {STATE_COLOURS[st.state]}")
        values: dict[str, float | None] = {
            "A": k.availability,
            "P": k.effectiveness,
            "Q": k.quality_rate,
            "OEE": k.oee,
        }
        for key, value in values.items():
            self.figures[key].set_text(percent(value))
        self.output.set_text(f"{k.good:,} good · {k.scrap:,} scrap" + (" · bottleneck" if bottleneck else ""))
        edges = ("border-slate-700", "border-slate-200")
        self.card.classes(add=edges[not bottleneck], remove=edges[bottleneck])


def _duration(seconds: float) -> str:
    """A window length in words."""
    if seconds >= 3600 - 1:
        return "hour"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"

"""A station's page: state and OEE breakdown, state timeline, signal trends, SPC charts, setpoints."""

from __future__ import annotations

import time

from nicegui import ui
from nicegui.events import ValueChangeEventArguments

from ..core.detectors import AlertingSpc
from ..core.downsample import lttb
from ..core.spc import Capability, SpcProcessor
from ..events import Quality
from ..model import AssetInfo, Role, SignalInfo
from ..runtime import Twin
from .alerts import AlertList
from .charts import spc_options, trend_options
from .drawing import STATE_COLOURS, percent, timeline_svg
from .health import health_panel
from .session import Session
from .setpoints import setpoint_panel
from .shell import REFRESH_S, tile
from .view import kpi_window, station_state

__all__ = ["TREND_S", "TREND_SPANS", "station_page", "trended"]

TREND_S = 600.0  # the trends show the last ten minutes unless another span is chosen
TREND_SPANS = {600.0: "10 min", 3600.0: "1 h", 28800.0: "8 h", 86400.0: "24 h"}
_TREND_POINTS = 600  # about one per pixel of a trend
_COUNTED = frozenset({Role.STATE, Role.GOOD_COUNT, Role.SCRAP_COUNT})


def trended(station: AssetInfo) -> list[SignalInfo]:
    """The signals drawn as trends: every measured value but states and counters."""
    return [s for s in station.signals.values() if s.role not in _COUNTED]


def _spc(twin: Twin) -> SpcProcessor | None:
    return next((d.spc for d in twin.analytics.detectors if isinstance(d, AlertingSpc)), None)


def station_page(twin: Twin, station: AssetInfo, session: Session) -> None:
    """Build the page of one station; it refreshes itself in place."""
    path = station.path
    with ui.row().classes("w-full items-center gap-3"):
        ui.link("← Overview", "/").classes("text-sm")
        state = ui.badge("", color=None).classes("text-sm px-3 py-1").props('data-testid="station-state"')
        since = ui.label().classes("text-sm text-slate-500")
    with ui.row().classes("w-full gap-4 items-stretch"):
        tiles = {
            key: tile(label, "", "", f"kpi-{key}")
            for key, label in (("a", "Availability"), ("p", "Performance"), ("q", "Quality"), ("oee", "OEE"))
        }
    with ui.card().classes("w-full shadow-none border border-slate-200"):
        ui.label("State timeline").classes("text-base font-medium text-slate-700")
        timeline = ui.html("", sanitize=False).classes("w-full").props('data-testid="timeline"')
        elements = ui.label().classes("text-sm text-slate-500")
    health_panel(twin, station)
    setpoint_panel(twin, station, session)
    signals = trended(station)
    span = TREND_S

    async def choose(event: ValueChangeEventArguments[float]) -> None:
        nonlocal span
        span = float(event.value)
        await refresh_charts()

    with ui.row().classes("w-full items-center gap-3 mt-2"):
        ui.label("Signals · last").classes("text-base font-medium text-slate-700")
        ui.toggle(TREND_SPANS, value=TREND_S, on_change=choose).props('dense no-caps data-testid="trend-span"')
    with ui.grid(columns=2).classes("w-full gap-4"):
        trends = {
            s.path: ui.echart(trend_options(s, []))
            .classes("h-56 bg-white border border-slate-200 rounded-md")
            .props(f'data-signal="{s.signal.id}"')
            for s in signals
        }
    processor = _spc(twin)
    charted = [s for s in signals if processor is not None and s.path in processor.characteristics]
    spc_charts = {}
    capability = {}
    if charted:
        ui.label("Statistical process control").classes("text-base font-medium text-slate-700 mt-2")
        for s in charted:
            with ui.card().classes("w-full shadow-none border border-slate-200"):
                spc_charts[s.path] = ui.echart({}).classes("w-full h-80").props(f'data-spc="{s.signal.id}"')
                capability[s.path] = ui.label().classes("text-sm text-slate-600")
    ui.label("Alerts").classes("text-base font-medium text-slate-700 mt-2")
    alerts = AlertList(twin, lambda: [a for a in twin.analytics.alerts.active() if a.station == path], session)

    def refresh_live() -> None:
        now, started = station_state(twin, path)
        state.set_text(now.value.replace("_", " "))
        state.style(f"background-color: {STATE_COLOURS[now]}")
        since.set_text(f"since {time.strftime('%H:%M:%S', time.localtime(started))}" if started else "")
        t0, t1 = kpi_window(twin)
        k = twin.analytics.station_kpis(path, t0, t1)
        for key, value in (("a", k.availability), ("p", k.effectiveness), ("q", k.quality_rate), ("oee", k.oee)):
            tiles[key][0].set_text(percent(value))
        te = k.time
        tiles["a"][1].set_text(f"running {te.apt:.0f} s of {te.pbt:.0f} s planned")
        tiles["p"][1].set_text(f"ideal cycle {k.ideal_cycle_s:g} s")
        tiles["q"][1].set_text(f"{k.good:,} good · {k.scrap:,} scrap")
        tiles["oee"][1].set_text(f"MTBF {_secs(k.mtbf_s)} · MTTR {_secs(k.mttr_s)}")
        timeline.set_content(timeline_svg(twin.analytics.station_intervals(path, t0, t1), t0, t1))
        elements.set_text(
            f"down {te.adot:.0f} s · setup {te.asut:.0f} s · waiting {te.adet:.0f} s · {te.failures} failures"
        )
        alerts.refresh()

    async def refresh_charts() -> None:
        """The heavier part (SPC charts, trends from the historian) at half the rate."""
        for s in charted:
            assert processor is not None
            chart = processor.chart(s.path)
            spc_charts[s.path].options.clear()
            spc_charts[s.path].options.update(spc_options(chart, f"{s.signal.name or s.signal.id} · {chart.kind}"))
            spc_charts[s.path].update()
            capability[s.path].set_text(_capability_text(chart.capability, len(chart.points), chart.limits is None))
        end = twin.clock.now().timestamp()
        for s in signals:
            times, values = await twin.historian.series(s.path, end - span, end + 1)
            keep = lttb(times, values, _TREND_POINTS)  # shape-preserving: peaks and dips stay
            points = list(zip(times[keep].tolist(), values[keep].tolist(), strict=True))
            live = twin.state.get(s.path)
            value = _number(live.value, live.quality) if live is not None else None
            if value is not None:  # a steady value (no new samples) still draws as a flat line up to now
                points = ([] if points else [(end - span, value)]) + points + [(end, value)]
            trend = trends[s.path]
            trend.options.clear()
            trend.options.update(trend_options(s, points, (end - span, end)))
            trend.update()

    refresh_live()
    ui.timer(REFRESH_S, refresh_live)
    ui.timer(REFRESH_S * 2, refresh_charts)


def _number(value: object, quality: Quality) -> float | None:
    """A usable numeric value as a float, else None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and quality.usable else None


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} s"


def _index(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _capability_text(cap: Capability | None, n: int, baseline: bool) -> str:
    if baseline:
        return f"collecting the phase-I baseline ({n} points so far); limits are fixed once it is complete"
    if cap is None:
        return ""
    return f"Cp {_index(cap.cp)} · Cpk {_index(cap.cpk)} · Pp {_index(cap.pp)} · Ppk {_index(cap.ppk)} · n {cap.n}"

"""A station's health and remaining useful life, from the twin's maintenance monitor.

The monitor assesses a station at the end of each window of running (15 minutes by default) once
its first windows have set the baseline; RUL needs run-to-failure histories, so it appears after the
monitor has seen failures.
"""

from __future__ import annotations

from nicegui import ui

from ..maintenance import Assessment, MaintenanceMonitor
from ..model import AssetInfo
from ..runtime import Twin
from .shell import REFRESH_S

__all__ = ["days", "health_lines", "health_panel"]


def days(seconds: float) -> str:
    """A duration in the unit a planner reads: minutes below two hours, hours below two days, else days."""
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 2 * 86400 else f"{seconds / 86400:.1f} d"


def health_lines(a: Assessment, station: AssetInfo) -> tuple[str, str, str]:
    """(health headline, what drives it, remaining useful life) of an assessment, in words."""
    h = a.health
    head = f"health {100 * h.index:.0f} % · degradation {h.degradation:.2f} · {days(h.age)} running since renewal"
    drivers = []
    for c in h.contributions[:3]:
        info = station.signals.get(c.signal.rsplit("/", 1)[-1])
        name = (info.signal.name or info.signal.id) if info else c.signal
        unit = f" {info.signal.unit}" if info and info.signal.unit else ""
        drivers.append(f"{name} {c.value:.3g}{unit} (new {c.baseline:.3g})")
    if a.rul is None:
        rul = "remaining useful life: learned once the monitor has seen this kind of station fail"
    else:
        r = a.rul
        chances = " · ".join(f"{k} {100 * p:.0f} %" for k, p in r.within.items())
        rul = (
            f"remaining useful life {days(r.median)} ({100 * r.level:.0f} % interval {days(r.low)} to "
            f"{days(r.high)}) · P(failure within) {chances}"
        )
    return head, "driven by " + "; ".join(drivers) if drivers else "", rul


def _colour(index: float) -> str:
    return "#2e7d32" if index >= 0.7 else "#e08a00" if index >= 0.4 else "#c62828"


def health_panel(twin: Twin, station: AssetInfo) -> None:
    """Health and RUL of a monitored station; nothing for a station without condition signals."""
    monitor: MaintenanceMonitor | None = getattr(twin, "maintenance", None)
    if monitor is None or station.path not in monitor.stations:
        return
    window = monitor.settings.window_s
    with ui.card().classes("w-full shadow-none border border-slate-200").props('data-testid="health"'):
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Health and remaining useful life").classes("text-base font-medium text-slate-700")
            badge = ui.badge("", color=None).classes("text-sm px-3 py-1").props('data-testid="health-index"')
        head = ui.label().classes("text-sm text-slate-700")
        drivers = ui.label().classes("text-sm text-slate-500")
        rul = ui.label().classes("text-sm text-slate-700").props('data-testid="rul"')

    def refresh() -> None:
        a = monitor.latest.get(station.path)
        if a is None:
            badge.set_text("learning")
            badge.style("background-color: #78909c")
            head.set_text(
                f"The first assessment comes after {monitor.settings.fresh} windows of {days(window)} set the "
                "station's baseline as new."
            )
            drivers.set_text("")
            rul.set_text("")
            return
        lines = health_lines(a, station)
        badge.set_text(f"{100 * a.health.index:.0f} %")
        badge.style(f"background-color: {_colour(a.health.index)}")
        head.set_text(lines[0])
        drivers.set_text(lines[1])
        rul.set_text(lines[2])

    refresh()
    ui.timer(REFRESH_S * 2, refresh)

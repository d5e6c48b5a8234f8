"""Alerts: the list the overview shows, and the alerts page where operators acknowledge them."""

from __future__ import annotations

import time
from collections.abc import Callable

from nicegui import ui

from ..core.alerts import Alert, AlertState
from ..errors import FactoryTwinError
from ..events import Severity
from ..runtime import Twin
from ..security import Role
from .session import Session
from .shell import REFRESH_S

__all__ = ["AlertList", "alerts_page"]

_SEVERITY = {
    Severity.CRITICAL: ("#c62828", "error"),
    Severity.WARNING: ("#e08a00", "warning"),
    Severity.INFO: ("#4f83cc", "info"),
}
_HISTORY_S = 24 * 3600.0


def _ago(t: float, now: float) -> str:
    """How long before ``now`` a time was, in words."""
    s = max(0.0, now - t)
    if s < 90:
        return f"{s:.0f} s ago"
    if s < 5400:
        return f"{s / 60:.0f} min ago"
    return time.strftime("%d %b %H:%M", time.localtime(t))


class AlertList:
    """A live list of alerts, rebuilt only when one of them changes (so buttons stay put between refreshes).

    With the session of an operator or above, each open alert has an Acknowledge button.
    """

    def __init__(self, twin: Twin, source: Callable[[], list[Alert]], session: Session | None) -> None:
        self.twin = twin
        self.source = source
        self.session = session
        self.box = ui.column().classes("w-full gap-2").props('data-testid="alerts"')
        self._shown: tuple[tuple[int, str, int], ...] | None = None
        self.refresh()

    def refresh(self) -> None:
        """Show the current alerts if they changed."""
        alerts = self.source()
        key = tuple((a.id, a.state.value, a.count) for a in alerts)
        if key == self._shown:
            return
        self._shown = key
        self.box.clear()
        with self.box:
            if not alerts:
                ui.label("No active alerts.").classes("text-slate-500")
            for alert in alerts:
                self._row(alert)

    def _row(self, alert: Alert) -> None:
        colour, icon = _SEVERITY[alert.severity]
        station = alert.station.rsplit("/", 1)[-1] if alert.station else "plant"
        with (
            ui.row()
            .classes("w-full items-center no-wrap gap-3 px-3 py-2 rounded bg-white border border-slate-200")
            .props(f'data-alert="{alert.id}" data-state="{alert.state.value}"')
        ):
            ui.icon(icon).style(f"color: {colour}").classes("text-xl")
            with ui.column().classes("gap-0 flex-1"):
                ui.label(alert.message).classes("text-slate-800")
                times = f" · {alert.count} times" if alert.count > 1 else ""
                ago = _ago(alert.raised_at, self.twin.clock.now().timestamp())
                ui.label(f"{station} · {alert.kind} · raised {ago}{times}").classes("text-xs text-slate-500")
            if alert.state is AlertState.ACKNOWLEDGED:
                ui.label(f"acknowledged by {alert.acknowledged_by}").classes("text-xs text-slate-500")
            elif self.session is not None and self.session.may(Role.OPERATOR):
                ui.button("Acknowledge", on_click=lambda _, a=alert: self._acknowledge(a)).props(
                    "outline dense no-caps"
                )

    async def _acknowledge(self, alert: Alert) -> None:
        assert self.session is not None
        assert self.session.principal is not None
        try:
            await self.twin.acknowledge(alert.id, self.session.principal)
        except FactoryTwinError as exc:
            ui.notify(str(exc), type="warning")
        else:
            ui.notify(f"Alert {alert.id} acknowledged", type="positive")
        self.refresh()


def alerts_page(twin: Twin, session: Session) -> None:
    """Open alerts (acknowledge) and the alerts of the last 24 hours."""
    ui.label("Open").classes("text-base font-medium text-slate-700")
    if not session.may(Role.OPERATOR):
        ui.label("Sign in as an operator to acknowledge alerts.").classes("text-sm text-slate-500")
    active = AlertList(twin, twin.analytics.alerts.active, session)
    ui.label("Last 24 hours").classes("text-base font-medium text-slate-700 mt-4")
    columns = [
        {"name": "raised", "label": "Raised", "field": "raised", "align": "left"},
        {"name": "severity", "label": "Severity", "field": "severity", "align": "left"},
        {"name": "station", "label": "Station", "field": "station", "align": "left"},
        {"name": "message", "label": "Message", "field": "message", "align": "left"},
        {"name": "state", "label": "State", "field": "state", "align": "left"},
        {"name": "by", "label": "Acknowledged by", "field": "by", "align": "left"},
    ]
    table = ui.table(columns=columns, rows=[], row_key="id", pagination=15).classes(
        "w-full shadow-none border border-slate-200"
    )

    async def refresh() -> None:
        active.refresh()
        now = twin.clock.now().timestamp()
        history = await twin.historian.alerts(now - _HISTORY_S, now)
        table.rows = [
            {
                "id": a.id,
                "raised": time.strftime("%d %b %H:%M:%S", time.localtime(a.raised_at)),
                "severity": a.severity.name.lower(),
                "station": a.station.rsplit("/", 1)[-1] if a.station else "",
                "message": a.message,
                "state": a.state.value,
                "by": a.acknowledged_by or "",
            }
            for a in history
        ]
        table.update()

    ui.timer(REFRESH_S, refresh)

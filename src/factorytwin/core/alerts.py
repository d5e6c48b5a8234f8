"""Alerts: findings turned into a lifecycle a person can act on.

    active --acknowledge--> acknowledged
       \\                        |
        `---- condition gone for clear_after_s (hysteresis) ----> cleared

One alert per finding key at a time (deduplication): repeats raise its count and, if more severe,
its severity. A cleared alert stays in history; the next occurrence opens a new alert. Times are
the findings' source times, so replaying history gives the same alerts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from enum import StrEnum

from ..errors import FactoryTwinError
from ..events import Finding, Severity

__all__ = ["Alert", "AlertManager", "AlertState"]


class AlertState(StrEnum):
    """Where an alert is in its lifecycle."""

    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class Alert:
    """One occurrence of a condition, from raised to cleared."""

    id: int
    key: str
    kind: str
    severity: Severity
    state: AlertState
    message: str
    raised_at: float
    last_seen: float
    count: int = 1
    signal: str | None = None
    station: str | None = None
    value: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    cleared_at: float | None = None


class AlertManager:
    """Keeps the alerts derived from findings; every change is returned so it can be stored and pushed."""

    def __init__(self, clear_after_s: float = 30.0, first_id: int = 1) -> None:
        self.clear_after_s = clear_after_s
        self.alerts: dict[int, Alert] = {}
        self._open: dict[str, int] = {}  # key -> id of the alert not yet cleared
        self._ending: dict[str, float] = {}  # key -> when its condition went away
        self._ids = itertools.count(first_id)

    def apply(self, findings: list[Finding]) -> list[Alert]:
        """Fold findings in (source-time order); return the alerts that changed."""
        changed: list[Alert] = []
        for f in findings:
            changed += self.tick(f.time)
            alert_id = self._open.get(f.key)
            if f.active:
                self._ending.pop(f.key, None)
                changed.append(self._raise(f) if alert_id is None else self._repeat(alert_id, f))
            elif alert_id is not None:
                self._ending.setdefault(f.key, f.time)
        return changed

    def tick(self, now: float) -> list[Alert]:
        """Clear alerts whose condition has been gone for clear_after_s by ``now``."""
        done = [k for k, since in self._ending.items() if now - since >= self.clear_after_s]
        out = []
        for key in done:
            since = self._ending.pop(key)
            alert = self.alerts[self._open.pop(key)]
            out.append(self._set(replace(alert, state=AlertState.CLEARED, cleared_at=since + self.clear_after_s)))
        return out

    def acknowledge(self, alert_id: int, who: str, at: float) -> Alert:
        """A person has seen the alert; raise FactoryTwinError for an unknown or cleared one."""
        alert = self.alerts.get(alert_id)
        if alert is None:
            raise FactoryTwinError(f"no alert {alert_id}")
        if alert.state is AlertState.CLEARED:
            raise FactoryTwinError(f"alert {alert_id} is already cleared")
        if alert.state is AlertState.ACKNOWLEDGED:
            return alert
        return self._set(replace(alert, state=AlertState.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=who))

    def active(self) -> list[Alert]:
        """Alerts not yet cleared, most severe and newest first."""
        open_alerts = [self.alerts[i] for i in self._open.values()]
        return sorted(open_alerts, key=lambda a: (-a.severity, -a.raised_at))

    def _raise(self, f: Finding) -> Alert:
        alert = Alert(
            id=next(self._ids),
            key=f.key,
            kind=f.kind,
            severity=f.severity,
            state=AlertState.ACTIVE,
            message=f.message,
            raised_at=f.time,
            last_seen=f.time,
            signal=f.signal,
            station=f.station,
            value=f.value,
        )
        self._open[f.key] = alert.id
        return self._set(alert)

    def _repeat(self, alert_id: int, f: Finding) -> Alert:
        alert = self.alerts[alert_id]
        severity = max(alert.severity, f.severity)
        message = f.message if f.severity >= alert.severity else alert.message
        return self._set(
            replace(alert, last_seen=f.time, count=alert.count + 1, severity=severity, message=message, value=f.value)
        )

    def _set(self, alert: Alert) -> Alert:
        self.alerts[alert.id] = alert
        return alert

"""Maintenance plans: when to intervene on each station, grouped into shared planned stops.

Each station's outlook is samples of its remaining running life (from its RUL model) and of a new
unit's life, its utilization, and the line downtime of a planned service and of a repair after a
failure. The best time to intervene minimizes the expected downtime per hour of operation over
the unit's life (age replacement): intervening early wastes life, late risks the long repair.

Interventions of the stations of a line are grouped greedily: the earliest due one opens a stop,
and every station due within ``window`` seconds of it is serviced in the same stop (stations are
serviced side by side, so a stop lasts as long as its longest service). A serviced station's next
intervention is due one optimal age after the stop. ``plan.py`` only proposes; price.py lets the
twin's simulation choose between the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from ..model.calendar import Calendar, PlannedStop

__all__ = ["Outlook", "Plan", "Stop", "best_age", "fixed_interval", "grouped", "to_calendar"]


@dataclass(frozen=True, slots=True)
class Outlook:
    """What the planner knows of one station (all times in seconds)."""

    station: str  # the station's id on its line
    remaining: np.ndarray  # samples of the running seconds left to the current unit
    life: np.ndarray  # samples of a new unit's running life
    utilization: float  # running share of calendar time
    service: float  # line downtime of a planned service
    repair: float  # downtime of a repair after a failure


@dataclass(frozen=True, slots=True)
class Stop:
    """A planned stop of the line: from start for duration seconds (after the plan's start), servicing stations."""

    start: float
    duration: float
    stations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """A named maintenance policy over a horizon: its planned stops."""

    name: str
    horizon: float
    stops: tuple[Stop, ...]


def best_age(life: np.ndarray, service: float, repair: float, limit: float) -> float:
    """The running age (up to ``limit``) at which to intervene: least expected downtime per running second."""
    candidates = np.quantile(life, np.linspace(0.005, 0.995, 120))
    candidates = candidates[candidates <= limit] if np.any(candidates <= limit) else np.array([limit])
    ordered = np.sort(life)
    best, best_rate = float(limit), float("inf")
    for age in candidates:
        p_fail = float(np.searchsorted(ordered, age)) / len(ordered)
        uptime = float(np.mean(np.minimum(life, age)))
        rate = (repair * p_fail + service * (1 - p_fail)) / max(uptime, 1e-9)
        if rate < best_rate:
            best, best_rate = float(age), rate
    if repair * 1.0 / max(float(np.mean(life)), 1e-9) <= best_rate:  # never intervening is as good
        return float("inf")
    return best


def grouped(outlooks: list[Outlook], horizon: float, window: float, name: str | None = None) -> Plan:
    """Interventions at each station's best time, grouped into shared stops ``window`` seconds wide."""
    due: dict[str, float] = {}
    again: dict[str, float] = {}
    for o in outlooks:
        first = best_age(o.remaining, o.service, o.repair, horizon * o.utilization)
        due[o.station] = first / max(o.utilization, 0.02)
        again[o.station] = best_age(o.life, o.service, o.repair, 10 * float(np.mean(o.life))) / max(o.utilization, 0.02)
    by_id = {o.station: o for o in outlooks}
    stops = []
    while due and min(due.values()) < horizon:
        start = min(due.values())
        members = tuple(sorted(s for s, t in due.items() if t <= start + window))
        duration = max(by_id[s].service for s in members)
        stops.append(Stop(start, duration, members))
        for s in members:
            due[s] = start + duration + again[s]
    label = name or (f"condition-based, grouped within {window / 3600:g} h" if window > 0 else "condition-based")
    return Plan(label, horizon, tuple(stops))


def fixed_interval(outlooks: list[Outlook], horizon: float, quantile: float = 0.1) -> Plan:
    """Each station serviced on its own every ``quantile`` of a new unit's life, counted from now."""
    stops = []
    for o in outlooks:
        every = float(np.quantile(o.life, quantile)) / max(o.utilization, 0.02)
        t = every
        while t < horizon:
            stops.append(Stop(t, o.service, (o.station,)))
            t += o.service + every
    return Plan(f"fixed interval (every {quantile:.0%} life quantile)", horizon, tuple(sorted(stops, key=_start)))


def _start(stop: Stop) -> float:
    return stop.start


def to_calendar(plan: Plan, calendar: Calendar, start: float, line: str) -> Calendar:
    """The calendar with the plan's stops added as planned stops of ``line`` (``start``: POSIX time of t = 0)."""
    extra = [
        PlannedStop(
            start=datetime.fromtimestamp(start + s.start, UTC),
            end=datetime.fromtimestamp(start + s.start + s.duration, UTC),
            reason="maintenance: " + ", ".join(s.stations),
            lines=[line],
        )
        for s in plan.stops
    ]
    return calendar.model_copy(update={"planned": [*calendar.planned, *extra]})

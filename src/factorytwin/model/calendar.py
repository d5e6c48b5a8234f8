"""Shift calendars and planned downtime: when a line is planned to produce (ISO 22400 PBT).

A calendar repeats daily in the site's time zone: shifts on working days, recurring breaks, and
one-off planned stops (maintenance, holidays). All queries take and return POSIX seconds (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, model_validator

from .types import Id, Strict

__all__ = ["Break", "Calendar", "Interval", "PlannedStop", "Shift", "ShiftPeriod", "site_time"]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def site_time(text: str, zone: ZoneInfo) -> float:
    """An ISO 8601 time as POSIX seconds; without an offset it is in the site's time zone ``zone``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO 8601 time like 2026-11-24T06:00") from None
    return (value.replace(tzinfo=zone) if value.tzinfo is None else value).timestamp()


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a time of day like 06:00") from None


def _time_of_day(text: str) -> str:
    _clock(text)
    return text


TimeOfDay = Annotated[str, AfterValidator(_time_of_day), Field(description="Local time, e.g. 06:00")]


class Shift(Strict):
    """A daily shift; one that ends at or before its start runs past midnight (22:00 -> 06:00)."""

    name: Id
    start: TimeOfDay
    end: TimeOfDay


class Break(Strict):
    """Recurring planned downtime inside shifts (a meal break, a daily cleaning)."""

    name: str
    start: TimeOfDay
    end: TimeOfDay
    shifts: list[Id] = Field(default_factory=list, description="Shifts it applies to (default: all)")


class PlannedStop(Strict):
    """A one-off planned stop (maintenance, holiday, trial); times with a UTC offset or in site time."""

    start: datetime
    end: datetime
    reason: str = "planned stop"
    lines: list[Id] = Field(default_factory=list, description="Lines it applies to (default: all)")

    @model_validator(mode="after")
    def _ordered(self) -> PlannedStop:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


@dataclass(frozen=True, slots=True)
class Interval:
    """A span of time in POSIX seconds with a label."""

    start: float
    end: float
    label: str

    @property
    def seconds(self) -> float:
        """Its length."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class ShiftPeriod:
    """One occurrence of a shift: its span and the planned stops inside it."""

    name: str
    start: float
    end: float
    stops: tuple[Interval, ...]

    @property
    def planned_seconds(self) -> float:
        """Planned busy time: the shift minus its planned stops (ISO 22400 PBT)."""
        return self.end - self.start - sum(s.seconds for s in self.stops)


class Calendar(Strict):
    """When production is planned: shifts on working days, minus breaks and planned stops."""

    shifts: list[Shift] = Field(
        default_factory=lambda: [Shift(name="day", start="00:00", end="00:00")],
        description="Daily shifts (default: one 24-hour shift)",
    )
    days: list[Weekday] = Field(default_factory=lambda: list(_WEEKDAYS), description="Working days (shift start)")
    breaks: list[Break] = Field(default_factory=list)
    planned: list[PlannedStop] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Calendar:
        names = [s.name for s in self.shifts]
        if len(set(names)) != len(names):
            raise ValueError("shift names must be unique")
        for brk in self.breaks:
            unknown = set(brk.shifts) - set(names)
            if unknown:
                raise ValueError(f"break '{brk.name}' names unknown shifts {sorted(unknown)}")
        return self

    def periods(self, start: float, end: float, timezone: str = "UTC", line: str | None = None) -> list[ShiftPeriod]:
        """Shift occurrences overlapping [start, end), clipped to it, with their planned stops."""
        zone = ZoneInfo(timezone)
        first = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end, zone).date()
        out: list[ShiftPeriod] = []
        day = first
        while day <= last:
            if _WEEKDAYS[day.weekday()] in self.days:
                out += [p for s in self.shifts if (p := self._period(s, day, zone, start, end, line)) is not None]
            day += timedelta(days=1)
        return sorted(out, key=lambda p: p.start)

    def planned_seconds(self, start: float, end: float, timezone: str = "UTC", line: str | None = None) -> float:
        """Planned busy time in [start, end)."""
        return sum(p.planned_seconds for p in self.periods(start, end, timezone, line))

    def shift_at(self, t: float, timezone: str = "UTC", line: str | None = None) -> ShiftPeriod | None:
        """The whole shift occurrence running at time t, if any."""
        for period in self.periods(t - 2 * 86400, t + 2 * 86400, timezone, line):
            if period.start <= t < period.end:
                return period
        return None

    def _period(
        self, shift: Shift, day: date, zone: ZoneInfo, lo: float, hi: float, line: str | None
    ) -> ShiftPeriod | None:
        s_start = datetime.combine(day, _clock(shift.start), zone).timestamp()
        s_end_day = day if _clock(shift.end) > _clock(shift.start) else day + timedelta(days=1)
        s_end = datetime.combine(s_end_day, _clock(shift.end), zone).timestamp()
        start, end = max(s_start, lo), min(s_end, hi)
        if start >= end:
            return None
        stops = [*self._breaks(shift, day, zone), *self._one_off(zone, line)]
        clipped = [
            Interval(max(i.start, start), min(i.end, end), i.label) for i in stops if i.start < end and i.end > start
        ]
        return ShiftPeriod(shift.name, start, end, tuple(_merge(clipped)))

    def _breaks(self, shift: Shift, day: date, zone: ZoneInfo) -> list[Interval]:
        out = []
        for brk in self.breaks:
            if brk.shifts and shift.name not in brk.shifts:
                continue
            for d in (day, day + timedelta(days=1)):  # a break may fall after midnight in a night shift
                b_start = datetime.combine(d, _clock(brk.start), zone).timestamp()
                b_end = datetime.combine(d, _clock(brk.end), zone).timestamp()
                if b_end <= b_start:
                    b_end += 86400
                out.append(Interval(b_start, b_end, brk.name))
        return out

    def _one_off(self, zone: ZoneInfo, line: str | None) -> list[Interval]:
        out = []
        for stop in self.planned:
            if line is not None and stop.lines and line not in stop.lines:
                continue
            start = stop.start if stop.start.tzinfo else stop.start.replace(tzinfo=zone)
            end = stop.end if stop.end.tzinfo else stop.end.replace(tzinfo=zone)
            out.append(Interval(start.timestamp(), end.timestamp(), stop.reason))
        return out


def _merge(intervals: list[Interval]) -> list[Interval]:
    """Overlapping stops count once."""
    out: list[Interval] = []
    for i in sorted(intervals, key=lambda x: x.start):
        if out and i.start <= out[-1].end:
            last = out[-1]
            out[-1] = Interval(last.start, max(last.end, i.end), last.label)
        else:
            out.append(i)
    return out

"""Injected time: every component asks a Clock, never datetime.now()."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock", "utc"]


def utc(value: datetime) -> datetime:
    """Return value as a timezone-aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Clock(Protocol):
    """A source of timezone-aware UTC time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the wall-clock time in UTC."""
        return datetime.now(UTC)


class ScaledClock:
    """Time that runs ``speed`` times faster than the wall clock, from the moment it is made.

    A virtual plant run faster than real time and the twin watching it share one: a part made every
    second of plant time is then one part per second to the twin too, so rates, OEE and state
    durations read as they would in the plant, not ``speed`` times too high.
    """

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        self._origin = datetime.now(UTC)
        self._wall0 = time.monotonic()

    def now(self) -> datetime:
        """Return the scaled time: the origin plus ``speed`` times the wall-clock seconds since."""
        return self._origin + timedelta(seconds=(time.monotonic() - self._wall0) * self.speed)


class ManualClock:
    """A clock that moves only when told to (for tests and replays)."""

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)

    def now(self) -> datetime:
        """Return the clock's current time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by a number of seconds."""
        self._now += timedelta(seconds=seconds)

"""The normalized stream: samples and the quality and state vocabularies they use."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

__all__ = ["DEFAULT_STATE_CODES", "Finding", "Quality", "Sample", "Severity", "StationState", "Value"]

Value = float | int | bool | str | None


class Quality(IntEnum):
    """How far a sample's value can be trusted (ordered from best to worst)."""

    GOOD = 0
    UNCERTAIN = 1
    BAD = 2
    STALE = 3

    @property
    def usable(self) -> bool:
        """True when the value may be used for calculations."""
        return self is Quality.GOOD or self is Quality.UNCERTAIN


class StationState(StrEnum):
    """What a station is doing (ISA-95 / ISO 22400 vocabulary)."""

    RUNNING = "running"
    IDLE = "idle"
    STARVED = "starved"
    BLOCKED = "blocked"
    DOWN = "down"
    PLANNED_STOP = "planned_stop"
    CHANGEOVER = "changeover"
    UNKNOWN = "unknown"


DEFAULT_STATE_CODES: dict[int, StationState] = {
    0: StationState.IDLE,
    1: StationState.RUNNING,
    2: StationState.STARVED,
    3: StationState.BLOCKED,
    4: StationState.DOWN,
    5: StationState.PLANNED_STOP,
    6: StationState.CHANGEOVER,
}


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one signal.

    Times are POSIX seconds in UTC (floats keep the hot path cheap); ``signal`` is the
    signal's path in the plant model, e.g. ``acme/lyon/bottling/line1/filler/temperature``.
    """

    signal: str
    source_time: float
    receive_time: float
    value: Value
    quality: Quality = Quality.GOOD


class Severity(IntEnum):
    """How urgent a finding or alert is."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True, slots=True)
class Finding:
    """Something analytics noticed at a time: an anomaly, an SPC rule, a value out of range.

    ``key`` identifies the condition (for deduplication: one alert per key); ``active`` is True while
    the condition holds and False when it has ended (which clears the alert, after hysteresis).
    """

    key: str
    kind: str
    time: float
    active: bool
    severity: Severity
    message: str
    signal: str | None = None
    station: str | None = None
    value: float | None = None
    score: float | None = None
    context: dict[str, float | str] = field(default_factory=dict)

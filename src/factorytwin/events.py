"""The normalized stream: samples and the quality and state vocabularies they use."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = ["DEFAULT_STATE_CODES", "Quality", "Sample", "StationState", "Value"]

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

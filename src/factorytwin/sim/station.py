"""The live condition of a simulated station and of each of its machines."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..events import StationState
from ..model.schema import Station

__all__ = ["MachineRun", "StationRun", "aggregate"]

# What a station with several machines shows: the most productive thing any machine does.
_PRIORITY = [
    StationState.RUNNING,
    StationState.CHANGEOVER,
    StationState.DOWN,
    StationState.PLANNED_STOP,
    StationState.BLOCKED,
    StationState.STARVED,
    StationState.IDLE,
]


def aggregate(states: list[StationState]) -> StationState:
    """A station's state from its machines' states."""
    return next((s for s in _PRIORITY if s in states), StationState.IDLE)


@dataclass(slots=True)
class _Tally:
    """A state and the time spent in each state so far."""

    state: StationState = StationState.IDLE
    since: float = 0.0
    time_in_state: dict[StationState, float] = field(default_factory=dict)

    def enter(self, state: StationState, now: float) -> bool:
        """Switch state at ``now``; False when already in it."""
        if state is self.state:
            return False
        self.time_in_state[self.state] = self.time_in_state.get(self.state, 0.0) + now - self.since
        self.state, self.since = state, now
        return True

    def total(self, state: StationState, now: float) -> float:
        """Time spent in a state up to ``now``, the open interval included."""
        open_part = now - self.since if state is self.state else 0.0
        return self.time_in_state.get(state, 0.0) + open_part


@dataclass(slots=True)
class MachineRun(_Tally):
    """One machine of a station."""

    activity: StationState = StationState.IDLE  # what it does when it is not down
    busy_time: float = 0.0
    busy_since_repair: float = 0.0
    failures: int = 0


@dataclass(slots=True, kw_only=True)
class StationRun(_Tally):
    """The live, mutable condition of one simulated station (all its machines together)."""

    station: Station
    machines: list[MachineRun] = field(default_factory=list)
    good: int = 0
    scrap: int = 0
    speed: float = 1.0
    last_cycle: float = 0.0

    @classmethod
    def of(cls, station: Station) -> StationRun:
        """A station at rest with its machines."""
        return cls(station=station, machines=[MachineRun() for _ in range(station.sim.machines)])

    @property
    def failures(self) -> int:
        """Failures of all its machines."""
        return sum(m.failures for m in self.machines)

    @property
    def busy_time(self) -> float:
        """Processing time of all its machines."""
        return sum(m.busy_time for m in self.machines)

    @property
    def wear(self) -> float:
        """Wear from 0 (new) upwards: the most worn machine's busy time since repair over the mean time to failure."""
        law = self.station.sim.failure_law()
        if law is None:
            return 0.0
        return max(m.busy_since_repair for m in self.machines) / law[0].mean

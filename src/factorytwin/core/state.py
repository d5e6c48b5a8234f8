"""Live state: the latest value, quality and timestamps of every signal, and each station's state."""

from __future__ import annotations

from dataclasses import dataclass

from ..events import Quality, Sample, StationState, Value
from ..model import PlantIndex, Role, SignalInfo

__all__ = ["LiveState", "SignalState", "StationStatus"]


@dataclass(slots=True)
class SignalState:
    """What the twin currently knows of one signal."""

    value: Value
    quality: Quality
    source_time: float
    receive_time: float
    updates: int = 1


@dataclass(slots=True)
class StationStatus:
    """A station's current state and since when (source time)."""

    state: StationState = StationState.UNKNOWN
    since: float | None = None
    quality: Quality = Quality.STALE


class LiveState:
    """Applies sample batches in order; older samples than the latest known do not overwrite it.

    A STALE sample keeps the last value and only changes the quality (a lost connection never reads
    as zero); a BAD sample clears the value.
    """

    def __init__(self, index: PlantIndex) -> None:
        self.signals: dict[str, SignalState] = {}
        self.stations: dict[str, StationStatus] = {s.path: StationStatus() for s in index.stations}
        self._state_signals: dict[str, SignalInfo] = {
            sig.path: sig
            for sig in index.signals.values()
            if sig.role is Role.STATE and sig.asset_path in self.stations
        }
        self.applied = 0

    def apply(self, batch: list[Sample]) -> None:
        """Fold a batch of samples into the live state."""
        signals = self.signals
        for s in batch:
            current = signals.get(s.signal)
            if current is None:
                signals[s.signal] = SignalState(s.value, s.quality, s.source_time, s.receive_time)
            elif s.quality is Quality.STALE:
                current.quality = Quality.STALE
                current.receive_time = s.receive_time
            elif s.source_time >= current.source_time or current.quality is Quality.STALE:
                current.value = s.value
                current.quality = s.quality
                current.source_time = s.source_time
                current.receive_time = s.receive_time
                current.updates += 1
            else:
                continue
            info = self._state_signals.get(s.signal)
            if info is not None:
                self._station(info, s)
        self.applied += len(batch)

    def _station(self, info: SignalInfo, s: Sample) -> None:
        status = self.stations[info.asset_path]
        status.quality = s.quality
        if not s.quality.usable or not isinstance(s.value, int):
            return
        state = info.state_of(s.value)
        if state is not status.state:
            status.state = state
            status.since = s.source_time

    def get(self, path: str) -> SignalState | None:
        """The state of one signal, if any sample arrived for it."""
        return self.signals.get(path)

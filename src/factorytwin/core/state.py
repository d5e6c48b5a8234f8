"""Live state: the latest value, quality and timestamps of every signal, and each station's state."""

from __future__ import annotations

from dataclasses import dataclass

from ..columns import Batch, columns_of
from ..events import Quality, StationState, Value
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

    def apply(self, batch: Batch) -> None:
        """Fold a batch of samples into the live state."""
        cols = columns_of(batch)
        signals, state_signals, stale = self.signals, self._state_signals, Quality.STALE
        for signal, source_time, receive_time, value, quality in zip(
            cols.signals, cols.source_times, cols.receive_times, cols.values, cols.qualities, strict=True
        ):
            current = signals.get(signal)
            if current is None:
                signals[signal] = SignalState(value, quality, source_time, receive_time)
            elif quality is stale:
                current.quality = stale
                current.receive_time = receive_time
            elif source_time >= current.source_time or current.quality is stale:
                current.value = value
                current.quality = quality
                current.source_time = source_time
                current.receive_time = receive_time
                current.updates += 1
            else:
                continue
            if signal in state_signals:
                self._station(state_signals[signal], value, quality, source_time)
        self.applied += len(cols)

    def _station(self, info: SignalInfo, value: Value, quality: Quality, source_time: float) -> None:
        status = self.stations[info.asset_path]
        status.quality = quality
        if not quality.usable or not isinstance(value, int):
            return
        state = info.state_of(value)
        if state is not status.state:
            status.state = state
            status.since = source_time

    def get(self, path: str) -> SignalState | None:
        """The state of one signal, if any sample arrived for it."""
        return self.signals.get(path)

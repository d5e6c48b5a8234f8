"""HTTP response types (pydantic at the edge), built from the twin's domain objects."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from ..core import SignalState
from ..events import Sample
from ..model import AssetInfo, SignalInfo
from ..model.schema import Range, SpecLimits, WriteLimits

__all__ = [
    "AssetOut",
    "AssetState",
    "HistoryOut",
    "LineOut",
    "PointOut",
    "SignalMeta",
    "SignalValue",
    "StateOut",
    "to_iso",
]


def to_iso(t: float | None) -> datetime | None:
    """POSIX seconds to an aware UTC datetime."""
    return None if t is None else datetime.fromtimestamp(t, UTC)


class SignalMeta(BaseModel):
    """A signal's context from the model."""

    id: str
    path: str
    name: str | None
    role: str
    unit: str | None
    normal: Range | None
    spec: SpecLimits | None
    write: WriteLimits | None
    source: str | None

    @classmethod
    def of(cls, info: SignalInfo) -> SignalMeta:
        """Build from a resolved signal."""
        s = info.signal
        return cls(
            id=s.id,
            path=info.path,
            name=s.name,
            role=s.role.value,
            unit=s.unit,
            normal=s.normal,
            spec=s.spec,
            write=s.write,
            source=info.source,
        )


class AssetOut(BaseModel):
    """A station or buffer with its signals."""

    id: str
    path: str
    kind: str
    name: str | None
    signals: list[SignalMeta]

    @classmethod
    def of(cls, asset: AssetInfo) -> AssetOut:
        """Build from a resolved asset."""
        return cls(
            id=asset.asset.id,
            path=asset.path,
            kind=asset.kind,
            name=asset.asset.name,
            signals=[SignalMeta.of(s) for s in asset.signals.values()],
        )


class LineOut(BaseModel):
    """A line of the ISA-95 hierarchy."""

    id: str
    path: str
    name: str | None
    target_rate: float | None
    stations: list[AssetOut]
    buffers: list[AssetOut]


class SignalValue(BaseModel):
    """A signal's live value."""

    value: float | int | bool | str | None
    quality: str
    source_time: datetime | None
    receive_time: datetime | None
    unit: str | None

    @classmethod
    def of(cls, state: SignalState | None, unit: str | None) -> SignalValue:
        """Build from live state (no sample yet reads as stale, never as zero)."""
        if state is None:
            return cls(value=None, quality="stale", source_time=None, receive_time=None, unit=unit)
        return cls(
            value=state.value,
            quality=state.quality.name.lower(),
            source_time=to_iso(state.source_time),
            receive_time=to_iso(state.receive_time),
            unit=unit,
        )


class AssetState(BaseModel):
    """A station's or buffer's live state."""

    id: str
    path: str
    kind: str
    name: str | None
    state: str | None
    state_since: datetime | None
    signals: dict[str, SignalValue]


class StateOut(BaseModel):
    """The live state of the whole plant."""

    time: datetime
    assets: list[AssetState]


class PointOut(BaseModel):
    """One stored sample."""

    source_time: datetime
    receive_time: datetime
    value: float | None
    quality: str

    @classmethod
    def of(cls, s: Sample) -> PointOut:
        """Build from a sample."""
        return cls(
            source_time=datetime.fromtimestamp(s.source_time, UTC),
            receive_time=datetime.fromtimestamp(s.receive_time, UTC),
            value=s.value if isinstance(s.value, int | float) else None,
            quality=s.quality.name.lower(),
        )


class HistoryOut(BaseModel):
    """Stored samples of one signal over a time range."""

    signal: str
    unit: str | None
    start: datetime
    end: datetime
    points: list[PointOut]
    truncated: bool

"""A resolved view of a plant model: every signal by path, with its context and binding."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..events import DEFAULT_STATE_CODES, StationState
from .calendar import Calendar, ShiftPeriod
from .schema import INTEGER_ROLES, Buffer, Line, PlantModel, Role, Signal, Site, Station
from .sources import Binding

__all__ = ["AssetInfo", "LineInfo", "PlantIndex", "SignalInfo"]


@dataclass(frozen=True, slots=True)
class SignalInfo:
    """A signal with everything the stream needs to know about it."""

    path: str
    signal: Signal
    asset_path: str
    line_path: str
    source: str | None

    @property
    def binding(self) -> Binding | None:
        """The signal's protocol binding, if it is read from a source."""
        return self.signal.binding

    @property
    def node(self) -> str | None:
        """The OPC UA node id, for signals bound over OPC UA."""
        b = self.signal.binding
        return b.opcua.node if b is not None and b.opcua is not None else None

    @property
    def role(self) -> Role:
        """The signal's role."""
        return self.signal.role

    @property
    def integer(self) -> bool:
        """True when the signal carries whole numbers (counters, state codes, levels)."""
        return self.signal.role in INTEGER_ROLES

    def state_of(self, code: int) -> StationState:
        """Translate a machine state code into a station state."""
        codes = self.signal.states or DEFAULT_STATE_CODES
        return codes.get(code, StationState.UNKNOWN)


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """A station or buffer with its path and signals."""

    path: str
    kind: str  # "station" or "buffer"
    asset: Station | Buffer
    line_path: str
    signals: dict[str, SignalInfo] = field(default_factory=dict)

    def by_role(self, role: Role) -> SignalInfo | None:
        """Return the first signal of the given role, if any."""
        return next((s for s in self.signals.values() if s.role is role), None)


@dataclass(frozen=True, slots=True)
class LineInfo:
    """A line with its path and assets in flow order."""

    path: str
    line: Line
    stations: list[AssetInfo]
    buffers: list[AssetInfo]
    calendar: Calendar
    timezone: str

    def planned_seconds(self, start: float, end: float) -> float:
        """Planned busy time of the line in [start, end) (ISO 22400 PBT)."""
        return self.calendar.planned_seconds(start, end, self.timezone, self.line.id)

    def shift_at(self, t: float) -> ShiftPeriod | None:
        """The shift occurrence running at time t."""
        return self.calendar.shift_at(t, self.timezone, self.line.id)


class PlantIndex:
    """Look-ups over a validated plant model."""

    def __init__(self, model: PlantModel) -> None:
        self.model = model
        self.signals: dict[str, SignalInfo] = {}
        self.assets: dict[str, AssetInfo] = {}
        self.lines: dict[str, LineInfo] = {}
        ent = model.enterprise
        for site in ent.sites:
            for area in site.areas:
                for line in area.lines:
                    self._add_line(f"{ent.id}/{site.id}/{area.id}/{line.id}", line, site)

    def _add_line(self, path: str, line: Line, site: Site) -> None:
        stations = [self._add_asset(path, line, "station", s) for s in line.stations]
        buffers = [self._add_asset(path, line, "buffer", b) for b in line.buffers]
        self.lines[path] = LineInfo(path, line, stations, buffers, line.calendar or site.calendar, site.timezone)

    def _add_asset(self, line_path: str, line: Line, kind: str, asset: Station | Buffer) -> AssetInfo:
        info = AssetInfo(f"{line_path}/{asset.id}", kind, asset, line_path)
        for sig in asset.signals:
            binding = sig.binding
            source = (binding.source or line.source) if binding else None
            s_info = SignalInfo(f"{info.path}/{sig.id}", sig, info.path, line_path, source)
            info.signals[sig.id] = s_info
            self.signals[s_info.path] = s_info
        self.assets[info.path] = info
        return info

    @property
    def stations(self) -> list[AssetInfo]:
        """Every station of the plant, line by line in flow order."""
        return [s for line in self.lines.values() for s in line.stations]

    def bound_to(self, source: str) -> list[SignalInfo]:
        """Signals read from the given source."""
        return [s for s in self.signals.values() if s.source == source]

    def asset_of(self, signal_path: str) -> AssetInfo:
        """The station or buffer a signal belongs to."""
        return self.assets[self.signals[signal_path].asset_path]

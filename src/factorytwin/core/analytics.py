"""All live analytics over one sample stream: states, production, KPIs, bottlenecks, findings, alerts.

The twin feeds it the live stream; `factorytwin.replay` feeds a fresh instance the same samples
from the historian. Everything is a function of the samples (source times), never of wall time,
so both give the same numbers for the same window.

Line KPIs are taken at the line's constraint station (the longest nominal cycle, PRI of the line)
with the line's output (the last station's counts) as quantities, so line OEE = PRI * GQ / PBT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..columns import Batch, columns_of
from ..events import Finding
from ..model import LineInfo, PlantIndex
from ..model.calendar import ShiftPeriod
from ..model.schema import Buffer, Station
from .accounting import Increment, Production
from .alerts import Alert, AlertManager
from .bottleneck import Bottlenecks, bottlenecks
from .kpi import Kpis, kpis, time_elements
from .states import StateInterval, StateTracker

__all__ = ["Analytics", "Detector", "ShiftRow", "Update"]


class Detector(Protocol):
    """A stream processor that reports findings (SPC rules, anomalies)."""

    def apply(self, batch: Batch) -> list[Finding]:
        """Fold samples (a list or columns) in; return the findings they caused."""
        ...


@dataclass(slots=True)
class Update:
    """What one batch changed."""

    intervals: list[StateInterval] = field(default_factory=list)
    increments: list[Increment] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ShiftRow:
    """One line of a shift report: a station (or the line) over one shift."""

    shift: str
    start: float
    end: float
    asset: str
    kpis: Kpis


class Analytics:
    """Every analytic of a plant over one stream of samples in source-time order."""

    def __init__(self, index: PlantIndex, detectors: Sequence[Detector] = (), clear_after_s: float = 30.0) -> None:
        self.index = index
        self.states = StateTracker(index)
        self.production = Production(index)
        self.alerts = AlertManager(clear_after_s)
        self.detectors = list(detectors)
        self.intervals: dict[str, list[StateInterval]] = {s.path: [] for s in index.stations}
        self.now: float | None = None
        self.origin: float | None = None  # the earliest source time seen: windows from here on are complete

    def apply(self, batch: Batch) -> Update:
        """Fold a batch in; return what changed."""
        cols = columns_of(batch)  # once, for every processor
        if not len(cols):
            return Update()
        update = Update(self.states.apply(cols), self.production.apply(cols))
        for iv in update.intervals:
            self.intervals[iv.station].append(iv)
        for detector in self.detectors:
            update.findings += detector.apply(cols)
        update.findings.sort(key=lambda f: f.time)
        first, last = min(cols.source_times), max(cols.source_times)
        self.origin = first if self.origin is None else min(self.origin, first)
        self.now = last if self.now is None else max(self.now, last)
        update.alerts = self.alerts.apply(update.findings) + self.alerts.tick(self.now)
        return update

    def station_intervals(self, station: str, start: float, end: float) -> list[StateInterval]:
        """A station's intervals overlapping [start, end), the open one included."""
        closed = [iv for iv in self.intervals[station] if iv.end is not None and iv.end > start and iv.start < end]
        current = self.states.current(station)
        if current is not None and current.start < end:
            closed.append(current)
        return closed

    def station_kpis(self, station: str, start: float, end: float) -> Kpis:
        """ISO 22400 KPIs of one station over [start, end)."""
        asset = self.index.assets[station]
        line = self.index.lines[asset.line_path]
        elements = time_elements(
            self.station_intervals(station, start, end), self._periods(line, start, end), start, end
        )
        good, scrap = self.production.counts(station, start, end)
        return kpis(elements, good, scrap, _ideal(asset.asset), start, end)

    def line_kpis(self, line_path: str, start: float, end: float) -> Kpis:
        """ISO 22400 KPIs of a line: time at its constraint station, quantities at its output."""
        line = self.index.lines[line_path]
        constraint = max(line.stations, key=lambda s: _ideal(s.asset))
        elements = time_elements(
            self.station_intervals(constraint.path, start, end), self._periods(line, start, end), start, end
        )
        good, scrap = self.production.counts(line.stations[-1].path, start, end)
        return kpis(elements, good, scrap, _ideal(constraint.asset), start, end)

    def bottlenecks(self, line_path: str, start: float, end: float) -> Bottlenecks:
        """Active-period bottleneck analysis of a line over [start, end)."""
        line = self.index.lines[line_path]
        return bottlenecks({s.path: self.station_intervals(s.path, start, end) for s in line.stations}, start, end)

    def shift_report(self, line_path: str, start: float, end: float) -> list[ShiftRow]:
        """KPIs per shift of [start, end): each station, then the line."""
        line = self.index.lines[line_path]
        rows = []
        for period in self._periods(line, start, end):
            for station in line.stations:
                rows.append(
                    ShiftRow(
                        period.name,
                        period.start,
                        period.end,
                        station.asset.id,
                        self.station_kpis(station.path, period.start, period.end),
                    )
                )
            rows.append(
                ShiftRow(
                    period.name,
                    period.start,
                    period.end,
                    line.line.id,
                    self.line_kpis(line_path, period.start, period.end),
                )
            )
        return rows

    def _periods(self, line: LineInfo, start: float, end: float) -> list[ShiftPeriod]:
        return line.calendar.periods(start, end, line.timezone, line.line.id)


def _ideal(asset: Station | Buffer) -> float:
    """Nominal cycle time (PRI): the mean processing time at 100 % speed."""
    assert isinstance(asset, Station)
    return asset.sim.processing_time.mean

"""The online part of predictive maintenance: a stream processor fed like the analytics' detectors.

Per station it follows the state signal (running time, utilization, renewals), collects the
condition signals (vibration, motor current, temperatures that follow no setpoint, cycle time)
while the station runs, and at the end of each window assesses health (health.py) and, once
run-to-failure histories are known, remaining useful life (rul.py). A stop in ``down`` or
``planned_stop`` of at least ``renewal_s`` ends a unit's life: a failure adds its path to the
histories (and the population is learned again), a planned stop is a censored history.

When the probability of failure within the alert horizon reaches ``warn_p`` it reports a
finding (an alert through the AlertManager); the finding ends when it falls below ``clear_p`` or
the station is renewed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import FactoryTwinError
from ..events import Finding, Sample, Severity, StationState
from ..model import AssetInfo, PlantIndex, Role, SignalInfo
from .health import Health, HealthModel
from .rul import History, Population, Rul, learn, predict

__all__ = ["Assessment", "MaintenanceMonitor", "MonitorSettings"]

_CONDITION = (Role.VIBRATION, Role.MOTOR_CURRENT, Role.TEMPERATURE, Role.CYCLE_TIME)
_RENEWING = (StationState.DOWN, StationState.PLANNED_STOP)


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """Windows, renewals and the alert rule."""

    window_s: float = 900.0
    renewal_s: float = 1200.0
    fresh: int = 4
    min_samples: int = 5
    horizon: str = "day"
    warn_p: float = 0.3
    clear_p: float = 0.1
    level: float = 0.9


@dataclass(frozen=True, slots=True)
class Assessment:
    """A station's health and (once learned) its RUL at the end of a window."""

    health: Health
    rul: Rul | None
    utilization: float


@dataclass(slots=True)
class _Station:
    """What the monitor follows of one station."""

    asset: AssetInfo
    health: HealthModel
    state: StationState | None = None
    since: float = math.nan
    entered: float = math.nan  # when the current state began
    age: float = 0.0  # running seconds since renewal
    window_end: float = math.nan
    running_in_window: float = 0.0
    utilization: float = math.nan
    sums: dict[str, list[float]] = field(default_factory=dict)  # path -> [sum, count]
    held: dict[str, float] = field(default_factory=dict)  # path -> latest value while running
    path: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (age, means) per window
    warned: bool = False
    degradation: list[float] = field(default_factory=list)  # of the path's windows, as of version
    version: int = -1

    def degradations(self) -> list[float]:
        """The degradation of each window of the current unit with what is learned now."""
        if self.version != self.health.version:
            self.degradation, self.version = [], self.health.version
        for _, means in self.path[len(self.degradation) :]:
            self.degradation.append(self.health.degradation(means))
        return self.degradation


class MaintenanceMonitor:
    """Health, RUL and failure-risk findings of every station, from the sample stream."""

    def __init__(self, index: PlantIndex, settings: MonitorSettings | None = None) -> None:
        self.settings = settings or MonitorSettings()
        self.index = index
        self.stations: dict[str, _Station] = {}
        self._signals: dict[str, tuple[_Station, SignalInfo]] = {}
        for asset in index.stations:
            conditions = [s for s in asset.signals.values() if s.role in _CONDITION and s.signal.sim.follows is None]
            if not conditions:
                continue
            station = _Station(asset, HealthModel(asset.path, conditions, self.settings.fresh))
            self.stations[asset.path] = station
            for sig in [*conditions, *([st] if (st := asset.by_role(Role.STATE)) else [])]:
                self._signals[sig.path] = (station, sig)
        self.histories: dict[str, list[tuple[list[tuple[float, dict[str, float]]], bool]]] = {
            p: [] for p in self.stations
        }
        self.populations: dict[str, Population] = {}
        self.latest: dict[str, Assessment] = {}
        self.rejected = 0
        self.record: list[Assessment] | None = None

    def apply(self, batch: Iterable[Sample]) -> list[Finding]:
        """Fold samples (a list, or columns of a batch) in, in source-time order; return failure-risk findings."""
        findings: list[Finding] = []
        for sample in self._mine(batch):
            hit = self._signals[sample.signal]
            station, sig = hit
            value = sample.value
            if not sample.quality.usable or isinstance(value, bool | str) or value is None or not math.isfinite(value):
                self.rejected += 1
                continue
            findings += self._advance(station, sample.source_time)
            if sig.role is Role.STATE:
                findings += self._state(station, sig.state_of(int(value)), sample.source_time)
            elif station.state in (None, StationState.RUNNING):
                station.held[sample.signal] = float(value)
                acc = station.sums.setdefault(sample.signal, [0.0, 0.0])
                acc[0] += float(value)
                acc[1] += 1
        return findings

    def _mine(self, batch: Iterable[Sample]) -> Iterator[Sample]:
        """The samples of signals this monitor reads; from columns only those are made into samples."""
        signals = getattr(batch, "signals", None)
        if signals is None:
            yield from (s for s in batch if s.signal in self._signals)
            return
        cols: Any = batch
        for i, path in enumerate(signals):
            if path in self._signals:
                yield Sample(path, cols.source_times[i], cols.receive_times[i], cols.values[i], cols.qualities[i])

    def renewed(self, station: str, at: float, failed: bool) -> list[Finding]:
        """Record a repair (failed) or a planned maintenance, e.g. from a work order."""
        if station not in self.stations:
            raise FactoryTwinError(f"no monitored station '{station}'")
        return self._renew(self.stations[station], at, failed)

    def learn_histories(self, station: str) -> Population | None:
        """Learn a station's population from its failed histories, or from every station's while it has
        fewer than two (degradation is normalized per station, so their paths compare); None while too few."""
        own = self._histories(station)
        pooled = own if sum(h.failed for h in own) >= 2 else [h for p in self.stations for h in self._histories(p)]
        try:
            self.populations[station] = learn(pooled)
        except FactoryTwinError:
            self.populations.pop(station, None)
        return self.populations.get(station)

    def _histories(self, station: str) -> list[History]:
        st = self.stations[station]
        out = []
        for path, failed in self.histories[station]:
            d = [st.health.degradation(means) for _, means in path]
            points = [(age, x) for (age, _), x in zip(path, d, strict=True) if math.isfinite(x)]
            if len(points) >= 3:
                out.append(History(tuple(a for a, _ in points), tuple(x for _, x in points), failed))
        return out

    # ----------------------------------------------------------------------------- internals

    def _advance(self, st: _Station, now: float) -> list[Finding]:
        """Account running time up to ``now`` and close every window that ended before it."""
        if math.isnan(st.window_end):
            st.window_end, st.since = now + self.settings.window_s, now
            return []
        out: list[Finding] = []
        while now >= st.window_end:
            self._run_until(st, st.window_end)
            out += self._close(st, st.window_end)
            st.window_end += self.settings.window_s
        self._run_until(st, now)
        return out

    def _run_until(self, st: _Station, t: float) -> None:
        if st.state is StationState.RUNNING or st.state is None:
            st.age += max(0.0, t - st.since)
            st.running_in_window += max(0.0, t - st.since)
        st.since = max(st.since, t) if st.state is not None else t

    def _state(self, st: _Station, state: StationState, now: float) -> list[Finding]:
        out: list[Finding] = []
        if state is st.state:
            return out
        if st.state in _RENEWING and now - st.entered >= self.settings.renewal_s:
            out += self._renew(st, now, st.state is StationState.DOWN)
        st.state, st.since = state, now
        st.entered = now
        return out

    def _close(self, st: _Station, end: float) -> list[Finding]:
        share = st.running_in_window / self.settings.window_s
        alpha = min(1.0, self.settings.window_s / 86400.0 * 4)
        st.utilization = share if math.isnan(st.utilization) else (1 - alpha) * st.utilization + alpha * share
        means = {p: s / n for p, (s, n) in st.sums.items() if n >= self.settings.min_samples}
        if share >= 0.5:  # report by exception: a signal that did not change still has its latest value
            means = {**{p: v for p, v in st.held.items() if p not in means}, **means}
        st.running_in_window = 0.0
        st.sums.clear()
        if len(means) < len(st.health.signals):
            return []
        health = st.health.assess(end, st.age, len(st.path), means)
        st.path.append((st.age, means))
        if health is None:
            return []
        rul = self._rul(st)
        assessment = Assessment(health, rul, st.utilization)
        self.latest[st.asset.path] = assessment
        if self.record is not None:
            self.record.append(assessment)
        return self._risk(st, assessment)

    def _rul(self, st: _Station) -> Rul | None:
        pop = self.populations.get(st.asset.path)
        if pop is None or len(st.path) < self.settings.fresh:
            return None
        d = st.degradations()
        ages = [age for age, _ in st.path]
        return predict(pop, ages, d, st.utilization, self.settings.level, seed=len(st.path))

    def _risk(self, st: _Station, a: Assessment) -> list[Finding]:
        if a.rul is None:
            return []
        p = a.rul.within[self.settings.horizon]
        if p >= self.settings.warn_p:
            st.warned = True
            severe = a.rul.within["shift"] >= self.settings.warn_p
            top = a.health.contributions[0]
            message = (
                f"{st.asset.asset.id}: P(failure within a {self.settings.horizon}) {100 * p:.0f} %, "
                f"RUL {a.rul.median / 3600:.1f} h ({100 * a.rul.level:.0f} % interval "
                f"{a.rul.low / 3600:.1f}-{a.rul.high / 3600:.1f} h); {top.signal} {top.value:.3g} vs {top.baseline:.3g}"
            )
            sev = Severity.CRITICAL if severe else Severity.WARNING
            return [self._finding(st, a.health.time, True, sev, message, p)]
        if st.warned and p < self.settings.clear_p:
            st.warned = False
            return [self._finding(st, a.health.time, False, Severity.INFO, "failure risk back to low", p)]
        return []

    def _finding(self, st: _Station, t: float, active: bool, sev: Severity, message: str, p: float) -> Finding:
        return Finding(
            f"maintenance:{st.asset.path}", "failure_risk", t, active, sev, message, station=st.asset.path, value=p
        )

    def _renew(self, st: _Station, at: float, failed: bool) -> list[Finding]:
        if len(st.path) >= 3:
            if failed:
                st.health.failed(st.path[-1][1])
            self.histories[st.asset.path].append((st.path, failed))
            if failed:
                for path in self.stations:
                    self.learn_histories(path)
        st.path, st.age, st.sums, st.degradation = [], 0.0, {}, []
        self.latest.pop(st.asset.path, None)
        if st.warned:
            st.warned = False
            return [self._finding(st, at, False, Severity.INFO, "renewed", 0.0)]
        return []

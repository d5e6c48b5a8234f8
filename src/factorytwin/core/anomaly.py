"""Anomaly detection on the stream: normal ranges, learned per-signal detectors, stuck values, station T².

``AnomalyProcessor`` routes each sample of a plant to the detectors of anomaly_detectors.py and turns
their transitions into ``Finding``s that name the signal (or the station), its value, what was
expected and the station's state. Everything is computed from the samples alone (source times, no
clock), so the same sample sequence, live or replayed from the historian, gives the same findings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..columns import Batch, columns_of
from ..events import Finding, Quality, Severity, StationState, Value
from ..model import PlantIndex, Role, SignalInfo
from .anomaly_detectors import AnomalyConfig, EwmaDetector, HotellingDetector, RangeCheck, StuckDetector

__all__ = ["CONTINUOUS_ROLES", "PRODUCING_STATES", "AnomalyProcessor"]

CONTINUOUS_ROLES = frozenset(
    {Role.TEMPERATURE, Role.PRESSURE, Role.VIBRATION, Role.MOTOR_CURRENT, Role.FLOW, Role.QUALITY, Role.OTHER}
)
# States in which learned detectors run; UNKNOWN covers stations without a state signal.
PRODUCING_STATES = frozenset({StationState.RUNNING, StationState.STARVED, StationState.BLOCKED, StationState.UNKNOWN})
_SCAN_S = 1.0  # stuck values are checked once per second of stream time


@dataclass(slots=True)
class _Station:
    """A station (or buffer) and the regime its learned detectors depend on."""

    path: str
    name: str
    signals: list[_Signal] = field(default_factory=list)
    group: HotellingDetector | None = None
    state: StationState = StationState.UNKNOWN
    producing: bool = True
    since: float = -math.inf  # when it last started producing
    outside: int = 0  # members of the group currently outside their normal range


@dataclass(slots=True)
class _Signal:
    """One watched signal and its detectors."""

    info: SignalInfo
    station: _Station
    range: RangeCheck | None
    ewma: EwmaDetector | None
    stuck: StuckDetector | None
    member: int | None = None  # position in the station's multivariate detector
    inside: bool = True  # the latest value is within the normal range
    value: float = math.nan  # the latest value the learned detectors saw

    @property
    def label(self) -> str:
        """The signal's name for messages."""
        return self.info.signal.name or self.info.signal.id

    @property
    def unit(self) -> str:
        """The signal's unit, or nothing."""
        return self.info.signal.unit or ""


class AnomalyProcessor:
    """Anomaly detection for every signal of a plant, sample by sample.

    Every signal with a normal range gets a range check; continuous signals (``CONTINUOUS_ROLES``)
    also get a learned EWMA detector and a stuck-value detector, and a station with two or more of
    them a Hotelling T² detector on their smoothed residuals. Detectors run only while their station
    is producing (``PRODUCING_STATES``), all but the stuck one from ``settle_s`` after it started; the
    learned ones learn only from values inside the normal range. Station states come from
    ``station_state`` if given, else from the stream's state signals (decoded with the model's mapping).
    """

    def __init__(
        self,
        index: PlantIndex,
        config: AnomalyConfig | None = None,
        station_state: Callable[[str], StationState] | None = None,
    ) -> None:
        self.config = cfg = config or AnomalyConfig()
        self._settle_s = cfg.settle_s
        self._external = station_state
        self._state_signals = {p: s for p, s in index.signals.items() if s.role is Role.STATE}
        self._stations = {path: _Station(path, a.asset.name or a.asset.id) for path, a in index.assets.items()}
        self._signals: dict[str, _Signal] = {}
        for path, info in index.signals.items():
            continuous = info.role in CONTINUOUS_ROLES
            normal = info.signal.normal
            if normal is None and not continuous:
                continue
            st = self._stations[info.asset_path]
            sig = _Signal(
                info,
                st,
                RangeCheck(normal.low, normal.high, cfg) if normal is not None else None,
                EwmaDetector(cfg) if continuous else None,
                StuckDetector(cfg) if continuous else None,
            )
            self._signals[path] = sig
            st.signals.append(sig)
        for st in self._stations.values():
            members = [s for s in st.signals if s.ewma is not None]
            if cfg.multivariate and 2 <= len(members) <= cfg.multivariate_max:
                st.group = HotellingDetector([m.info.path for m in members], cfg)
                for i, m in enumerate(members):
                    m.member = i
        self._now = -math.inf
        self._next_scan = -math.inf
        self.active: dict[str, Finding] = {}

    @property
    def now(self) -> float:
        """The stream time: the latest source time seen."""
        return self._now

    def apply(self, batch: Batch) -> list[Finding]:
        """Fold samples into the detectors; return the findings that started or ended."""
        out: list[Finding] = []
        cols = columns_of(batch)
        state_signals, watched, external = self._state_signals, self._signals, self._external
        good, uncertain = Quality.GOOD, Quality.UNCERTAIN
        for signal, t, v, quality in zip(cols.signals, cols.source_times, cols.values, cols.qualities, strict=True):
            if t > self._now:
                self._now = t
                if t >= self._next_scan:
                    self._scan(out)
                    self._next_scan = (math.floor(t / _SCAN_S) + 1) * _SCAN_S
            if signal in state_signals and external is None:
                self._decode_state(state_signals[signal], v, quality, t)
            sig = watched.get(signal)
            if sig is None:
                continue
            st = sig.station
            if external is not None:  # else the regime only changes with a state sample, handled there
                self._regime(st, t)
            cls = type(v)
            if (quality is good or quality is uncertain) and (
                cls is float or cls is int or (cls is not bool and isinstance(v, int | float))
            ):
                if st.producing:
                    self._sample(sig, st, t, float(v), out)  # type: ignore[arg-type]
            elif sig.stuck is not None:
                sig.stuck.pause(t)
        return out

    def relearn(self, path: str, time: float) -> list[Finding]:
        """Forget what was learned for a signal or a station (e.g. after a deliberate change); active findings end.

        A signal's station detector relearns with it, since it learned from that signal's residuals.
        """
        if path not in self._stations and path not in self._signals:
            raise KeyError(f"'{path}' is neither a station nor a watched signal")
        st = self._stations[path] if path in self._stations else self._signals[path].station
        sigs = st.signals if path in self._stations else [self._signals[path]]
        out: list[Finding] = []
        for sig in sigs:
            if sig.ewma is not None and sig.ewma.reset() is False:
                self._report(out, "ewma", st, time, False, f"{sig.label}: relearning", sig=sig)
        if st.group is not None and any(s.member is not None for s in sigs) and st.group.reset() is False:
            self._report(out, "multivariate", st, time, False, f"{st.name}: relearning")
        return out

    def _decode_state(self, info: SignalInfo, value: Value, quality: Quality, t: float) -> None:
        st = self._stations[info.asset_path]
        if quality.usable and isinstance(value, int) and not isinstance(value, bool):
            st.state = info.state_of(value)
            self._regime(st, t)

    def _state(self, st: _Station) -> StationState:
        return self._external(st.path) if self._external is not None else st.state

    def _regime(self, st: _Station, t: float) -> None:
        producing = self._state(st) in PRODUCING_STATES
        if producing is st.producing:
            return
        st.producing, st.since = producing, t
        for sig in st.signals:
            if sig.stuck is not None:
                sig.stuck.pause(t)

    def _sample(self, sig: _Signal, st: _Station, t: float, x: float, out: list[Finding]) -> None:
        """One usable value of a watched signal of a producing station."""
        stuck = sig.stuck
        if stuck is not None and stuck.update(t, x) is False:
            self._report(out, "stuck", st, t, False, f"{sig.label} moving again", sig=sig, value=x)
        if t - st.since < self._settle_s:
            return
        rng = sig.range
        if rng is not None:
            change = rng.update(x)
            if change is not None:
                self._range_finding(out, sig, st, t, x, change)
            inside = rng.inside(x)
            if inside is not sig.inside and sig.member is not None:
                st.outside += -1 if inside else 1
            sig.inside = inside
        ewma, group = sig.ewma, st.group
        if ewma is None:
            return
        sig.value = x
        change = ewma.update(x, sig.inside)
        if change is not None:
            self._ewma_finding(out, sig, st, ewma, t, x, change)
        if sig.member is not None and group is not None:
            group.set(sig.member, ewma.e)  # the smoothed residual: near-Gaussian even for on/off loads
            change = group.update(learn=st.outside == 0)
            if change is not None:
                self._group_finding(out, st, group, t, change)

    def _scan(self, out: list[Finding]) -> None:
        now = self._now
        for st in self._stations.values():
            if not st.producing:
                continue
            for sig in st.signals:
                stuck = sig.stuck
                due = stuck.check(now) if stuck is not None else None
                if stuck is None or due is None:
                    continue
                limit = stuck.limit
                msg = f"{sig.label} stuck at {stuck.last:.6g} {sig.unit} for {limit:.0f} s while its station runs"
                ctx: dict[str, float | str] = {"unchanged_s": limit, "interval_s": stuck.interval}
                self._report(out, "stuck", st, due, True, msg, sig=sig, value=stuck.last, ctx=ctx)

    def _range_finding(self, out: list[Finding], sig: _Signal, st: _Station, t: float, x: float, active: bool) -> None:
        assert sig.range is not None
        low, high = sig.range.low, sig.range.high
        spec = sig.info.signal.spec
        off_spec = spec is not None and (
            (spec.lsl is not None and x < spec.lsl) or (spec.usl is not None and x > spec.usl)
        )
        if active:
            msg = f"{sig.label} {x:.6g} {sig.unit} outside its normal range {low:g}..{high:g}"
        else:
            msg = f"{sig.label} back inside its normal range"
        ctx: dict[str, float | str] = {"expected_low": low, "expected_high": high}
        severity = Severity.CRITICAL if off_spec else Severity.WARNING
        outside = max(low - x, x - high, 0.0) / (high - low)  # how far outside, in spans of the range
        self._report(out, "range", st, t, active, msg, sig=sig, value=x, score=outside, ctx=ctx, severity=severity)

    def _ewma_finding(
        self, out: list[Finding], sig: _Signal, st: _Station, d: EwmaDetector, t: float, x: float, active: bool
    ) -> None:
        band = d.threshold * d.sigma
        if active:
            usual = f"{d.mean:.6g} ± {band:.3g}"
            msg = f"{sig.label} {x:.6g} {sig.unit} departs from its usual {usual} (score {d.score:+.1f})"
        else:
            msg = f"{sig.label} back to its usual behaviour"
        ctx: dict[str, float | str] = {
            "expected": d.mean,
            "expected_low": d.mean - band,
            "expected_high": d.mean + band,
            "smoothed": d.mean + d.e,
            "threshold": d.threshold,
            "alpha": self.config.alpha,
        }
        self._report(out, "ewma", st, t, active, msg, sig=sig, value=x, score=d.score, ctx=ctx)

    def _group_finding(self, out: list[Finding], st: _Station, g: HotellingDetector, t: float, active: bool) -> None:
        shares, z = g.contributions()
        members = [self._signals[p] for p in g.signals]
        names = [m.info.signal.id for m in members]
        ctx: dict[str, float | str] = {"threshold": g.threshold, "signals": ",".join(names)}
        for m, name, share, zi in zip(members, names, shares, z, strict=True):
            assert m.ewma is not None
            ctx[f"value:{name}"] = m.value
            ctx[f"expected:{name}"] = m.ewma.mean
            ctx[f"z:{name}"] = float(zi)
            ctx[f"contribution:{name}"] = float(share)
        ctx["top"] = top = names[int(shares.argmax())]
        if active:
            msg = f"related signals out of line, mostly {top} (T² {g.t2:.1f} > {g.threshold:.1f})"
        else:
            msg = "related signals consistent again"
        self._report(out, "multivariate", st, t, active, f"{st.name}: {msg}", score=g.t2, ctx=ctx)

    def _report(
        self,
        out: list[Finding],
        kind: str,
        st: _Station,
        t: float,
        active: bool,
        message: str,
        *,
        sig: _Signal | None = None,
        value: float | None = None,
        score: float | None = None,
        ctx: dict[str, float | str] | None = None,
        severity: Severity = Severity.WARNING,
    ) -> None:
        signal = sig.info.path if sig is not None else None
        context: dict[str, float | str] = {"state": self._state(st).value, **(ctx or {})}
        key = f"anomaly:{kind}:{signal or st.path}"
        f = Finding(key, f"anomaly:{kind}", t, active, severity, message, signal, st.path, value, score, context)
        if active:
            self.active[key] = f
        else:
            self.active.pop(key, None)
        out.append(f)

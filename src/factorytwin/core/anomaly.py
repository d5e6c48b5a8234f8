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
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

from ..columns import Batch, columns_of
from ..events import Finding, Quality, Severity, StationState, Value
from ..model import PlantIndex, Role, SignalInfo
from . import anomaly_kernel as kernel
from .anomaly_detectors import AnomalyConfig, FloatArray, contributions, inverse, set_range, signal_records

__all__ = ["CONTINUOUS_ROLES", "PRODUCING_STATES", "AnomalyProcessor"]

CONTINUOUS_ROLES = frozenset(
    {Role.TEMPERATURE, Role.PRESSURE, Role.VIBRATION, Role.MOTOR_CURRENT, Role.FLOW, Role.QUALITY, Role.OTHER}
)
# States in which learned detectors run; UNKNOWN covers stations without a state signal.
PRODUCING_STATES = frozenset({StationState.RUNNING, StationState.STARVED, StationState.BLOCKED, StationState.UNKNOWN})


@dataclass(slots=True)
class _Station:
    """A station (or buffer): its row in the kernel's station array and the state its detectors depend on."""

    row: int
    path: str
    name: str
    signals: list[_Signal] = field(default_factory=list)
    group: int = -1  # row of its multivariate detector
    grouped: list[_Signal] = field(default_factory=list)  # the signals of that detector, in its order
    state: StationState = StationState.UNKNOWN


@dataclass(slots=True)
class _Signal:
    """One watched signal: its row in the kernel's signal array."""

    row: int
    info: SignalInfo
    station: _Station
    continuous: bool

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
    ``station_state`` if given (read once per batch), else from the stream's state signals (decoded
    with the model's mapping). Values that are not finite numbers of usable quality count as missing.

    The detectors' state is held in arrays and folded by the compiled ``anomaly_kernel.run``; Python
    only turns transitions into findings and decodes station states.
    """

    def __init__(
        self,
        index: PlantIndex,
        config: AnomalyConfig | None = None,
        station_state: Callable[[str], StationState] | None = None,
    ) -> None:
        self.config = cfg = config or AnomalyConfig()
        self._c = cfg.record()
        self._external = station_state
        self._state_signals = {p: s for p, s in index.signals.items() if s.role is Role.STATE}
        self._stations = {
            path: _Station(i, path, a.asset.name or a.asset.id) for i, (path, a) in enumerate(index.assets.items())
        }
        self._signals: dict[str, _Signal] = {}
        rows: list[_Signal] = []
        for path, info in index.signals.items():
            continuous = info.role in CONTINUOUS_ROLES
            if info.signal.normal is None and not continuous:
                continue
            st = self._stations[info.asset_path]
            sig = _Signal(len(rows), info, st, continuous)
            rows.append(sig)
            self._signals[path] = sig
            st.signals.append(sig)
        self._rows = rows
        self._codes = {path: sig.row for path, sig in self._signals.items()}
        self._sigs = sigs = signal_records(len(rows))
        for sig in rows:
            sigs["station"][sig.row], sigs["continuous"][sig.row] = sig.station.row, sig.continuous
            normal = sig.info.signal.normal
            if normal is not None:
                set_range(sigs, sig.row, normal.low, normal.high, cfg)
        stations = list(self._stations.values())
        self._st = np.zeros(len(stations), kernel.STATION)
        self._st["producing"], self._st["since"], self._st["group"] = True, -math.inf, -1
        self._members = np.array([sig.row for st in stations for sig in st.signals], np.int64)
        self._ptr = np.cumsum([0] + [len(st.signals) for st in stations], dtype=np.int64)
        self._groups: list[_Station] = []
        for st in stations:
            members = [s for s in st.signals if s.continuous]
            if cfg.multivariate and 2 <= len(members) <= cfg.multivariate_max:
                st.group = self._st["group"][st.row] = len(self._groups)
                st.grouped = members
                self._groups.append(st)
                for i, m in enumerate(members):
                    sigs["member"][m.row] = i
        self._init_groups()
        self._clock = np.array([-math.inf, -math.inf])  # the stream time, the next stuck scan
        self._found = np.empty(len(rows) + 1, np.int64)
        self.active: dict[str, Finding] = {}
        none = np.empty(0)
        self._run(np.empty(0, np.int64), none, none, 0, 0)  # compiles the kernel now (once per install), not mid-stream

    def _init_groups(self) -> None:
        cfg, n = self.config, len(self._groups)
        sizes = [len(st.grouped) for st in self._groups]
        width = max(sizes, default=1)
        self._g = g = np.zeros(n, kernel.GROUP)
        g["p"], g["missing"], g["stale"], g["persistence"] = sizes, sizes, self._c["refresh_every"], cfg.persistence
        # Each update brings one new value: p updates make one round, so learn 1/p as fast per update.
        g["rate"] = [cfg.learn_rate / p for p in sizes]
        g["warmup"] = [cfg.warmup * p for p in sizes]
        g["threshold"] = [cfg.chi2_threshold(p) for p in sizes]
        self._latest = np.full((n, width), np.nan)
        self._mean = np.zeros((n, width))
        self._cov = np.zeros((n, width, width))
        self._inv = np.zeros((n, width, width))

    @property
    def now(self) -> float:
        """The stream time: the latest source time seen."""
        return float(self._clock[0])

    def apply(self, batch: Batch) -> list[Finding]:
        """Fold samples into the detectors; return the findings that started or ended."""
        out: list[Finding] = []
        cols = columns_of(batch)
        n = len(cols)
        if not n:
            return out
        codes = np.fromiter(map(self._codes.get, cols.signals, repeat(-1)), np.int64, n)
        times = np.array(cols.source_times, np.float64)
        xs = _numbers(cols.values, cols.qualities)
        states: list[int] = []
        if self._external is not None:
            told = self._st["told"]
            for st in self._stations.values():
                told[st.row] = self._external(st.path) in PRODUCING_STATES
        elif not self._state_signals.keys().isdisjoint(cols.signals):
            states = [i for i, signal in enumerate(cols.signals) if signal in self._state_signals]
        state_at = iter(states)
        pos, next_state = 0, next(state_at, n)
        while True:
            why, i, events = self._run(codes, times, xs, pos, next_state)
            if why == kernel.DONE:
                return out
            if why == kernel.EVENTS:
                self._events(out, self._rows[codes[i]], cols.source_times[i], float(xs[i]), events)
                pos = i + 1
            elif why == kernel.INVERT:  # events: the group
                p = int(self._g["p"][events])
                self._inv[events, :p, :p] = inverse(np.ascontiguousarray(self._cov[events, :p, :p]))
                self._g["stale"][events] = 0
                pos = i
            elif why == kernel.SCAN:
                self._scan(out)
                pos = i
            else:
                self._decode_state(
                    self._state_signals[cols.signals[i]], cols.values[i], cols.qualities[i], cols.source_times[i]
                )
                pos, next_state = i, next(state_at, n)

    def _run(
        self, codes: NDArray[np.int64], times: FloatArray, xs: FloatArray, pos: int, state: int
    ) -> tuple[int, int, int]:
        """The kernel over samples pos.. of a batch, up to its next stop."""
        arrays = (self._sigs, self._st, self._members, self._ptr, self._g, self._latest, self._mean, self._cov)
        told = self._external is not None
        why, i, events = kernel.run(
            codes, times, xs, pos, len(codes), self._clock, told, state, *arrays, self._inv, self._found, self._c
        )
        return int(why), int(i), int(events)

    def relearn(self, path: str, time: float) -> list[Finding]:
        """Forget what was learned for a signal or a station (e.g. after a deliberate change); active findings end.

        A signal's station detector relearns with it, since it learned from that signal's residuals.
        """
        if path not in self._stations and path not in self._signals:
            raise KeyError(f"'{path}' is neither a station nor a watched signal")
        st = self._stations[path] if path in self._stations else self._signals[path].station
        sigs = st.signals if path in self._stations else [self._signals[path]]
        out: list[Finding] = []
        s = self._sigs
        for sig in sigs:
            if sig.continuous:
                k, was = sig.row, bool(s["e_active"][sig.row])
                for name in ("n", "mean", "var", "e", "var_e", "score", "e_run", "e_active"):
                    s[name][k] = 0
                if was:
                    self._report(out, "ewma", st, time, False, f"{sig.label}: relearning", sig=sig)
        if st.group >= 0 and any(s["member"][sig.row] >= 0 for sig in sigs):
            j, g = st.group, self._g
            was = bool(g["active"][j])
            g["n"][j], g["t2"][j], g["stale"][j], g["active"][j], g["run"][j] = (
                0,
                0.0,
                self._c["refresh_every"],
                False,
                0,
            )
            self._mean[j], self._cov[j] = 0.0, 0.0
            if was:
                self._report(out, "multivariate", st, time, False, f"{st.name}: relearning")
        return out

    def _decode_state(self, info: SignalInfo, value: Value, quality: Quality, t: float) -> None:
        st = self._stations[info.asset_path]
        if quality.usable and isinstance(value, int) and not isinstance(value, bool):
            st.state = info.state_of(value)
            producing = st.state in PRODUCING_STATES
            kernel.regime(self._st, self._sigs, self._members, self._ptr, st.row, producing, t)

    def _state(self, st: _Station) -> StationState:
        return self._external(st.path) if self._external is not None else st.state

    def _events(self, out: list[Finding], sig: _Signal, t: float, x: float, events: int) -> None:
        """The findings of one sample's transitions, in the order the detectors ran."""
        st = sig.station
        if events >> kernel.STUCK_SHIFT & 3 == kernel.ENDED:
            self._report(out, "stuck", st, t, False, f"{sig.label} moving again", sig=sig, value=x)
        if change := events >> kernel.RANGE_SHIFT & 3:
            self._range_finding(out, sig, st, t, x, change == kernel.STARTED)
        if change := events >> kernel.EWMA_SHIFT & 3:
            self._ewma_finding(out, sig, st, t, x, change == kernel.STARTED)
        if change := events >> kernel.GROUP_SHIFT & 3:
            self._group_finding(out, st, t, change == kernel.STARTED)

    def _scan(self, out: list[Finding]) -> None:
        """Findings for the signals the kernel's stuck scan found (rows in ``_found`` up to -1)."""
        s = self._sigs
        for k in self._found:
            if k < 0:
                return
            sig = self._rows[k]
            limit = float(kernel.stuck_limit(s, k, self._c))
            last, due = float(s["last"][k]), float(s["changed_at"][k]) + limit
            msg = f"{sig.label} stuck at {last:.6g} {sig.unit} for {limit:.0f} s while its station runs"
            ctx: dict[str, float | str] = {"unchanged_s": limit, "interval_s": float(s["interval"][k])}
            self._report(out, "stuck", sig.station, due, True, msg, sig=sig, value=last, ctx=ctx)

    def _range_finding(self, out: list[Finding], sig: _Signal, st: _Station, t: float, x: float, active: bool) -> None:
        low, high = float(self._sigs["low"][sig.row]), float(self._sigs["high"][sig.row])
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

    def _ewma_finding(self, out: list[Finding], sig: _Signal, st: _Station, t: float, x: float, active: bool) -> None:
        rec, threshold = self._sigs[sig.row], self._c["z"]
        mean, e, score = float(rec["mean"]), float(rec["e"]), float(rec["score"])
        band = threshold * math.sqrt(rec["var"])
        if active:
            usual = f"{mean:.6g} ± {band:.3g}"
            msg = f"{sig.label} {x:.6g} {sig.unit} departs from its usual {usual} (score {score:+.1f})"
        else:
            msg = f"{sig.label} back to its usual behaviour"
        ctx: dict[str, float | str] = {
            "expected": mean,
            "expected_low": mean - band,
            "expected_high": mean + band,
            "smoothed": mean + e,
            "threshold": float(threshold),
            "alpha": self.config.alpha,
        }
        self._report(out, "ewma", st, t, active, msg, sig=sig, value=x, score=score, ctx=ctx)

    def _group_finding(self, out: list[Finding], st: _Station, t: float, active: bool) -> None:
        j = st.group
        members = st.grouped
        p = len(members)
        g = self._g[j]
        t2, threshold = float(g["t2"]), float(g["threshold"])
        cov, inv = (np.ascontiguousarray(a[j, :p, :p]) for a in (self._cov, self._inv))
        shares, z = contributions(self._latest[j, :p], self._mean[j, :p], cov, inv)
        names = [m.info.signal.id for m in members]
        ctx: dict[str, float | str] = {"threshold": threshold, "signals": ",".join(names)}
        for m, name, share, zi in zip(members, names, shares, z, strict=True):
            ctx[f"value:{name}"] = float(self._sigs["value"][m.row])
            ctx[f"expected:{name}"] = float(self._sigs["mean"][m.row])
            ctx[f"z:{name}"] = float(zi)
            ctx[f"contribution:{name}"] = float(share)
        ctx["top"] = top = names[int(shares.argmax())]
        if active:
            msg = f"related signals out of line, mostly {top} (T² {t2:.1f} > {threshold:.1f})"
        else:
            msg = "related signals consistent again"
        self._report(out, "multivariate", st, t, active, f"{st.name}: {msg}", score=t2, ctx=ctx)

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


_NUMERIC = frozenset({float, int})


def _numbers(values: list[Value], qualities: list[Quality]) -> FloatArray:
    """The values as the detectors take them: NaN where not a number (bools are not) of usable quality."""
    good, uncertain = Quality.GOOD, Quality.UNCERTAIN
    if qualities.count(good) + qualities.count(uncertain) == len(values) and _NUMERIC.issuperset(map(type, values)):
        return np.array(values, np.float64)  # the common case, at C speed
    return np.array(
        [
            v if (q is good or q is uncertain) and (type(v) is float or type(v) is int) else _number(v, q)
            for v, q in zip(values, qualities, strict=True)
        ],
        np.float64,
    )


def _number(value: Value, quality: Quality) -> float:
    """A sample's value as the detectors take it: NaN unless a usable number (not a bool)."""
    if quality.usable and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan

"""Anomaly detectors, each for one signal or one station: normal range, learned EWMA, stuck value, Hotelling T².

Detectors are small state machines fed one value at a time; ``update`` returns ``True`` when a
condition starts, ``False`` when it ends and ``None`` otherwise. The univariate ones use plain floats
(O(1), no allocation per sample). See docs/anomalies.md for the statistics and their parameters.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from math import sqrt
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray
from scipy.stats import chi2  # type: ignore[import-untyped]

__all__ = [
    "AnomalyConfig",
    "EwmaDetector",
    "HotellingDetector",
    "RangeCheck",
    "StuckDetector",
    "chi2_quantile",
    "chi2_survival",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AnomalyConfig:
    """Parameters of the anomaly detectors; ``alpha`` is each learned detector's false-alarm probability per sample."""

    alpha: float = 1e-4  # per-sample probability that a fault-free score crosses the threshold
    persistence: int = 3  # consecutive samples beyond the threshold before a finding starts (and within to end)
    warmup: int = 600  # samples learned before a learned detector reports (the multivariate one: per signal)
    learn_rate: float = 1e-3  # weight of a new sample in the learned mean and spreads (memory ≈ 1/learn_rate)
    smoothing: float = 0.1  # weight of a new residual in the fast EWMA that is scored
    clip: float = 4.0  # residuals are clipped at this many sigmas before smoothing: one spike cannot alarm
    range_margin: float = 0.02  # a range violation ends once the value is inside by this share of the span...
    range_clear: int = 5  # ...for this many samples in a row
    stuck_samples: int = 20  # a noisy signal still for this many of its usual update intervals...
    stuck_min_s: float = 10.0  # ...and at least this many seconds is stuck
    settle_s: float = 30.0  # learned detectors wait this long after a station starts producing
    multivariate: bool = True  # one Hotelling T² detector per station with 2+ continuous signals...
    multivariate_max: int = 12  # ...and at most this many (cost grows with its square; estimates weaken)

    def __post_init__(self) -> None:
        checks = {
            "alpha in (0, 0.5)": 0 < self.alpha < 0.5,
            "persistence >= 1": self.persistence >= 1,
            "warmup >= 2": self.warmup >= 2,
            "learn_rate in (0, 1)": 0 < self.learn_rate < 1,
            "smoothing in (0, 1]": 0 < self.smoothing <= 1,
            "clip > 0": self.clip > 0,
            "range_margin in [0, 0.5)": 0 <= self.range_margin < 0.5,
            "range_clear >= 1": self.range_clear >= 1,
            "stuck_samples >= 1": self.stuck_samples >= 1,
            "stuck_min_s >= 0": self.stuck_min_s >= 0,
            "settle_s >= 0": self.settle_s >= 0,
            "multivariate_max >= 2": self.multivariate_max >= 2,
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"invalid anomaly configuration: {', '.join(failed)}")

    @property
    def z_threshold(self) -> float:
        """The two-sided normal quantile of alpha: P(|Z| > z) = alpha."""
        return NormalDist().inv_cdf(1.0 - self.alpha / 2.0)

    def chi2_threshold(self, p: int) -> float:
        """The chi-square quantile with p degrees of freedom exceeded with probability alpha."""
        return chi2_quantile(p, self.alpha)


def chi2_survival(x: float, p: int) -> float:
    """P(X > x) for a chi-square variable with p degrees of freedom."""
    return float(chi2.sf(x, p))


def chi2_quantile(p: int, alpha: float) -> float:
    """The x exceeded with probability alpha by a chi-square variable with p degrees of freedom."""
    return float(chi2.isf(alpha, p))


class _Latch:
    """Starts after ``onset`` exceeding samples in a row, ends after ``clear`` recovered samples in a row."""

    __slots__ = ("active", "clear", "onset", "run")

    def __init__(self, onset: int, clear: int) -> None:
        self.onset, self.clear, self.active, self.run = onset, clear, False, 0

    def update(self, exceed: bool, recovered: bool) -> bool | None:
        hit = recovered if self.active else exceed
        self.run = self.run + 1 if hit else 0
        if self.run < (self.clear if self.active else self.onset):
            return None
        self.active, self.run = not self.active, 0
        return self.active

    def reset(self) -> bool | None:
        was, self.active, self.run = self.active, False, 0
        return False if was else None


class RangeCheck:
    """A value outside the model's normal range; ends once back inside by a margin for a few samples."""

    __slots__ = ("_inner_high", "_inner_low", "_latch", "high", "low")

    def __init__(self, low: float, high: float, config: AnomalyConfig) -> None:
        margin = config.range_margin * (high - low)
        self.low, self.high = low, high
        self._inner_low, self._inner_high = low + margin, high - margin
        self._latch = _Latch(1, config.range_clear)

    @property
    def active(self) -> bool:
        """True while the violation lasts."""
        return self._latch.active

    def inside(self, x: float) -> bool:
        """True when x is within the normal range."""
        return self.low <= x <= self.high

    def update(self, x: float) -> bool | None:
        """Take one value; return the transition, if any."""
        return self._latch.update(not self.low <= x <= self.high, self._inner_low <= x <= self._inner_high)


class EwmaDetector:
    """A signal's mean and spread learned online; flags a lasting shift of its smoothed residual.

    The residual to the slowly learned mean (clipped at ``clip`` sigmas once warm) is smoothed by a
    fast EWMA; the score is that EWMA over its own learned standard deviation (never below the
    white-noise value), compared with the two-sided normal quantile of ``alpha``. Nothing is learned
    from a sample beyond the threshold or while a finding is active, so a step is not learned away.
    """

    __slots__ = ("_cfg", "_floor", "_latch", "e", "mean", "n", "score", "threshold", "var", "var_e")

    def __init__(self, config: AnomalyConfig) -> None:
        self._cfg, self.threshold = config, config.z_threshold
        self._floor = config.smoothing / (2.0 - config.smoothing)  # var(EWMA) / var(x) for white noise
        self._latch = _Latch(config.persistence, config.persistence)
        self.n = 0
        self.mean = self.var = self.e = self.var_e = self.score = 0.0

    @property
    def ready(self) -> bool:
        """True once warm: enough samples learned to score."""
        return self.n >= self._cfg.warmup

    @property
    def active(self) -> bool:
        """True while a finding lasts."""
        return self._latch.active

    @property
    def sigma(self) -> float:
        """The learned standard deviation of the signal around its mean."""
        return math.sqrt(self.var)

    def update(self, x: float, learn: bool = True) -> bool | None:
        """Score one value, then learn from it when allowed and unremarkable; return the transition, if any."""
        n = self.n
        if n == 0:
            if learn:
                self.mean, self.n = x, 1
            return None
        cfg, r = self._cfg, x - self.mean
        e = self.e
        warm = n >= cfg.warmup
        if warm:
            limit = cfg.clip * sqrt(self.var)
            r = -limit if r < -limit else limit if r > limit else r
        self.e = e = e + cfg.smoothing * (r - e)
        exceed, change = False, None
        latch = self._latch
        if warm:
            var_e, floor = self.var_e, self._floor * self.var
            sd = sqrt(floor if floor > var_e else var_e)  # max(var_e, floor)
            self.score = score = e / sd if sd > 0 else 0.0
            exceed = abs(score) > self.threshold
            if exceed or latch.active:
                change = latch.update(exceed, not exceed)
            else:  # what update(False, True) does when no finding is active
                latch.run = 0
        if learn and not exceed and not latch.active:
            self.n = n = n + 1
            lam, rate = 1.0 / n, cfg.learn_rate
            if rate > lam:  # max(1 / n, learn_rate)
                lam = rate
            self.mean += lam * r
            self.var = (1.0 - lam) * (self.var + lam * r * r)
            self.var_e += lam * (e * e - self.var_e)
        return change

    def reset(self) -> bool | None:
        """Forget everything learned; return False if a finding was active."""
        self.n, self.mean, self.var, self.e, self.var_e, self.score = 0, 0.0, 0.0, 0.0, 0.0, 0.0
        return self._latch.reset()


class StuckDetector:
    """A noisy signal whose value stops changing for many of its usual update intervals.

    During warm-up it learns the mean interval between updates, the longest gap and how often a value
    repeats; a signal that repeats in more than 5 % of its updates is not noisy and never reported.
    Afterwards it is stuck once unchanged for ``max(stuck_min_s, stuck_samples · interval, 2 · longest)``.
    """

    __slots__ = ("_cfg", "active", "changed_at", "interval", "last", "longest", "repeats", "updated_at", "updates")

    def __init__(self, config: AnomalyConfig) -> None:
        self._cfg = config
        self.last: float | None = None
        self.changed_at: float | None = None
        self.updated_at: float | None = None
        self.interval = self.longest = 0.0
        self.updates = self.repeats = 0
        self.active = False

    @property
    def eligible(self) -> bool:
        """True once warm, for a signal that is noisy enough to be expected to move."""
        return self.updates >= self._cfg.warmup and self.repeats <= 0.05 * self.updates

    @property
    def limit(self) -> float:
        """Seconds without change after which the signal is stuck."""
        cfg = self._cfg
        return max(cfg.stuck_min_s, cfg.stuck_samples * self.interval, 2.0 * self.longest)

    def update(self, t: float, x: float) -> bool | None:
        """Take one usable value; return False when a stuck signal moves again."""
        updated_at, last = self.updated_at, self.last
        if updated_at is not None and self.updates < self._cfg.warmup:
            gap = t - updated_at
            self.updates = updates = self.updates + 1
            self.interval += (gap - self.interval) / updates
            if gap > self.longest:  # max(longest, gap)
                self.longest = gap
            self.repeats += x == last
        self.updated_at = t
        if x == last:
            return None
        self.last, self.changed_at = x, t
        if self.active:
            self.active = False
            return False
        return None

    def pause(self, t: float) -> None:
        """Restart the clock at t (station stopped or restarted, value unusable): the silence before does not count."""
        self.updated_at, self.changed_at = None, t

    def check(self, now: float) -> float | None:
        """If the value has been still for the limit by now, start a finding and return when it became stuck."""
        if self.active or self.changed_at is None or not self.eligible:
            return None
        due = self.changed_at + self.limit
        if now < due:
            return None
        self.active = True
        return due


class HotellingDetector:
    """Hotelling T² of the latest values of related signals, against their mean and covariance learned online.

    Every update uses the latest value of each signal, so signals sampled at different rates combine;
    the threshold is the chi-square quantile of ``alpha`` with one degree of freedom per signal, and
    a finding needs ``persistence`` updates per signal in a row beyond it. The per-update arithmetic
    uses plain floats: for a handful of signals that is several times faster than numpy's small arrays.
    """

    def __init__(self, signals: Sequence[str], config: AnomalyConfig) -> None:
        p = len(signals)
        if p < 2:
            raise ValueError("a multivariate detector needs at least 2 signals")
        self.signals = tuple(signals)
        self.threshold = config.chi2_threshold(p)
        # Each update brings one new value: p updates make one round, so learn 1/p as fast per update.
        self._rate, self._warmup = config.learn_rate / p, config.warmup * p
        self._latch = _Latch(config.persistence * p, config.persistence * p)
        self._refresh_every = 25  # learning updates between inversions of the covariance
        self._latest = [math.nan] * p
        self._missing = p
        self._mean = [0.0] * p
        self._cov = [[0.0] * p for _ in range(p)]
        self._inv = [[0.0] * p for _ in range(p)]
        self.n, self.t2, self._stale = 0, 0.0, self._refresh_every

    @property
    def active(self) -> bool:
        """True while a finding lasts."""
        return self._latch.active

    @property
    def latest(self) -> FloatArray:
        """The latest value of each signal (NaN before its first)."""
        return np.array(self._latest)

    @property
    def mean(self) -> FloatArray:
        """The learned mean of each signal."""
        return np.array(self._mean)

    @property
    def cov(self) -> FloatArray:
        """The learned covariance matrix."""
        return np.array(self._cov)

    def set(self, i: int, x: float) -> None:
        """Record the latest value of the i-th signal."""
        if math.isnan(self._latest[i]):
            self._missing -= 1
        self._latest[i] = x

    def update(self, learn: bool = True) -> bool | None:
        """Score the latest values, then learn from them when allowed and unremarkable; return the transition."""
        if self._missing:
            return None
        mean = self._mean
        d = [x - m for x, m in zip(self._latest, mean, strict=True)]
        if self.n == 0:
            if learn:
                mean[:] = self._latest
                self.n = 1
            return None
        exceed, change = False, None
        if self.n >= self._warmup:
            if self._stale >= self._refresh_every:
                self._invert()
            self.t2 = sum(di * sum(map(operator.mul, row, d)) for di, row in zip(d, self._inv, strict=True))
            exceed = self.t2 > self.threshold
            change = self._latch.update(exceed, not exceed)
        if learn and not exceed and not self._latch.active:
            self.n += 1
            lam = max(1.0 / self.n, self._rate)
            keep, w = 1.0 - lam, lam * (1.0 - lam)
            for i, (di, row) in enumerate(zip(d, self._cov, strict=True)):
                mean[i] += lam * di
                wd = w * di
                row[:] = [keep * c + wd * dj for c, dj in zip(row, d, strict=True)]
            self._stale += 1
        return change

    def _invert(self) -> None:
        """Invert the covariance, with a ridge of 1e-9 of each variance (a constant signal stays finite)."""
        cov = self.cov
        diag = np.diag(cov)
        ridge = np.diag(1e-9 * diag + 1e-12 * max(float(diag.max()), 1e-300))
        try:
            inv = np.linalg.inv(cov + ridge)
        except np.linalg.LinAlgError:
            inv = np.linalg.pinv(cov, hermitian=True)
        self._inv = inv.tolist()
        self._stale = 0

    def contributions(self) -> tuple[FloatArray, FloatArray]:
        """Each signal's reconstruction-based contribution to the last T² and its z-score against the learned spread.

        The contribution of signal i, (S⁻¹d)ᵢ² / (S⁻¹)ᵢᵢ, is how much T² would drop if that signal alone
        were replaced by its best estimate from the others (Alcala and Qin, 2009): the largest one
        points at the signal that broke the pattern, even when it is correlated with the others.
        """
        d = self.latest - self.mean
        inv = np.array(self._inv)
        sd = np.sqrt(np.diag(self.cov))
        z = np.divide(d, sd, out=np.zeros_like(d), where=sd > 0)
        diag = np.diag(inv)
        return np.divide((inv @ d) ** 2, diag, out=np.zeros_like(d), where=diag > 0), z

    def reset(self) -> bool | None:
        """Forget the learned mean and covariance; return False if a finding was active."""
        p = len(self.signals)
        self.n, self.t2, self._stale = 0, 0.0, self._refresh_every
        self._mean = [0.0] * p
        self._cov = [[0.0] * p for _ in range(p)]
        return self._latch.reset()

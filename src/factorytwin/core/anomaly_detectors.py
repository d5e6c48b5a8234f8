"""Anomaly detector settings and single-signal detectors: normal range, learned EWMA, stuck value.

Detectors are small state machines fed one value at a time; ``update`` returns ``True`` when a
condition starts, ``False`` when it ends and ``None`` otherwise. Their arithmetic is in
anomaly_kernel.py (compiled), shared with ``AnomalyProcessor``, which keeps every signal's detectors
in one array. See docs/anomalies.md for the statistics and their parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray
from scipy.stats import chi2  # type: ignore[import-untyped]

from . import anomaly_kernel as kernel

__all__ = [
    "AnomalyConfig",
    "EwmaDetector",
    "RangeCheck",
    "StuckDetector",
    "chi2_quantile",
    "chi2_survival",
    "contributions",
    "inverse",
    "set_range",
    "signal_records",
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

    def record(self) -> np.void:
        """These settings as the kernel reads them (one ``anomaly_kernel.CONFIG`` record)."""
        rec: np.void = np.zeros(1, kernel.CONFIG)[0]
        for name in ("warmup", "clip", "smoothing", "learn_rate", "persistence", "range_clear"):
            rec[name] = getattr(self, name)
        rec["stuck_samples"], rec["stuck_min_s"], rec["settle_s"] = self.stuck_samples, self.stuck_min_s, self.settle_s
        rec["floor"] = self.smoothing / (2.0 - self.smoothing)  # var(EWMA) / var(x) for white noise
        rec["z"], rec["refresh_every"] = self.z_threshold, 25
        return rec


def chi2_survival(x: float, p: int) -> float:
    """P(X > x) for a chi-square variable with p degrees of freedom."""
    return float(chi2.sf(x, p))


def chi2_quantile(p: int, alpha: float) -> float:
    """The x exceeded with probability alpha by a chi-square variable with p degrees of freedom."""
    return float(chi2.isf(alpha, p))


_TRANSITION = (None, True, False)  # kernel.NONE, STARTED, ENDED as update() returns them


def signal_records(n: int) -> NDArray[np.void]:
    """State for n watched signals, nothing learned: no range, not continuous, no group."""
    sigs = np.zeros(n, kernel.SIGNAL)
    sigs["member"], sigs["inside"] = -1, True
    for name in ("last", "changed_at", "updated_at", "value"):
        sigs[name] = np.nan
    return sigs


def set_range(sigs: NDArray[np.void], k: int, low: float, high: float, config: AnomalyConfig) -> None:
    """Give signal k a normal range check: a violation ends back inside by ``range_margin`` of the span."""
    margin = config.range_margin * (high - low)
    sigs["has_range"][k], sigs["low"][k], sigs["high"][k] = True, low, high
    sigs["inner_low"][k], sigs["inner_high"][k] = low + margin, high - margin


def contributions(
    latest: FloatArray, mean: FloatArray, cov: FloatArray, inv: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Each signal's reconstruction-based contribution to the last T² and its z-score against the learned spread.

    The contribution of signal i, (S⁻¹d)ᵢ² / (S⁻¹)ᵢᵢ, is how much T² would drop if that signal alone
    were replaced by its best estimate from the others (Alcala and Qin, 2009): the largest one
    points at the signal that broke the pattern, even when it is correlated with the others.
    """
    d = latest - mean
    sd = np.sqrt(np.diag(cov))
    z = np.divide(d, sd, out=np.zeros_like(d), where=sd > 0)
    diag = np.diag(inv)
    return np.divide((inv @ d) ** 2, diag, out=np.zeros_like(d), where=diag > 0), z


def inverse(cov: FloatArray) -> FloatArray:
    """The inverse of a learned covariance, with a ridge of 1e-9 of each variance (a constant signal stays finite)."""
    diag = np.diag(cov)
    ridge = np.diag(1e-9 * diag + 1e-12 * max(float(diag.max()), 1e-300))
    try:
        inv = np.linalg.inv(cov + ridge)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(cov, hermitian=True)
    return inv.astype(np.float64, copy=False)


class _Single:
    """One signal's detector state in a one-row ``kernel.SIGNAL`` array."""

    def __init__(self, config: AnomalyConfig) -> None:
        self._cfg, self._c = config, config.record()
        self._s = signal_records(1)

    def _get(self, name: str) -> float:
        return float(self._s[name][0])


class RangeCheck(_Single):
    """A value outside the model's normal range; ends once back inside by a margin for a few samples."""

    def __init__(self, low: float, high: float, config: AnomalyConfig) -> None:
        super().__init__(config)
        self.low, self.high = low, high
        set_range(self._s, 0, low, high, config)

    @property
    def active(self) -> bool:
        """True while the violation lasts."""
        return bool(self._s["r_active"][0])

    def inside(self, x: float) -> bool:
        """True when x is within the normal range."""
        return self.low <= x <= self.high

    def update(self, x: float) -> bool | None:
        """Take one value; return the transition, if any."""
        return _TRANSITION[kernel.range_update(self._s, 0, x, self._c)]


class EwmaDetector(_Single):
    """A signal's mean and spread learned online; flags a lasting shift of its smoothed residual.

    The residual to the slowly learned mean (clipped at ``clip`` sigmas once warm) is smoothed by a
    fast EWMA; the score is that EWMA over its own learned standard deviation (never below the
    white-noise value), compared with the two-sided normal quantile of ``alpha``. Nothing is learned
    from a sample beyond the threshold or while a finding is active, so a step is not learned away.
    """

    def __init__(self, config: AnomalyConfig) -> None:
        super().__init__(config)
        self.threshold = config.z_threshold

    @property
    def n(self) -> int:
        """Samples learned."""
        return int(self._s["n"][0])

    @property
    def mean(self) -> float:
        """The learned mean."""
        return self._get("mean")

    @property
    def e(self) -> float:
        """The smoothed residual."""
        return self._get("e")

    @property
    def score(self) -> float:
        """The latest score, in learned standard deviations."""
        return self._get("score")

    @property
    def ready(self) -> bool:
        """True once warm: enough samples learned to score."""
        return self.n >= self._cfg.warmup

    @property
    def active(self) -> bool:
        """True while a finding lasts."""
        return bool(self._s["e_active"][0])

    @property
    def sigma(self) -> float:
        """The learned standard deviation of the signal around its mean."""
        return math.sqrt(self._get("var"))

    def update(self, x: float, learn: bool = True) -> bool | None:
        """Score one value, then learn from it when allowed and unremarkable; return the transition, if any."""
        return _TRANSITION[kernel.ewma_update(self._s, 0, float(x), learn, self._c)]


class StuckDetector(_Single):
    """A noisy signal whose value stops changing for many of its usual update intervals.

    During warm-up it learns the mean interval between updates, the longest gap and how often a value
    repeats; a signal that repeats in more than 5 % of its updates is not noisy and never reported.
    Afterwards it is stuck once unchanged for ``max(stuck_min_s, stuck_samples · interval, 2 · longest)``.
    """

    @property
    def active(self) -> bool:
        """True while the value is stuck."""
        return bool(self._s["s_active"][0])

    @property
    def limit(self) -> float:
        """Seconds without change after which the signal is stuck."""
        return float(kernel.stuck_limit(self._s, 0, self._c))

    def update(self, t: float, x: float) -> bool | None:
        """Take one usable value; return False when a stuck signal moves again."""
        return _TRANSITION[kernel.stuck_update(self._s, 0, t, float(x), self._c)]

    def pause(self, t: float) -> None:
        """Restart the clock at t: the silence before does not count."""
        kernel.stuck_pause(self._s, 0, t)

    def check(self, now: float) -> float | None:
        """If the value has been still for the limit by now, start a finding and return when it became stuck."""
        due = float(kernel.stuck_check(self._s, 0, now, self._c))
        return None if math.isnan(due) else due

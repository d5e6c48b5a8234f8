"""Fitting a duration distribution to observed durations, with its goodness of fit.

Candidates are the model's families: exponential, normal and lognormal, fitted by maximum
likelihood and ranked by AIC (2k - 2 ln L). Values that (nearly) never vary are deterministic.
The chosen family's Kolmogorov-Smirnov statistic and p-value are reported; when even the best
family is rejected (p < 0.01 with at least 50 values) the observations themselves are used
(``empirical``, resampled). The p-values use parameters estimated from the same data, so they
are optimistic (Lilliefors): a low p-value is a real misfit, a high one is no proof of fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from ..model.schema import Distribution

__all__ = ["Fit", "finite", "fit"]

_STEADY_CV = 0.005  # below this coefficient of variation a duration is deterministic
_EMPIRICAL_MIN = 50
_EMPIRICAL_P = 0.01
_EMPIRICAL_POINTS = 500  # an empirical distribution keeps at most this many quantiles


@dataclass(frozen=True, slots=True)
class Fit:
    """The distribution chosen for some durations, and how well it fits them."""

    dist: Distribution
    n: int
    mean: float  # of the observations
    cv: float
    ks: float | None  # Kolmogorov-Smirnov statistic of the chosen family (None: deterministic)
    p_value: float | None
    aic: dict[str, float] = field(default_factory=dict)  # per candidate family

    @property
    def family(self) -> str:
        """The chosen family."""
        return self.dist.dist

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "family": self.family,
            "mean": self.dist.mean,
            "cv": self.dist.cv,
            "n": self.n,
            "observed_mean": self.mean,
            "observed_cv": self.cv,
            "ks": self.ks,
            "p_value": finite(self.p_value),
            "aic": self.aic,
        }


def finite(x: float | None) -> float | None:
    """``x``, or None when it is missing or not finite (JSON has no NaN)."""
    return x if x is not None and math.isfinite(x) else None


def fit(values: list[float] | np.ndarray) -> Fit | None:
    """The best distribution for positive durations; None without any."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x) & (x > 0)]
    n = len(x)
    if n == 0:
        return None
    mean = float(x.mean())
    cv = float(x.std(ddof=1) / mean) if n > 1 else 0.0
    if n < 3 or cv < _STEADY_CV:
        return Fit(Distribution(dist="deterministic", mean=mean), n, mean, cv, None, None)
    frozen = _candidates(x)
    aic = {name: 2 * k - 2 * float(np.sum(d.logpdf(x))) for name, (d, k, _) in frozen.items()}
    best = min(aic, key=lambda name: aic[name])
    d, _, dist = frozen[best]
    ks = stats.kstest(x, d.cdf)
    statistic, p = float(ks.statistic), float(ks.pvalue)
    if p < _EMPIRICAL_P and n >= _EMPIRICAL_MIN:
        dist = _empirical(x)
    return Fit(dist, n, mean, cv, statistic, p, aic)


def _candidates(x: np.ndarray) -> dict[str, tuple[Any, int, Distribution]]:
    """Each family fitted by maximum likelihood: (scipy distribution, parameters, model distribution)."""
    mean, sd = float(x.mean()), float(x.std())
    logs = np.log(x)
    mu, s = float(logs.mean()), float(logs.std())
    return {
        "exponential": (stats.expon(scale=mean), 1, Distribution(dist="exponential", mean=mean)),
        "normal": (stats.norm(mean, sd), 2, Distribution(dist="normal", mean=mean, cv=sd / mean)),
        "lognormal": (
            stats.lognorm(s, scale=math.exp(mu)),
            2,
            Distribution(dist="lognormal", mean=math.exp(mu + s * s / 2), cv=math.sqrt(math.expm1(s * s))),
        ),
    }


def _empirical(x: np.ndarray) -> Distribution:
    """The observations (or evenly spaced quantiles of them) as an empirical distribution."""
    if len(x) > _EMPIRICAL_POINTS:
        x = np.quantile(x, (np.arange(_EMPIRICAL_POINTS) + 0.5) / _EMPIRICAL_POINTS)
    return Distribution.model_validate({"dist": "empirical", "values": [round(float(v), 6) for v in x]})

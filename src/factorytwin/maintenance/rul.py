"""Remaining useful life: an exponential degradation model learned from run-to-failure histories.

A unit's degradation ``d`` (0 fresh, about 1 at failure; see health.py) grows exponentially with
running time ``t``. With an offset ``c``, ``z = log(d + c)`` is a Wiener process::

    z(t) = log(c) + beta * t + sigma * B(t),   failure when z reaches the threshold z_f

Past histories that ended in a failure give the population: the offset ``c`` under which their
paths are most likely (profile likelihood), the threshold ``z_f`` (mean and spread of z at failure), the drift ``beta``
across units (the prior) and the volatility ``sigma``. Online, the drift of the running unit is
updated with its own path (conjugate normal update), and the remaining running time is the first
passage of ``z`` to the threshold: inverse Gaussian for given drift and threshold, mixed over their
uncertainty by sampling. Running time converts to calendar time with the station's utilization.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import FactoryTwinError

__all__ = ["HORIZONS", "History", "Population", "Rul", "learn", "predict", "remaining"]

HORIZONS = {"shift": 8 * 3600.0, "day": 86400.0, "week": 7 * 86400.0}
_OFFSETS = (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3)


@dataclass(frozen=True, slots=True)
class History:
    """One unit's degradation path: running seconds since renewal and degradation; failed or censored."""

    ages: tuple[float, ...]
    degradation: tuple[float, ...]
    failed: bool


@dataclass(frozen=True, slots=True)
class Population:
    """The degradation model learned from past histories."""

    offset: float
    threshold: float  # mean z at failure
    threshold_sd: float
    drift: float  # mean drift per running second
    drift_sd: float
    sigma: float  # volatility per square root of a running second
    failures: int


@dataclass(frozen=True, slots=True)
class Rul:
    """Remaining useful life in calendar seconds, with a prediction interval and failure probabilities."""

    median: float
    low: float
    high: float
    level: float
    within: dict[str, float]  # horizon name -> P(failure within it)


def _z(d: np.ndarray, offset: float) -> np.ndarray:
    out: np.ndarray = np.log(np.maximum(d, 0.0) + offset)
    return out


def _fit(h: History, offset: float) -> tuple[float, float, float]:
    """Drift, residual variance per second and z at failure of one history."""
    t = np.asarray(h.ages)
    z = _z(np.asarray(h.degradation), offset) - math.log(offset)
    drift = float(np.dot(t, z) / np.dot(t, t))  # a line through the origin: z(0) = log(offset)
    dt, dz = np.diff(t), np.diff(z)
    keep = dt > 0
    var = float(np.mean((dz[keep] - drift * dt[keep]) ** 2 / dt[keep])) if keep.any() else 0.0
    return drift, var, float(z[-1]) + math.log(offset)


def _likelihood(histories: Sequence[History], offset: float) -> float:
    """Profile log-likelihood of the degradation paths for an offset: Wiener increments of z, with the
    Jacobian of d -> z = log(d + offset) so that offsets compare on the same data."""
    n, squares, jacobian = 0, 0.0, 0.0
    for h in histories:
        t = np.asarray(h.ages)
        z = _z(np.asarray(h.degradation), offset)
        drift, _, _ = _fit(h, offset)
        dt, dz = np.diff(t), np.diff(z)
        keep = dt > 0
        squares += float(np.sum((dz[keep] - drift * dt[keep]) ** 2 / dt[keep]))
        n += int(keep.sum())
        jacobian += float(z[1:][keep].sum())
    return -n / 2 * math.log(max(squares / max(n, 1), 1e-300)) - jacobian


def learn(histories: Sequence[History], min_failures: int = 2) -> Population:
    """The population model from histories; at least ``min_failures`` must have ended in a failure."""
    failed = [h for h in histories if h.failed and len(h.ages) >= 3 and h.ages[-1] > 0]
    if len(failed) < max(2, min_failures):
        raise FactoryTwinError(f"need {max(2, min_failures)} run-to-failure histories, have {len(failed)}")
    offset = max(_OFFSETS, key=lambda c: _likelihood(failed, c))
    fits = np.array([_fit(h, offset) for h in failed])
    drifts, variances, ends = fits[:, 0], fits[:, 1], fits[:, 2]
    return Population(
        offset=offset,
        threshold=float(ends.mean()),
        threshold_sd=float(ends.std(ddof=1)),
        drift=float(drifts.mean()),
        drift_sd=float(drifts.std(ddof=1)),
        sigma=math.sqrt(max(float(variances.mean()), 1e-18)),
        failures=len(failed),
    )


def predict(
    pop: Population,
    ages: Sequence[float],
    degradation: Sequence[float],
    utilization: float,
    level: float = 0.9,
    samples: int = 2000,
    seed: int = 0,
) -> Rul:
    """RUL of a running unit from its path so far (running seconds since renewal, degradation)."""
    if not ages:
        raise FactoryTwinError("a RUL needs at least one point of the unit's path")
    t_last, t_now, running = remaining(pop, ages, degradation, samples, seed)
    u = max(utilization, 0.02)
    calendar = np.maximum((running - (t_last - t_now)) / u, 0.0)
    lo, mid, hi = np.quantile(calendar, [(1 - level) / 2, 0.5, (1 + level) / 2])
    within = {name: float(np.mean(calendar <= h)) for name, h in HORIZONS.items()}
    return Rul(float(mid), float(lo), float(hi), level, within)


def remaining(
    pop: Population, ages: Sequence[float], degradation: Sequence[float], samples: int = 4000, seed: int = 0
) -> tuple[float, float, np.ndarray]:
    """Latest age, the age the smoothed level refers to, and samples of the remaining running seconds from it.

    With an empty path the unit is new: its whole life is sampled from the population.
    """
    t = np.asarray(ages, dtype=float)
    z = _z(np.asarray(degradation, dtype=float), pop.offset) - math.log(pop.offset)
    tail = slice(-3, None)  # the latest level, smoothed over the last windows
    t_now = float(t[tail].mean()) if len(t) else 0.0
    z_now = float(z[tail].mean()) if len(t) else 0.0
    # conjugate update of the drift: prior from the population, the unit's own rise as evidence
    prior_prec = 1.0 / max(pop.drift_sd, 1e-12) ** 2
    data_prec = t_now / pop.sigma**2 if t_now > 0 else 0.0
    drift_var = 1.0 / (prior_prec + data_prec)
    drift_mean = drift_var * (prior_prec * pop.drift + data_prec * (z_now / t_now if t_now > 0 else 0.0))
    rng = np.random.default_rng(seed)
    drift = np.maximum(rng.normal(drift_mean, math.sqrt(drift_var), samples), 0.05 * pop.drift)
    z_f = rng.normal(pop.threshold - math.log(pop.offset), pop.threshold_sd, samples)
    gap = np.maximum(z_f - z_now, 1e-6)
    running: np.ndarray = rng.wald(gap / drift, gap**2 / pop.sigma**2)
    return float(t[-1]) if len(t) else 0.0, t_now, running

"""Random durations drawn from the model's distributions, by inversion of uniform numbers.

Every duration is ``quantile(dist, u)`` of one uniform number ``u``: the same ``u`` gives a longer
duration for a slower distribution, so scenarios compared on the same uniforms differ only by
their change (common random numbers).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri  # type: ignore[import-untyped]

from ..model.schema import Distribution

__all__ = ["draw", "quantile", "uniform"]

FloatArray = NDArray[np.float64]


def quantile(dist: Distribution, u: FloatArray) -> FloatArray:
    """Durations for uniform numbers ``u`` in (0, 1); normal is truncated at zero, cv 0 is deterministic."""
    if dist.dist == "deterministic" or (dist.cv == 0 and dist.dist in ("normal", "lognormal")):
        return np.full(u.shape, dist.mean)
    if dist.dist == "exponential":
        return -dist.mean * np.log1p(-u)
    if dist.dist == "normal":
        sd = dist.cv * dist.mean
        below = float(ndtr(-dist.mean / sd))  # probability mass under zero, cut off
        return np.asarray(dist.mean + sd * ndtri(below + u * (1.0 - below)), dtype=np.float64)
    if dist.dist == "lognormal":
        sigma2 = math.log1p(dist.cv**2)
        mu = math.log(dist.mean) - sigma2 / 2
        return np.asarray(np.exp(mu + math.sqrt(sigma2) * ndtri(u)), dtype=np.float64)
    values = np.asarray(dist.values, dtype=np.float64)  # empirical: resample the observations
    return values[np.minimum((u * len(values)).astype(np.int64), len(values) - 1)]


def draw(dist: Distribution, rng: np.random.Generator) -> float:
    """Draw one duration in seconds."""
    return float(quantile(dist, uniform(rng, 1))[0])


def uniform(rng: np.random.Generator, size: int | tuple[int, ...]) -> FloatArray:
    """Uniform numbers in the open interval (0, 1)."""
    u = rng.random(size)
    u[u == 0.0] = 2.0**-54
    return u

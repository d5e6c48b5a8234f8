"""Random durations drawn from the model's distributions."""

from __future__ import annotations

import math

import numpy as np

from ..model.schema import Distribution

__all__ = ["draw"]


def draw(dist: Distribution, rng: np.random.Generator) -> float:
    """Draw one duration in seconds; normal and lognormal are truncated at zero."""
    if dist.dist == "deterministic" or (dist.cv == 0 and dist.dist != "exponential"):
        return dist.mean
    if dist.dist == "exponential":
        return float(rng.exponential(dist.mean))
    if dist.dist == "normal":
        sd = dist.cv * dist.mean
        while True:
            value = float(rng.normal(dist.mean, sd))
            if value > 0:
                return value
    sigma2 = math.log1p(dist.cv**2)
    mu = math.log(dist.mean) - sigma2 / 2
    return float(rng.lognormal(mu, math.sqrt(sigma2)))

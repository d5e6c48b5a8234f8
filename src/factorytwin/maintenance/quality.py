"""Quality drivers: which process conditions go with defects, so they can be corrected first.

The input is a table of periods (e.g. 5-minute bins): for each, the parts made, the defective
ones (scrap, or quality samples outside their control or specification limits) and the mean of
each process condition (temperatures, pressures, speeds). For every condition and every cut at
its deciles, both sides ("above" and "below") are tested: the defect rate inside the band against
the rate outside, with a two-proportion z statistic. A condition is a driver when its best band
has a defect rate at least ``min_ratio`` times the rest's, with ``z >= min_z`` (a Bonferroni-like
bar for the many cuts tried) and at least ``min_parts`` parts in the band.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import FactoryTwinError

__all__ = ["Driver", "binned", "drivers", "increments"]


@dataclass(frozen=True, slots=True)
class Driver:
    """A condition band that goes with defects."""

    condition: str
    side: str  # "above" or "below"
    threshold: float
    rate_inside: float
    rate_outside: float
    parts_inside: float
    z: float

    @property
    def text(self) -> str:
        """The finding in words."""
        return (
            f"{self.condition} {self.side} {self.threshold:.4g}: defect rate {100 * self.rate_inside:.2f} % "
            f"against {100 * self.rate_outside:.2f} % otherwise"
        )


def drivers(
    conditions: Mapping[str, np.ndarray],
    parts: np.ndarray,
    defects: np.ndarray,
    min_z: float = 4.0,
    min_ratio: float = 1.5,
    min_parts: float = 50.0,
) -> list[Driver]:
    """Conditions whose band goes with a higher defect rate, strongest first."""
    n, bad = np.asarray(parts, dtype=float), np.asarray(defects, dtype=float)
    if n.shape != bad.shape or n.ndim != 1:
        raise FactoryTwinError("parts and defects must be one value per period")
    if np.any(bad > n) or np.any(n < 0) or np.any(bad < 0):
        raise FactoryTwinError("defects must be between 0 and the parts of their period")
    out = []
    for name, values in conditions.items():
        x = np.asarray(values, dtype=float)
        if x.shape != n.shape:
            raise FactoryTwinError(f"condition '{name}' has {x.shape[0]} periods, parts have {n.shape[0]}")
        ok = np.isfinite(x) & (n > 0)
        best = _best_band(name, x[ok], n[ok], bad[ok], min_parts)
        if best is not None and best.z >= min_z and best.rate_inside >= min_ratio * max(best.rate_outside, 1e-12):
            out.append(best)
    return sorted(out, key=lambda d: -d.z)


def _best_band(name: str, x: np.ndarray, n: np.ndarray, bad: np.ndarray, min_parts: float) -> Driver | None:
    if len(x) < 10 or np.ptp(x) == 0:
        return None
    best: Driver | None = None
    total_n, total_bad = float(n.sum()), float(bad.sum())
    for cut in np.unique(np.quantile(x, np.linspace(0.1, 0.9, 9))):
        for side, inside in (("above", x > cut), ("below", x < cut)):
            n_in, bad_in = float(n[inside].sum()), float(bad[inside].sum())
            n_out, bad_out = total_n - n_in, total_bad - bad_in
            if n_in < min_parts or n_out < min_parts:
                continue
            p_in, p_out = bad_in / n_in, bad_out / n_out
            pooled = total_bad / total_n
            se = math.sqrt(max(pooled * (1 - pooled) * (1 / n_in + 1 / n_out), 1e-18))
            z = (p_in - p_out) / se
            if best is None or z > best.z:
                best = Driver(name, side, float(cut), p_in, p_out, n_in, z)
    return best


def binned(times: np.ndarray, values: np.ndarray, start: float, end: float, width: float) -> list[np.ndarray]:
    """Values grouped into bins of ``width`` seconds over [start, end) (one array per bin)."""
    bins = max(1, math.ceil((end - start) / width))
    k = np.floor((np.asarray(times, dtype=float) - start) / width).astype(int)
    keep = (k >= 0) & (k < bins)
    v = np.asarray(values, dtype=float)
    return [v[keep & (k == b)] for b in range(bins)]


def increments(groups: list[np.ndarray], before: float | None = None) -> np.ndarray:
    """A counter's increase in each bin (a drop is a reset: the new value counts), given bins of its readings."""
    out = np.zeros(len(groups))
    last = before
    for b, vals in enumerate(groups):
        for v in vals:
            if last is not None:
                out[b] += v - last if v >= last else v
            last = float(v)
    return out

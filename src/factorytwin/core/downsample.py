"""Shape-preserving reductions of a time series for charts: LTTB and min-max per bucket.

* `lttb` - Largest-Triangle-Three-Buckets (S. Steinarsson, "Downsampling Time Series for Visual
  Representation", 2013): keeps the first and last points and, from each of ``n - 2`` equal-count
  buckets in between, the point that makes the largest triangle with the point kept before it and
  the average of the next bucket. Peaks and dips survive; the bucket boundaries follow the
  reference implementation, so results match other LTTB libraries point for point.
* `minmax` - for each of ``n // 2`` equal-count buckets, its lowest and highest point in time order:
  what a chart ``n`` pixels wide can show at most, and no extreme is lost.

Both take the times and values as arrays (oldest first) and return the indices of the points kept,
ascending; a series of at most ``n`` points is returned whole.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

__all__ = ["lttb", "minmax"]


def lttb(x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` points LTTB keeps of the series (x ascending)."""
    size = len(x)
    if n >= size or n < 3:
        return np.arange(size) if n >= size else np.array([0, size - 1][:n], dtype=np.int64)
    every = (size - 2) / (n - 2)
    kept = np.empty(n, dtype=np.int64)
    kept[0], kept[-1] = 0, size - 1
    a = 0
    for i in range(n - 2):
        lo, hi = math.floor(i * every) + 1, math.floor((i + 1) * every) + 1
        next_lo, next_hi = hi, min(math.floor((i + 2) * every) + 1, size)
        cx, cy = x[next_lo:next_hi].mean(), y[next_lo:next_hi].mean()
        ax, ay = x[a], y[a]
        area = np.abs((ax - cx) * (y[lo:hi] - ay) - (ax - x[lo:hi]) * (cy - ay))
        a = lo + int(np.argmax(area))
        kept[i + 1] = a
    return kept


def minmax(y: np.ndarray, n: int) -> np.ndarray:
    """Indices of the lowest and highest point of each of ``n // 2`` equal-count buckets, ascending."""
    size = len(y)
    if n >= size:
        return np.arange(size)
    buckets = max(1, n // 2)
    edges = np.linspace(0, size, buckets + 1).astype(np.int64)
    kept: list[int] = []
    for lo, hi in pairwise(edges.tolist()):
        part = y[lo:hi]
        pair = {lo + int(np.argmin(part)), lo + int(np.argmax(part))}
        kept.extend(sorted(pair))
    return np.array(kept, dtype=np.int64)

"""The order in which the fast engine computes (station, part) pairs.

Each pair depends on a few others at fixed offsets: the same part at the previous station, the
part ``b + 1`` places ahead at the next station (blocking) and, in a closed loop of N pallets, part
n - N at the last station (the pallet coming back) and part n + N - b - 1 at the first (the place
the last station waits for). Giving station i a potential ``phi_i`` such that every dependency
comes first in the order of ``n - phi_i`` is a longest-path problem (Bellman-Ford); it has no
solution exactly when the loop can jam.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .errors import SimulationError
from .layout import Layout

__all__ = ["schedule"]

IntArray = NDArray[np.int64]


def schedule(layout: Layout, parts: int) -> IntArray:
    """(station, part) pairs for parts 0..parts-1, each after the pairs it depends on; shape (pairs, 2)."""
    m = len(layout.ids)
    scale = 2 * m + 2  # potentials in units of 1/scale: one unit separates dependent pairs
    edges = [(i - 1, i, 0) for i in range(1, m)]  # (j, i, d): (j, n + d) before (i, n)
    edges += [(i + 1, i, -(int(layout.buffer[i]) + 1)) for i in range(m - 1)]
    if layout.pallets is not None:
        edges += [(m - 1, 0, -layout.pallets), (0, m - 1, layout.pallets - int(layout.buffer[m - 1]) - 1)]
    phi = [0] * m
    for _ in range(m + 1):
        changed = False
        for j, i, d in edges:
            if phi[j] < phi[i] + d * scale + 1:
                phi[j] = phi[i] + d * scale + 1
                changed = True
        if not changed:
            break
    else:
        raise SimulationError(f"the loop jams: {layout.pallets} pallets fill every place")
    shift = np.array([math.ceil(p / scale) for p in phi])
    order = np.array(sorted(range(m), key=lambda i: shift[i] * scale - phi[i]))
    steps = np.arange(-shift.max(), parts - shift.min())
    part = steps[:, None] + shift[order][None, :]  # step k computes part k + shift_i at station i
    station = np.broadcast_to(order, part.shape)
    keep = (part >= 0) & (part < parts)
    return np.stack([station[keep], part[keep]], axis=1).astype(np.int64)

"""The fast engine's inner loops, compiled with numba; arrays are (stations, parts, replications).

Each loop runs the (station, part) pairs in the order ``schedule`` gives and, for each pair, every
replication: the innermost index is the replication, so memory is read in order.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["ahead_parts", "fold_failures", "recurse", "recurse_skipping"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@njit(cache=True)
def fold_failures(work: FloatArray, epochs: FloatArray, repairs: FloatArray) -> tuple[FloatArray, IntArray]:
    """Repair time during each part, and failures so far, when failure k strikes at busy time ``epochs[k]``."""
    parts, reps = work.shape
    down = np.zeros((parts, reps))
    count = np.zeros((parts, reps), dtype=np.int64)
    busy = np.zeros(reps)
    k = np.zeros(reps, dtype=np.int64)
    for n in range(parts):
        for r in range(reps):
            busy[r] += work[n, r]
            while k[r] < epochs.shape[0] and epochs[k[r], r] <= busy[r]:
                down[n, r] += repairs[k[r], r]
                k[r] += 1
            count[n, r] = k[r]
    return down, count


@njit(cache=True)
def ahead_parts(alive_next: BoolArray, gap: int) -> IntArray:
    """For each part, the part ``gap`` places ahead of it among those the next station gets (-1: none)."""
    parts, reps = alive_next.shape
    out = np.full((parts, reps), -1, dtype=np.int64)
    ids = np.empty(parts, dtype=np.int64)
    for r in range(reps):
        seen = 0
        for n in range(parts):
            if seen >= gap:
                out[n, r] = ids[seen - gap]
            if alive_next[n, r]:
                ids[seen] = n
                seen += 1
    return out


@njit(cache=True)
def recurse(
    order: IntArray,
    total: FloatArray,
    gaps: IntArray,
    pallets: int,
    release: FloatArray,
    preset: IntArray,
    out: FloatArray,
) -> None:
    """Taken, completed and departed times ``out[0..2]`` when no part skips a station.

    ``gaps[i]``: part n leaves station i once part n - gaps[i] left the next station (huge: never
    blocked); ``pallets`` > 0 closes the loop; ``release`` holds the first station's arrivals; parts
    below ``preset[i]`` were past station i at time 0 (a warm start): their times there are 0.
    """
    m, parts, reps = total.shape
    for step in range(order.shape[0]):
        i, n = order[step, 0], order[step, 1]
        if n < preset[i]:
            out[:, i, n, :] = 0.0
            continue
        # Where the arrival comes from: the previous station, the pallet coming back, or the release.
        src, at = (i - 1, n) if i > 0 else (m - 1, n - pallets) if pallets > 0 else (-1, n)
        ahead = n - gaps[i]
        blocked = 0 if ahead < 0 else 1 if ahead < parts else 2  # 2: waits for a part beyond the run
        nxt = (i + 1) % m
        for r in range(reps):
            arrival = release[at, r] if src < 0 else out[2, src, at, r] if at >= 0 else 0.0
            t = max(arrival, out[2, i, n - 1, r]) if n > 0 else arrival
            c = t + total[i, n, r]
            d = c
            if blocked == 1:
                d = max(c, out[2, nxt, ahead, r])
            elif blocked == 2:
                d = np.inf
            out[0, i, n, r] = t
            out[1, i, n, r] = c
            out[2, i, n, r] = d


@njit(cache=True)
def recurse_skipping(
    order: IntArray,
    total: FloatArray,
    alive: BoolArray,
    scrapped: BoolArray,
    ahead: IntArray,
    release: FloatArray,
    preset: IntArray,
    out: FloatArray,
) -> None:
    """The open-line recursions when scrapped parts leave: skipped parts get NaN times.

    ``ahead[i]`` names the part that must leave station i + 1 before a part may leave station i;
    parts below ``preset[i]`` were past station i at time 0.
    """
    taken, completed, departed = out[0], out[1], out[2]
    m, _, reps = total.shape
    free = np.zeros((m, reps))  # when each station's machine let its last part go
    for step in range(order.shape[0]):
        i, n = order[step, 0], order[step, 1]
        if n < preset[i]:
            out[:, i, n, :] = 0.0
            continue
        for r in range(reps):
            if not alive[i, n, r]:
                taken[i, n, r] = completed[i, n, r] = departed[i, n, r] = np.nan
                continue
            arrival = departed[i - 1, n, r] if i > 0 else release[n, r]
            t = max(arrival, free[i, r])
            c = t + total[i, n, r]
            d = c
            if i < m - 1 and not scrapped[i, n, r] and ahead[i, n, r] >= 0:
                d = max(c, departed[i + 1, ahead[i, n, r], r])
            taken[i, n, r], completed[i, n, r], departed[i, n, r] = t, c, d
            free[i, r] = d

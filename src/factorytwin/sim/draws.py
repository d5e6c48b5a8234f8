"""Pre-drawn random numbers shared by both engines: the same draws give the same run.

Draws are indexed by what they belong to, never by when they are used: processing time and scrap
by part number (the order in which parts enter the first station), setup by lot, failures and
repairs by machine and failure count, releases by release count. Each stream is keyed by the
station's id and extended block by block, so:

* both engines consume exactly the same numbers, whatever order their events happen in;
* a scenario that changes one station leaves every other station's numbers alone, and a changed
  distribution is applied to the same uniform numbers (common random numbers);
* drawing more parts never changes the first ones.
"""

from __future__ import annotations

import zlib

import numpy as np
from numpy.typing import NDArray

from ..model.schema import Distribution, Line
from .distributions import FloatArray, quantile, uniform

__all__ = ["Draws", "ReplicationDraws"]

_PROCESSING, _SCRAP, _SETUP, _FAILURE, _REPAIR, _RELEASE = range(1, 7)


class _Stream:
    """One stream of durations for every replication, drawn block by block: value ``k`` of replication ``r``.

    Block ``j`` comes from its own generator seeded with (key, j), so any block can be drawn (again)
    on its own. The vectorized engine reads a growing contiguous prefix; the event-driven engine
    reads one value at a time from recent blocks, and a single-replication stream (the virtual
    plant, which runs for ever) forgets blocks it has moved past.
    """

    def __init__(self, key: list[int], dist: Distribution | None, replications: int, block: int) -> None:
        self._key, self._dist, self._block, self._reps = key, dist, block, replications
        self._data: FloatArray = np.empty((0, replications))
        self._len = 0
        self._recent: dict[int, FloatArray] = {}

    def upto(self, n: int) -> FloatArray:
        """The first ``n`` values of every replication, shape (n, replications)."""
        if n > self._len:
            first, last = self._len // self._block, -(-n // self._block)
            need = last * self._block
            if need > len(self._data):
                grown = np.empty((max(need, 2 * len(self._data)), self._reps))
                grown[: self._len] = self._data[: self._len]
                self._data = grown
            self._data[self._len : need] = np.concatenate([self._draw(j) for j in range(first, last)])
            self._len = need
        return self._data[:n]

    def at(self, r: int, k: int) -> float:
        """Value ``k`` of replication ``r``."""
        if k < self._len:
            return float(self._data[k, r])
        j = k // self._block
        block = self._recent.get(j)
        if block is None:
            block = self._recent[j] = self._draw(j)
            if self._reps == 1:
                for old in [b for b in self._recent if b < j - 4]:
                    del self._recent[old]
        return float(block[k - j * self._block, r])

    def _draw(self, j: int) -> FloatArray:
        rng = np.random.default_rng([*self._key, j])
        u = uniform(rng, (self._block, self._reps))
        return u if self._dist is None else quantile(self._dist, u)


class Draws:
    """Random numbers of a line for ``replications`` independent replications; arrays are (count, replications)."""

    def __init__(self, line: Line, replications: int = 1, seed: int = 0, block: int = 512) -> None:
        self.line, self.replications, self.seed = line, replications, seed
        self._streams: dict[tuple[int, int, int], _Stream] = {}
        self._block = block

    def _stream(self, station: int, kind: int, machine: int = 0) -> _Stream:
        key = (station, kind, machine)
        if key not in self._streams:
            dist = self._dist(station, kind)
            owner = self.line.stations[station].id if station >= 0 else "\x00release"
            seeds = [self.seed, zlib.crc32(owner.encode()), kind, machine]
            self._streams[key] = _Stream(seeds, dist, self.replications, self._block)
        return self._streams[key]

    def _dist(self, station: int, kind: int) -> Distribution | None:
        if kind == _RELEASE:
            assert self.line.arrivals is not None
            return self.line.arrivals.interval
        sim = self.line.stations[station].sim
        law = sim.failure_law()
        by_kind = {
            _PROCESSING: sim.processing_time,
            _SETUP: sim.setup.time if sim.setup else None,
            _FAILURE: law[0] if law else None,
            _REPAIR: law[1] if law else None,
        }
        return by_kind.get(kind)

    def processing(self, station: int, n: int) -> FloatArray:
        """Processing times of parts 0..n-1 at a station, shape (n, replications)."""
        return self._stream(station, _PROCESSING).upto(n)

    def scrapped(self, station: int, n: int) -> NDArray[np.bool_]:
        """Whether a station scraps parts 0..n-1 (when it processes them)."""
        rate = self.line.stations[station].sim.scrap_rate
        if rate == 0:
            return np.zeros((n, self.replications), dtype=bool)
        return self._stream(station, _SCRAP).upto(n) < rate

    def setups(self, station: int, lots: int) -> FloatArray:
        """Setup times of lots 0..lots-1 at a station."""
        return self._stream(station, _SETUP).upto(lots)

    def failures(self, station: int, machine: int, k: int) -> tuple[FloatArray, FloatArray]:
        """Times to failure and repair times of a machine's first ``k`` failures."""
        return self._stream(station, _FAILURE, machine).upto(k), self._stream(station, _REPAIR, machine).upto(k)

    def releases(self, n: int) -> FloatArray:
        """Release times of parts 0..n-1 under the line's arrival schedule (the first release at 0)."""
        assert self.line.arrivals is not None
        batch = self.line.arrivals.batch
        count = (n - 1) // batch + 1 if n else 0
        gaps = self._stream(-1, _RELEASE).upto(max(count - 1, 0))
        times = np.concatenate([np.zeros((1, self.replications)), np.cumsum(gaps, axis=0)])
        return times[np.arange(n) // batch]

    def replication(self, r: int) -> ReplicationDraws:
        """One replication's numbers, looked up one at a time (for the event-driven engine)."""
        return ReplicationDraws(self, r)


class ReplicationDraws:
    """Scalar access to the draws of one replication."""

    def __init__(self, draws: Draws, r: int) -> None:
        self.draws, self.r = draws, r

    def processing(self, station: int, part: int) -> float:
        """Processing time of a part at a station."""
        return self.draws._stream(station, _PROCESSING).at(self.r, part)

    def scrapped(self, station: int, part: int) -> bool:
        """Whether the station scraps this part."""
        rate = self.draws.line.stations[station].sim.scrap_rate
        return rate > 0 and self.draws._stream(station, _SCRAP).at(self.r, part) < rate

    def setup(self, station: int, lot: int) -> float:
        """Setup time of a lot at a station."""
        return self.draws._stream(station, _SETUP).at(self.r, lot)

    def failure(self, station: int, machine: int, k: int) -> tuple[float, float]:
        """Time to failure and repair time of a machine's failure ``k``."""
        d = self.draws
        return d._stream(station, _FAILURE, machine).at(self.r, k), d._stream(station, _REPAIR, machine).at(self.r, k)

    def release_gap(self, k: int) -> float:
        """Time between release ``k`` and release ``k + 1``."""
        return self.draws._stream(-1, _RELEASE).at(self.r, k)

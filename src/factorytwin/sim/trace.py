"""What happened to every part in every replication: the common output of both engines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .distributions import FloatArray
from .line import PartRecord

__all__ = ["Trace"]


@dataclass(frozen=True, slots=True)
class Trace:
    """Part-by-part times, arrays of shape (stations, replications, parts) or (replications, parts).

    ``taken``, ``completed`` and ``departed`` are the times a station took a part (before any
    setup), finished it and let it go (into the next station's places, or out of the line); NaN
    where the part never reached the station or the time is not known yet. ``entry`` is when the
    first station took the part, ``leave`` when it left the line (after the last station, or when
    it was scrapped; +inf while still inside), ``good`` whether it left unscrapped.
    """

    taken: FloatArray
    completed: FloatArray
    departed: FloatArray
    entry: FloatArray
    leave: FloatArray
    good: NDArray[np.bool_]

    @classmethod
    def from_records(cls, records: list[list[list[PartRecord]]], loop: bool) -> Trace:
        """Build a trace from the event-driven engine's records, indexed [replication][station]."""
        reps, stations = len(records), len(records[0])
        parts = 1 + int(max((rec[0] for rep in records for st in rep for rec in st), default=-1))
        times = np.full((3, stations, reps, parts), np.nan)
        leave = np.full((reps, parts), np.inf)
        good = np.zeros((reps, parts), dtype=bool)
        for r, rep in enumerate(records):
            for i, st in enumerate(rep):
                for part, taken, completed, departed, bad in st:
                    times[:, i, r, int(part)] = taken, completed, departed
                    if departed == departed and (i == stations - 1 or (bad and not loop)):
                        leave[r, int(part)], good[r, int(part)] = departed, not bad
        return cls(times[0], times[1], times[2], times[0, 0], leave, good)

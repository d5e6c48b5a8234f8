"""What a station could make on its own: isolated capacity, availability, and good parts at the line's end.

These are the static figures of a line design (no queueing): the simulation then says how much of
them starvation and blocking cost. A station's *effective rate* is the good parts per hour the line
could deliver if that station alone limited it: its isolated rate, times its availability, times
the share of its parts that survive its own and every later station's scrap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..model.schema import Line, Station

__all__ = ["StationCapacity", "capacities", "supply_rate"]


@dataclass(frozen=True, slots=True)
class StationCapacity:
    """Static figures of one station, per hour of production time."""

    id: str
    capacity: float  # parts/h with every machine always busy and never failing (setups included)
    availability: float  # share of time up: MTBF / (MTBF + MTTR)
    effective: float  # good parts/h at the line's end if this station alone limited the line


def _availability(station: Station) -> float:
    law = station.sim.failure_law()
    if law is None:
        return 1.0
    up, down = law[0].mean, law[1].mean
    return up / (up + down)


def capacities(line: Line) -> tuple[StationCapacity, ...]:
    """Each station's isolated capacity, availability and effective rate, in flow order."""
    out = []
    for i, station in enumerate(line.stations):
        sim = station.sim
        per_part = sim.processing_time.mean + (sim.setup.time.mean / sim.setup.every if sim.setup else 0.0)
        capacity = 3600.0 * sim.machines / per_part if per_part > 0 else math.inf
        later = line.stations if line.pallets is not None else line.stations[i:]
        survive = math.prod(1 - s.sim.scrap_rate for s in later)
        available = _availability(station)
        out.append(StationCapacity(station.id, capacity, available, capacity * available * survive))
    return tuple(out)


def supply_rate(line: Line) -> float | None:
    """Good parts per hour the arrival schedule allows, or None with unlimited supply (or a loop)."""
    if line.arrivals is None or line.pallets is not None:
        return None
    survive = math.prod(1 - s.sim.scrap_rate for s in line.stations)
    return 3600.0 * line.arrivals.batch / line.arrivals.interval.mean * survive

"""KPIs after ISO 22400-2: time elements from station states and the shift calendar, then ratios.

| element | meaning | taken from |
|---|---|---|
| POT | planned operation time | shift time in the window |
| PDOT | planned down time | breaks and planned stops inside the shifts |
| PBT | planned busy time | POT - PDOT |
| APT | actual production time | time in ``running`` inside PBT |
| ADOT | actual unit down time | time in ``down`` inside PBT |
| ASUT | actual unit setup time | time in ``changeover`` inside PBT |
| ADET | actual unit delay time | ``starved``, ``blocked``, ``idle`` inside PBT |
| PRI | planned run time per item | the station's nominal processing time |
| PQ, GQ, SQ | produced, good, scrap quantity | counter increments in the window |

Availability = APT/(PBT - unknown), Effectiveness = PRI*PQ/APT, Quality rate = GQ/PQ, OEE = their
product; MTBF = APT / failures and MTTR = ADOT / failures, a failure being an entry into ``down``.
Time of PBT whose state is not known (a data gap, or before the first sample) is ``unknown`` and
left out of availability, and throughput is per hour of the window with a known state: a twin that
started ten minutes ago reports on those ten minutes, not on an hour it did not see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ..events import StationState
from ..model.calendar import ShiftPeriod
from .states import StateInterval

__all__ = ["Kpis", "TimeElements", "kpis", "time_elements"]

_DELAY = (StationState.STARVED, StationState.BLOCKED, StationState.IDLE)


@dataclass(frozen=True, slots=True)
class TimeElements:
    """ISO 22400 time elements of one station over a window (seconds)."""

    pot: float
    pdot: float
    pbt: float
    apt: float
    adot: float
    asut: float
    adet: float
    unknown: float
    failures: int
    observed: float  # seconds of the window with a known state (any state), planned or not


@dataclass(frozen=True, slots=True)
class Kpis:
    """ISO 22400 KPIs over a window; a ratio is None when its denominator is zero."""

    start: float
    end: float
    time: TimeElements
    produced: int
    good: int
    scrap: int
    ideal_cycle_s: float
    availability: float | None
    effectiveness: float | None
    quality_rate: float | None
    oee: float | None
    mtbf_s: float | None
    mttr_s: float | None
    throughput_per_h: float

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return asdict(self)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def time_elements(
    intervals: Iterable[StateInterval], periods: list[ShiftPeriod], start: float, end: float
) -> TimeElements:
    """ISO 22400 time elements of one station's intervals over [start, end)."""
    pot = sum(p.end - p.start for p in periods)
    pdot = sum(s.seconds for p in periods for s in p.stops)
    # the productive pieces of the window: shifts minus their planned stops
    busy: list[tuple[float, float]] = []
    for p in periods:
        cursor = p.start
        for stop in p.stops:
            if stop.start > cursor:
                busy.append((cursor, stop.start))
            cursor = max(cursor, stop.end)
        if p.end > cursor:
            busy.append((cursor, p.end))
    by_state: dict[StationState, float] = {}
    failures = 0
    covered = observed = 0.0
    for iv in intervals:
        i0, i1 = iv.clipped(start, end)
        if i0 >= i1:
            continue
        inside = sum(_overlap(i0, i1, b0, b1) for b0, b1 in busy)
        covered += inside
        if iv.state is not StationState.UNKNOWN:
            observed += i1 - i0
        by_state[iv.state] = by_state.get(iv.state, 0.0) + inside
        if iv.state is StationState.DOWN and inside > 0 and iv.start >= start:
            failures += 1
    return TimeElements(
        pot=pot,
        pdot=pdot,
        pbt=pot - pdot,
        apt=by_state.get(StationState.RUNNING, 0.0),
        adot=by_state.get(StationState.DOWN, 0.0),
        asut=by_state.get(StationState.CHANGEOVER, 0.0),
        adet=sum(by_state.get(s, 0.0) for s in _DELAY),
        # no interval at all (before the first sample) is as unknown as an explicit gap
        unknown=by_state.get(StationState.UNKNOWN, 0.0)
        + by_state.get(StationState.PLANNED_STOP, 0.0)
        + max(0.0, pot - pdot - covered),
        failures=failures,
        observed=observed,
    )


def kpis(elements: TimeElements, good: int, scrap: int, ideal_cycle_s: float, start: float, end: float) -> Kpis:
    """The ISO 22400 ratios from time elements and quantities."""
    produced = good + scrap
    t = elements
    known = t.pbt - t.unknown
    availability = t.apt / known if known > 1e-9 else None
    effectiveness = ideal_cycle_s * produced / t.apt if t.apt > 0 else None
    quality = good / produced if produced > 0 else None
    oee = None
    if availability is not None and effectiveness is not None and quality is not None:
        oee = availability * effectiveness * quality
    hours = t.observed / 3600
    return Kpis(
        start=start,
        end=end,
        time=t,
        produced=produced,
        good=good,
        scrap=scrap,
        ideal_cycle_s=ideal_cycle_s,
        availability=availability,
        effectiveness=effectiveness,
        quality_rate=quality,
        oee=oee,
        mtbf_s=t.apt / t.failures if t.failures else None,
        mttr_s=t.adot / t.failures if t.failures else None,
        throughput_per_h=good / hours if hours > 0 else 0.0,
    )

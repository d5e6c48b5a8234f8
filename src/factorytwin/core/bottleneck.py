"""Bottleneck detection with the active period method (Roser, Nakano and Tanaka, 2001/2002).

A station is *active* while it works, is repaired or changes over (running, down, changeover), and
inactive while it waits (starved, blocked, idle). At any moment the *momentary bottleneck* is the
station whose current uninterrupted active period is the longest. Where the active period of one
momentary bottleneck overlaps the period of the next (a different station), the bottleneck is
*shifting* for both; elsewhere it is the *sole* bottleneck. Over a window, each station's share of
sole and shifting bottleneck time tells where throughput is lost.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from ..events import StationState
from .states import StateInterval

__all__ = ["ActivePeriod", "BottleneckShare", "Bottlenecks", "active_periods", "bottlenecks"]

ACTIVE = frozenset({StationState.RUNNING, StationState.DOWN, StationState.CHANGEOVER})


@dataclass(frozen=True, slots=True)
class ActivePeriod:
    """An uninterrupted span in which a station was active."""

    station: str
    start: float
    end: float

    @property
    def length(self) -> float:
        """Its duration."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class BottleneckShare:
    """A station's share of bottleneck time in a window."""

    station: str
    sole: float
    shifting: float

    @property
    def total(self) -> float:
        """Sole plus shifting share."""
        return self.sole + self.shifting


@dataclass(frozen=True, slots=True)
class Bottlenecks:
    """Bottleneck analysis of a window: the timeline and each station's shares (fractions of the window)."""

    start: float
    end: float
    timeline: list[tuple[float, float, str]]
    shares: list[BottleneckShare]

    @property
    def main(self) -> str | None:
        """The station that was the bottleneck (sole or shifting) the largest share of the time."""
        best = max(self.shares, key=lambda s: (s.total, s.sole), default=None)
        return best.station if best is not None and best.total > 0 else None


def active_periods(intervals: Iterable[StateInterval], start: float, end: float) -> list[ActivePeriod]:
    """Merge a station's active intervals inside [start, end) into uninterrupted periods."""
    out: list[ActivePeriod] = []
    for iv in sorted(intervals, key=lambda i: i.start):
        if iv.state not in ACTIVE:
            continue
        i0, i1 = iv.clipped(start, end)
        if i0 >= i1:
            continue
        if out and i0 <= out[-1].end:
            last = out[-1]
            out[-1] = ActivePeriod(last.station, last.start, max(last.end, i1))
        else:
            out.append(ActivePeriod(iv.station, i0, i1))
    return out


def bottlenecks(intervals_by_station: dict[str, list[StateInterval]], start: float, end: float) -> Bottlenecks:
    """Momentary bottlenecks over [start, end) and each station's sole and shifting shares."""
    periods = [p for ivs in intervals_by_station.values() for p in active_periods(ivs, start, end)]
    order = {station: n for n, station in enumerate(intervals_by_station)}
    cuts = sorted({start, end, *(p.start for p in periods), *(p.end for p in periods)})
    winners: list[tuple[float, float, ActivePeriod]] = []
    for a, b in itertools.pairwise(cuts):
        live = [p for p in periods if p.start <= a and p.end >= b]
        if not live:
            continue
        best = max(live, key=lambda p: (p.length, -order[p.station]))
        if winners and winners[-1][2] == best and winners[-1][1] == a:
            winners[-1] = (winners[-1][0], b, best)
        else:
            winners.append((a, b, best))
    shifting = _shifting(winners)
    span = end - start
    shares = []
    for station in intervals_by_station:
        mine = [(a, b) for st, a, b in shifting if st == station]
        sole = sum(
            (b - a) - sum(max(0.0, min(b, y) - max(a, x)) for x, y in mine)
            for a, b, p in winners
            if p.station == station
        )
        shift = sum(y - x for x, y in mine)
        shares.append(BottleneckShare(station, sole / span if span > 0 else 0.0, shift / span if span > 0 else 0.0))
    return Bottlenecks(start, end, [(a, b, p.station) for a, b, p in winners], shares)


def _shifting(winners: list[tuple[float, float, ActivePeriod]]) -> list[tuple[str, float, float]]:
    """Where consecutive momentary bottleneck periods of different stations overlap."""
    out: list[tuple[str, float, float]] = []
    for (_, _, prev), (_, _, nxt) in itertools.pairwise(winners):
        if prev.station == nxt.station:
            continue
        lo, hi = max(prev.start, nxt.start), min(prev.end, nxt.end)
        if hi > lo:
            out += [(prev.station, lo, hi), (nxt.station, lo, hi)]
    return _dedupe(out)


def _dedupe(spans: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """Merge overlapping shifting spans of the same station (each moment counts once)."""
    merged: dict[str, list[tuple[float, float]]] = {}
    for station, a, b in sorted(spans, key=lambda x: (x[0], x[1])):
        runs = merged.setdefault(station, [])
        if runs and a <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], b))
        else:
            runs.append((a, b))
    return [(st, a, b) for st, runs in merged.items() for a, b in runs]

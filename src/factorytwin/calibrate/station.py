"""Calibrating one station from its history: processing time, failures and scrap, each with its uncertainty.

* **Processing time**: fitted to the cycle times (fit.py). Without a ``cycle_time`` signal, the mean
  is the running time per part counted (machines x running seconds / parts), taken as deterministic.
* **Failures**: every ``down`` interval that starts inside the window is a failure. The time at risk
  is the ``running`` time for operation-dependent failures (the model's ``failure_mode``), or all
  time not down for time-dependent ones. MTBF = time at risk / failures, with the exact chi-square
  interval of an exponential mean; MTTR is the mean of the down intervals that lie wholly inside
  the window, with a Student-t interval. Times to failure (time at risk between two failures) and
  repair times are fitted like processing times; with fewer than 10 of them the law is exponential.
* **Scrap rate**: scrap / (good + scrap) from the counters, with a Wilson interval.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from scipy import stats  # type: ignore[import-untyped]

from ..core.states import StateInterval
from ..events import StationState
from ..model.schema import Distribution, Station, StationSim
from ..sim.results import Estimate
from .fit import Fit, finite, fit
from .history import StationHistory

__all__ = ["Interval", "StationFit", "calibrate_station"]

_FAMILY_MIN = 10  # fewer failures or repairs than this: exponential law
_NOT_AT_RISK = frozenset({StationState.DOWN, StationState.UNKNOWN, StationState.PLANNED_STOP})


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimate with its confidence interval."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | None]:
        """Plain data for JSON (None for a bound that one observation cannot give)."""
        return {"value": finite(self.value), "low": finite(self.low), "high": finite(self.high)}


@dataclass(frozen=True, slots=True)
class StationFit:
    """What the history says about one station, and the calibrated ``sim`` block."""

    id: str
    sim: StationSim
    processing: Fit | None
    processing_source: str  # cycle_time | counters | model
    failures: int
    at_risk: float  # seconds in which failures could strike
    mtbf: Interval | None
    mttr: Interval | None
    ttf: Fit | None
    ttr: Fit | None
    good: int
    scrap: int
    scrap_rate: Interval | None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "id": self.id,
            "processing_time": self.processing.as_dict() if self.processing else None,
            "processing_source": self.processing_source,
            "failure_mode": self.sim.failure_mode,
            "failures": self.failures,
            "at_risk_s": self.at_risk,
            "mtbf": self.mtbf.as_dict() if self.mtbf else None,
            "mttr": self.mttr.as_dict() if self.mttr else None,
            "time_to_failure": self.ttf.as_dict() if self.ttf else None,
            "time_to_repair": self.ttr.as_dict() if self.ttr else None,
            "good": self.good,
            "scrap": self.scrap,
            "scrap_rate": self.scrap_rate.as_dict() if self.scrap_rate else None,
            "sim": self.sim.model_dump(mode="json", exclude_none=True),
            "notes": self.notes,
        }


def calibrate_station(station: Station, h: StationHistory, start: float, end: float, level: float = 0.95) -> StationFit:
    """Calibrate a station from its history of the window [start, end)."""
    sim, notes = station.sim, list[str]()
    processing, source = _processing(station, h, notes)
    operation = sim.failure_mode == "operation"
    at_risk_states = {StationState.RUNNING} if operation else set(StationState) - _NOT_AT_RISK
    at_risk = h.seconds(*at_risk_states)
    downs = [iv for iv in h.intervals if iv.state is StationState.DOWN and iv.end is not None]
    struck = [iv for iv in downs if iv.start > start]  # a down interval cut by the window's start is no new failure
    whole = [iv.end - iv.start for iv in struck if iv.end is not None and iv.end < end]
    exposure = _exposure(h.intervals, at_risk_states)
    ttf_values = [exposure(b.start) - exposure(a.end or a.start) for a, b in itertools.pairwise(struck)]
    n = len(struck)
    mtbf = _exponential_mean(at_risk, n, level) if n else None
    repairs = whole or [iv.end - iv.start for iv in downs if iv.end is not None]
    mttr_est = Estimate.of(repairs, level) if repairs else None
    mttr = Interval(mttr_est.mean, mttr_est.low, mttr_est.high) if mttr_est else None
    ttf, ttr = fit(ttf_values), fit(repairs)
    if at_risk <= 0:
        notes.append("no time at risk of failure: failure law kept from the model")
    elif n == 0 and sim.failure_law() is not None:
        notes.append(f"no failure in {at_risk / 3600:.3g} h at risk: the calibrated station never fails")
    parts = h.good + h.scrap
    scrap_rate = _wilson(h.scrap, parts, level) if parts else None
    if scrap_rate is None:
        notes.append("no parts counted: scrap rate kept from the model")
    data = sim.model_dump(exclude_none=True)
    for key in ("mtbf", "mttr", "time_to_failure", "time_to_repair") if at_risk > 0 else ():
        data.pop(key, None)
    if processing is not None:
        data["processing_time"] = _tidy(processing.dist)
    if mtbf is not None and mttr is not None:
        data |= {k: _tidy(v) for k, v in _law(mtbf.value, mttr.value, ttf, ttr).items()}
    if scrap_rate is not None:
        data["scrap_rate"] = _tidy(min(scrap_rate.value, 0.999))
    return StationFit(
        station.id,
        StationSim.model_validate(data),
        processing,
        source,
        n,
        at_risk,
        mtbf,
        mttr,
        ttf,
        ttr,
        h.good,
        h.scrap,
        scrap_rate,
        notes,
    )


def _tidy(value: object) -> object:
    """Numbers to 6 significant digits (what the model file shows), in plain data or distributions."""
    if isinstance(value, Distribution):
        if value.dist == "empirical":
            return {"dist": "empirical", "values": value.values}
        return {k: _tidy(v) for k, v in value.model_dump(exclude_none=True).items()}
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value


def _processing(station: Station, h: StationHistory, notes: list[str]) -> tuple[Fit | None, str]:
    if len(h.cycles) >= 2:
        return fit(h.cycles), "cycle_time"
    parts, running = h.good + h.scrap, h.seconds(StationState.RUNNING)
    if parts and running > 0:
        mean = station.sim.machines * running / parts
        notes.append("no cycle times: mean processing time from running time per part, taken as deterministic")
        return Fit(Distribution(dist="deterministic", mean=mean), parts, mean, 0.0, None, None), "counters"
    notes.append("neither cycle times nor parts: processing time kept from the model")
    return None, "model"


def _law(mtbf: float, mttr: float, ttf: Fit | None, ttr: Fit | None) -> dict[str, object]:
    """The failure law: exponential (mtbf/mttr) unless enough data choose another family."""
    fail = _family(ttf, mtbf)
    repair = _family(ttr, mttr)
    if fail.dist == repair.dist == "exponential":
        return {"mtbf": mtbf, "mttr": mttr}
    return {"time_to_failure": fail, "time_to_repair": repair}


def _family(f: Fit | None, mean: float) -> Distribution:
    if f is None or f.n < _FAMILY_MIN or f.family == "exponential":
        return Distribution(dist="exponential", mean=mean)
    if f.family == "empirical":
        return f.dist
    return Distribution(dist=f.family, mean=mean, cv=f.dist.cv)


def _exposure(intervals: list[StateInterval], states: set[StationState]) -> Callable[[float], float]:
    """A function t -> seconds spent in ``states`` from the first interval up to t."""
    ivs = sorted((iv for iv in intervals if iv.end is not None), key=lambda iv: iv.start)
    starts = [iv.start for iv in ivs]
    cum = [0.0, *itertools.accumulate((iv.end or 0) - iv.start if iv.state in states else 0.0 for iv in ivs)]

    def at(t: float) -> float:
        k = bisect.bisect_right(starts, t) - 1
        if k < 0:
            return 0.0
        iv = ivs[k]
        inside = min(t, iv.end or t) - iv.start if iv.state in states else 0.0
        return cum[k] + max(inside, 0.0)

    return at


def _exponential_mean(exposure: float, n: int, level: float) -> Interval:
    """Mean time between failures with the exact chi-square interval (time-truncated data)."""
    alpha = 1 - level
    low = 2 * exposure / stats.chi2.ppf(1 - alpha / 2, 2 * n + 2)
    high = 2 * exposure / stats.chi2.ppf(alpha / 2, 2 * n)
    return Interval(exposure / n, float(low), float(high))


def _wilson(k: int, n: int, level: float) -> Interval:
    z = float(stats.norm.ppf((1 + level) / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(centre - half, 0.0), min(centre + half, 1.0))

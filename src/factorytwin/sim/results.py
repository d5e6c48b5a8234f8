"""What a simulation run reports: line and station figures with confidence intervals over replications."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import t as student_t  # type: ignore[import-untyped]

from .distributions import FloatArray
from .trace import Trace

__all__ = ["ACTIVE", "STATES", "Estimate", "Results", "Samples", "StationResult", "flows", "summarize"]

STATES = ("running", "changeover", "down", "blocked", "starved", "idle")
ACTIVE = ("running", "changeover", "down")  # not waiting for a neighbour: the active period method


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean over replications with its Student-t confidence interval (NaN bounds from one replication)."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @classmethod
    def of(cls, values: ArrayLike, level: float = 0.95) -> Estimate:
        """Estimate the mean of per-replication values (NaNs are left out)."""
        x = np.asarray(values, dtype=np.float64).ravel()
        x = x[~np.isnan(x)]
        if len(x) == 0:
            return cls(math.nan, math.nan, math.nan, 0, level)
        mean = float(x.mean())
        if len(x) == 1:
            return cls(mean, math.nan, math.nan, 1, level)
        half = float(student_t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
        return cls(mean, mean - half, mean + half, len(x), level)

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval."""
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        """True when ``value`` lies inside the confidence interval."""
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.mean:.6g} ± {self.half_width:.2g}"


@dataclass(frozen=True, slots=True)
class Samples:
    """Per-replication values behind the estimates, for paired comparisons between scenarios."""

    throughput: FloatArray  # (replications,)
    output: FloatArray
    wip: FloatArray
    lead_time: FloatArray
    states: FloatArray  # (replications, stations, len(STATES)): fractions of machine time


@dataclass(frozen=True, slots=True)
class StationResult:
    """One station: the fractions of its machines' time in each state, and how often it is the bottleneck."""

    id: str
    running: Estimate
    changeover: Estimate
    down: Estimate
    blocked: Estimate
    starved: Estimate
    idle: Estimate
    active: Estimate
    bottleneck_share: float  # fraction of replications in which it is the bottleneck


@dataclass(frozen=True, slots=True)
class Results:
    """A run of a line: throughput, WIP, lead time, stations and the bottleneck, over replications.

    Rates are per hour of production time (the calendar's planned time, ``planned`` seconds of it
    after the warm-up); ``output`` counts good parts in that window.
    """

    line: str
    engine: str
    horizon: float
    warmup: float
    planned: float
    replications: int
    seed: int
    throughput: Estimate  # good parts per hour
    output: Estimate  # good parts
    wip: Estimate  # parts in the line (time average)
    lead_time: Estimate  # seconds from the first station taking a part to the good part leaving the line
    stations: tuple[StationResult, ...]
    bottleneck: str
    samples: Samples

    def station(self, station_id: str) -> StationResult:
        """The result of one station."""
        return next(s for s in self.stations if s.id == station_id)


def flows(trace: Trace, start: float, end: float) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per replication: throughput (parts/h), good output, time-average WIP and mean lead time in [start, end)."""
    span = end - start
    out = trace.good & (trace.leave >= start) & (trace.leave < end)
    output = out.sum(axis=1).astype(np.float64)
    inside = np.clip(np.fmin(trace.leave, end), start, end) - np.clip(trace.entry, start, end)
    wip = np.nansum(inside, axis=1) / span
    lead = np.where(out, trace.leave - trace.entry, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_lead = np.where(output > 0, lead / output, np.nan)
    return output * 3600.0 / span, output, wip, mean_lead


def summarize(
    head: tuple[str, str, float, float, float, int],
    ids: tuple[str, ...],
    trace: Trace,
    states: FloatArray,
    level: float = 0.95,
) -> Results:
    """Results from a trace and the station state fractions; ``head`` is (line, engine, horizon, warmup, end, seed)."""
    line, engine, horizon, warmup, end, seed = head
    throughput, output, wip, lead = flows(trace, warmup, end)
    samples = Samples(throughput, output, wip, lead, states)
    active = states[:, :, [STATES.index(s) for s in ACTIVE]].sum(axis=2)
    winners = np.argmax(active, axis=1)
    stations = tuple(
        StationResult(
            sid,
            **{s: Estimate.of(states[:, i, k], level) for k, s in enumerate(STATES)},
            active=Estimate.of(active[:, i], level),
            bottleneck_share=float(np.mean(winners == i)),
        )
        for i, sid in enumerate(ids)
    )
    return Results(
        line=line,
        engine=engine,
        horizon=horizon,
        warmup=warmup,
        planned=end - warmup,
        replications=len(throughput),
        seed=seed,
        throughput=Estimate.of(throughput, level),
        output=Estimate.of(output, level),
        wip=Estimate.of(wip, level),
        lead_time=Estimate.of(lead, level),
        stations=stations,
        bottleneck=ids[int(np.argmax(active.mean(axis=0)))],
        samples=samples,
    )

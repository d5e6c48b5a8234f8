"""Calibrating a line from a window of its history, and validating the result on the same window.

``calibrate(history)`` fits every station (station.py) and builds the calibrated line. The
validation replays the window: the calibrated line starts from the line's condition at the start
of the window (buffer levels and station states, sim/warm.py) and runs for the window's
production time; simulated and observed throughput are compared. The simulated mean comes with
its confidence interval and, since the observation is one run of the plant, with the 95 %
prediction interval of a single run (the 2.5 and 97.5 % points of the replications).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.schema import Line
from ..sim.errors import SimulationError
from ..sim.forecast import forecast
from ..sim.results import Estimate
from .fit import finite
from .history import LineHistory
from .station import StationFit, calibrate_station

__all__ = ["Calibration", "Validation", "calibrate", "validation"]


@dataclass(frozen=True, slots=True)
class Validation:
    """Simulated against observed throughput (good parts per production hour) over the window."""

    observed: float
    simulated: Estimate
    single_run: tuple[float, float]  # 95 % prediction interval of one run
    replications: int

    @property
    def relative_difference(self) -> float:
        """(simulated mean - observed) / observed."""
        return (self.simulated.mean - self.observed) / self.observed if self.observed else float("nan")

    @property
    def plausible(self) -> bool:
        """True when the observation lies inside the prediction interval of one run."""
        return self.single_run[0] <= self.observed <= self.single_run[1]

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        s = self.simulated
        return {
            "observed_throughput": self.observed,
            "simulated_throughput": {"mean": s.mean, "low": finite(s.low), "high": finite(s.high)},
            "single_run_95": list(self.single_run),
            "relative_difference": finite(self.relative_difference),
            "plausible": self.plausible,
            "replications": self.replications,
        }


@dataclass(frozen=True, slots=True)
class Calibration:
    """A calibrated line, what each station's history said, and the validation on the window."""

    line_path: str
    start: float
    end: float
    planned: float  # production seconds in the window
    line: Line
    stations: list[StationFit]
    observed_output: int
    validation: Validation | None

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "line": self.line_path,
            "start": self.start,
            "end": self.end,
            "planned_s": self.planned,
            "observed_output": self.observed_output,
            "stations": [s.as_dict() for s in self.stations],
            "validation": self.validation.as_dict() if self.validation else None,
        }


def calibrate(
    history: LineHistory, *, replications: int = 30, seed: int = 0, validate: bool = True, level: float = 0.95
) -> Calibration:
    """Calibrate the line of ``history`` and, unless told not to, validate it on the same window."""
    planned = history.planned
    if planned <= 0:
        raise SimulationError("the window holds no production time under the line's calendar")
    original = history.line.line
    fits = [
        calibrate_station(station, h, history.start, history.end, level)
        for station, h in zip(original.stations, history.stations, strict=True)
    ]
    stations = [s.model_copy(update={"sim": f.sim}) for s, f in zip(original.stations, fits, strict=True)]
    line = original.model_copy(update={"stations": stations})
    check = validation(history, line, replications, seed) if validate else None
    return Calibration(history.line.path, history.start, history.end, planned, line, fits, history.output, check)


def validation(history: LineHistory, line: Line, replications: int = 30, seed: int = 0) -> Validation:
    """Replay the window on ``line`` from the condition at its start; compare throughput."""
    planned = history.planned
    run = forecast(line, history.warm, planned, replications, seed).results
    per_run = run.samples.throughput
    low, high = (float(q) for q in np.quantile(per_run, [0.025, 0.975]))
    return Validation(history.output * 3600.0 / planned, run.throughput, (low, high), replications)

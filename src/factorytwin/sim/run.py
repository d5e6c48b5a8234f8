"""Run a line model: replications on either engine, in production time, summarized with confidence intervals.

A shift calendar freezes the line outside planned time: no station works, no part moves, no
failure clock runs and no part is released, and everything resumes where it stopped. The engines
therefore simulate production time only; ``LineModel`` converts between production time and time
since the model's start.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model.calendar import Calendar
from ..model.index import LineInfo
from ..model.schema import Line
from .draws import Draws
from .engines import Engine, choose, run_engine
from .errors import SimulationError
from .layout import Layout
from .results import Results, summarize

__all__ = ["LineModel", "run"]


@dataclass(frozen=True, slots=True)
class LineModel:
    """A line with the calendar it works to; ``start`` is the POSIX time of simulated time 0."""

    line: Line
    calendar: Calendar | None = None
    timezone: str = "UTC"
    start: float = 0.0

    @classmethod
    def of(cls, info: LineInfo, start: float = 0.0) -> LineModel:
        """The model of a line of a plant index, with its (or its site's) calendar and time zone."""
        return cls(info.line, info.calendar, info.timezone, start)

    def production(self, horizon: float) -> float:
        """Production (planned) seconds in the first ``horizon`` seconds."""
        if self.calendar is None:
            return horizon
        return self.calendar.planned_seconds(self.start, self.start + horizon, self.timezone, self.line.id)

    def elapsed(self, production: float, horizon: float) -> float:
        """Seconds since the start at which ``production`` seconds of production time have passed."""
        if self.calendar is None:
            return production
        left = production
        for period in self.calendar.periods(self.start, self.start + horizon, self.timezone, self.line.id):
            t = period.start
            for stop in (*period.stops, None):
                until = stop.start if stop is not None else period.end
                if until - t >= left:
                    return t + left - self.start
                left -= until - t
                t = stop.end if stop is not None else t
        return horizon


def run(
    model: LineModel | Line,
    horizon: float,
    replications: int = 10,
    seed: int = 0,
    *,
    warmup: float = 0.0,
    engine: Engine = "auto",
    level: float = 0.95,
) -> Results:
    """Simulate ``replications`` runs of ``horizon`` seconds; statistics cover production time after ``warmup``.

    The same seed gives the same draws, so two scenarios run with the same seed and replications
    are compared on common random numbers (see ``compare``).
    """
    if isinstance(model, Line):
        model = LineModel(model)
    end = model.production(horizon)
    if replications < 1 or not 0 <= warmup < end:
        raise SimulationError(f"need replications >= 1 and 0 <= warmup < production time ({end:g} s)")
    draws = Draws(model.line, replications, seed)
    chosen = choose(draws, engine)
    trace, states = run_engine(draws, chosen, warmup, end)
    head = (model.line.id, chosen, horizon, warmup, end, seed)
    return summarize(head, Layout.of(model.line).ids, trace, states, level)

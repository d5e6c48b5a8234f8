"""Trials: variants of one line model run on the same random numbers, for searches over designs.

Commissioning, buffer allocation and improvement ranking all evaluate many variants of one line
with the same seed, replications and windows, so every comparison between variants is paired
(common random numbers). ``Trials`` runs them, counts the runs for a progress display, and keeps
the draws of a line whose stations did not change: a variant that only moves buffer capacity
reuses every random number already drawn, so the fast engine spends its time on the recursion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..model.schema import Line
from .distributions import FloatArray
from .draws import Draws
from .engines import choose, run_engine
from .errors import SimulationError
from .fast import simulate
from .results import Results, flows
from .run import LineModel, run

__all__ = ["Progress", "RunSettings", "Trials"]

Progress = Callable[[int, int], None]  # (runs done, runs expected in all)


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How long and how often every variant runs: seconds of horizon and warm-up, replications, seed."""

    horizon: float = 8 * 3600.0
    replications: int = 10
    seed: int = 0
    warmup: float = 1800.0

    def __post_init__(self) -> None:
        if self.replications < 2:
            raise SimulationError("paired confidence intervals need at least 2 replications")
        if not 0 <= self.warmup < self.horizon:
            raise SimulationError(f"need 0 <= warm-up < horizon, got {self.warmup:g} s and {self.horizon:g} s")

    def reseeded(self, offset: int) -> RunSettings:
        """The same settings on other random numbers (seed + offset)."""
        return replace(self, seed=self.seed + offset)


class Trials:
    """Runs of variants of ``model`` (same calendar) with one ``RunSettings``; counts them for ``progress``."""

    def __init__(self, model: LineModel, settings: RunSettings, progress: Progress | None = None) -> None:
        self.model, self.settings = model, settings
        self.end = model.production(settings.horizon)
        if not settings.warmup < self.end:
            raise SimulationError(f"the warm-up ({settings.warmup:g} s) leaves no production time to measure")
        self.runs = 0
        self.expected = 0
        self._progress = progress
        self._draws: tuple[str, Draws] | None = None

    def expect(self, runs: int) -> None:
        """Announce ``runs`` more runs (for the progress display)."""
        self.expected += runs
        self._tick(0)

    def results(self, line: Line, reseed: int = 0) -> Results:
        """A full run of a variant: every figure with its confidence interval (on seed + ``reseed``)."""
        s = self.settings.reseeded(reseed)
        out = run(replace(self.model, line=line), s.horizon, s.replications, s.seed, warmup=s.warmup)
        self._tick(1)
        return out

    def throughput(self, line: Line) -> FloatArray:
        """Good parts per hour of each replication of a variant (only what a search needs, so faster)."""
        draws = self._draws_of(line)
        if choose(draws, "auto") == "fast":
            trace = simulate(draws, self.end).trace
        else:
            trace, _ = run_engine(draws, "simpy", self.settings.warmup, self.end)
        self._tick(1)
        return flows(trace, self.settings.warmup, self.end)[0]

    def _draws_of(self, line: Line) -> Draws:
        """The draws of ``line``: kept from the last variant when stations and arrivals are the same.

        Streams are keyed by station and drawn from the stations' distributions only, so buffer
        capacity and pallets never change a number: the kept draws serve the new line as they are.
        """
        key = line.model_dump_json(include={"stations", "arrivals"})
        if self._draws is None or self._draws[0] != key:
            self._draws = (key, Draws(line, self.settings.replications, self.settings.seed))
        draws = self._draws[1]
        draws.line = line
        return draws

    def _tick(self, runs: int) -> None:
        self.runs += runs
        self.expected = max(self.expected, self.runs)
        if self._progress is not None:
            self._progress(self.runs, self.expected)

"""Which station to improve first: the throughput gain of standard improvements at every station, ranked.

Each improvement (by default 10 % faster and MTTR 20 % shorter; one more machine on request) is applied to one
station at a time and run on the baseline's random numbers, so each gain is a paired difference
with a narrow confidence interval. Improvements that do not apply to a station (a shorter repair at
a station that never fails, less scrap where there is none) are left out. One more machine moves a
line to the SimPy engine, which is slower than the fast engine (see docs/simulation.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model.schema import Station
from .errors import SimulationError
from .results import Results
from .run import LineModel
from .scenario import Change, Comparison, compare
from .trials import Progress, RunSettings, Trials

__all__ = ["DEFAULT_IMPROVEMENTS", "Gain", "Improvement", "Ranking", "rank"]

_KINDS = {
    "speed": "speed factor, e.g. speed=1.1 for 10 % faster",
    "mttr": "factor on the mean time to repair, e.g. mttr=0.8",
    "mtbf": "factor on the mean time between failures, e.g. mtbf=1.25",
    "machines": "machines added, e.g. machines=1",
    "scrap_rate": "factor on the scrap rate, e.g. scrap_rate=0.5",
}


@dataclass(frozen=True, slots=True)
class Improvement:
    """A standard improvement, applied to one station at a time: ``param=value`` (see ``parse``)."""

    param: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Improvement:
        """Parse ``speed=1.1``, ``mttr=0.8``, ``mtbf=1.25``, ``machines=1`` or ``scrap_rate=0.5``."""
        param, sep, value = text.partition("=")
        param = param.strip()
        if param not in _KINDS or not sep:
            raise SimulationError(f"'{text}': expected one of " + "; ".join(f"{k} ({v})" for k, v in _KINDS.items()))
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        whole = param != "machines" or number == int(number)
        if not number > 0 or number == float("inf") or not whole:
            raise SimulationError(
                f"'{text}': {_KINDS[param]}; the value must be a positive (whole for machines) number"
            )
        return cls(param, number)

    @property
    def label(self) -> str:
        """In words, e.g. ``10 % faster``."""
        if self.param == "machines":
            return f"+{self.value:g} machine" + ("s" if self.value != 1 else "")
        if self.param == "speed":
            return f"{100 * (self.value - 1):+.0f} % speed"
        return f"{self.param.upper() if self.param != 'scrap_rate' else 'scrap'} {100 * (self.value - 1):+.0f} %"

    def change(self, station: Station) -> Change | None:
        """The change this improvement makes at ``station``, or None when it does not apply there."""
        sim, law = station.sim, station.sim.failure_law()
        if self.param == "speed":
            return Change(station.id, "speed", self.value)
        if self.param == "machines":
            return Change(station.id, "machines", sim.machines + self.value)
        if self.param in ("mttr", "mtbf"):
            if law is None:
                return None
            return Change(station.id, self.param, (law[1] if self.param == "mttr" else law[0]).mean * self.value)
        if sim.scrap_rate == 0:
            return None
        return Change(station.id, "scrap_rate", min(sim.scrap_rate * self.value, 0.999))

    def __str__(self) -> str:
        return f"{self.param}={self.value:g}"


# One more machine is a standard improvement too (machines=1), but not a default: it needs the slower SimPy engine.
DEFAULT_IMPROVEMENTS = (Improvement("speed", 1.1), Improvement("mttr", 0.8))


@dataclass(frozen=True, slots=True)
class Gain:
    """One improvement at one station against the baseline (paired, scenario - baseline)."""

    station: str
    improvement: Improvement
    change: Change
    comparison: Comparison


@dataclass(frozen=True, slots=True)
class Ranking:
    """The baseline and every applicable improvement, best throughput gain first."""

    base: Results
    gains: tuple[Gain, ...]

    def best_per_station(self) -> list[Gain]:
        """Each station once, at its best improvement, best first: which station to improve first."""
        seen: dict[str, Gain] = {}
        for gain in self.gains:
            seen.setdefault(gain.station, gain)
        return list(seen.values())


def rank(
    model: LineModel,
    settings: RunSettings | None = None,
    improvements: tuple[Improvement, ...] = DEFAULT_IMPROVEMENTS,
    progress: Progress | None = None,
) -> Ranking:
    """Run every improvement at every station where it applies, ranked by mean throughput gain."""
    if not improvements:
        raise SimulationError("no improvement to rank")
    trials = Trials(model, settings or RunSettings(), progress)
    todo = [(s.id, imp, ch) for imp in improvements for s in model.line.stations if (ch := imp.change(s)) is not None]
    trials.expect(1 + len(todo))
    base = trials.results(model.line)
    gains = [Gain(sid, imp, ch, compare(base, trials.results(ch.apply(model.line)))) for sid, imp, ch in todo]
    gains.sort(key=lambda g: -g.comparison.throughput.mean)
    return Ranking(base, tuple(gains))

"""Scenarios: named sets of changes to a line model, and their comparison on common random numbers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..model.schema import Distribution, Line
from .errors import SimulationError
from .results import Estimate, Results
from .run import LineModel

__all__ = ["PARAMETERS", "Change", "Comparison", "Scenario", "compare"]

# What a change may set: on a station, a buffer, or the line itself (target "line").
PARAMETERS = {
    "station": ("speed", "processing_time", "mtbf", "mttr", "machines", "scrap_rate"),
    "buffer": ("capacity",),
    "line": ("pallets",),
}


@dataclass(frozen=True, slots=True)
class Change:
    """One change: ``target.param = value``; speed is a factor on the processing rate, times are means."""

    target: str
    param: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Change:
        """Parse ``station.param=value`` (e.g. ``filler.speed=1.1``, ``b2.capacity=15``, ``line.pallets=12``)."""
        key, sep, value = text.partition("=")
        target, dot, param = key.strip().partition(".")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not dot or number != number:
            raise SimulationError(f"'{text}': expected target.param=number, e.g. filler.speed=1.1")
        return cls(target, param.strip(), number)

    def apply(self, line: Line) -> Line:
        """The line with this change made (validated again)."""
        data = line.model_dump(exclude_none=True)
        for station in data["stations"]:
            if station["id"] == self.target:
                self._station(station["sim"])
                return self._validated(data)
        for buffer in data["buffers"]:
            if buffer["id"] == self.target:
                self._set(buffer, "buffer")
                return self._validated(data)
        if self.target == "line":
            self._set(data, "line")
            return self._validated(data)
        known = [s.id for s in line.stations] + [b.id for b in line.buffers]
        raise SimulationError(f"'{self.target}' is no station or buffer of line '{line.id}' ({', '.join(known)})")

    def _validated(self, data: dict[str, Any]) -> Line:
        try:
            return Line.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise SimulationError(
                f"{self.target}.{self.param}={self.value:g} makes an invalid line: {problems}"
            ) from None

    def _set(self, data: dict[str, Any], kind: str) -> None:
        if self.param not in PARAMETERS[kind]:
            raise SimulationError(f"a {kind} has no parameter '{self.param}' ({', '.join(PARAMETERS[kind])})")
        data[self.param] = int(self.value) if self.param in ("capacity", "pallets", "machines") else self.value

    def _station(self, sim: dict[str, Any]) -> None:
        if self.param == "speed":
            sim["processing_time"] = _scaled(sim["processing_time"], 1 / self.value if self.value else 0.0)
        elif self.param == "processing_time":
            sim["processing_time"] = _scaled(sim["processing_time"], self.value / sim["processing_time"]["mean"])
        elif self.param in ("mtbf", "mttr") and "time_to_failure" in sim:
            key = "time_to_failure" if self.param == "mtbf" else "time_to_repair"
            sim[key] = _scaled(sim[key], self.value / sim[key]["mean"])
        else:
            self._set(sim, "station")


def _scaled(dist: dict[str, Any], factor: float) -> dict[str, Any]:
    """A distribution (as data) with every duration multiplied by ``factor``: same shape, same cv."""
    if not factor > 0:
        raise SimulationError(f"a speed or time must be positive, got factor {factor:g}")
    if dist.get("dist") == "empirical":
        return {"dist": "empirical", "values": [v * factor for v in dist["values"]]}
    return {**dist, "mean": Distribution.model_validate(dist).mean * factor}


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of changes to a line model (the baseline has none)."""

    name: str
    changes: tuple[Change, ...] = ()

    def apply(self, model: LineModel) -> LineModel:
        """The model with every change made, in order."""
        line = model.line
        for change in self.changes:
            line = change.apply(line)
        return replace(model, line=line)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A scenario against the baseline: paired differences (scenario - baseline) with confidence intervals."""

    base: Results
    other: Results
    throughput: Estimate
    output: Estimate
    wip: Estimate
    lead_time: Estimate

    @property
    def bottleneck_moved(self) -> bool:
        """True when the scenario's bottleneck is another station than the baseline's."""
        return self.base.bottleneck != self.other.bottleneck


def compare(base: Results, other: Results, level: float = 0.95) -> Comparison:
    """Compare two runs made with the same seed, replications and windows (common random numbers)."""
    same = ("replications", "seed", "horizon", "warmup")
    differ = [k for k in same if getattr(base, k) != getattr(other, k)]
    if differ:
        raise SimulationError(f"runs differ in {', '.join(differ)}: paired comparison needs the same draws")
    a, b = base.samples, other.samples

    def paired(x: np.ndarray, y: np.ndarray) -> Estimate:
        return Estimate.of(y - x, level)

    return Comparison(
        base,
        other,
        paired(a.throughput, b.throughput),
        paired(a.output, b.output),
        paired(a.wip, b.wip),
        paired(a.lead_time, b.lead_time),
    )

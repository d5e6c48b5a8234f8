"""The virtual plant run as fast as the computer goes: long histories without servers or wall-clock pacing."""

from __future__ import annotations

from collections.abc import Iterator

from ..events import Sample
from ..model import PlantModel
from ..model.schema import Wear
from .engine import PlantEngine

__all__ = ["samples", "with_wear"]


def samples(
    engine: PlantEngine, until: float, step: float = 10.0, epoch: float = 0.0, signals: set[str] | None = None
) -> Iterator[list[Sample]]:
    """Advance the engine to ``until`` in steps; yield each step's changed values as samples.

    Source time is ``epoch`` plus simulated time; only ``signals`` (paths) are kept when given.
    """
    while engine.now < until:
        engine.advance(min(engine.now + step, until))
        t = epoch + engine.now
        batch = [Sample(p, t, t, v) for p, v in engine.changes().items() if signals is None or p in signals]
        if batch:
            yield batch


def with_wear(model: PlantModel, wear: Wear) -> PlantModel:
    """The model with ``wear`` on every station that has no wear block of its own."""
    data = model.model_dump(exclude_none=True)
    for site in data["enterprise"]["sites"]:
        for area in site["areas"]:
            for line in area["lines"]:
                for station in line["stations"]:
                    station["sim"].setdefault("wear", wear.model_dump())
    return PlantModel.model_validate(data)

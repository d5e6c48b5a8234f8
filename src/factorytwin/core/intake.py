"""The gate every sample passes: unknown signals, wrong types and NaN are counted and flagged.

Nothing here raises on bad input. A sample for a signal the model does not know goes to the
dead-letter ring (kept for inspection, not passed on); a wrong type or a non-finite number passes
on with quality BAD and no value, so the bad reading is visible in live state and history without
ever being mistaken for a real zero.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter, deque
from dataclasses import dataclass, replace

from ..columns import Batch, SampleColumns
from ..events import Quality, Sample, Value
from ..model import PlantIndex

__all__ = ["DeadLetter", "Intake"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A sample that was not accepted, and why."""

    sample: Sample
    reason: str


class Intake:
    """Checks samples against the plant model before they reach the bus."""

    def __init__(self, index: PlantIndex, dead_letters: int = 1000) -> None:
        self._integer = {path: info.integer for path, info in index.signals.items()}
        self.counts: Counter[str] = Counter()
        self.dead_letters: deque[DeadLetter] = deque(maxlen=dead_letters)

    def admit(self, batch: Batch) -> Batch:
        """Return the samples to pass on (in the form they came in); count and flag the rest."""
        if isinstance(batch, SampleColumns):
            return self._admit_columns(batch)
        integer = self._integer
        out: list[Sample] = []
        for sample in batch:
            kind = integer.get(sample.signal)
            if kind is None:
                self._dead(sample, "unknown_signal")
                continue
            value = sample.value
            if value is None and sample.quality is not Quality.GOOD:
                out.append(sample)  # a bad or stale reading without a value is already flagged
                continue
            reason, checked = _check(value, kind)
            if reason is not None:
                self._dead(sample, reason)
                out.append(replace(sample, value=None, quality=Quality.BAD))
            else:
                out.append(sample if checked is value else replace(sample, value=checked))
        self.counts["accepted"] += len(out)
        return out

    def _admit_columns(self, cols: SampleColumns) -> SampleColumns:
        """``admit`` for columns: the same checks, and the same columns back when all pass as they are."""
        integer, isfinite = self._integer, math.isfinite
        dropped: list[int] = []
        fixed: dict[int, tuple[Value, Quality]] = {}
        for i, (signal, value) in enumerate(zip(cols.signals, cols.values, strict=True)):
            kind = integer.get(signal)
            if (type(value) is int and kind is not None) or (
                isinstance(value, float) and kind is False and isfinite(value)
            ):
                continue  # the common case: nothing to check further
            if kind is None:
                self._dead(cols.sample(i), "unknown_signal")
                dropped.append(i)
                continue
            quality = cols.qualities[i]
            if value is None and quality is not Quality.GOOD:
                continue
            reason, checked = _check(value, kind)
            if reason is not None:
                self._dead(cols.sample(i), reason)
                fixed[i] = (None, Quality.BAD)
            elif checked is not value:
                fixed[i] = (checked, quality)
        out = cols if not (dropped or fixed) else _amended(cols, fixed, dropped)
        self.counts["accepted"] += len(out)
        return out

    def _dead(self, sample: Sample, reason: str) -> None:
        self.counts[reason] += 1
        self.dead_letters.append(DeadLetter(sample, reason))

    def stats(self) -> dict[str, int]:
        """Counts by outcome: accepted, unknown_signal, wrong_type, not_finite."""
        return {k: self.counts.get(k, 0) for k in ("accepted", "unknown_signal", "wrong_type", "not_finite")}


def _amended(cols: SampleColumns, fixed: dict[int, tuple[Value, Quality]], dropped: list[int]) -> SampleColumns:
    """A copy of the columns with some values and qualities replaced and some samples left out."""
    gone = set(dropped)
    out = cols.take([i for i in range(len(cols)) if i not in gone] if gone else range(len(cols)))
    for i, (value, quality) in fixed.items():
        j = i - bisect_left(dropped, i)  # its place once the dropped ones (ascending) are gone
        out.values[j], out.qualities[j] = value, quality
    return out


def _check(value: Value, integer: bool) -> tuple[str | None, Value]:
    """Return (None, the value normalized) or (what is wrong with it, None)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "wrong_type", None
    if isinstance(value, float):
        if not math.isfinite(value):
            return "not_finite", None
        if integer:
            return (None, int(value)) if value.is_integer() else ("wrong_type", None)
    return None, value

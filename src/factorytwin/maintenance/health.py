"""Health indicators of a station: its condition signals against their fresh baseline, as a 0-1 index.

Every window (e.g. 15 minutes) of a station's running time gives one mean per condition signal
(vibration, motor current, temperature, cycle time). Per signal:

* the **baseline** is the mean of the first ``fresh`` windows after each renewal (new, repaired or
  serviced unit), pooled over units, with the spread of those window means;
* the **degradation** is ``(mean - baseline) / failure_excess``: 0 when fresh, 1 at the excess the
  signal showed at past failures (learned from run-to-failure histories; before any, the distance
  from the baseline to the edge of the signal's normal range).

The station's degradation is the signal-to-noise weighted mean of the signals' degradations (the
largest one while nothing has been learned yet), and its health index is ``1 - degradation``
clipped to [0, 1]. The contributions name each signal with its share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..model import SignalInfo

__all__ = ["Contribution", "Health", "HealthModel", "SignalHealth"]


@dataclass(frozen=True, slots=True)
class Contribution:
    """One signal's part in a station's health."""

    signal: str
    role: str
    value: float
    baseline: float
    degradation: float
    weight: float


@dataclass(frozen=True, slots=True)
class Health:
    """A station's health at the end of a window: index 1 healthy, 0 at the failure level."""

    station: str
    time: float
    age: float  # running seconds since the last renewal
    index: float
    degradation: float
    contributions: tuple[Contribution, ...]


@dataclass(slots=True)
class SignalHealth:
    """Baseline, noise and failure excess of one condition signal."""

    info: SignalInfo
    fresh_n: int = 0
    fresh_sum: float = 0.0
    fresh_sq: float = 0.0
    failure_excess: list[float] = field(default_factory=list)

    @property
    def learned(self) -> bool:
        """True once the baseline has at least two fresh windows."""
        return self.fresh_n >= 2

    @property
    def baseline(self) -> float:
        """Mean of the fresh windows."""
        return self.fresh_sum / self.fresh_n if self.fresh_n else math.nan

    @property
    def spread(self) -> float:
        """Standard deviation of fresh window means (floored so a noise-free signal stays finite)."""
        if self.fresh_n < 2:
            return math.nan
        var = (self.fresh_sq - self.fresh_sum**2 / self.fresh_n) / (self.fresh_n - 1)
        return max(math.sqrt(max(var, 0.0)), 1e-6 * max(1.0, abs(self.baseline)))

    def add_fresh(self, mean: float) -> None:
        """A window mean of a fresh unit."""
        self.fresh_n += 1
        self.fresh_sum += mean
        self.fresh_sq += mean * mean

    def excess_at_failure(self) -> float:
        """The excess over baseline at failure: learned, else up to the edge of the normal range."""
        if self.failure_excess:
            return sum(self.failure_excess) / len(self.failure_excess)
        normal = self.info.signal.normal
        if normal is None:
            return math.nan
        return normal.high - self.baseline

    def weight(self) -> float:
        """Signal-to-noise ratio squared of the failure excess (0 when it does not stand out of the noise)."""
        if not self.failure_excess or not self.learned:
            return 0.0
        snr = abs(self.excess_at_failure()) / self.spread
        return snr * snr if snr >= 3.0 else 0.0

    def degradation(self, mean: float) -> float:
        """0 at the baseline, 1 at the failure excess."""
        excess = self.excess_at_failure()
        if not self.learned or not math.isfinite(excess) or abs(excess) < 1e-12:
            return math.nan
        return (mean - self.baseline) / excess


class HealthModel:
    """Turns window means of a station's condition signals into health (see the module docstring)."""

    def __init__(self, station: str, signals: list[SignalInfo], fresh: int = 4) -> None:
        self.station = station
        self.fresh = fresh
        self.signals = {s.path: SignalHealth(s) for s in signals}
        self.version = 0  # changes whenever what is learned changes (degradations must be recomputed)

    def assess(self, time: float, age: float, window: int, means: dict[str, float]) -> Health | None:
        """Health from the means of window number ``window`` since the renewal (None while learning)."""
        if window < self.fresh:
            self.version += 1
            for path, mean in means.items():
                self.signals[path].add_fresh(mean)
        parts = self._parts(means)
        if not parts:
            return None
        degradation = _combined(parts)
        index = min(1.0, max(0.0, 1.0 - degradation))
        return Health(self.station, time, age, index, degradation, tuple(parts))

    def degradation(self, means: dict[str, float]) -> float:
        """The station's degradation for one window's means with what is learned now (NaN if nothing is)."""
        parts = self._parts(means)
        return _combined(parts) if parts else math.nan

    def _parts(self, means: dict[str, float]) -> list[Contribution]:
        parts = []
        for path, mean in means.items():
            sig = self.signals[path]
            d = sig.degradation(mean)
            if math.isfinite(d):
                parts.append(Contribution(sig.info.signal.id, sig.info.role.value, mean, sig.baseline, d, sig.weight()))
        learned = any(p.weight > 0 for p in parts)
        parts.sort(key=lambda p: -(p.weight * p.degradation if learned else p.degradation))
        return parts

    def failed(self, means: dict[str, float]) -> None:
        """The unit failed: remember each signal's excess over baseline in its last window."""
        self.version += 1
        for path, mean in means.items():
            sig = self.signals[path]
            if sig.learned:
                sig.failure_excess.append(mean - sig.baseline)


def _combined(parts: list[Contribution]) -> float:
    """Weighted mean degradation; the largest while no weight is learned."""
    total = sum(p.weight for p in parts)
    if total > 0:
        return sum(p.weight * p.degradation for p in parts) / total
    return max(p.degradation for p in parts)

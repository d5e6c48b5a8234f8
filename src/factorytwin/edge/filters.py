"""Edge filters of one signal: unit conversion, deadband, swinging-door compression, publish intervals.

Each signal with an ``edge`` block gets one :class:`SignalEdge`, a pure state machine fed one
sample at a time with the current time (``now``, POSIX seconds on the edge's clock). The order is
unit conversion → deadband → swinging door → minimum/maximum publish interval. A sample that is not
GOOD, or whose value is not a finite number, always passes: it first releases what the filters hold,
then resets them, so the first sample after it passes too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ModelError, ModelIssue
from ..events import Quality, Sample
from ..model import SignalInfo
from ..model.units import converter, unit_problem

__all__ = ["EdgeConfig", "SignalEdge", "SwingingDoor"]

_GOOD = Quality.GOOD


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    """The edge processing of one signal, resolved from the model (a percent deadband made absolute)."""

    signal: str
    deadband: float | None = None
    swinging_door: float | None = None
    min_interval_s: float | None = None
    max_interval_s: float | None = None
    source_unit: str | None = None
    unit: str | None = None

    @classmethod
    def of(cls, info: SignalInfo) -> EdgeConfig | None:
        """The resolved edge block of a signal; None when it has none or the block does nothing."""
        edge = info.signal.edge
        if edge is None:
            return None
        deadband = edge.deadband
        if edge.deadband_percent is not None:
            normal = info.signal.normal
            if normal is None:
                raise _issue(info, "deadband_percent", "a percent deadband needs the signal's normal range")
            deadband = edge.deadband_percent / 100.0 * (normal.high - normal.low)
        if edge.source_unit is not None and (problem := unit_problem(edge.source_unit, info.signal.unit)):
            raise _issue(info, "source_unit", problem)
        config = cls(
            signal=info.path,
            deadband=deadband,
            swinging_door=edge.swinging_door,
            min_interval_s=edge.min_interval_s or None,  # 0 means no minimum
            max_interval_s=edge.max_interval_s,
            source_unit=edge.source_unit,
            unit=info.signal.unit if edge.source_unit is not None else None,
        )
        return config if config.active else None

    @property
    def active(self) -> bool:
        """True when the block changes anything."""
        return self.timed or self.source_unit is not None or self.deadband is not None or bool(self.swinging_door)

    @property
    def timed(self) -> bool:
        """True when the signal needs clock ticks (a minimum or maximum publish interval)."""
        return self.min_interval_s is not None or self.max_interval_s is not None


def _issue(info: SignalInfo, key: str, message: str) -> ModelError:
    return ModelError([ModelIssue("<model>", None, f"{info.path}.edge.{key}", message)])


class SwingingDoor:
    """Swinging-door compression of one signal: says which samples to archive, with their own times.

    The anchor is the last archived point. A new sample is accepted as the candidate end of the
    current segment when the line from the anchor to it passes within ``deviation`` of every sample
    received since the anchor (the "door": the intersection of their slope intervals). When it does
    not, the previous candidate is archived and becomes the anchor. So the polyline through the
    archived points is within ``deviation`` of every dropped sample.
    """

    __slots__ = ("_held", "_high", "_low", "_t", "_v", "deviation", "dropped")

    def __init__(self, deviation: float) -> None:
        self.deviation = deviation
        self.dropped = 0
        self._t: float | None = None  # the anchor (last archived point)
        self._v = 0.0
        self._held: Sample | None = None  # the candidate end of the segment, not archived yet
        self._low = -math.inf
        self._high = math.inf

    @property
    def held(self) -> Sample | None:
        """The sample received last and not archived yet, if any."""
        return self._held

    def push(self, sample: Sample) -> list[Sample]:
        """Take one sample (a finite number); return the samples to archive now, oldest first."""
        t, v = sample.source_time, float(sample.value)  # type: ignore[arg-type]
        held = self._held
        if self._t is None or t <= self._t or (held is not None and t < held.source_time):
            out = self.flush()  # first point, or time went backwards: archive and restart here
            out.append(sample)
            self.restart(t, v)
            return out
        if held is None:
            self._open(sample, t, v)
            return []
        slope = (v - self._v) / (t - self._t)
        if self._low <= slope <= self._high:
            self.dropped += 1
            self._narrow(sample, t, v)
            return []
        self.restart(held.source_time, float(held.value))  # type: ignore[arg-type]
        if t <= held.source_time:  # same time as the new anchor: archive both
            self.restart(t, v)
            return [held, sample]
        self._open(sample, t, v)
        return [held]

    def flush(self) -> list[Sample]:
        """Archive the held sample now (it becomes the anchor); return it, or nothing."""
        held = self._held
        if held is None:
            return []
        self.restart(held.source_time, float(held.value))  # type: ignore[arg-type]
        return [held]

    def restart(self, t: float, v: float) -> None:
        """Make (t, v) the anchor, as if it had just been archived, dropping the held sample."""
        self._t, self._v, self._held = t, v, None
        self._low, self._high = -math.inf, math.inf

    def reset(self) -> None:
        """Forget everything: the next sample is archived."""
        self._t, self._held = None, None
        self._low, self._high = -math.inf, math.inf

    def _open(self, sample: Sample, t: float, v: float) -> None:
        self._low, self._high = -math.inf, math.inf
        self._narrow(sample, t, v)

    def _narrow(self, sample: Sample, t: float, v: float) -> None:
        assert self._t is not None
        dt, dev = t - self._t, self.deviation
        self._low = max(self._low, (v - dev - self._v) / dt)
        self._high = min(self._high, (v + dev - self._v) / dt)
        self._held = sample


class SignalEdge:
    """The edge state machine of one signal: unit → deadband → swinging door → publish intervals."""

    __slots__ = (
        "_convert",
        "_deadband",
        "_door",
        "_last",
        "_last_at",
        "_max_s",
        "_min_ref",
        "_min_s",
        "_pending",
        "_ref",
        "config",
        "deadband",
        "emitted",
        "min_interval",
        "received",
        "repeated",
    )

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self._convert: Callable[[float], float] | None = (
            converter(config.source_unit, config.unit) if config.source_unit and config.unit else None
        )
        self._deadband = config.deadband
        self._door = SwingingDoor(config.swinging_door) if config.swinging_door else None
        self._min_s = config.min_interval_s
        self._max_s = config.max_interval_s
        self._ref: float | None = None  # deadband reference: the last value that passed it
        self._pending: Sample | None = None  # the latest value the minimum interval holds back
        self._min_ref: float | None = None  # when the minimum-interval gate last let a value through
        self._last: Sample | None = None  # the last sample emitted, and when
        self._last_at = 0.0
        self.received = self.emitted = self.deadband = self.min_interval = self.repeated = 0

    @property
    def swinging_door(self) -> int:
        """Samples the swinging door dropped."""
        return self._door.dropped if self._door is not None else 0

    @property
    def held(self) -> int:
        """Samples held back for now (by the swinging door or the minimum interval)."""
        door = self._door
        return (self._pending is not None) + (door is not None and door.held is not None)

    def push(self, sample: Sample, now: float, out: list[Sample]) -> None:
        """Process one sample at time ``now``; append what passes to ``out``."""
        self.received += 1
        value = sample.value
        kind = type(value)
        numeric = (kind is float or kind is int) and math.isfinite(value)  # type: ignore[arg-type]
        if numeric and self._convert is not None:
            value = self._convert(value)  # type: ignore[arg-type]
            sample = Sample(sample.signal, sample.source_time, sample.receive_time, value, sample.quality)
        if sample.quality is not _GOOD or not numeric:
            self._reset(now, out)
            self._emit(sample, now, out)
            return
        if self._deadband is not None:
            ref = self._ref
            if ref is not None and abs(value - ref) <= self._deadband:  # type: ignore[operator]
                self.deadband += 1
                return
            self._ref = value  # type: ignore[assignment]
        if self._door is None:
            self._gate(sample, now, out)
            return
        for point in self._door.push(sample):
            self._gate(point, now, out)

    def tick(self, now: float, out: list[Sample]) -> None:
        """Release what the intervals owe at ``now``: a held-back latest value, or a repeat of the last one."""
        pending = self._pending
        if pending is not None and self._min_ref is not None and now - self._min_ref >= (self._min_s or 0.0):
            self._pending = None
            self._min_ref = now
            self._emit(pending, now, out)
        last = self._last
        if self._max_s is None or last is None or now - self._last_at < self._max_s:
            return
        door = self._door
        held = door.flush() if door is not None else []
        if held:  # data came but the door held it: archive it rather than repeat an older value
            self._min_ref = now
            for point in held:
                self._emit(point, now, out)
            return
        source_time = max(last.source_time, last.source_time + (now - last.receive_time))
        repeat = Sample(last.signal, source_time, now, last.value, last.quality)
        self.repeated += 1
        self._emit(repeat, now, out)
        if repeat.quality is _GOOD:  # keep the compressed polyline through the repeat
            self._min_ref = now
            if door is not None:
                door.restart(source_time, float(repeat.value))  # type: ignore[arg-type]

    def flush(self, now: float, out: list[Sample]) -> None:
        """Emit everything held back (at shutdown), oldest first."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._emit(pending, now, out)
        if self._door is not None:
            for point in self._door.flush():
                self._emit(point, now, out)

    def _reset(self, now: float, out: list[Sample]) -> None:
        self.flush(now, out)
        if self._door is not None:
            self._door.reset()
        self._ref = None
        self._min_ref = None

    def _gate(self, sample: Sample, now: float, out: list[Sample]) -> None:
        if self._min_s is not None:
            ref = self._min_ref
            if ref is not None and now - ref < self._min_s:
                if self._pending is not None:
                    self.min_interval += 1  # superseded before it was sent
                self._pending = sample
                return
            if self._pending is not None:
                self._pending = None
                self.min_interval += 1
            self._min_ref = now
        self._emit(sample, now, out)

    def _emit(self, sample: Sample, now: float, out: list[Sample]) -> None:
        out.append(sample)
        self._last = sample
        self._last_at = now
        self.emitted += 1

"""Edge processing for the signals of one source: batches in, filtered batches out, ticked by a clock.

Signals without an ``edge`` block cost one dict lookup and pass through unchanged; a batch in which
no signal has one is returned as it came (the same list). The minimum and maximum publish intervals
need time to pass without data, so the pipeline is also ticked: :meth:`EdgeFilter.tick` returns what
is due now, and :meth:`EdgeFilter.run` calls it periodically and sends the result downstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from ..clock import Clock
from ..events import Sample
from ..model import SignalInfo
from .filters import EdgeConfig, SignalEdge

__all__ = ["EdgeFilter", "EdgeStats", "Sink"]

Sink = Callable[[list[Sample]], Awaitable[None]]
"""An async callable taking a batch of samples (the shape of a connector's SampleSink)."""


@dataclass(frozen=True, slots=True)
class EdgeStats:
    """What edge processing did, in samples: in and out, and what each filter suppressed."""

    received: int
    emitted: int
    deadband: int
    swinging_door: int
    min_interval: int
    repeated: int
    held: int

    def as_dict(self) -> dict[str, int]:
        """A JSON-ready copy."""
        return {f: getattr(self, f) for f in self.__slots__}


class EdgeFilter:
    """Edge processing for the signals of one source, one pure state machine per configured signal."""

    def __init__(self, configs: Iterable[EdgeConfig], clock: Clock) -> None:
        self._clock = clock
        self._chains: dict[str, SignalEdge] = {c.signal: SignalEdge(c) for c in configs if c.active}
        self._timed = [chain for chain in self._chains.values() if chain.config.timed]
        self._received = 0

    @classmethod
    def for_signals(cls, signals: Iterable[SignalInfo], clock: Clock) -> EdgeFilter:
        """The edge processing of the given signals, from their ``edge`` blocks (ModelError when one is wrong)."""
        return cls((c for s in signals if (c := EdgeConfig.of(s)) is not None), clock)

    @property
    def active(self) -> bool:
        """True when at least one signal has edge processing."""
        return bool(self._chains)

    @property
    def signals(self) -> list[str]:
        """The signals with edge processing."""
        return list(self._chains)

    @property
    def tick_interval(self) -> float | None:
        """How often :meth:`run` ticks: a quarter of the smallest interval, at most 1 s; None when untimed."""
        intervals = [
            s
            for chain in self._timed
            for s in (chain.config.min_interval_s, chain.config.max_interval_s)
            if s is not None and s > 0
        ]
        return max(0.001, min(1.0, min(intervals) / 4)) if intervals else None

    def process(self, batch: list[Sample]) -> list[Sample]:
        """Filter a batch; signals without edge processing pass through in place."""
        self._received += len(batch)
        chains = self._chains
        if not chains:
            return batch
        out: list[Sample] | None = None
        now = 0.0
        for i, sample in enumerate(batch):
            chain = chains.get(sample.signal)
            if chain is None:
                if out is not None:
                    out.append(sample)
                continue
            if out is None:
                out = batch[:i]
                now = self._now()
            chain.push(sample, now, out)
        return batch if out is None else out

    def tick(self) -> list[Sample]:
        """What the publish intervals release now: held-back latest values and repeats."""
        if not self._timed:
            return []
        now = self._now()
        out: list[Sample] = []
        for chain in self._timed:
            chain.tick(now, out)
        return out

    def flush(self) -> list[Sample]:
        """Everything the filters hold back (call at shutdown so the last values are not lost)."""
        now = self._now()
        out: list[Sample] = []
        for chain in self._chains.values():
            chain.flush(now, out)
        return out

    def wrap(self, downstream: Sink) -> Sink:
        """A sink that filters each batch before handing it to ``downstream`` (itself when nothing is configured)."""
        if not self._chains:
            return downstream

        async def sink(batch: list[Sample]) -> None:
            out = self.process(batch)
            if out:
                await downstream(out)

        return sink

    async def run(self, downstream: Sink) -> None:
        """Tick every :attr:`tick_interval` until cancelled, sending what is due downstream."""
        period = self.tick_interval
        if period is None:
            return
        while True:
            await asyncio.sleep(period)
            out = self.tick()
            if out:
                await downstream(out)

    def stats(self, signal: str | None = None) -> EdgeStats:
        """Counts of all signals of the source, or of one signal with edge processing."""
        chains = list(self._chains.values()) if signal is None else [self._chains[signal]]
        received = sum(c.received for c in chains)
        emitted = sum(c.emitted for c in chains)
        if signal is None:  # signals without edge processing pass through
            emitted += self._received - received
            received = self._received
        return EdgeStats(
            received=received,
            emitted=emitted,
            deadband=sum(c.deadband for c in chains),
            swinging_door=sum(c.swinging_door for c in chains),
            min_interval=sum(c.min_interval for c in chains),
            repeated=sum(c.repeated for c in chains),
            held=sum(c.held for c in chains),
        )

    def _now(self) -> float:
        return self._clock.now().timestamp()

"""Live changes for many readers without letting any of them slow the stream.

`ChangeFeed.publish` hands each batch to every open `LatestValues` buffer and never waits (the twin
calls it from its live-state consumer, right after the batch is applied, so a new reader's first
values, taken from the live state, and the changes it gets after them line up): a buffer
keeps only the latest sample per signal (under its path prefix) until its reader takes them. A
reader that falls behind therefore gets the latest values, never a backlog, and memory stays
bounded by the number of signals it watches.
"""

from __future__ import annotations

import asyncio

from ..columns import Batch, SampleColumns
from ..events import Quality, Sample

__all__ = ["ChangeFeed", "LatestValues", "under"]


def under(path: str, prefix: str) -> bool:
    """True when ``path`` is ``prefix`` or lies below it in the ISA-95 tree ('' is the whole plant)."""
    return not prefix or path == prefix or path.startswith(prefix + "/")


class LatestValues:
    """One reader's coalescing buffer: the latest sample of each signal under ``prefix`` not yet taken."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix.strip("/")
        self.offered = 0
        self.coalesced = 0
        self.taken = 0
        self._pending: dict[str, Sample] = {}
        self._ready = asyncio.Event()

    def offer(self, batch: Batch) -> None:
        """Keep the samples under the prefix, each replacing an older pending one of its signal."""
        if isinstance(batch, SampleColumns):  # only the last value of each signal becomes a Sample
            signals, prefix = batch.signals, self.prefix
            matching = [i for i, path in enumerate(signals) if not prefix or under(path, prefix)]
            last = {signals[i]: i for i in matching}
            self._keep([batch.sample(i) for i in last.values()], len(matching))
        else:
            self._keep([s for s in batch if not self.prefix or under(s.signal, self.prefix)])

    def _keep(self, samples: list[Sample], offered: int | None = None) -> None:
        pending = self._pending
        before = len(pending)
        for s in samples:
            old = pending.get(s.signal)
            if old is None or s.source_time >= old.source_time or s.quality is Quality.STALE:
                pending[s.signal] = s
        offered = len(samples) if offered is None else offered
        if offered:
            self.offered += offered
            self.coalesced += offered - (len(pending) - before)
            self._ready.set()

    def pending(self) -> int:
        """Signals waiting to be taken."""
        return len(self._pending)

    async def take(self) -> list[Sample]:
        """Wait for at least one pending sample; return them all (one per signal) and empty the buffer."""
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
        out = list(self._pending.values())
        self._pending = {}
        self._ready.clear()
        self.taken += len(out)
        return out


class ChangeFeed:
    """Fans sample batches out to the open `LatestValues` buffers; publishing never blocks."""

    def __init__(self) -> None:
        self.published = 0
        self._readers: set[LatestValues] = set()
        self._retired = {"offered": 0, "coalesced": 0, "taken": 0}

    def open(self, prefix: str = "", initial: list[Sample] | None = None) -> LatestValues:
        """A new reader of the changes under ``prefix``, starting with ``initial`` (e.g. the live state)."""
        reader = LatestValues(prefix)
        if initial:
            reader.offer(initial)
        self._readers.add(reader)
        return reader

    def close(self, reader: LatestValues) -> None:
        """Stop feeding a reader; its counts stay in the totals."""
        if reader in self._readers:
            self._readers.discard(reader)
            for key in self._retired:
                self._retired[key] += getattr(reader, key)

    def publish(self, batch: Batch) -> None:
        """Offer a batch to every reader (never waits on any of them)."""
        self.published += len(batch)
        for reader in self._readers:
            reader.offer(batch)

    def stats(self) -> dict[str, int]:
        """Readers open, and samples offered, coalesced (replaced before being taken) and taken, in total."""
        totals = dict(self._retired)
        for reader in self._readers:
            for key in totals:
                totals[key] += getattr(reader, key)
        return {"readers": len(self._readers), "published": self.published, **totals}

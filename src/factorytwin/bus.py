"""The in-process event bus: fan-out of sample batches to subscribers with bounded queues.

A batch is a list of samples or ``SampleColumns``; subscribers get it as it was published (one object,
shared: they read it and never change it).

Each subscriber has its own bounded queue and a policy for when it is full:

* ``block`` (default): ``publish`` waits until there is room — backpressure reaches the
  connector, which stops reading (an OPC UA session stops publishing; the server queues);
* ``drop_oldest``: the oldest queued batch is dropped and counted (for viewers that only need
  the latest values, never for the historian).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from .columns import Batch

__all__ = ["Bus", "Policy", "Subscription"]

Policy = Literal["block", "drop_oldest"]


@dataclass(eq=False)
class Subscription:
    """One subscriber's bounded queue of batches; iterate it to consume, close it to unsubscribe."""

    name: str
    policy: Policy
    queue: asyncio.Queue[Batch]
    bus: Bus
    delivered: int = 0
    dropped: int = 0
    _closed: bool = field(default=False, repr=False)

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Batch]:
        while not self._closed:
            batch = await self.queue.get()
            self.delivered += len(batch)
            yield batch
            self.queue.task_done()

    def close(self) -> None:
        """Unsubscribe: the bus stops delivering to this queue."""
        self._closed = True
        self.bus.unsubscribe(self)

    def stats(self) -> dict[str, int | str]:
        """Queue depth and counts."""
        return {
            "name": self.name,
            "policy": self.policy,
            "queued_batches": self.queue.qsize(),
            "delivered": self.delivered,
            "dropped": self.dropped,
        }


class Bus:
    """Publishes each batch to every subscriber."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self.published = 0
        self._subs: list[Subscription] = []

    def subscribe(self, name: str, maxsize: int | None = None, policy: Policy = "block") -> Subscription:
        """Add a subscriber with a queue of at most ``maxsize`` batches."""
        sub = Subscription(name, policy, asyncio.Queue(maxsize or self.maxsize), self)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscriber (no error if it is already gone)."""
        if sub in self._subs:
            self._subs.remove(sub)

    async def publish(self, batch: Batch) -> None:
        """Deliver a batch to every subscriber, waiting for room where the policy is ``block``."""
        if not batch:
            return
        self.published += len(batch)
        for sub in self._subs:
            if sub.policy == "block":
                await sub.queue.put(batch)
                continue
            if sub.queue.full():
                dropped = sub.queue.get_nowait()
                sub.queue.task_done()
                sub.dropped += len(dropped)
            sub.queue.put_nowait(batch)

    async def drain(self) -> None:
        """Wait until every subscriber has processed what was published so far."""
        for sub in list(self._subs):
            await sub.queue.join()

    def stats(self) -> list[dict[str, int | str]]:
        """Per-subscriber queue depths and counts."""
        return [s.stats() for s in self._subs]

"""The places in front of a station and on its machines, with blocking after service."""

from __future__ import annotations

from collections import deque

import simpy

__all__ = ["Area"]


class Area:
    """Parts queued FIFO for a station's machines; at most ``capacity`` parts in the queue and on the machines.

    A machine upstream that finished a part ``put``s it here and waits while the area is full
    (blocking after service); a machine of the station ``get``s the next part and, when the part
    leaves the machine, calls ``leave`` to free its place. An area may start over-full (the pallets
    of a closed loop all start in front of the first station); it then takes nothing until it drains.
    """

    def __init__(self, env: simpy.Environment, capacity: float, parts: list[int] | None = None) -> None:
        self.env = env
        self.capacity = capacity
        self.queue: deque[int] = deque(parts or [])
        self.count = len(self.queue)
        self._putters: deque[tuple[simpy.Event, int]] = deque()
        self._getters: deque[simpy.Event] = deque()

    @property
    def full(self) -> bool:
        """True while a part put now would have to wait."""
        return self.count >= self.capacity or bool(self._putters)

    def put(self, part: int) -> simpy.Event:
        """An event that succeeds once the part is in (right away if there is room)."""
        event = self.env.event()
        if self.full:
            self._putters.append((event, part))
        else:
            self._enter(part)
            event.succeed()
        return event

    def get(self) -> simpy.Event:
        """An event whose value is the next part (right away if one is queued)."""
        event = self.env.event()
        if self.queue:
            event.succeed(self.queue.popleft())
        else:
            self._getters.append(event)
        return event

    def leave(self) -> None:
        """A part left a machine of this station: its place is free for the next blocked part."""
        self.count -= 1
        while self._putters and self.count < self.capacity:
            event, part = self._putters.popleft()
            self._enter(part)
            event.succeed()

    def _enter(self, part: int) -> None:
        self.count += 1
        if self._getters:
            self._getters.popleft().succeed(part)
        else:
            self.queue.append(part)

"""What every connector shares: the sample sink it feeds, its health record, reconnect backoff."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..clock import Clock
from ..events import Quality, Sample
from ..model import SignalInfo

__all__ = ["Backoff", "Connector", "SampleSink", "SourceHealth", "StaleMarker"]

SampleSink = Callable[[list[Sample]], Awaitable[None]]


@dataclass(slots=True)
class SourceHealth:
    """A source's health as data: shown in the API and logs."""

    source: str
    endpoint: str
    connected: bool = False
    last_seen: float | None = None
    messages: int = 0
    samples: int = 0
    errors: int = 0
    reconnects: int = 0
    dropped: int = 0
    queued: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return {f: getattr(self, f) for f in self.__slots__}


class Connector(Protocol):
    """The lifecycle every protocol connector follows."""

    health: SourceHealth

    async def run(self) -> None:
        """Connect, subscribe and deliver samples until cancelled, reconnecting with backoff."""
        ...

    async def write(self, signal: SignalInfo, value: float) -> None:
        """Write a setpoint to the source; raise WriteRejected when it refuses, ConnectorError when unreachable."""
        ...


class Backoff:
    """Exponential reconnect delay that logs the first failure and the recovery, not every retry."""

    def __init__(self, health: SourceHealth, minimum: float, maximum: float, log: logging.Logger) -> None:
        self.health = health
        self.minimum = minimum
        self.maximum = maximum
        self.delay = minimum
        self.failing = False
        self._log = log

    def failed(self, exc: BaseException) -> float:
        """Record a failure; return how long to wait before the next attempt."""
        self.health.connected = False
        self.health.errors += 1
        self.health.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not self.failing:
            self._log.warning(
                "source %s (%s) unavailable: %s; retrying with backoff",
                self.health.source,
                self.health.endpoint,
                self.health.last_error,
            )
        self.failing = True
        delay, self.delay = self.delay, min(self.delay * 2, self.maximum)
        return delay

    def connected(self) -> None:
        """Record a successful connection."""
        if self.failing:
            self.health.reconnects += 1
            self._log.warning("source %s (%s) recovered", self.health.source, self.health.endpoint)
        self.failing = False
        self.delay = self.minimum
        self.health.connected = True


class StaleMarker:
    """Turns every signal of a source stale once per outage: the last value is kept, never zeroed."""

    def __init__(self, paths: Sequence[str], sink: SampleSink, clock: Clock) -> None:
        self.paths = list(paths)
        self.stale = False
        self._sink = sink
        self._clock = clock

    async def mark(self) -> None:
        """Send one STALE sample per signal, unless this outage was already marked."""
        if self.stale:
            return
        self.stale = True
        now = self._clock.now().timestamp()
        await self._sink([Sample(path, now, now, None, Quality.STALE) for path in self.paths])

    def reset(self) -> None:
        """The source is back: the next outage is marked again."""
        self.stale = False

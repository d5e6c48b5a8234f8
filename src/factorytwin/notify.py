"""Pushing alert changes to a webhook (HTTP POST of JSON), without ever slowing the stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict

import httpx

from .core.alerts import Alert
from .events import Severity

__all__ = ["WebhookNotifier"]

_log = logging.getLogger(__name__)


class WebhookNotifier:
    """Posts alert changes to a URL from a bounded queue; failures are counted and logged once per outage."""

    def __init__(self, url: str, min_severity: Severity = Severity.WARNING, queue: int = 1000) -> None:
        self.url = url
        self.min_severity = min_severity
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(queue)
        self._failing = False

    def offer(self, alerts: list[Alert]) -> None:
        """Queue alert changes at or above the minimum severity (the oldest is dropped when full)."""
        for alert in alerts:
            if alert.severity < self.min_severity:
                continue
            if self._queue.full():
                self._queue.get_nowait()
                self.dropped += 1
            self._queue.put_nowait(alert)

    async def run(self) -> None:
        """Deliver queued changes until cancelled."""
        async with httpx.AsyncClient(timeout=5.0) as client:
            while True:
                alert = await self._queue.get()
                await self._post(client, alert)

    async def _post(self, client: httpx.AsyncClient, alert: Alert) -> None:
        body = {**asdict(alert), "severity": alert.severity.name.lower(), "state": alert.state.value}
        try:
            response = await client.post(self.url, json=body)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.failed += 1
            if not self._failing:
                _log.warning("alert webhook %s failing: %s", self.url, exc)
            self._failing = True
            return
        if self._failing:
            _log.warning("alert webhook %s recovered", self.url)
        self._failing = False
        self.sent += 1

    async def drain(self, timeout: float = 5.0) -> None:
        """Give queued changes a last chance to go out (at shutdown)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=2.0) as client:
                while not self._queue.empty():
                    await self._post(client, self._queue.get_nowait())

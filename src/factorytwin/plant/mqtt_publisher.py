"""The virtual plant's MQTT publisher: each bound signal as JSON on its topic, setpoints taken on ``<topic>/set``.

Every change is published, retained, with the QoS of the source, as the binding reads it back; with
the default binding that is ``{"value": v, "timestamp": "<ISO 8601>", "quality": "good"}`` on the
signal's topic (the example plant uses the unified namespace ``enterprise/site/area/line/station/signal``).
Signals sharing a topic are published together (one object, or one array element per ``match``).

Writable signals (with ``write`` limits) take ``{"value": v}`` (or a bare number) on ``<topic>/set``.
The outcome is published (QoS 1, not retained) on ``<topic>/set/reply``: ``{"ok": true, "value": v}``,
or ``{"ok": false, "reason": "limits", "error": "..."}`` when the plant refuses it, as a PLC would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from ..clock import Clock, SystemClock
from ..connect.mqtt_link import DEFAULT_BROKER, MqttLink
from ..connect.payload import compose_payload
from ..errors import ConnectorError, WriteRejected
from ..events import Value
from ..model import PlantIndex, SignalInfo
from ..model.sources import MqttBinding, MqttSource, SparkplugSource

__all__ = ["KeptLink", "PlantMqttPublisher", "iso_time"]

_log = logging.getLogger(__name__)


def iso_time(when: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, e.g. ``2024-05-01T12:00:00.250000Z``."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


class KeptLink:
    """An MqttLink kept connected: reconnects with backoff, running ``on_connect`` after every connection."""

    def __init__(
        self,
        link: MqttLink,
        config: MqttSource | SparkplugSource,
        on_connect: Callable[[], Awaitable[None]],
        before_connect: Callable[[], None] | None = None,
    ) -> None:
        self.link = link
        self.minimum = config.reconnect_min_s
        self.maximum = config.reconnect_max_s
        self.reconnects = 0
        self._on_connect = on_connect
        self._before_connect = before_connect
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect now (raising ConnectorError when the broker cannot be reached), then keep connected."""
        await self._connect()
        self._task = asyncio.create_task(self._keep(), name=f"plant-mqtt-{self.link.url}")

    async def stop(self) -> None:
        """Stop reconnecting and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.link.disconnect()

    async def _connect(self) -> None:
        if self._before_connect is not None:
            self._before_connect()
        await self.link.connect()
        await self._on_connect()

    async def _keep(self) -> None:
        while True:
            reason = await self.link.wait_closed()
            self.link.close()
            _log.warning("virtual plant lost the broker at %s (%s); reconnecting", self.link.url, reason)
            delay = self.minimum
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._connect()
                except ConnectorError:
                    self.link.close()
                    delay = min(delay * 2, self.maximum)
                    continue
                self.reconnects += 1
                _log.warning("virtual plant reconnected to the broker at %s", self.link.url)
                break


class PlantMqttPublisher:
    """Serves the signals of one MQTT source of the plant model by publishing them to its broker."""

    def __init__(
        self,
        index: PlantIndex,
        source: str,
        config: MqttSource,
        on_write: Callable[[str, float], float],
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.source = source
        self.config = config
        self.signals = [s for s in index.bound_to(source) if s.binding is not None and s.binding.mqtt is not None]
        self._topics: dict[str, list[SignalInfo]] = {}
        for sig in self.signals:
            self._topics.setdefault(_binding(sig).topic, []).append(sig)
        self._setters = {f"{_binding(s).topic}/set": s for s in self.signals if s.signal.write is not None}
        self._current: dict[str, tuple[Value, str]] = {}
        self._on_write = on_write
        self.published = 0
        self.link = MqttLink(config, f"factorytwin-plant-{source}", self._on_message)
        self._kept = KeptLink(self.link, config, self._subscribe)

    @property
    def address(self) -> str:
        """The broker it publishes to."""
        return self.config.broker or DEFAULT_BROKER

    async def start(self, initial: Mapping[str, Value]) -> None:
        """Connect, take setpoint commands, and publish every signal's initial value (retained)."""
        await self._kept.start()
        await self.publish(initial, self.clock.now())
        _log.info("virtual plant publishes %d signals to %s", len(self.signals), self.address)

    async def stop(self) -> None:
        """Disconnect from the broker."""
        await self._kept.stop()

    async def publish(self, values: Mapping[str, Value], when: datetime) -> None:
        """Publish every topic that carries a changed value (QoS 1 messages queue while the broker is away)."""
        stamp = iso_time(when)
        dirty: set[str] = set()
        for sig in self.signals:
            if sig.path in values:
                self._current[sig.path] = (values[sig.path], stamp)
                dirty.add(_binding(sig).topic)
        for topic in sorted(dirty):
            entries = [(_binding(s), *self._current[s.path]) for s in self._topics[topic] if s.path in self._current]
            self.link.publish(topic, compose_payload(entries), self.config.qos, True)
            self.published += 1

    async def _subscribe(self) -> None:
        if self._setters:
            await self.link.subscribe(sorted(self._setters), 1)

    def _on_message(self, topic: str, payload: bytes) -> None:
        sig = self._setters.get(topic)
        if sig is None:
            return
        reply: dict[str, object]
        try:
            doc = json.loads(payload)
            value = doc.get("value") if isinstance(doc, dict) else doc
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise WriteRejected(f"{sig.path}: expected a number, got {payload[:100]!r}", "type")
            reply = {"ok": True, "value": self._on_write(sig.path, float(value))}
        except WriteRejected as exc:
            _log.info("refused MQTT write to %s: %s", sig.path, exc)
            reply = {"ok": False, "reason": exc.reason, "error": str(exc)}
        except ValueError:
            reply = {"ok": False, "reason": "type", "error": f"not JSON: {payload[:100]!r}"}
        self.link.publish(f"{topic}/reply", json.dumps(reply).encode(), 1, False)


def _binding(sig: SignalInfo) -> MqttBinding:
    binding = sig.binding.mqtt if sig.binding is not None else None
    assert binding is not None
    return binding

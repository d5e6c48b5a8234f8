"""MQTT connector: JSON or number topics into samples over a persistent QoS 1 session.

The connection is an ``MqttLink`` (paho-mqtt run by the event loop): every payload of a read burst is
decoded straight into the connector's pending batch, and the batch goes to the sink in one call. When
the sink falls behind by ``high_water`` samples, the link stops reading the socket (TCP backpressure;
the broker queues for the persistent session) instead of growing a queue.

Commands: ``write`` publishes ``{"value": v}`` to ``<topic>/set`` (QoS of the source, never
retained) and returns once the broker has acknowledged it; it never queues a command for later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from ..clock import Clock, SystemClock
from ..columns import BatchSink, SampleColumns
from ..errors import ConnectorError, WriteRejected
from ..model import SignalInfo
from ..model.sources import MqttBinding, MqttSource, SparkplugSource
from .base import Backoff, SampleSink, SourceHealth, StaleMarker
from .mqtt_link import DEFAULT_BROKER, MqttLink, Will
from .payload import TopicDecoder

__all__ = ["BURST_SAMPLES", "LINGER_S", "MqttConnector", "MqttStream", "RejectedMessage"]

_log = logging.getLogger(__name__)
BURST_SAMPLES = 20_000  # decoded samples after which a read burst yields to the rest of the event loop
LINGER_S = 0.005  # at most this much added latency; batches of one sample cost the stream more than this


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    """A payload (or part of one) that could not be decoded: kept aside, never fatal."""

    topic: str
    excerpt: str
    reason: str
    time: float


class MqttStream:
    """The lifecycle MQTT-based connectors share: session, backoff, batched delivery, stale marking, dead letters."""

    def __init__(
        self,
        source_id: str,
        config: MqttSource | SparkplugSource,
        signals: Sequence[SignalInfo],
        sink: SampleSink,
        clock: Clock | None = None,
        will: Will | None = None,
        dead_letters: int = 1000,
        high_water: int = 200_000,
    ) -> None:
        self.qos = config.qos
        self.signals = list(signals)
        self.filters: list[str] = []
        self.health = SourceHealth(source_id, config.broker or DEFAULT_BROKER)
        self.dead_letters: deque[RejectedMessage] = deque(maxlen=dead_letters)
        self.high_water = high_water
        client_id = config.client_id or f"factorytwin-{source_id}"
        self.link = MqttLink(config, client_id, self._on_message, will=will, on_burst=self._on_burst)
        self._sink = sink
        self._clock = clock or SystemClock()
        self._pending = SampleColumns()
        # set by whoever consumes columns as they are (the twin, when nothing between needs Sample objects)
        self.column_sink: BatchSink | None = None
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._stale = StaleMarker([s.path for s in self.signals], sink, self._clock)
        self._backoff = Backoff(self.health, config.reconnect_min_s, config.reconnect_max_s, _log)

    async def run(self) -> None:
        """Connect, subscribe and deliver samples until cancelled; on loss mark signals stale and reconnect."""
        self._wake, self._lock = asyncio.Event(), asyncio.Lock()
        deliver = asyncio.create_task(self._deliver_forever(), name=f"mqtt-deliver-{self.health.source}")
        try:
            while True:
                try:
                    reason = await self._session()
                except ConnectorError as exc:
                    delay = self._backoff.failed(exc)
                else:
                    delay = self._backoff.failed(ConnectionError(f"connection lost: {reason}"))
                self.link.close()
                async with self._lock:
                    await self._flush()
                    await self._stale.mark()
                await asyncio.sleep(delay)
        finally:
            deliver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deliver
            with contextlib.suppress(ConnectorError):
                if self.link.connected:
                    await self._goodbye()
                await self.link.disconnect()

    async def _session(self) -> str:
        await self.link.connect()
        await self.link.subscribe(self.filters, self.qos)
        await self._connected()
        self._backoff.connected()
        self._stale.reset()
        return await self.link.wait_closed()

    async def _connected(self) -> None:
        """Hook: runs once subscribed on every (re)connection."""

    async def _goodbye(self) -> None:
        """Hook: runs before a deliberate disconnect."""

    def _on_message(self, topic: str, payload: bytes) -> None:
        """Hook: decode one message into ``self._pending`` (runs inside the read burst; never raises)."""

    def now(self) -> float:
        """The clock's time as POSIX seconds."""
        return self._clock.now().timestamp()

    def reject(self, topic: str, payload: bytes, errors: list[str], now: float) -> None:
        """Count bad readings and keep them aside with the topic and a payload excerpt."""
        self.health.errors += len(errors)
        excerpt = payload[:200].decode("utf-8", "replace")
        for reason in errors[:10]:
            self.dead_letters.append(RejectedMessage(topic, excerpt, reason, now))
        self.health.last_error = f"{topic}: {errors[0]}"

    def _on_burst(self) -> None:
        pending = len(self._pending)
        if pending and self._wake is not None:
            self.health.queued = pending
            self._wake.set()
            if pending >= self.high_water:
                self.link.pause_reading()

    async def _deliver_forever(self) -> None:
        assert self._wake is not None
        assert self._lock is not None
        while True:
            await self._wake.wait()
            if len(self._pending) < self.high_water // 100:
                await asyncio.sleep(LINGER_S)  # let a trickle of small messages gather into one batch
            self._wake.clear()
            async with self._lock:
                await self._flush()

    async def _flush(self) -> None:
        while len(self._pending):
            batch, self._pending = self._pending, SampleColumns()
            self.health.samples += len(batch)
            self.health.queued = 0
            if self.column_sink is not None:
                await self.column_sink(batch)
            else:
                await self._sink(batch.samples())
        if self.link.connected:
            self.link.resume_reading()


class MqttConnector(MqttStream):
    """Subscribes to the topics of one MQTT source and turns their payloads into samples."""

    def __init__(
        self,
        source_id: str,
        config: MqttSource,
        signals: Sequence[SignalInfo],
        sink: SampleSink,
        clock: Clock | None = None,
        dead_letters: int = 1000,
        high_water: int = 200_000,
    ) -> None:
        bound = [s for s in signals if s.binding is not None and s.binding.mqtt is not None]
        super().__init__(source_id, config, bound, sink, clock, None, dead_letters, high_water)
        by_topic: dict[str, list[tuple[str, MqttBinding]]] = {}
        for sig in bound:
            binding = sig.binding.mqtt if sig.binding is not None else None
            if binding is not None:
                by_topic.setdefault(binding.topic, []).append((sig.path, binding))
        try:
            self.decoders = {topic: TopicDecoder(topic, pairs) for topic, pairs in by_topic.items()}
        except ValueError as exc:
            raise ConnectorError(f"source '{source_id}': {exc}") from exc
        self.filters = list(config.subscribe) or sorted(by_topic)

    async def write(self, signal: SignalInfo, value: float) -> None:
        """Publish ``{"value": v}`` to ``<topic>/set`` and wait for the broker's acknowledgement."""
        binding = signal.binding.mqtt if signal.binding is not None else None
        if binding is None:
            raise WriteRejected(f"{signal.path} is not bound over MQTT", "unknown")
        payload = json.dumps({"value": int(value) if signal.integer else float(value)}).encode()
        info = None
        if self.link.connected:  # a command is never queued for later
            info = self.link.publish(f"{binding.topic}/set", payload, max(self.qos, 1), False)
        await self.link.published(info, f"source {self.health.source}: write to {signal.path}")

    def _on_message(self, topic: str, payload: bytes) -> None:
        now = self.now()
        health = self.health
        health.messages += 1
        health.last_seen = now
        decoder = self.decoders.get(topic)
        if decoder is None:
            return  # a topic of a wildcard filter that no signal is bound to
        try:
            errors = decoder.decode(payload, now, self._pending)
        except Exception as exc:  # a decoder bug must not stop the connection
            errors = [f"decoder failed: {type(exc).__name__}: {exc}"]
        if errors:
            self.reject(topic, payload, errors, now)
        if len(self._pending) >= BURST_SAMPLES:
            self.link.end_burst()  # keep the event loop responsive with large batched payloads

"""OPC UA connector (asyncua): one subscription over every bound node, reconnect with backoff.

It uses asyncua's service-level API (CreateSubscription with our own publish callback, then
CreateMonitoredItems) so that each PublishResponse becomes one batch of samples, and the session
awaits our callback: a slow downstream slows the publish loop instead of growing a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from asyncua import Client, ua

from ..clock import Clock, SystemClock, utc
from ..errors import ConnectorError, WriteRejected
from ..events import Quality, Sample
from ..model import SignalInfo
from ..model.sources import OpcUaSource
from .base import Backoff, SampleSink, SourceHealth, StaleMarker
from .opcua_security import secure_client

__all__ = ["OpcUaConnector", "quality_of"]

_log = logging.getLogger(__name__)
_NETWORK_ERRORS = (OSError, ConnectionError, asyncio.TimeoutError, ua.UaError)
_SESSION_ERRORS = (*_NETWORK_ERRORS, ConnectorError)  # ConnectorError: e.g. a trust list without certificates
_REASONS = {
    ua.StatusCodes.BadNotWritable: "read_only",
    ua.StatusCodes.BadUserAccessDenied: "read_only",
    ua.StatusCodes.BadTypeMismatch: "type",
    ua.StatusCodes.BadNodeIdUnknown: "unknown",
}


def quality_of(status: ua.StatusCode | None) -> Quality:
    """Map an OPC UA status code to sample quality."""
    if status is None or status.is_good():
        return Quality.GOOD
    if status.is_uncertain():
        return Quality.UNCERTAIN
    return Quality.BAD


class OpcUaConnector:
    """Subscribes to the nodes of one OPC UA source and feeds samples to a sink."""

    def __init__(
        self,
        source_id: str,
        config: OpcUaSource,
        signals: Sequence[SignalInfo],
        sink: SampleSink,
        clock: Clock | None = None,
        queue_size: int = 1000,
    ) -> None:
        self.config = config
        self.endpoint = config.endpoint
        self.signals = [s for s in signals if s.node is not None]
        self.health = SourceHealth(source_id, self.endpoint)
        self._sink = sink
        self._clock = clock or SystemClock()
        self._queue_size = queue_size
        self._lost = asyncio.Event()
        self._stale = StaleMarker([s.path for s in self.signals], sink, self._clock)
        self._client: Client | None = None
        self._backoff = Backoff(self.health, config.reconnect_min_s, config.reconnect_max_s, _log)

    async def run(self) -> None:
        """Connect and deliver samples until cancelled; on loss mark signals stale and reconnect."""
        while True:
            try:
                await self._session()
            except _SESSION_ERRORS as exc:
                delay = self._backoff.failed(exc)
            else:  # the session ended because the connection was lost
                delay = self._backoff.failed(ConnectionError("connection lost"))
            await self._stale.mark()
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        # the watchdog's probe times out after this interval: a busy machine must not cost the session
        client = Client(self.endpoint, timeout=self.config.timeout_s, watchdog_intervall=self.config.timeout_s)
        self._lost = asyncio.Event()
        client.connection_lost_callback = self._on_connection_lost
        if self.config.security is not None:
            await secure_client(client, self.config.security, self.health.source)
        await client.connect()
        try:
            await self._subscribe(client)
            self._backoff.connected()
            self._stale.reset()
            self._client = client
            await self._lost.wait()
        finally:
            self._client = None
            with contextlib.suppress(*_NETWORK_ERRORS):  # never swallow cancellation: stop() must return
                await asyncio.wait_for(client.disconnect(), 2.0)

    async def write(self, signal: SignalInfo, value: float) -> None:
        """Write a setpoint to its node; the server's refusal becomes WriteRejected."""
        client = self._client
        if client is None or signal.node is None:
            raise ConnectorError(f"source {self.health.source} is not connected")
        vtype = ua.VariantType.Int64 if signal.integer else ua.VariantType.Double
        variant = ua.Variant(int(value) if signal.integer else float(value), vtype)
        try:
            await client.get_node(signal.node).write_value(ua.DataValue(variant))
        except ua.UaStatusCodeError as exc:
            raise WriteRejected(
                f"{signal.path}: the server refused {value}: {exc}", _REASONS.get(exc.code, "limits")
            ) from exc
        except _NETWORK_ERRORS as exc:
            raise ConnectorError(f"source {self.health.source}: write failed: {exc}") from exc

    async def _on_connection_lost(self, exc: Exception) -> None:
        self._lost.set()

    async def _subscribe(self, client: Client) -> None:
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=self.config.publishing_interval_ms,
            RequestedLifetimeCount=10000,
            RequestedMaxKeepAliveCount=max(3, int(2000 / self.config.publishing_interval_ms)),
            MaxNotificationsPerPublish=10_000,
            PublishingEnabled=True,
        )
        result = await client.uaclient.create_subscription(params, self._on_publish)
        items = [self._item(handle, sig) for handle, sig in enumerate(self.signals)]
        created = await client.uaclient.create_monitored_items(
            ua.CreateMonitoredItemsParameters(
                SubscriptionId=result.SubscriptionId,
                TimestampsToReturn=ua.TimestampsToReturn.Both,
                ItemsToCreate=items,
            )
        )
        refused = [
            Sample(sig.path, self._now(), self._now(), None, Quality.BAD)
            for sig, res in zip(self.signals, created, strict=True)
            if not res.StatusCode.is_good()
        ]
        if refused:
            self.health.errors += len(refused)
            _log.warning("source %s refused %d node(s), e.g. %s", self.health.source, len(refused), refused[0].signal)
            await self._sink(refused)

    def _item(self, handle: int, sig: SignalInfo) -> ua.MonitoredItemCreateRequest:
        assert sig.node is not None
        return ua.MonitoredItemCreateRequest(
            ItemToMonitor=ua.ReadValueId(NodeId=ua.NodeId.from_string(sig.node), AttributeId=ua.AttributeIds.Value),
            MonitoringMode=ua.MonitoringMode.Reporting,
            RequestedParameters=ua.MonitoringParameters(
                ClientHandle=handle, SamplingInterval=0, QueueSize=self._queue_size, DiscardOldest=True
            ),
        )

    async def _on_publish(self, result: ua.PublishResult) -> None:
        """Turn one PublishResponse into one batch of samples."""
        now = self._now()
        self.health.last_seen = now
        self.health.messages += 1
        batch: list[Sample] = []
        for notif in result.NotificationMessage.NotificationData or ():
            if isinstance(notif, ua.DataChangeNotification):
                batch.extend(self._samples(notif, now))
            elif isinstance(notif, ua.StatusChangeNotification) and notif.Status.is_bad():
                self._lost.set()
        if batch:
            self.health.samples += len(batch)
            await self._sink(batch)

    def _samples(self, notif: ua.DataChangeNotification, now: float) -> list[Sample]:
        out = []
        signals = self.signals
        for item in notif.MonitoredItems:
            if not 0 <= item.ClientHandle < len(signals):
                self.health.errors += 1
                continue
            dv = item.Value
            variant = dv.Value
            value = variant.Value if variant is not None else None
            stamp = dv.SourceTimestamp or dv.ServerTimestamp
            out.append(
                Sample(signals[item.ClientHandle].path, _posix(stamp, now), now, value, quality_of(dv.StatusCode))
            )
        return out

    def _now(self) -> float:
        return self._clock.now().timestamp()


def _posix(stamp: datetime | None, default: float) -> float:
    return utc(stamp).timestamp() if stamp is not None else default

"""The composition root: a model file wired into running services.

connector -> EdgeFilter -> [Forwarder (store-and-forward)] -> Intake -> Bus -> LiveState
  (one chain per source)                                                    -> Historian
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bus import Bus
from .clock import Clock, SystemClock
from .columns import Batch, BatchSink
from .connect import Connector, SampleSink, make_connector
from .connect.mqtt import MqttStream
from .control import Control
from .core import Intake, LiveState
from .core.alerts import Alert, AlertManager
from .core.analytics import Analytics
from .core.changes import ChangeFeed
from .core.detectors import detectors
from .core.states import StateInterval
from .edge import EdgeFilter, Forwarder
from .errors import FactoryTwinError
from .events import Severity
from .historian import DuckDBHistorian, Historian
from .lifecycle import Service
from .maintenance import MaintenanceMonitor
from .model import PlantIndex, PlantModel, SignalInfo, relocate
from .model.sources import Source
from .notify import WebhookNotifier
from .security import Principal, Security

__all__ = ["SourceChain", "Twin", "data_dir"]

_log = logging.getLogger(__name__)


def data_dir() -> Path:
    """Where the twin keeps files it owns (store-and-forward queues): ``$FACTORYTWIN_DATA`` or ~/.local/share."""
    return Path(os.environ.get("FACTORYTWIN_DATA", Path.home() / ".local" / "share" / "factorytwin"))


class SourceChain:
    """One source's path into the twin: connector -> edge processing -> store-and-forward -> downstream."""

    def __init__(
        self, sid: str, source: Source, signals: list[SignalInfo], downstream: BatchSink, clock: Clock, spool_dir: Path
    ) -> None:
        self.edge = EdgeFilter.for_signals(signals, clock)
        self.forwarder: Forwarder | None = None
        self.downstream: SampleSink = downstream
        if source.spool is not None:
            base = Path(source.spool.path) if source.spool.path else spool_dir
            self.forwarder = Forwarder(downstream, base / sid, source.spool.capacity, name=sid)
            self.downstream = self.forwarder.put
        self.connector = make_connector(sid, source, signals, self.edge.wrap(self.downstream), clock)
        if self.forwarder is None and not self.edge.active and isinstance(self.connector, MqttStream):
            self.connector.column_sink = downstream  # nothing in between needs Sample objects: columns go as they are
        if self.forwarder is not None:
            self.forwarder.health = self.connector.health  # queued and dropped show in source health

    async def start(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Open the queue, then start edge ticks and the connector."""
        name = self.connector.health.source
        if self.forwarder is not None:
            await self.forwarder.open()
        if self.edge.tick_interval is not None:
            tasks.append(asyncio.create_task(self.edge.run(self.downstream), name=f"edge-{name}"))
        tasks.append(asyncio.create_task(self.connector.run(), name=f"source-{name}"))

    async def stop(self) -> None:
        """After the connector stopped: release what edge filters hold, close the queue (it stays on disk)."""
        held = self.edge.flush()
        if held:
            await self.downstream(held)
        if self.forwarder is not None:
            await self.forwarder.close()

    def stats(self) -> dict[str, Any]:
        """Edge and store-and-forward counts."""
        return {
            "edge": self.edge.stats().as_dict() if self.edge.active else None,
            "spool": self.forwarder.stats().as_dict() if self.forwarder is not None else None,
        }


class Twin(Service):
    """The live twin of a plant model: connectors, stream, live state and historian."""

    def __init__(
        self,
        model: PlantModel,
        historian: Historian | None = None,
        clock: Clock | None = None,
        endpoints: dict[str, str] | None = None,
        bus_maxsize: int = 256,
        health_log_s: float = 60.0,
        spool_dir: Path | None = None,
        security: Security | None = None,
    ) -> None:
        if endpoints:  # OPC UA sources moved to other endpoints (tests, the demo)
            model = relocate(model, {sid: {"endpoint": url} for sid, url in endpoints.items()})
        self.model = model
        self.index = PlantIndex(model)
        self.clock = clock or SystemClock()
        self.intake = Intake(self.index)
        self.state = LiveState(self.index)
        self.changes = ChangeFeed()  # live changes for WebSocket readers (coalesced per reader)
        self.bus = Bus(bus_maxsize)
        self.historian: Historian = historian or DuckDBHistorian(":memory:")
        spool = spool_dir or data_dir() / "spool"
        self.chains = {
            sid: SourceChain(sid, src, self.index.bound_to(sid), self.ingest, self.clock, spool)
            for sid, src in model.sources.items()
        }
        self.connectors: dict[str, Connector] = {sid: chain.connector for sid, chain in self.chains.items()}
        self.maintenance = MaintenanceMonitor(self.index)  # health, RUL and failure-risk alerts
        self.analytics = Analytics(self.index, [*detectors(self.index), self.maintenance], model.alerts.clear_after_s)
        self.security = security or Security(":memory:", self.clock)  # tokens and the audit log
        self.control = Control(self.index, self.connectors, self.state, self.wait_for, self.security.audit, self.clock)
        settings = model.alerts
        self.notifier = (
            WebhookNotifier(settings.webhook, Severity[settings.webhook_min_severity.upper()])
            if settings.webhook
            else None
        )
        self.health_log_s = health_log_s
        self._changed = asyncio.Condition()
        self._tasks: list[asyncio.Task[Any]] = []
        self._consumers: list[asyncio.Task[Any]] = []

    async def ingest(self, batch: Batch) -> None:
        """Entry point of the stream: check a batch and publish what passes."""
        await self.bus.publish(self.intake.admit(batch))

    async def start(self) -> None:
        """Open the historian, start the consumers, then the connectors."""
        await self.historian.open()
        self.analytics.alerts = AlertManager(
            self.analytics.alerts.clear_after_s, await self.historian.last_alert_id() + 1
        )
        state_sub = self.bus.subscribe("live-state")
        history_sub = self.bus.subscribe("historian")
        analytics_sub = self.bus.subscribe("analytics")
        self._consumers = [
            asyncio.create_task(self._consume(state_sub, self._apply_state), name="live-state"),
            asyncio.create_task(self._consume(history_sub, self.historian.append), name="historian"),
            asyncio.create_task(self._consume(analytics_sub, self._analyze), name="analytics"),
        ]
        if self.notifier is not None:
            self._tasks.append(asyncio.create_task(self.notifier.run(), name="alert-webhook"))
        flusher = getattr(self.historian, "run", None)
        if flusher is not None:
            self._tasks.append(asyncio.create_task(flusher(), name="historian-flush"))
        # what is loaded by now (model, indexes, libraries) lives as long as the twin: the collector's full
        # passes, which the stream's allocations trigger, then skip it (they took ~0.4 s each with 1000 signals)
        gc.freeze()
        for chain in self.chains.values():
            await chain.start(self._tasks)
        self._tasks.append(asyncio.create_task(self._log_health(), name="health-log"))

    async def stop(self) -> None:
        """Stop the connectors, let the stream drain, then close the historian."""
        await _cancel(self._tasks)
        for chain in self.chains.values():
            await chain.stop()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.bus.drain(), 10.0)
        await _cancel(self._consumers)
        if self.notifier is not None:
            await self.notifier.drain()
        await self.historian.close()
        gc.unfreeze()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until the live state satisfies ``predicate``; False on timeout."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                return False
        return True

    def stats(self) -> dict[str, Any]:
        """Counts of the stream: intake outcomes, bus queues, historian, sources."""
        return {
            "intake": self.intake.stats(),
            "dead_letters": len(self.intake.dead_letters),
            "bus": self.bus.stats(),
            "live_state_applied": self.state.applied,
            "historian_stored": getattr(self.historian, "stored", None),
            "sources": [c.health.as_dict() for c in self.connectors.values()],
            "chains": {sid: chain.stats() for sid, chain in self.chains.items()},
        }

    async def _log_health(self) -> None:
        """One line per source at a steady interval: the logs tell the same story as /api/sources."""
        while True:
            await asyncio.sleep(self.health_log_s)
            for connector in self.connectors.values():
                h = connector.health
                _log.info(
                    "source=%s connected=%s messages=%d samples=%d errors=%d reconnects=%d dropped=%d queued=%d",
                    h.source,
                    h.connected,
                    h.messages,
                    h.samples,
                    h.errors,
                    h.reconnects,
                    h.dropped,
                    h.queued,
                )

    async def acknowledge(self, alert_id: int, who: Principal) -> Alert:
        """A person acknowledges an alert; the change is stored, pushed and audited."""
        audit = self.security.audit
        old = next((a.state.value for a in self.analytics.alerts.active() if a.id == alert_id), None)
        try:
            alert = self.analytics.alerts.acknowledge(alert_id, who.name, self.clock.now().timestamp())
        except FactoryTwinError as exc:
            audit.record(who.name, who.role.label, "alert.acknowledge", str(alert_id), old, None, "refused", str(exc))
            raise
        await self._record([], [alert])
        audit.record(who.name, who.role.label, "alert.acknowledge", str(alert_id), old, alert.state.value, "ok")
        return alert

    async def _analyze(self, batch: Batch) -> None:
        update = self.analytics.apply(batch)
        await self._record(update.intervals, update.alerts)

    async def _record(self, intervals: list[StateInterval], alerts: list[Alert]) -> None:
        if intervals:
            await self.historian.append_intervals(intervals)
        if alerts:
            await self.historian.store_alerts(alerts)
            if self.notifier is not None:
                self.notifier.offer(alerts)

    async def _apply_state(self, batch: Batch) -> None:
        self.state.apply(batch)
        self.changes.publish(batch)  # never waits; in step with the live state a new reader starts from
        async with self._changed:
            self._changed.notify_all()

    async def _consume(self, sub: Any, handle: Callable[[Batch], Any]) -> None:
        async for batch in sub:
            try:
                await handle(batch)
            except Exception:  # a consumer must never stop the stream
                _log.exception("consumer %s failed on a batch of %d samples", sub.name, len(batch))


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    tasks.clear()

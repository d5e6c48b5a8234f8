"""``/metrics`` in the Prometheus text format, read from the twin's own counters at scrape time.

Nothing is counted twice: `TwinCollector` turns what the twin already keeps (intake outcomes, bus
queues, live state, historian, source health, the change feed, open alerts) into metric families
when Prometheus scrapes. Rates come from the counters, e.g.
``rate(factorytwin_intake_samples_total{outcome="accepted"}[1m])``.

The endpoint needs a token like the rest of the API (viewer is enough): the counts, source names and
alerts describe the plant's operation, and Prometheus sends a bearer token natively
(``authorization: {type: Bearer, credentials_file: …}`` in the scrape config).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..events import Severity
from ..runtime import Twin
from ..security import Principal, Role
from .auth import require

__all__ = ["TwinCollector", "metrics_router"]

_P = "factorytwin_"


class TwinCollector(Collector):
    """Prometheus metric families from a running twin's counters, built at each scrape."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin

    def collect(self) -> Iterator[Metric]:
        """Every metric family of the twin."""
        yield from self._stream()
        yield from self._sources()
        yield from self._readers()

    def _stream(self) -> Iterator[Metric]:
        twin = self.twin
        intake = CounterMetricFamily(
            _P + "intake_samples",
            "Samples at the intake gate by outcome (accepted or the reason refused)",
            labels=["outcome"],
        )
        for outcome, n in twin.intake.stats().items():
            intake.add_metric([outcome], n)
        yield intake
        yield GaugeMetricFamily(
            _P + "dead_letters", "Refused samples kept for inspection", value=len(twin.intake.dead_letters)
        )
        yield CounterMetricFamily(
            _P + "bus_published_samples", "Samples published on the bus", value=twin.bus.published
        )
        labels = ["subscriber", "policy"]
        queued = GaugeMetricFamily(
            _P + "bus_queue_batches", "Batches waiting in a bus subscriber's queue", labels=labels
        )
        delivered = CounterMetricFamily(_P + "bus_delivered_samples", "Samples a bus subscriber took", labels=labels)
        dropped = CounterMetricFamily(
            _P + "bus_dropped_samples", "Samples dropped for a drop-oldest subscriber that fell behind", labels=labels
        )
        for sub in twin.bus.stats():
            key = [str(sub["name"]), str(sub["policy"])]
            queued.add_metric(key, int(sub["queued_batches"]))
            delivered.add_metric(key, int(sub["delivered"]))
            dropped.add_metric(key, int(sub["dropped"]))
        yield from (queued, delivered, dropped)
        yield CounterMetricFamily(
            _P + "live_state_applied_samples", "Samples applied to the live state", value=twin.state.applied
        )
        stored = getattr(twin.historian, "stored", None)
        if stored is not None:
            yield CounterMetricFamily(_P + "historian_stored_samples", "Samples written to the historian", value=stored)

    def _sources(self) -> Iterator[Metric]:
        label = ["source"]
        connected = GaugeMetricFamily(_P + "source_connected", "1 while the source is connected", labels=label)
        last_seen = GaugeMetricFamily(
            _P + "source_last_seen_timestamp_seconds",
            "When the source last delivered data (POSIX seconds)",
            labels=label,
        )
        queued = GaugeMetricFamily(_P + "source_queued_samples", "Samples held in store-and-forward", labels=label)
        counters = {
            field: CounterMetricFamily(_P + f"source_{field}", f"Source {field} since the twin started", labels=label)
            for field in ("messages", "samples", "errors", "reconnects", "dropped")
        }
        for connector in self.twin.connectors.values():
            h = connector.health
            connected.add_metric([h.source], float(h.connected))
            if h.last_seen is not None:
                last_seen.add_metric([h.source], h.last_seen)
            queued.add_metric([h.source], h.queued)
            for field, family in counters.items():
                family.add_metric([h.source], getattr(h, field))
        yield from (connected, last_seen, queued, *counters.values())

    def _readers(self) -> Iterator[Metric]:
        changes = self.twin.changes.stats()
        yield GaugeMetricFamily(_P + "stream_clients", "Open WebSocket stream clients", value=changes["readers"])
        samples = CounterMetricFamily(
            _P + "stream_samples",
            "Samples for stream clients: sent, or coalesced (replaced by a newer value before the client took it)",
            labels=["outcome"],
        )
        samples.add_metric(["sent"], changes["taken"])
        samples.add_metric(["coalesced"], changes["coalesced"])
        yield samples
        active = Counter(a.severity for a in self.twin.analytics.alerts.active())
        alerts = GaugeMetricFamily(_P + "alerts_active", "Open (not cleared) alerts by severity", labels=["severity"])
        for severity in Severity:
            alerts.add_metric([severity.name.lower()], active[severity])
        yield alerts


def metrics_router(twin: Twin) -> APIRouter:
    """The ``/metrics`` endpoint: the twin's counters and the process's CPU, memory and open files."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TwinCollector(twin))
    ProcessCollector(registry=registry)
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    async def metrics(_: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
        """Prometheus text format: intake, bus queues and drops, sources, historian, stream clients, alerts."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router

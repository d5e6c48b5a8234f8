"""/metrics in the Prometheus text format, read from a twin running against the virtual plant."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from factorytwin.api import create_app
from factorytwin.events import Sample
from factorytwin.plant import VirtualPlant
from factorytwin.runtime import Twin

from .conftest import LINE, bearer


@pytest.fixture
async def scrape(twin: Twin, tokens: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(twin))
    async with httpx.AsyncClient(transport=transport, base_url="http://twin", headers=bearer(tokens["viewer"])) as c:
        yield c


async def metrics(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


async def test_metrics_report_the_stream_sources_and_stream_clients(
    scrape: httpx.AsyncClient, twin: Twin, plant: VirtualPlant
) -> None:
    await twin.bus.drain()
    first = await metrics(scrape)
    accepted = first[("factorytwin_intake_samples_total", (("outcome", "accepted"),))]
    assert 0 < accepted <= twin.intake.stats()["accepted"]
    assert first[("factorytwin_source_connected", (("source", "plant"),))] == 1
    assert first[("factorytwin_source_samples_total", (("source", "plant"),))] > 0
    assert first[("factorytwin_source_errors_total", (("source", "plant"),))] == 0
    subscribers = {dict(labels)["subscriber"] for name, labels in first if name == "factorytwin_bus_queue_batches"}
    assert subscribers == {"live-state", "historian", "analytics"}
    live = (("policy", "block"), ("subscriber", "live-state"))
    assert first[("factorytwin_bus_dropped_samples_total", live)] == 0
    assert first[("factorytwin_bus_delivered_samples_total", live)] > 0
    assert first[("factorytwin_historian_stored_samples_total", ())] >= 0
    assert first[("factorytwin_stream_clients", ())] == 0
    assert {dict(labels)["severity"] for name, labels in first if name == "factorytwin_alerts_active"} == {
        "info",
        "warning",
        "critical",
    }
    assert first[("process_cpu_seconds_total", ())] > 0

    # bad input is counted by reason; a stream client shows up; counters only grow
    now = twin.clock.now().timestamp()
    await twin.ingest([Sample(f"{LINE}/filler/product_temp", now, now, math.nan), Sample("acme/nowhere", now, now, 1)])
    reader = twin.changes.open(f"{LINE}/filler")
    try:
        second = await metrics(scrape)
    finally:
        twin.changes.close(reader)
    assert second[("factorytwin_intake_samples_total", (("outcome", "not_finite"),))] == 1
    assert second[("factorytwin_intake_samples_total", (("outcome", "unknown_signal"),))] == 1
    assert second[("factorytwin_dead_letters", ())] == 2
    assert second[("factorytwin_stream_clients", ())] == 1
    for key, value in first.items():
        if key[0].endswith("_total") and key in second:
            assert second[key] >= value, key

    # a token is needed; a lost source shows
    assert (await scrape.get("/metrics", headers={"Authorization": "Bearer nope"})).status_code == 401
    await plant.stop_server("plant")
    assert await twin.wait_for(lambda: not twin.connectors["plant"].health.connected, 15)
    lost = await metrics(scrape)
    assert lost[("factorytwin_source_connected", (("source", "plant"),))] == 0
    assert (
        lost[("factorytwin_source_last_seen_timestamp_seconds", (("source", "plant"),))] <= twin.clock.now().timestamp()
    )

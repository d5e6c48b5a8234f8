"""The HTTP API over a running virtual plant and twin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from factorytwin.api import create_app
from factorytwin.plant import VirtualPlant
from factorytwin.runtime import Twin
from factorytwin.security import Role

from .conftest import LINE, bearer


@pytest.fixture
async def api(twin: Twin, auth_headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(twin))
    async with httpx.AsyncClient(transport=transport, base_url="http://twin", headers=auth_headers) as client:
        yield client


async def test_state_lists_every_station_with_live_values_that_change(api: httpx.AsyncClient, twin: Twin) -> None:
    first = (await api.get("/api/state")).json()
    stations = [a for a in first["assets"] if a["kind"] == "station"]
    assert [a["id"] for a in stations] == ["rinser", "filler", "capper", "labeler", "packer"]
    for station in stations:
        assert station["state"] in {"running", "starved", "blocked", "down", "idle"}
        assert all(v["quality"] == "good" and v["value"] is not None for v in station["signals"].values())
        assert station["signals"]["good_count"]["unit"] == "bottles"
    count = f"{LINE}/packer/good_count"
    before = twin.state.get(count).value  # type: ignore[union-attr]
    assert await twin.wait_for(lambda: twin.state.get(count).value != before, 10)  # type: ignore[union-attr]
    second = (await api.get("/api/state")).json()
    packer = lambda doc: next(a for a in doc["assets"] if a["id"] == "packer")  # noqa: E731
    assert packer(second)["signals"]["good_count"]["value"] > packer(first)["signals"]["good_count"]["value"]
    buffers = [a for a in second["assets"] if a["kind"] == "buffer"]
    assert [b["id"] for b in buffers] == ["b1", "b2", "b3", "b4"]


async def test_history_returns_stored_samples_in_range(api: httpx.AsyncClient, twin: Twin) -> None:
    signal = f"{LINE}/filler/good_count"
    assert await twin.wait_for(lambda: (twin.state.get(signal).value or 0) >= 5, 15)  # type: ignore[union-attr,operator]
    await twin.bus.drain()  # history trails live state by at most what is queued on the bus
    doc = (await api.get("/api/history", params={"signal": signal})).json()
    values = [p["value"] for p in doc["points"]]
    assert len(values) >= 3
    assert values == sorted(values)
    assert doc["unit"] == "bottles"
    assert doc["truncated"] is False
    end = datetime.now(UTC)
    limited = (
        await api.get(
            "/api/history",
            params={
                "signal": signal,
                "start": (end - timedelta(minutes=5)).isoformat(),
                "end": end.isoformat(),
                "limit": 2,
            },
        )
    ).json()
    assert len(limited["points"]) == 2
    assert limited["truncated"] is True
    assert limited["points"][0]["value"] == values[0]


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"signal": "acme/nowhere"}, 404, "unknown signal 'acme/nowhere'"),
        ({}, 422, "signal"),
        (
            {"signal": f"{LINE}/filler/good_count", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            422,
            "start must be before end",
        ),
        ({"signal": f"{LINE}/filler/good_count", "start": "yesterday"}, 422, "datetime"),
        ({"signal": f"{LINE}/filler/good_count", "limit": 0}, 422, "greater than or equal to 1"),
    ],
)
async def test_history_rejects_bad_queries_clearly(
    api: httpx.AsyncClient, params: dict[str, str], status: int, text: str
) -> None:
    response = await api.get("/api/history", params=params)
    assert response.status_code == status
    assert text in response.text


async def test_assets_describe_the_model_with_context(api: httpx.AsyncClient) -> None:
    (line,) = (await api.get("/api/assets")).json()
    assert line["path"] == LINE
    assert line["target_rate"] == 2600
    filler = next(s for s in line["stations"] if s["id"] == "filler")
    volume = next(s for s in filler["signals"] if s["id"] == "fill_volume")
    assert volume["spec"] == {"lsl": 495.0, "usl": 505.0, "target": 500.0}
    assert volume["normal"] == {"low": 496.0, "high": 504.0}
    speed = next(s for s in filler["signals"] if s["id"] == "speed")
    assert speed["write"] == {"min": 20.0, "max": 120.0, "max_step": 25.0, "max_rate": None}


async def test_health_and_sources_report_connection_and_counts(
    api: httpx.AsyncClient, plant: VirtualPlant, twin: Twin
) -> None:
    health = (await api.get("/api/health")).json()
    assert health["status"] == "ok"
    assert health["sources"] == {"plant": "connected"}
    assert health["stream"]["intake"]["accepted"] > 0
    (source,) = (await api.get("/api/sources")).json()
    assert source["connected"] is True
    assert source["samples"] > 0
    await plant.stop_server("plant")
    assert await twin.wait_for(lambda: not twin.connectors["plant"].health.connected, 15)
    assert (await api.get("/api/health")).json()["status"] == "degraded"
    state = (await api.get("/api/state")).json()
    filler = next(a for a in state["assets"] if a["id"] == "filler")
    assert {v["quality"] for v in filler["signals"].values()} == {"stale"}
    assert filler["signals"]["good_count"]["value"] is not None  # last known value kept, flagged stale


async def test_openapi_documents_the_endpoints(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert {"/api/health", "/api/assets", "/api/state", "/api/history", "/api/sources"} <= set(paths)


async def test_analytics_endpoints_answer_for_the_live_window(api: httpx.AsyncClient, twin: Twin) -> None:
    path = f"{LINE}/packer/good_count"
    assert await twin.wait_for(lambda: (twin.state.get(path).value or 0) >= 20, 30)  # type: ignore[union-attr,operator]
    await twin.bus.drain()
    start = datetime.fromtimestamp(twin.analytics.origin or 0, UTC).isoformat()
    params = {"start": start}
    line = (await api.get("/api/kpis", params=params)).json()
    assert line["kind"] == "line"
    assert line["asset"] == LINE
    assert line["good"] > 0
    assert line["ideal_cycle_s"] == 1.25
    filler = (await api.get("/api/kpis", params={**params, "asset": f"{LINE}/filler"})).json()
    assert filler["kind"] == "station"
    assert 0 < filler["availability"] <= 1
    assert filler["time"]["pbt"] > 0
    production = (await api.get("/api/production", params=params)).json()
    assert [s["station"].rsplit("/", 1)[1] for s in production["stations"]] == [
        "rinser",
        "filler",
        "capper",
        "labeler",
        "packer",
    ]
    assert production["target_per_h"] == 2600
    assert production["throughput_per_h"] > 0
    states = (await api.get("/api/states", params={**params, "station": f"{LINE}/filler"})).json()
    assert states["now"]["state"] in {"running", "starved", "blocked", "down"}
    assert states["intervals"]
    assert all(i["start"] <= i["end"] for i in states["intervals"])
    bottlenecks = (await api.get("/api/bottlenecks", params=params)).json()
    assert {s["station"] for s in bottlenecks["shares"]} == {
        f"{LINE}/{s}" for s in ("rinser", "filler", "capper", "labeler", "packer")
    }
    assert sum(s["total"] for s in bottlenecks["shares"]) == pytest.approx(
        sum(t["end"] - t["start"] for t in bottlenecks["timeline"]) / (bottlenecks["end"] - bottlenecks["start"])
    )
    report = (await api.get("/api/report", params=params)).json()
    assert report[-1]["asset"] == "line1"
    assert isinstance((await api.get("/api/alerts")).json(), list)
    missing = await api.post("/api/alerts/12345/acknowledge")
    assert missing.status_code == 404
    assert (await api.get("/api/kpis", params={"asset": "acme/nowhere"})).status_code == 404
    assert (await api.get("/api/states", params={"station": f"{LINE}/b1"})).status_code == 404


async def test_windows_before_the_twin_started_are_recomputed_from_history(
    api: httpx.AsyncClient, plant: VirtualPlant, twin: Twin
) -> None:
    path = f"{LINE}/packer/good_count"
    assert await twin.wait_for(lambda: (twin.state.get(path).value or 0) >= 10, 30)  # type: ignore[union-attr,operator]
    await plant.pause()
    final = plant.engine.values[path]
    assert await twin.wait_for(lambda: twin.state.get(path).value == final, 10)  # type: ignore[union-attr]
    await twin.bus.drain()
    origin, end = twin.analytics.origin or 0, datetime.now(UTC).isoformat()
    iso = lambda t: datetime.fromtimestamp(t, UTC).isoformat()  # noqa: E731
    recomputed = (await api.get("/api/kpis", params={"start": iso(origin - 600), "end": end})).json()
    live = (await api.get("/api/kpis", params={"start": iso(origin), "end": end})).json()
    assert recomputed["good"] == live["good"] > 0
    assert recomputed["time"]["apt"] == live["time"]["apt"]


async def test_running_twin_names_the_designed_bottleneck(model, endpoints) -> None:  # type: ignore[no-untyped-def]
    async with VirtualPlant(model, speed=60, endpoints=endpoints), Twin(model, endpoints=endpoints) as twin:
        transport = httpx.ASGITransport(app=create_app(twin))
        headers = bearer(twin.security.tokens.create(Role.VIEWER, "viewer")[1])
        async with httpx.AsyncClient(transport=transport, base_url="http://twin", headers=headers) as api:
            # samples carry wall-clock times: at x60, 12 s of them hold 12 plant minutes. Shorter windows are
            # not enough: over 6 minutes a labeler or capper stop can outweigh the filler (seen in a cold run)
            a = twin.analytics
            assert await twin.wait_for(lambda: a.now is not None and a.origin is not None and a.now - a.origin > 12, 40)
            start = datetime.fromtimestamp(a.origin + 1, UTC).isoformat()  # type: ignore[operator]
            doc = (await api.get("/api/bottlenecks", params={"start": start})).json()
    assert doc["main"] == f"{LINE}/filler", doc["shares"]
    filler = next(s for s in doc["shares"] if s["station"].endswith("/filler"))
    assert filler["total"] > 0.5


async def test_an_out_of_range_value_raises_an_alert_that_is_acknowledged(api: httpx.AsyncClient, twin: Twin) -> None:
    setpoint = twin.index.signals[f"{LINE}/labeler/glue_temp_sp"]
    for value in (150.0, 140.0):  # max_step is 10 degC
        await twin.connectors["plant"].write(setpoint, value)
    key = f"anomaly:range:{LINE}/labeler/glue_temp"
    assert await twin.wait_for(lambda: any(a.key == key for a in twin.analytics.alerts.active()), 30)
    alert = next(a for a in (await api.get("/api/alerts")).json() if a["key"] == key)
    assert alert["state"] == "active"
    assert alert["station"] == f"{LINE}/labeler"
    assert alert["value"] < 150
    _, anna = twin.security.tokens.create(Role.OPERATOR, "anna")
    viewer = twin.security.tokens.create(Role.VIEWER, "victor")[1]
    refused = await api.post(f"/api/alerts/{alert['id']}/acknowledge", headers=bearer(viewer))
    assert refused.status_code == 403
    assert "operator" in refused.json()["detail"]
    acked = await api.post(f"/api/alerts/{alert['id']}/acknowledge", headers=bearer(anna))
    assert acked.status_code == 200
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "anna"
    (entry,) = (await api.get("/api/audit", params={"action": "alert.acknowledge"})).json()
    assert (entry["who"], entry["role"], entry["target"]) == ("anna", "operator", str(alert["id"]))
    assert (entry["old"], entry["new"], entry["result"]) == ("active", "acknowledged", "ok")
    await twin.bus.drain()
    stored = (await api.get("/api/alerts", params={"state": "all"})).json()
    assert next(a for a in stored if a["id"] == alert["id"])["state"] == "acknowledged"


async def test_spc_charts_of_the_quality_characteristics(api: httpx.AsyncClient, twin: Twin) -> None:
    listing = (await api.get("/api/spc")).json()
    assert set(listing["characteristics"]) == {f"{LINE}/filler/fill_volume", f"{LINE}/capper/cap_torque"}
    processor = next(d.spc for d in twin.analytics.detectors if hasattr(d, "spc"))
    signal = f"{LINE}/filler/fill_volume"
    assert await twin.wait_for(lambda: len(processor.chart(signal).points) >= 60, 60)
    chart = (await api.get("/api/spc", params={"signal": signal})).json()
    assert chart["kind"] == "I-MR" or chart["subgroup"] == 1
    assert chart["limits"]["x"]["lcl"] < chart["limits"]["x"]["centre"] < chart["limits"]["x"]["ucl"]
    assert 495 < chart["limits"]["x"]["centre"] < 505
    assert chart["capability"]["cpk"] > 0
    assert (await api.get("/api/spc", params={"signal": f"{LINE}/filler/good_count"})).status_code == 404

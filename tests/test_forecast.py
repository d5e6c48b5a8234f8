"""Shift forecasts from a warm start: the simulation side, and /api/forecast and /api/calibration on a live twin."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from factorytwin.api import create_app
from factorytwin.cli import app as cli
from factorytwin.clock import ManualClock
from factorytwin.events import StationState
from factorytwin.model import parse_model
from factorytwin.model.schema import Buffer, Distribution, Line, Station, StationSim
from factorytwin.runtime import Twin
from factorytwin.security import Role
from factorytwin.sim import SimulationError, run
from factorytwin.sim.forecast import forecast
from factorytwin.sim.warm import StationStart, WarmStart

from .conftest import LINE, ROOT, bearer, serve


def two_stations() -> Line:
    a = Station(id="a", sim=StationSim(processing_time=Distribution(dist="exponential", mean=1.0)))
    b = Station(
        id="b", sim=StationSim(processing_time=Distribution(dist="lognormal", mean=1.2, cv=0.3), mtbf=300.0, mttr=60.0)
    )
    return Line(id="l", stations=[a, b], buffers=[Buffer(id="b1", upstream="a", downstream="b", capacity=10)])


RUNNING = WarmStart((5,), (StationStart(StationState.RUNNING), StationStart(StationState.RUNNING)))


def test_the_chance_to_reach_a_target_follows_the_spread_of_the_runs() -> None:
    line = two_stations()
    median = forecast(line, RUNNING, 1800.0, 200, seed=1, made=1000)
    totals = 1000 + median.results.samples.output
    middle = float(np.median(totals))
    at_median = forecast(line, RUNNING, 1800.0, 200, seed=1, made=1000, target=middle)
    assert at_median.probability == pytest.approx(float(np.mean(totals >= middle)))
    assert 0.4 <= at_median.probability <= 0.7  # type: ignore[operator]
    assert forecast(line, RUNNING, 1800.0, 200, seed=1, made=1000, target=1000).probability == 1.0
    assert forecast(line, RUNNING, 1800.0, 200, seed=1, made=1000, target=1000 + 3600).probability == 0.0
    assert median.low <= median.total.mean <= median.high
    assert median.total.mean == pytest.approx(1000 + median.results.output.mean)
    assert median.probability is None
    # Against a long cold run the rate of the rest of the shift is what the line makes (availability included).
    steady = run(line, 20 * 3600, 10, seed=2, warmup=600)
    assert median.results.throughput.mean == pytest.approx(steady.throughput.mean, rel=0.05)


def test_a_station_down_at_the_start_costs_the_rest_of_its_repair() -> None:
    line = two_stations()
    down = WarmStart((5,), (StationStart(StationState.RUNNING), StationStart(StationState.DOWN, 30.0)))
    up = forecast(line, RUNNING, 900.0, 300, seed=4)
    broken = forecast(line, down, 900.0, 300, seed=4)
    lost = up.total.mean - broken.total.mean
    # Repairs are exponential (memoryless): 60 s left on average, at 1 part / 1.2 s, minus what the buffer absorbs.
    assert 25 <= lost <= 60, lost
    assert broken.results.station("b").down.mean > up.results.station("b").down.mean
    with pytest.raises(SimulationError, match="replications >= 2"):
        forecast(line, RUNNING, 900.0, 1)
    with pytest.raises(SimulationError, match="holds 11 parts"):
        forecast(line, WarmStart((11,), RUNNING.stations), 900.0, 10)


@pytest.fixture
async def api(twin: Twin, auth_headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(twin))
    async with httpx.AsyncClient(transport=transport, base_url="http://twin", headers=auth_headers) as client:
        yield client


async def test_forecast_and_calibration_endpoints_on_a_live_twin(
    api: httpx.AsyncClient, twin: Twin, tokens: dict[str, str]
) -> None:
    """/api/forecast from the live state of the running example, then /api/calibration of its own history."""
    packer = f"{LINE}/packer/good_count"
    assert await twin.wait_for(lambda: (twin.state.get(packer).value or 0) >= 20, 20)  # type: ignore[union-attr,operator]
    start = datetime.now(UTC)  # the calibration below reads the history from here on
    response = await api.get("/api/forecast", params={"replications": 4})
    assert response.status_code == 200, response.text
    doc = response.json()
    now = datetime.now(UTC)
    assert doc["line"] == LINE
    assert doc["shift"] == "day"  # the example's site has the default calendar: one 24-hour shift
    left = datetime.fromisoformat(doc["shift_end"]) - now
    assert doc["horizon_s"] == pytest.approx(left.total_seconds(), abs=30)
    assert doc["target"] == pytest.approx(2600 * 24)
    assert 0 < doc["made"] <= twin.analytics.production.counts(f"{LINE}/packer", 0, now.timestamp() + 1)[0]
    total = doc["expected_total"]
    assert total["low"] <= total["mean"] <= total["high"]
    expected_rest = doc["rest_throughput"]["mean"] * doc["horizon_s"] / 3600
    assert total["mean"] == pytest.approx(doc["made"] + expected_rest, rel=0.01)
    assert 0.0 <= doc["probability"] <= 1.0
    stations = doc["start"]["stations"]
    assert list(stations) == ["rinser", "filler", "capper", "labeler", "packer"]
    assert all(s["state"] in {"running", "starved", "blocked", "down", "idle"} for s in stations.values())
    assert len(doc["start"]["buffers"]) == 4
    missing = await api.get("/api/forecast", params={"line": "acme/nowhere"})
    assert missing.status_code == 404
    assert (await api.get("/api/forecast", params={"replications": 1})).status_code == 422
    await forecast_command(twin, tokens["engineer"])
    await calibration_endpoint_on_the_twins_own_history(api, twin, start)


async def forecast_command(twin: Twin, token: str) -> None:
    """`factorytwin forecast --api URL` against the twin's API served by uvicorn."""
    async with serve(twin) as url:
        runner = CliRunner()
        shown = await asyncio.to_thread(
            runner.invoke, cli, ["forecast", "--api", url, "--replications", "2", "--token", token]
        )
        assert shown.exit_code == 0, shown.output
        assert "chance to reach target" in shown.output
        as_json = await asyncio.to_thread(
            runner.invoke, cli, ["forecast", "--api", url, "--replications", "2", "--token", token, "--json"]
        )
        assert json.loads(as_json.output)["target"] == pytest.approx(2600 * 24)
        refused = await asyncio.to_thread(runner.invoke, cli, ["forecast", "--api", url, "--token", "nonsense"])
        assert refused.exit_code == 2
        assert "the twin answered 401" in refused.output


async def calibration_endpoint_on_the_twins_own_history(api: httpx.AsyncClient, twin: Twin, start: datetime) -> None:
    while datetime.now(UTC) - start < timedelta(seconds=6):  # at least 120 s of plant time
        await asyncio.sleep(0.2)
    await twin.bus.drain()
    end = datetime.now(UTC)
    params = {"start": start.isoformat(), "end": end.isoformat(), "replications": 5}
    response = await api.get("/api/calibration", params=params)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert [s["id"] for s in doc["stations"]] == ["rinser", "filler", "capper", "labeler", "packer"]
    nominal = {s.asset.id: s.asset.sim.processing_time.mean for s in twin.index.lines[LINE].stations}  # type: ignore[union-attr]
    fitted = [s for s in doc["stations"] if s["processing_source"] == "cycle_time"]
    assert len(fitted) >= 3  # a station down for the whole short window has no cycle times: it keeps the model's
    for s in fitted:
        assert s["processing_time"]["n"] > 5
        assert s["sim"]["processing_time"]["mean"] == pytest.approx(nominal[s["id"]], rel=0.15), s
    for s in doc["stations"]:
        if s["processing_source"] == "model":
            assert s["notes"] == ["neither cycle times nor parts: processing time kept from the model"]
    assert doc["observed_output"] > 20  # about 85 bottles in 120 s of plant time, fewer when a failure strikes
    assert doc["validation"]["observed_throughput"] > 0
    backwards = {"start": end.isoformat(), "end": start.isoformat()}
    assert (await api.get("/api/calibration", params=backwards)).status_code == 422
    too_long = {"start": (end - timedelta(days=40)).isoformat(), "end": end.isoformat()}
    assert (await api.get("/api/calibration", params=too_long)).status_code == 422
    assert (await api.get("/api/calibration", params={"line": "acme/nowhere"})).status_code == 404


async def test_no_forecast_outside_a_shift() -> None:
    """A line working 06:00-14:00 on weekdays, asked on a Sunday night: 409, nothing simulated."""
    text = (ROOT / "tests" / "data" / "calibration_line.yaml").read_text()
    text = text.replace(
        "    - id: test\n",
        "    - id: test\n      calendar: {shifts: [{name: early, start: '06:00', end: '14:00'}], "
        "days: [mon, tue, wed, thu, fri]}\n",
    )
    twin = Twin(parse_model(text), clock=ManualClock(datetime(2026, 11, 22, 3, 0, tzinfo=UTC)))  # a Sunday
    token = twin.security.tokens.create(Role.ENGINEER, "test")[1]
    transport = httpx.ASGITransport(app=create_app(twin))
    async with httpx.AsyncClient(transport=transport, base_url="http://twin", headers=bearer(token)) as client:
        response = await client.get("/api/forecast")
    assert response.status_code == 409
    assert response.json()["detail"] == "no shift of line 'acme/test/hall/line' is running now"

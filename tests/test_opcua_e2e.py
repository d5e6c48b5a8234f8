"""End to end over real OPC UA on loopback: the virtual plant's server, our connector, the twin."""

from __future__ import annotations

import time

import numpy as np
import pytest
from asyncua import Client, ua
from asyncua.ua.uaerrors import BadNotWritable, BadOutOfRange, BadTypeMismatch

from factorytwin.errors import ConnectorError, WriteRejected
from factorytwin.events import Quality, StationState
from factorytwin.plant import VirtualPlant
from factorytwin.runtime import Twin

from .conftest import LINE


def _mirrors(twin: Twin, plant: VirtualPlant) -> bool:
    for path in twin.index.signals:
        st = twin.state.get(path)
        if st is None or st.quality is not Quality.GOOD or st.value != plant.engine.values[path]:
            return False
    return True


async def test_twin_mirrors_every_signal_the_plant_serves(plant: VirtualPlant, twin: Twin) -> None:
    await plant.pause()
    assert await twin.wait_for(lambda: _mirrors(twin, plant), 10)
    stations = twin.state.stations
    assert set(stations) == {f"{LINE}/{s}" for s in ("rinser", "filler", "capper", "labeler", "packer")}
    for path, status in stations.items():
        code = plant.engine.values[f"{path}/state"]
        assert status.state is twin.index.signals[f"{path}/state"].state_of(int(code))  # type: ignore[arg-type]
        assert status.state is not StationState.UNKNOWN


async def test_historian_holds_exactly_what_the_server_published(plant: VirtualPlant, twin: Twin) -> None:
    path = f"{LINE}/filler/good_count"
    server = plant.servers["plant"]
    published: list[float] = []
    original = server.publish

    async def spy(values, when):  # type: ignore[no-untyped-def]
        if path in values:
            published.append(values[path])
        await original(values, when)

    server.publish = spy  # type: ignore[method-assign]
    assert await twin.wait_for(lambda: len(published) >= 20, 30)
    await plant.pause()
    assert await twin.wait_for(lambda: twin.state.get(path).value == published[-1], 10)  # type: ignore[union-attr]
    rows = await twin.historian.query(path, 0, time.time() + 60)
    stored = [r.value for r in rows if r.quality is Quality.GOOD and r.value is not None and r.value >= published[0]]
    assert stored == published, "the twin lost, repeated or reordered values"
    assert np.all(np.diff(stored) > 0)
    times = [r.source_time for r in rows]
    assert times == sorted(times)


async def test_server_restart_marks_the_gap_stale_and_recovers(plant: VirtualPlant, twin: Twin) -> None:
    path = f"{LINE}/capper/good_count"
    before = twin.state.get(path).value  # type: ignore[union-attr]
    await plant.stop_server("plant")
    stale = await twin.wait_for(lambda: all(s.quality is Quality.STALE for s in twin.state.signals.values()), 15)
    assert stale
    kept = twin.state.get(path)
    assert kept is not None
    assert kept.value is not None
    assert kept.value >= before
    health = twin.connectors["plant"].health
    assert not health.connected
    assert health.errors >= 1
    await plant.start_server("plant")
    assert await twin.wait_for(lambda: all(s.quality is Quality.GOOD for s in twin.state.signals.values()), 30)
    assert health.connected
    assert health.reconnects == 1
    rows = await twin.historian.query(path, 0, time.time() + 60)
    qualities = [r.quality for r in rows]
    gap = qualities.index(Quality.STALE)
    assert Quality.GOOD in qualities[:gap]
    assert Quality.GOOD in qualities[gap + 1 :]
    assert rows[gap].value is None


async def test_unreachable_source_reads_stale_never_zero(model, endpoints) -> None:  # type: ignore[no-untyped-def]
    async with Twin(model, endpoints=endpoints) as twin:  # nothing listens there
        assert await twin.wait_for(lambda: len(twin.state.signals) == len(twin.index.signals), 10)
        assert all(s.quality is Quality.STALE and s.value is None for s in twin.state.signals.values())
        health = twin.connectors["plant"].health
        assert not health.connected
        assert health.errors >= 1
        assert "Refused" in (health.last_error or "")


async def _write(endpoint: str, node: str, variant: ua.Variant) -> None:
    async with Client(endpoint) as client:
        await client.get_node(node).write_value(ua.DataValue(variant))


async def test_speed_setpoint_written_over_opcua_slows_the_station(
    plant: VirtualPlant, twin: Twin, endpoints: dict[str, str]
) -> None:
    cycle = f"{LINE}/filler/cycle_time"
    assert await twin.wait_for(lambda: 1.0 < (twin.state.get(cycle).value or 0) < 1.6, 10)  # type: ignore[union-attr,operator]
    for step in (75.0, 50.0):  # max_step is 25 %
        await _write(endpoints["plant"], "ns=2;s=Line1.Filler.Speed", ua.Variant(step, ua.VariantType.Double))
    assert plant.engine.values[f"{LINE}/filler/speed"] == 50.0
    # nominal 1.25 s lognormal (cv 0.08) at half speed: cycles of about 2.5 s
    assert await twin.wait_for(lambda: (twin.state.get(cycle).value or 0) > 2.0, 20)  # type: ignore[union-attr,operator]
    assert twin.state.get(f"{LINE}/filler/speed").value == 50.0  # type: ignore[union-attr]


async def test_temperature_follows_a_setpoint_written_over_opcua(
    plant: VirtualPlant, twin: Twin, endpoints: dict[str, str]
) -> None:
    temp = f"{LINE}/labeler/glue_temp"
    await _write(endpoints["plant"], "ns=2;s=Line1.Labeler.GlueTempSp", ua.Variant(170.0, ua.VariantType.Double))
    # first-order lag (tau 90 s simulated) from about 160 towards 170
    assert await twin.wait_for(lambda: (twin.state.get(temp).value or 0) > 168, 30)  # type: ignore[union-attr,operator]


@pytest.mark.parametrize(
    ("node", "variant", "error"),
    [
        ("ns=2;s=Line1.Labeler.GlueTempSp", ua.Variant(999.0, ua.VariantType.Double), BadOutOfRange),
        ("ns=2;s=Line1.Filler.Speed", ua.Variant(5.0, ua.VariantType.Double), BadOutOfRange),
        ("ns=2;s=Line1.Filler.Speed", ua.Variant(60.0, ua.VariantType.Double), BadOutOfRange),  # step > 25
        ("ns=2;s=Line1.Filler.Speed", ua.Variant(80, ua.VariantType.Int32), BadTypeMismatch),
        ("ns=2;s=Line1.Filler.GoodCount", ua.Variant(0, ua.VariantType.Int64), BadNotWritable),
    ],
)
async def test_invalid_writes_are_refused_like_a_plc(
    plant: VirtualPlant, endpoints: dict[str, str], node: str, variant: ua.Variant, error: type[Exception]
) -> None:
    before = dict(plant.engine.values)
    with pytest.raises(error):
        await _write(endpoints["plant"], node, variant)
    assert plant.engine.values[f"{LINE}/labeler/glue_temp_sp"] == before[f"{LINE}/labeler/glue_temp_sp"]
    assert plant.engine.values[f"{LINE}/filler/speed"] == before[f"{LINE}/filler/speed"]


async def test_connector_writes_setpoints_and_maps_refusals(plant: VirtualPlant, twin: Twin) -> None:
    connector = twin.connectors["plant"]
    setpoint = twin.index.signals[f"{LINE}/labeler/glue_temp_sp"]
    await connector.write(setpoint, 168.0)
    assert plant.engine.values[setpoint.path] == 168.0
    with pytest.raises(WriteRejected) as refused:
        await connector.write(setpoint, 400.0)
    assert refused.value.reason == "limits"
    with pytest.raises(WriteRejected) as read_only:
        await connector.write(twin.index.signals[f"{LINE}/filler/good_count"], 0)
    assert read_only.value.reason == "read_only"
    await plant.stop_server("plant")
    assert await twin.wait_for(lambda: not connector.health.connected, 15)
    with pytest.raises(ConnectorError, match="not connected"):
        await connector.write(setpoint, 165.0)


async def test_source_health_is_logged_at_a_steady_interval(
    model,
    endpoints,
    plant: VirtualPlant,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    caplog.set_level("INFO", logger="factorytwin.runtime")
    async with Twin(model, endpoints=endpoints, health_log_s=0.2) as twin:
        assert await twin.wait_for(lambda: twin.connectors["plant"].health.samples > 0, 10)
        assert await twin.wait_for(
            lambda: "samples=0 " not in caplog.text and "source=plant connected=True" in caplog.text, 5
        )
    line = next(r.getMessage() for r in caplog.records if "connected=True" in r.getMessage())
    assert "errors=0" in line
    assert "dropped=0 queued=0" in line

"""Discovery: `factorytwin browse` walks a real OPC UA server and writes a valid model skeleton."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from factorytwin.connect.opcua_browse import browse_opcua
from factorytwin.model import PlantIndex, Role, load_model, parse_model
from factorytwin.model.skeleton import Discovered, guess_role, skeleton_yaml
from factorytwin.plant import VirtualPlant

from .conftest import LINE


async def test_browse_the_virtual_plant_into_a_model_that_binds_every_signal(
    plant: VirtualPlant, index: PlantIndex, endpoints: dict[str, str], tmp_path: Path
) -> None:
    tags = await browse_opcua(endpoints["plant"])
    assert {t.address["node"] for t in tags} == {s.node for s in index.signals.values()}
    skeleton = tmp_path / "skeleton.yaml"
    skeleton.write_text(skeleton_yaml(tags, "plc", f"kind: opcua\nendpoint: {endpoints['plant']}"))
    found = PlantIndex(load_model(skeleton))
    assert set(found.lines) == {LINE}  # the ISA-95 path of the address space was recovered
    by_node = {s.node: s for s in found.signals.values()}
    for original in index.signals.values():
        discovered = by_node[original.node]
        assert discovered.source == "plc"
        if original.role in (Role.STATE, Role.GOOD_COUNT, Role.SCRAP_COUNT, Role.CYCLE_TIME, Role.SPEED):
            assert discovered.role is original.role, original.path
        assert discovered.signal.unit == original.signal.unit
    writable = [t for t in tags if t.writable]
    assert {t.address["node"] for t in writable} == {s.node for s in index.signals.values() if s.signal.write}
    assert "# writable on the source" in skeleton.read_text()


def test_guessed_roles_follow_plant_naming_habits() -> None:
    assert guess_role("MachineState") is Role.STATE
    assert guess_role("GoodCount") is Role.GOOD_COUNT
    assert guess_role("RejectCount") is Role.SCRAP_COUNT
    assert guess_role("GlueTempSp") is Role.SETPOINT
    assert guess_role("OvenTemperature") is Role.TEMPERATURE
    assert guess_role("MotorCurrent") is Role.MOTOR_CURRENT
    assert guess_role("FillVolume") is Role.OTHER


def test_shallow_address_spaces_become_one_line_of_stations() -> None:
    tags = [
        Discovered(("PLC1", "Press", "Temp"), "opcua", {"node": "ns=3;i=1001"}, "Temp", unit="°C"),
        Discovered(
            ("PLC1", "Press", "Temp "), "opcua", {"node": "ns=3;i=1002"}, "Temp ", writable=True, low=10, high=90
        ),
        Discovered(("PLC1", "Oven", "State"), "opcua", {"node": 'ns=3;s=Oven."State"'}, "State"),
    ]
    model = PlantIndex(
        parse_model(skeleton_yaml(tags, "plc1", "kind: opcua\nendpoint: opc.tcp://10.0.0.5:4840"), "<skeleton>")
    )
    press = model.assets["my-enterprise/site1/area1/line1/press"]
    assert list(press.signals) == ["temp", "temp_2"]
    assert press.signals["temp_2"].signal.write is not None
    assert model.signals["my-enterprise/site1/area1/line1/oven/state"].node == 'ns=3;s=Oven."State"'


async def test_browse_command_writes_a_skeleton_that_check_accepts(
    plant: VirtualPlant, endpoints: dict[str, str], tmp_path: Path
) -> None:
    cli = str(Path(sys.executable).parent / "factorytwin")
    out = tmp_path / "found.yaml"
    proc = await asyncio.create_subprocess_exec(
        cli, "browse", endpoints["plant"], "-o", str(out), "--source-id", "line1plc", stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert f"found 48 variables on {endpoints['plant']}" in err.decode()
    assert len(PlantIndex(load_model(out)).bound_to("line1plc")) == 48
    bad = await asyncio.create_subprocess_exec(cli, "browse", "http://nowhere", stderr=asyncio.subprocess.PIPE)
    _, err = await bad.communicate()
    assert bad.returncode == 2
    assert "give an opc.tcp:// or mqtt:// address" in err.decode()


async def test_browse_mqtt_proposes_bindings_from_topics_and_sparkplug_births() -> None:
    from factorytwin.broker import EmbeddedBroker
    from factorytwin.cli import example_path, local_sources
    from factorytwin.connect.mqtt_browse import browse_mqtt
    from factorytwin.model import relocate

    model = load_model(example_path("bottling-mixed.yaml"))
    async with EmbeddedBroker(port=0) as broker:
        local = relocate(model, local_sources(model, broker.url))
        async with VirtualPlant(local, speed=20):
            tags, groups = await browse_mqtt(broker.url, seconds=3)
    assert groups == {"acme"}
    index = PlantIndex(model)
    uns = {s.binding.mqtt.topic for s in index.bound_to("uns")}  # type: ignore[union-attr]
    assert {t.address["topic"] for t in tags if t.protocol == "mqtt"} == uns
    assert all(t.address.get("timestamp") == "timestamp" for t in tags if t.protocol == "mqtt")
    metrics = {s.binding.sparkplug.metric for s in index.bound_to("spb")}  # type: ignore[union-attr]
    assert {t.address["metric"] for t in tags if t.protocol == "sparkplug"} == metrics
    skeleton = parse_model(
        skeleton_yaml(
            tags,
            "uns",
            f"kind: mqtt\nbroker: {broker.url}",
            {"spb": f"kind: sparkplug\nbroker: {broker.url}\ngroup_id: acme"},
        ),
        "<skeleton>",
    )
    found = PlantIndex(skeleton)
    assert len(found.bound_to("uns")) == len(uns)
    assert len(found.bound_to("spb")) == len(metrics)
    assert set(found.lines) == {"acme/lyon/bottling/line1"}  # the topics' unified-namespace path

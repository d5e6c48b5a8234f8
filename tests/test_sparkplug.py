"""Sparkplug B end to end over a private Mosquitto: births, data, deaths, rebirth requests, commands."""

from __future__ import annotations

import json
import uuid

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from factorytwin.connect.sparkplug import SparkplugConnector
from factorytwin.connect.sparkplug_codec import (
    BDSEQ,
    REBIRTH,
    DataType,
    Metric,
    SparkplugDecodeError,
    decode_payload,
    encode_payload,
    parse_topic,
    typed_value,
)
from factorytwin.events import Quality
from factorytwin.model import PlantIndex, PlantModel, parse_model
from factorytwin.plant import VirtualPlant
from factorytwin.plant.sparkplug_publisher import PlantSparkplugPublisher
from factorytwin.runtime import Twin

from .mqtt_fixtures import LINE, Listener, Mosquitto, line_model, mosquitto_fixture, until  # noqa: F401

ST = "acme/site/area/line/st"


def edge_model(url: str) -> PlantModel:
    """One station: a device metric (n1/d1/Temp) and a node metric (n1/Rate) of group g."""
    signals = [
        {"id": "temp", "binding": {"sparkplug": {"edge_node": "n1", "device": "d1", "metric": "Temp"}}},
        {"id": "rate", "binding": {"sparkplug": {"edge_node": "n1", "metric": "Rate"}}},
    ]
    line = {
        "id": "line",
        "source": "sp",
        "stations": [{"id": "st", "sim": {"processing_time": {"mean": 1}}, "signals": signals}],
    }
    source = {"kind": "sparkplug", "broker": url, "group_id": "g", "client_id": f"host-{uuid.uuid4().hex[:8]}"}
    model = {
        "factorytwin": 1,
        "enterprise": {"id": "acme", "sites": [{"id": "site", "areas": [{"id": "area", "lines": [line]}]}]},
        "sources": {"sp": source},
    }
    return parse_model(json.dumps(model), "edge.yaml")


class EdgeNode:
    """A hand-driven edge node n1 (device d1) of group g, publishing with a plain paho client."""

    def __init__(self, broker: Mosquitto) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"edge-{uuid.uuid4().hex[:8]}")
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.seq = 0

    def send(self, kind: str, metrics: list[Metric], seq: int | None = None, device: str | None = None) -> None:
        topic = f"spBv1.0/g/{kind}/n1" + (f"/{device}" if device else "")
        self.client.publish(topic, encode_payload(metrics, seq, 1_714_564_800_000), 0).wait_for_publish(5)

    def raw(self, kind: str, payload: bytes, device: str | None = "d1") -> None:
        topic = f"spBv1.0/g/{kind}/n1" + (f"/{device}" if device else "")
        self.client.publish(topic, payload, 0).wait_for_publish(5)

    def births(self, bd_seq: int = 3) -> None:
        self.send("NBIRTH", [Metric(BDSEQ, None, bd_seq, DataType.INT64), Metric("Rate", 1, 2.5, DataType.DOUBLE)], 0)
        self.send("DBIRTH", [Metric("Temp", 2, 20.0, DataType.FLOAT)], 1, "d1")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def temp_of(twin: Twin) -> object:
    state = twin.state.get(f"{ST}/temp")
    return state.value if state is not None else None


def ncmd_rebirths(listener: Listener) -> int:
    return sum(
        1
        for _, payload in listener.got
        if any(m.name == REBIRTH and m.value is True for m in decode_payload(payload).metrics)
    )


async def test_sequence_gaps_and_unknown_aliases_ask_for_a_rebirth(mosquitto: Mosquitto) -> None:
    ncmd = Listener(mosquitto.port, "spBv1.0/g/NCMD/n1")
    async with Twin(edge_model(mosquitto.url)) as twin:
        connector = twin.connectors["sp"]
        assert isinstance(connector, SparkplugConnector)
        assert await until(lambda: connector.health.connected, 10)
        edge = EdgeNode(mosquitto)
        edge.births()
        assert await twin.wait_for(lambda: temp_of(twin) == 20.0 and twin.state.get(f"{ST}/rate") is not None, 5)
        edge.send("DDATA", [Metric(None, 2, 21.0)], 2, "d1")  # datatype from the birth
        assert await twin.wait_for(lambda: temp_of(twin) == 21.0, 5)
        assert connector.health.errors == 0
        edge.send("DDATA", [Metric(None, 2, 22.0)], 5, "d1")  # 3 and 4 went missing
        assert await until(lambda: ncmd_rebirths(ncmd) == 1, 5), "no rebirth request after a sequence gap"
        assert await twin.wait_for(lambda: temp_of(twin) == 22.0, 5)  # its data is still good
        assert "sequence gap" in connector.dead_letters[-1].reason
        edge.births()  # the node answers with new births
        edge.send("DDATA", [Metric(None, 99, 1.0)], 2, "d1")
        assert await until(lambda: ncmd_rebirths(ncmd) == 2, 5), "no rebirth request after an unknown alias"
        assert "unknown alias 99" in connector.dead_letters[-1].reason
        assert connector.health.errors == 2
        assert connector.health.connected
        edge.close()
    ncmd.close()


async def test_truncated_and_garbage_protobuf_are_counted_and_survived(mosquitto: Mosquitto) -> None:
    truncated = encode_payload([Metric(None, 2, 30.0, DataType.FLOAT, 1_714_564_801_000)], 2, 1_714_564_801_000)[:-5]
    with pytest.raises(SparkplugDecodeError):
        decode_payload(truncated)
    async with Twin(edge_model(mosquitto.url)) as twin:
        connector = twin.connectors["sp"]
        assert await until(lambda: connector.health.connected, 10)
        edge = EdgeNode(mosquitto)
        edge.births()
        assert await twin.wait_for(lambda: temp_of(twin) == 20.0, 5)
        edge.raw("DDATA", truncated)
        edge.raw("DDATA", b"\xff\xff\xff\xff garbage")
        edge.send("DDATA", [Metric(None, 2, 23.0)], 2, "d1")
        assert await twin.wait_for(lambda: temp_of(twin) == 23.0, 5)
        assert connector.health.errors == 2
        assert all("not a Sparkplug B payload" in d.reason for d in connector.dead_letters)
        assert connector.health.connected
        edge.close()


async def test_deaths_turn_signals_stale_only_with_the_births_bdseq(mosquitto: Mosquitto) -> None:
    async with Twin(edge_model(mosquitto.url)) as twin:
        assert await until(lambda: twin.connectors["sp"].health.connected, 10)
        edge = EdgeNode(mosquitto)
        edge.births(bd_seq=3)
        assert await twin.wait_for(lambda: temp_of(twin) == 20.0 and twin.state.get(f"{ST}/rate") is not None, 5)
        edge.send("DDEATH", [], 2, "d1")
        assert await twin.wait_for(lambda: twin.state.get(f"{ST}/temp").quality is Quality.STALE, 5)  # type: ignore[union-attr]
        assert twin.state.get(f"{ST}/rate").quality is Quality.GOOD  # type: ignore[union-attr]  # the node lives on
        edge.send("NDEATH", [Metric(BDSEQ, None, 2, DataType.INT64)])  # an old session's death: ignored
        edge.send("NDATA", [Metric(None, 1, 3.5)], 3)
        assert await twin.wait_for(lambda: twin.state.get(f"{ST}/rate").value == 3.5, 5)  # type: ignore[union-attr]
        edge.send("NDEATH", [Metric(BDSEQ, None, 3, DataType.INT64)])
        assert await twin.wait_for(lambda: twin.state.get(f"{ST}/rate").quality is Quality.STALE, 5)  # type: ignore[union-attr]
        assert twin.state.get(f"{ST}/rate").value == 3.5  # type: ignore[union-attr]  # stale keeps the last value
        edge.close()


async def test_plant_edge_node_reaches_a_late_twin_and_dcmd_writes_reach_the_plant(mosquitto: Mosquitto) -> None:
    model = line_model(mosquitto.url, mosquitto.url)
    state = Listener(mosquitto.port, "spBv1.0/STATE/twin")
    capper = [p for p in PlantIndex(model).signals if "/capper/" in p]
    async with VirtualPlant(model, speed=20) as plant:
        node = plant.servers["edge"]
        assert isinstance(node, PlantSparkplugPublisher)
        assert node.nodes["line1"].births == 1
        async with Twin(model) as twin:  # joins after the births: it asks for a rebirth
            assert await twin.wait_for(lambda: all(twin.state.get(p) is not None for p in capper), 10)
            assert node.nodes["line1"].births == 2
            assert twin.connectors["edge"].health.errors == 0
            speed = twin.index.signals[f"{LINE}/capper/speed"]
            await twin.connectors["edge"].write(speed, 90.0)
            assert await until(lambda: plant.engine.values[speed.path] == 90.0, 5)
            assert await twin.wait_for(lambda: twin.state.get(speed.path).value == 90.0, 5)  # type: ignore[union-attr]
            good = f"{LINE}/capper/good_count"
            before = twin.state.get(good).value  # type: ignore[union-attr]
            assert await twin.wait_for(lambda: twin.state.get(good).value > before, 10)  # type: ignore[union-attr,operator]
            node.nodes["line1"].link.abort()  # the edge node crashes: the broker publishes its will (NDEATH)
            assert await twin.wait_for(lambda: all(twin.state.get(p).quality is Quality.STALE for p in capper), 10)  # type: ignore[union-attr]
            assert twin.state.get(f"{LINE}/filler/good_count").quality is Quality.GOOD  # type: ignore[union-attr]
    assert await until(lambda: len(state.got) >= 2, 5)
    state.close()
    assert json.loads(state.got[0][1])["online"] is True
    assert json.loads(state.got[-1][1])["online"] is False


def test_codec_round_trips_datatypes_and_signed_integers() -> None:
    metrics = [
        Metric("i8", 1, -5, DataType.INT8, 1),
        Metric("i32", 2, -70000, DataType.INT32),
        Metric("i64", 3, -(2**40), DataType.INT64),
        Metric("u64", 4, 2**63, DataType.UINT64),
        Metric("f", 5, 1.5, DataType.FLOAT),
        Metric("b", 6, True, DataType.BOOLEAN),
        Metric("s", 7, "text", DataType.STRING),
        Metric("n", 8, None, DataType.DOUBLE),
    ]
    decoded = decode_payload(encode_payload(metrics, 255, 1000))
    assert decoded.seq == 255
    assert decoded.timestamp == 1000
    values = [typed_value(m.value, m.datatype) for m in decoded.metrics]
    assert values == [-5, -70000, -(2**40), 2**63, 1.5, True, "text", None]
    assert decoded.metrics[7].is_null
    assert parse_topic("spBv1.0/g/DDATA/n1/d1") is not None
    assert parse_topic("spBv1.0/g/DDATA/n1") is None  # device messages name a device
    assert parse_topic("spBv1.0/STATE/host") is None
    with pytest.raises(SparkplugDecodeError):
        decode_payload(b"\x12\xff\x01")


async def test_sparkplug_connector_never_writes_to_an_offline_node(mosquitto: Mosquitto) -> None:
    async with Twin(edge_model(mosquitto.url)) as twin:
        assert await until(lambda: twin.connectors["sp"].health.connected, 10)
        with pytest.raises(Exception, match="not online"):
            await twin.connectors["sp"].write(twin.index.signals[f"{ST}/temp"], 1.0)

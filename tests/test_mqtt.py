"""MQTT end to end over real brokers: private Mosquitto instances and the embedded broker."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from factorytwin.broker import EmbeddedBroker
from factorytwin.columns import SampleColumns
from factorytwin.connect.mqtt import MqttConnector
from factorytwin.connect.payload import TopicDecoder, epoch_of, parse_path, quality_of
from factorytwin.events import Quality, Sample
from factorytwin.model import PlantModel, parse_model, relocate
from factorytwin.model.sources import MqttBinding
from factorytwin.plant import VirtualPlant
from factorytwin.runtime import Twin

from .mqtt_fixtures import (  # noqa: F401
    LINE,
    MOSQUITTO_SUB,
    Listener,
    Mosquitto,
    line_model,
    make_ca,
    mosquitto_fixture,
    persistent_mosquitto_fixture,
    tls_mosquitto_fixture,
    until,
)

ST = "acme/site/area/line/st"


def sensor_model(url: str, **source: object) -> PlantModel:
    """One station whose signals use every payload form: JSON paths, a plain number, arrays with match."""
    signals = [
        {"id": "temp", "binding": {"mqtt": {"topic": "plant/st/temp", "value": "data.temp", "timestamp": "ts"}}},
        {"id": "count", "role": "good_count", "binding": {"mqtt": {"topic": "plant/st/count", "format": "number"}}},
        {
            "id": "a",
            "binding": {"mqtt": {"topic": "plant/st/batch", "value": "v", "timestamp": "t", "match": {"id": "a"}}},
        },
        {
            "id": "b",
            "binding": {"mqtt": {"topic": "plant/st/batch", "value": "v", "timestamp": "t", "match": {"id": "b"}}},
        },
        {"id": "q", "binding": {"mqtt": {"topic": "plant/st/q", "value": "samples[0].v", "quality": "samples[0].q"}}},
    ]
    line = {
        "id": "line",
        "source": "uns",
        "stations": [{"id": "st", "sim": {"processing_time": {"mean": 1}}, "signals": signals}],
    }
    model = {
        "factorytwin": 1,
        "enterprise": {"id": "acme", "sites": [{"id": "site", "areas": [{"id": "area", "lines": [line]}]}]},
        "sources": {"uns": {"kind": "mqtt", "broker": url, "client_id": f"twin-{uuid.uuid4().hex[:8]}", **source}},
    }
    return parse_model(json.dumps(model), "sensors.yaml")


class Publisher:
    """A plain paho client (not ours) with its own network thread; QoS 1 messages queue while the broker is away."""

    def __init__(self, broker: Mosquitto) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> paho.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos, retain)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def connected(twin: Twin, sid: str = "uns") -> Callable[[], bool]:
    return lambda: twin.connectors[sid].health.connected


async def test_json_number_and_array_payloads_reach_live_state_and_history(mosquitto: Mosquitto) -> None:
    async with Twin(sensor_model(mosquitto.url)) as twin:
        assert await until(connected(twin), 10)
        pub = Publisher(mosquitto)
        pub.send("plant/st/temp", json.dumps({"data": {"temp": 21.5}, "ts": "2024-05-01T12:00:00Z"}))
        pub.send("plant/st/count", "42")
        batch = [{"id": "a", "v": i, "t": 1714564800000 + i} for i in range(5)] + [
            {"id": "b", "v": 7.5, "t": 1714564800}
        ]
        pub.send("plant/st/batch", json.dumps([*batch, {"id": "zzz", "v": 1, "t": 1}]))
        pub.send("plant/st/q", json.dumps({"samples": [{"v": 3.0, "q": "uncertain"}]}))
        assert await twin.wait_for(lambda: len(twin.state.signals) == 5, 10)
        pub.close()
        state = {path.rsplit("/", 1)[1]: s for path, s in twin.state.signals.items()}
        assert (state["temp"].value, state["temp"].source_time) == (21.5, 1714564800.0)
        assert state["count"].value == 42
        assert (state["a"].value, state["a"].source_time) == (4, 1714564800.004)
        assert state["b"].value == 7.5
        assert (state["q"].value, state["q"].quality) == (3.0, Quality.UNCERTAIN)
        rows = await twin.historian.query(f"{ST}/a", 0, time.time() + 60)
        assert [r.value for r in rows] == [0, 1, 2, 3, 4]
        assert twin.connectors["uns"].health.errors == 0
        connector = twin.connectors["uns"]
        assert isinstance(connector, MqttConnector)
        assert connector.column_sink == twin.ingest  # nothing in between: batches travel as columns


async def test_a_spooled_source_takes_the_sample_road_and_loses_nothing(mosquitto: Mosquitto, tmp_path: Any) -> None:
    async with Twin(sensor_model(mosquitto.url, spool={"path": str(tmp_path)})) as twin:
        assert await until(connected(twin), 10)
        connector = twin.connectors["uns"]
        assert isinstance(connector, MqttConnector)
        assert connector.column_sink is None  # store-and-forward in between: batches become samples
        pub = Publisher(mosquitto)
        pub.send("plant/st/batch", json.dumps([{"id": "ab"[i % 2], "v": i, "t": 1714564800.0 + i} for i in range(200)]))
        assert await twin.wait_for(lambda: (twin.state.get(f"{ST}/b") or Sample("", 0, 0, None)).value == 199, 10)
        pub.close()
        rows = await twin.historian.query(f"{ST}/a", 0, time.time() + 60)
        assert [r.value for r in rows] == list(range(0, 200, 2))


async def test_malformed_payloads_are_counted_kept_aside_and_survived(mosquitto: Mosquitto) -> None:
    async with Twin(sensor_model(mosquitto.url)) as twin:
        assert await until(connected(twin), 10)
        connector = twin.connectors["uns"]
        assert isinstance(connector, MqttConnector)
        pub = Publisher(mosquitto)
        pub.send("plant/st/temp", "{not json")
        pub.send("plant/st/temp", json.dumps({"data": {"temp": "hot"}, "ts": 1}))
        pub.send("plant/st/temp", '{"data": {"temp": NaN}, "ts": 1}')
        pub.send("plant/st/temp", json.dumps({"data": {}, "ts": 1}))
        pub.send("plant/st/count", "twelve")
        pub.send(
            "plant/st/batch", json.dumps([{"id": "a", "v": 1, "t": 1714564800}, {"id": "b", "v": [1], "t": 1714564800}])
        )
        pub.send("plant/st/temp", json.dumps({"data": {"temp": 19.0}, "ts": 1714564801}))
        assert await twin.wait_for(lambda: (twin.state.get(f"{ST}/temp") or Sample("", 0, 0, None)).value == 19.0, 10)
        pub.close()
        assert connector.health.errors == 6
        assert connector.health.connected
        reasons = [d.reason for d in connector.dead_letters]
        assert reasons[0].startswith("not JSON")
        assert any("str, not a number" in r for r in reasons)
        assert any("not finite" in r for r in reasons)
        assert any("no 'data.temp'" in r for r in reasons)
        assert any(r.endswith("count: not a number") for r in reasons)
        assert connector.dead_letters[0].topic == "plant/st/temp"
        assert connector.dead_letters[0].excerpt == "{not json"
        assert twin.state.get(f"{ST}/a").value == 1  # type: ignore[union-attr]  # the good element survived
        b = twin.state.get(f"{ST}/b")
        assert b is not None
        assert (b.value, b.quality) == (None, Quality.BAD)  # a wrong value is BAD, never a zero


async def test_twin_mirrors_the_virtual_plant_and_writes_reach_it(mosquitto: Mosquitto) -> None:
    model = line_model(mosquitto.url)
    async with VirtualPlant(model, speed=20) as plant, Twin(model) as twin:
        assert await twin.wait_for(lambda: len(twin.state.signals) == len(twin.index.signals), 10)
        speed = twin.index.signals[f"{LINE}/filler/speed"]
        replies = Listener(mosquitto.port, f"{LINE}/filler/speed/set/reply")
        await asyncio.sleep(0.1)
        await twin.connectors["uns"].write(speed, 80.0)
        assert await until(lambda: plant.engine.values[speed.path] == 80.0, 5)
        assert await twin.wait_for(lambda: twin.state.get(speed.path).value == 80.0, 5)  # type: ignore[union-attr]
        await twin.connectors["uns"].write(speed, 20.0)  # a step over max_step: the plant refuses
        assert await until(lambda: len(replies.got) == 2, 5)
        replies.close()
        ok, refused = (json.loads(p) for _, p in replies.got)
        assert ok == {"ok": True, "value": 80.0}
        assert refused["ok"] is False
        assert refused["reason"] == "limits"
        assert plant.engine.values[speed.path] == 80.0
        temp = twin.state.get(f"{LINE}/filler/temperature")
        assert temp is not None
        assert temp.quality is Quality.GOOD


async def test_a_client_that_is_not_ours_reads_the_unified_namespace(mosquitto: Mosquitto) -> None:
    async with VirtualPlant(line_model(mosquitto.url), speed=20):
        proc = await asyncio.create_subprocess_exec(
            MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(mosquitto.port), "-t", "acme/#", "-C", "8", "-v",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    lines = out.decode().splitlines()
    assert len(lines) == 8
    topics = {line.split(" ", 1)[0] for line in lines}
    assert f"{LINE}/filler/good_count" in topics
    _topic, payload = lines[0].split(" ", 1)
    doc = json.loads(payload)
    assert set(doc) == {"value", "timestamp", "quality"}
    assert doc["quality"] == "good"
    assert doc["timestamp"].endswith("Z")
    assert epoch_of(doc["timestamp"]) == pytest.approx(time.time(), abs=30)


async def test_broker_restart_with_qos1_and_a_persistent_session_loses_nothing(
    persistent_mosquitto: Mosquitto,
) -> None:
    broker = persistent_mosquitto
    model = sensor_model(broker.url, reconnect_min_s=0.05, reconnect_max_s=0.2)
    path = f"{ST}/count"
    async with Twin(model) as twin:
        assert await until(connected(twin), 10)
        pub = Publisher(broker)
        sent = 0

        async def publish(upto: int) -> None:
            nonlocal sent
            while sent < upto:
                pub.send("plant/st/count", str(sent))
                sent += 1
                await asyncio.sleep(0.002)

        await publish(150)
        assert await twin.wait_for(lambda: (twin.state.get(path) or Sample("", 0, 0, None)).value is not None, 5)
        broker.stop()  # SIGTERM: the broker writes the session store
        assert await twin.wait_for(lambda: twin.state.get(path).quality is Quality.STALE, 10)  # type: ignore[union-attr]
        await publish(300)  # the publisher queues while the broker is away
        broker.start()
        await publish(450)
        assert await twin.wait_for(lambda: twin.state.get(path).value == 449, 20)  # type: ignore[union-attr]
        pub.close()
        health = twin.connectors["uns"].health
        assert health.reconnects >= 1
        rows = await twin.historian.query(path, 0, time.time() + 60)
    values = {r.value for r in rows if r.quality is Quality.GOOD}
    assert values >= set(range(450)), f"lost {sorted(set(range(450)) - values)[:20]}"
    assert Quality.STALE in {r.quality for r in rows}


async def test_tls_with_a_certificate_from_another_ca_fails_clearly(tls_mosquitto: Mosquitto, tmp_path: Any) -> None:
    broker = tls_mosquitto
    assert broker.tls is not None
    other_ca, _, _ = make_ca(tmp_path, "other-ca")
    wrong = sensor_model(broker.tls_url, tls={"ca": str(other_ca)}, reconnect_min_s=0.05)
    async with Twin(wrong) as twin:
        health = twin.connectors["uns"].health
        assert await until(lambda: health.errors >= 1, 10)
        assert "certificate" in (health.last_error or "")
        assert "TLS handshake" in (health.last_error or "")
        assert not health.connected
    right = sensor_model(broker.tls_url, tls={"ca": str(broker.tls.ca)})
    async with Twin(right) as twin:
        assert await until(connected(twin), 10)
        pub = Publisher(broker)
        pub.send("plant/st/count", "7")
        assert await twin.wait_for(lambda: (twin.state.get(f"{ST}/count") or Sample("", 0, 0, None)).value == 7, 10)
        pub.close()


async def test_embedded_broker_carries_the_plant_to_the_twin() -> None:
    async with EmbeddedBroker(port=0) as broker:
        model = relocate(line_model("mqtt://127.0.0.1:1"), {"uns": {"broker": broker.url}})
        async with VirtualPlant(model, speed=20) as plant, Twin(model) as twin:
            assert await twin.wait_for(lambda: len(twin.state.signals) == len(twin.index.signals), 10)
            speed = twin.index.signals[f"{LINE}/filler/speed"]
            await twin.connectors["uns"].write(speed, 110.0)
            assert await until(lambda: plant.engine.values[speed.path] == 110.0, 5)
            good = f"{LINE}/filler/good_count"
            before = twin.state.get(good).value  # type: ignore[union-attr]
            assert await twin.wait_for(lambda: twin.state.get(good).value > before, 10)  # type: ignore[union-attr,operator]


async def test_an_unreachable_broker_reads_stale_and_a_write_is_refused(mosquitto: Mosquitto) -> None:
    url = mosquitto.url
    mosquitto.stop()
    model = line_model(url)
    async with Twin(model) as twin:
        assert await twin.wait_for(lambda: len(twin.state.signals) == len(twin.index.signals), 10)
        assert all(s.quality is Quality.STALE and s.value is None for s in twin.state.signals.values())
        assert "cannot reach the broker" in (twin.connectors["uns"].health.last_error or "")
        with pytest.raises(Exception, match="not connected"):
            await twin.connectors["uns"].write(twin.index.signals[f"{LINE}/filler/speed"], 90.0)


# --- payload decoding, without a broker ----------------------------------------------------------


def test_paths_times_and_qualities() -> None:
    assert parse_path("samples[0].v") == ("samples", 0, "v")
    for bad in ("a..b", ".a", "a[x]", ""):
        with pytest.raises(ValueError, match="bad path"):
            parse_path(bad)
    assert epoch_of("2024-05-01T12:00:00Z") == epoch_of(1714564800) == epoch_of(1714564800000) == 1714564800.0
    assert epoch_of("2024-05-01T14:00:00+02:00") == 1714564800.0
    assert epoch_of(True) is None
    assert epoch_of("yesterday") is None
    assert quality_of("GOOD") is Quality.GOOD
    assert quality_of(0x40920000) is Quality.UNCERTAIN  # UncertainSensorNotAccurate
    assert quality_of(0x80340000) is Quality.BAD  # BadNodeIdUnknown
    assert quality_of("meh") is None


@given(st.binary(max_size=200))
def test_decoding_never_raises(payload: bytes) -> None:
    decoder = TopicDecoder(
        "t",
        [
            ("s/a", MqttBinding(topic="t", value="v", timestamp="t", quality="q", match={"id": "a"})),
            ("s/b", MqttBinding(topic="t", value="x[1].y")),
            ("s/n", MqttBinding(topic="t", format="number")),
        ],
    )
    out = SampleColumns()
    errors = decoder.decode(payload, 1.0, out)
    columns = (out.signals, out.source_times, out.receive_times, out.values, out.qualities)
    assert len({len(c) for c in columns}) == 1  # the columns stay aligned whatever the payload
    for sample in out:
        assert sample.value is None or (isinstance(sample.value, int | float) and math.isfinite(sample.value))
        assert (sample.value is None) == (sample.quality is Quality.BAD)
    assert len(errors) <= len(out) + 1


def test_arrays_decode_into_columns_and_bad_elements_keep_their_place() -> None:
    decoder = TopicDecoder(
        "t", [(f"s/{k}", MqttBinding(topic="t", value="v", timestamp="t", match={"id": k})) for k in "abc"]
    )
    good = [{"id": "abc"[i % 3], "v": i, "t": 1714564800.0 + i} for i in range(300)]
    out = SampleColumns()
    assert decoder.decode(json.dumps(good).encode(), 5.0, out) == []  # all good: the whole array in one piece
    assert out.signals == [f"s/{'abc'[i % 3]}" for i in range(300)]
    assert out.values == list(range(300))
    assert out.source_times == [1714564800.0 + i for i in range(300)]
    assert out.receive_times == [5.0] * 300
    assert out.qualities == [Quality.GOOD] * 300

    mixed = [
        *good[:2],
        {"id": "a", "v": "hot", "t": 1.0},  # wrong type: BAD, counted
        {"id": "b", "t": 2.0},  # no value: BAD, counted
        {"id": "zzz", "v": 1, "t": 1.0},  # bound to no signal: skipped
        7,  # not an object: skipped
        {"id": ["x"], "v": 1, "t": 1.0},  # an unhashable id matches nothing
        {"id": "c", "v": True, "t": 1714564800000},  # bool as 1, epoch milliseconds
        {"id": "a", "v": 2.5, "t": "2024-05-01T12:00:00Z"},  # ISO 8601 time
        good[2],
    ]
    out = SampleColumns()
    errors = decoder.decode(json.dumps(mixed).encode(), 5.0, out)
    assert list(out) == [
        Sample("s/a", 1714564800.0, 5.0, 0, Quality.GOOD),
        Sample("s/b", 1714564801.0, 5.0, 1, Quality.GOOD),
        Sample("s/a", 1.0, 5.0, None, Quality.BAD),
        Sample("s/b", 2.0, 5.0, None, Quality.BAD),
        Sample("s/c", 1714564800.0, 5.0, 1, Quality.GOOD),
        Sample("s/a", 1714564800.0, 5.0, 2.5, Quality.GOOD),
        Sample("s/c", 1714564802.0, 5.0, 2, Quality.GOOD),
    ]
    assert errors == ["s/a: 'v' is str, not a number", "s/b: no 'v' in the payload"]

    out = SampleColumns()  # NaN is not JSON to a strict parser: the lenient one reads the rest of the array
    errors = decoder.decode(b'[{"id":"a","v":NaN,"t":1.5},{"id":"b","v":1,"t":2.5}]', 5.0, out)
    assert list(out) == [Sample("s/a", 1.5, 5.0, None, Quality.BAD), Sample("s/b", 2.5, 5.0, 1, Quality.GOOD)]
    assert errors == ["s/a: 'v' is not finite"]

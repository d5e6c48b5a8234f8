"""Modbus TCP: the codec and read planning (properties), and end to end over real loopback servers.

The virtual plant serves a small line over its Modbus server; the twin polls it with our connector;
``mbpoll`` (a Modbus client that is not ours) reads the same registers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import re
import shutil
import struct
import time
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.client import AsyncModbusTcpClient

from factorytwin.cli import free_port
from factorytwin.connect.modbus import ModbusConnector
from factorytwin.connect.modbus_codec import (
    BIT_LIMIT,
    REGISTER_LIMIT,
    bit_mask,
    decode,
    encode,
    merge,
    plan,
    width,
)
from factorytwin.errors import ConnectorError, WriteRejected
from factorytwin.events import Quality, Sample
from factorytwin.model import PlantModel, parse_model, relocate
from factorytwin.model.sources import ModbusBinding
from factorytwin.plant import VirtualPlant
from factorytwin.plant.modbus_server import PlantModbusServer
from factorytwin.runtime import Twin

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

LINE = "acme/lyon/press/line1"
PRESS = f"{LINE}/press"
PACKER = f"{LINE}/packer"

# ---------------------------------------------------------------------------------------------- codec

INT_RANGES = {"int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1), "int32": (-(2**31), 2**31 - 1)}
INT_RANGES["uint32"] = (0, 2**32 - 1)
ORDERS = st.sampled_from(["big", "little"])


def mb(**kw: object) -> ModbusBinding:
    return ModbusBinding.model_validate({"address": 0, **kw})


@st.composite
def numbers(draw: st.DrawFn) -> tuple[ModbusBinding, float | int]:
    kind = draw(st.sampled_from([*INT_RANGES, "float32", "float64"]))
    binding = mb(type=kind, byte_order=draw(ORDERS), word_order=draw(ORDERS))
    if kind in INT_RANGES:
        return binding, draw(st.integers(*INT_RANGES[kind]))
    value = draw(st.floats(allow_nan=False, allow_infinity=True, width=32 if kind == "float32" else 64))
    return binding, value


@given(numbers())
def test_every_numeric_type_and_order_round_trips(case: tuple[ModbusBinding, float | int]) -> None:
    binding, value = case
    words = encode(binding, value)
    assert len(words) == width(binding)
    assert all(0 <= w <= 0xFFFF for w in words)
    back = decode(binding, words)
    assert back == value
    assert type(back) is type(value)


@given(st.sampled_from([*INT_RANGES, "float32", "float64"]), ORDERS, ORDERS, st.data())
def test_any_registers_decode_and_encode_back_to_the_same_words(
    kind: str, byte_order: str, word_order: str, data: st.DataObject
) -> None:
    binding = mb(type=kind, byte_order=byte_order, word_order=word_order)
    words = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=width(binding), max_size=width(binding)))
    value = decode(binding, words)
    if isinstance(value, float) and math.isnan(value):
        return  # NaN payloads are not canonical
    assert encode(binding, value) == words


@given(
    st.sampled_from(["int16", "uint16", "int32", "uint32"]),
    st.sampled_from([0.1, 0.01, 0.5, 2.0, -0.25]),
    st.floats(-100, 100),
    st.data(),
)
def test_scale_and_offset_are_inverted_within_half_a_step(
    kind: str, scale: float, offset: float, data: st.DataObject
) -> None:
    binding = mb(type=kind, scale=scale, offset=offset)
    low, high = INT_RANGES[kind]
    raw = data.draw(st.integers(low, high))
    value = raw * scale + offset
    assert decode(binding, encode(binding, value)) == pytest.approx(value, abs=abs(scale) / 2 + 1e-9)
    assert encode(binding, decode(binding, encode(binding, value))) == encode(binding, value)


@given(ORDERS, st.integers(1, 20), st.data())
def test_strings_round_trip_text_and_numbers(byte_order: str, length: int, data: st.DataObject) -> None:
    binding = mb(type="string", length=length, byte_order=byte_order)
    alphabet = st.characters(min_codepoint=33, max_codepoint=126)
    text = data.draw(st.text(alphabet, min_size=1, max_size=2 * length).filter(lambda t: _not_number(t)))
    assert decode(binding, encode(binding, text)) == text
    number = data.draw(st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6).map(lambda x: round(x, 3))))
    if len(repr(number)) <= 2 * length:
        assert decode(binding, encode(binding, number)) == number
    with pytest.raises(ValueError, match="longer"):
        encode(binding, "x" * (2 * length + 1))


def _not_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


@given(st.integers(0, 15), ORDERS, st.integers(0, 0xFFFF), st.booleans())
def test_a_bit_in_a_register_changes_only_its_bit(bit: int, byte_order: str, old: int, on: bool) -> None:
    binding = mb(type="bool", bit=bit, byte_order=byte_order)
    word = merge(old, encode(binding, on)[0], bit_mask(binding))
    assert decode(binding, [word]) == int(on)
    assert word & ~bit_mask(binding) == old & ~bit_mask(binding)
    assert bin(bit_mask(binding)).count("1") == 1


def test_known_layouts_and_limits() -> None:
    assert encode(mb(type="float32"), 160.0) == [0x4320, 0x0000]
    assert encode(mb(type="float32", word_order="little"), 160.0) == [0x0000, 0x4320]
    assert encode(mb(type="uint16", byte_order="little"), 0x1234) == [0x3412]
    assert encode(mb(type="int32"), -2) == [0xFFFF, 0xFFFE]
    assert encode(mb(type="string", length=2), "AB") == [0x4142, 0]
    assert decode(mb(type="bool"), [4]) == 1
    assert decode(mb(table="coil", type="bool"), [True]) == 1
    assert decode(mb(type="int16", scale=0.1, offset=-10), [130]) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="range of int16"):
        encode(mb(type="int16"), 40000)
    with pytest.raises(ValueError, match="does not fit"):
        encode(mb(type="uint32"), math.nan)
    assert encode(mb(type="int16"), 40000, saturate=True) == [0x7FFF]
    assert encode(mb(type="float32"), 1e300, saturate=True) == list(
        struct.unpack(">HH", struct.pack(">f", 3.4028234663852886e38))
    )


TABLES = st.sampled_from(["holding", "input", "coil", "discrete"])


@st.composite
def bindings(draw: st.DrawFn) -> ModbusBinding:
    table = draw(TABLES)
    unit = draw(st.sampled_from([None, 1, 7]))
    if table in ("coil", "discrete"):
        return mb(table=table, address=draw(st.integers(0, 3000)), type="bool", unit_id=unit)
    kind = draw(st.sampled_from(["uint16", "int32", "float64", "string", "bool"]))
    extra: dict[str, object] = {"length": draw(st.integers(1, 123))} if kind == "string" else {}
    return mb(table=table, address=draw(st.integers(0, 400)), type=kind, unit_id=unit, **extra)


@settings(max_examples=200)
@given(st.lists(bindings(), max_size=60), st.integers(1, 3), st.integers(0, 100))
def test_plan_reads_every_binding_once_within_the_limits(items: list[ModbusBinding], unit: int, gap: int) -> None:
    requests = plan(items, unit, gap)
    members = sorted(i for r in requests for i in r.members)
    assert members == list(range(len(items)))
    for r in requests:
        assert 1 <= r.count <= (BIT_LIMIT if r.table in ("coil", "discrete") else REGISTER_LIMIT)
        for i in r.members:
            b = items[i]
            assert b.table == r.table
            assert (b.unit_id if b.unit_id is not None else unit) == r.unit_id
            assert r.address <= b.address
            assert b.address + width(b) <= r.end
    for a, b in itertools.pairwise(requests):  # no two neighbours could have been one read
        if (a.table, a.unit_id) == (b.table, b.unit_id):
            limit = BIT_LIMIT if a.table in ("coil", "discrete") else REGISTER_LIMIT
            assert b.address > a.end + gap or max(a.end, b.end) - a.address > limit


def test_plan_merges_across_small_gaps_only() -> None:
    items = [mb(address=0, type="float32"), mb(address=10), mb(address=19), mb(address=40), mb(address=0, unit_id=2)]
    assert [(r.address, r.count, r.unit_id, r.members) for r in plan(items, 1, 8)] == [
        (0, 20, 1, (0, 1, 2)),
        (40, 1, 1, (3,)),
        (0, 1, 2, (4,)),
    ]
    assert len(plan(items, 1, 0)) == 5


# ---------------------------------------------------------------------------------------------- end to end

MODEL = """
factorytwin: 1
enterprise:
  id: acme
  sites:
    - id: lyon
      areas:
        - id: press
          lines:
            - id: line1
              source: mb
              stations:
                - id: press
                  sim: {{processing_time: {{mean: 1.0}}}}
                  signals:
                    - {{id: state, role: state, binding: {{modbus: {{address: 0}}}}}}
                    - {{id: good_count, role: good_count, binding: {{modbus: {{address: 1, type: uint32}}}}}}
                    - id: scrap_count
                      role: scrap_count
                      binding: {{modbus: {{address: 3, type: int32, word_order: little}}}}
                    - {{id: cycle_time, role: cycle_time, binding: {{modbus: {{address: 5, type: float64}}}}}}
                    - id: speed
                      role: speed
                      write: {{min: 20, max: 120, max_step: 25}}
                      sim: {{base: 100}}
                      binding: {{modbus: {{address: 10, type: int16, scale: 0.1}}}}
                    - id: temp_sp
                      role: setpoint
                      write: {{min: 150, max: 180}}
                      sim: {{base: 160}}
                      binding: {{modbus: {{address: 12, type: float32, word_order: little}}}}
                    - id: running
                      sim: {{base: 1}}
                      binding: {{modbus: {{address: 20, type: bool, bit: 0}}}}
                    - id: reset
                      role: setpoint
                      write: {{min: 0, max: 1}}
                      binding: {{modbus: {{address: 20, type: bool, bit: 5}}}}
                    - id: mode
                      sim: {{base: 2.5}}
                      binding: {{modbus: {{address: 30, type: string, length: 4}}}}
                    - id: enable
                      role: setpoint
                      write: {{min: 0, max: 1}}
                      sim: {{base: 1}}
                      binding: {{modbus: {{table: coil, address: 0, type: bool}}}}
                    - id: ready
                      sim: {{base: 1}}
                      binding: {{modbus: {{table: discrete, address: 0, type: bool}}}}
                    - id: temperature
                      role: temperature
                      sim: {{base: 160, noise: 0.3, tau: 5, follows: temp_sp}}
                      binding: {{modbus: {{table: input, address: 0, type: float32}}}}
                    - id: current
                      role: motor_current
                      sim: {{base: 1.5, noise: 0.05, tau: 2, load_gain: 4}}
                      binding: {{modbus: {{table: input, address: 2, scale: 0.01}}}}
                    - id: pressure
                      role: pressure
                      sim: {{base: 3.0, noise: 0.05}}
                      binding: {{modbus: {{table: input, address: 3, type: int16, scale: 0.1, offset: -10,
                                          byte_order: little}}}}
                - id: packer
                  sim: {{processing_time: {{mean: 0.8}}}}
                  signals:
                    - {{id: state, role: state, binding: {{modbus: {{address: 100, unit_id: 2}}}}}}
                    - id: good_count
                      role: good_count
                      binding: {{modbus: {{address: 101, type: uint32, word_order: little, unit_id: 2}}}}
                    - id: cycle_time
                      role: cycle_time
                      binding: {{modbus: {{address: 103, type: string, length: 5, unit_id: 2}}}}
                    - id: vibration
                      role: vibration
                      sim: {{base: 0.5, noise: 0.05, tau: 2, load_gain: 0.3}}
                      binding: {{modbus: {{table: input, address: 10, type: float64, word_order: little}}}}
{extra}
              buffers:
                - id: conveyor
                  upstream: press
                  downstream: packer
                  capacity: 10
                  signals:
                    - {{id: level, role: level, binding: {{modbus: {{table: input, address: 20}}}}}}
sources:
  mb:
    kind: modbus
    host: 127.0.0.1
    port: {port}
    poll_interval_s: 0.05
    timeout_s: 0.5
    reconnect_min_s: 0.05
    reconnect_max_s: 0.2
virtual_plant: {{serves: [mb]}}
"""
GHOST = """\
                    - {id: ghost, binding: {modbus: {table: input, address: 25}}}  # the device has no register 25"""
EXPECTED_PLAN = [
    ("coil", 1, 0, 1),
    ("discrete", 1, 0, 1),
    ("holding", 1, 0, 21),
    ("holding", 1, 30, 4),
    ("holding", 2, 100, 8),
    ("input", 1, 0, 21),
]


def _model(port: int, extra: str = "") -> PlantModel:
    return parse_model(MODEL.format(port=port, extra=extra), "modbus-test.yaml")


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
async def plant(port: int) -> AsyncIterator[VirtualPlant]:
    async with VirtualPlant(_model(port), speed=10) as vp:
        yield vp


def _all(twin: Twin, quality: Quality) -> bool:
    return len(twin.state.signals) == len(twin.index.signals) and all(
        s.quality is quality for s in twin.state.signals.values()
    )


@pytest.fixture
async def twin(port: int, plant: VirtualPlant) -> AsyncIterator[Twin]:
    async with Twin(_model(port)) as tw:
        assert await tw.wait_for(lambda: _all(tw, Quality.GOOD), 10), "twin never saw every signal GOOD"
        yield tw


def _server(plant: VirtualPlant) -> PlantModbusServer:
    server = plant.servers["mb"]
    assert isinstance(server, PlantModbusServer)
    return server


def _connector(twin: Twin) -> ModbusConnector:
    connector = twin.connectors["mb"]
    assert isinstance(connector, ModbusConnector)
    return connector


def _matches(twin: Twin, plant: VirtualPlant, path: str) -> bool:
    """The twin holds the plant's value, as exactly as the binding can carry it."""
    st_ = twin.state.get(path)
    if st_ is None or st_.quality is not Quality.GOOD or st_.value is None:
        return False
    b = twin.index.signals[path].binding.modbus  # type: ignore[union-attr]
    assert b is not None
    want, got = plant.engine.values[path], st_.value
    assert isinstance(want, int | float)
    assert isinstance(got, int | float)
    if b.type == "float32":
        return math.isclose(got, want, rel_tol=1e-6)
    if b.scale != 1.0 or b.offset != 0.0:
        return abs(got - want) <= abs(b.scale) / 2 + 1e-9
    return got == want


async def test_twin_mirrors_every_type_the_plant_serves(plant: VirtualPlant, twin: Twin) -> None:
    assert await twin.wait_for(lambda: (twin.state.get(f"{PACKER}/good_count").value or 0) > 3, 10)  # type: ignore[union-attr,operator]
    await plant.pause()
    assert await twin.wait_for(lambda: all(_matches(twin, plant, p) for p in twin.index.signals), 5)
    assert twin.state.get(f"{PRESS}/mode").value == 2.5  # type: ignore[union-attr]  # a number sent as text
    assert twin.state.get(f"{PRESS}/running").value == 1  # type: ignore[union-attr]  # bit 0 of register 20
    assert twin.state.get(f"{PRESS}/reset").value == 0  # type: ignore[union-attr]  # bit 5 of register 20
    assert twin.state.stations[PRESS].state.value in ("running", "blocked", "starved", "idle")
    health = _connector(twin).health
    assert health.connected
    assert health.errors == 0
    assert twin.stats()["intake"]["wrong_type"] == 0


async def test_contiguous_registers_are_read_in_as_few_requests_as_possible(
    plant: VirtualPlant, twin: Twin, port: int
) -> None:
    connector = _connector(twin)
    assert [(r.table, r.unit_id, r.address, r.count) for r in connector.plan] == EXPECTED_PLAN
    assert connector.requests == connector.polls * len(EXPECTED_PLAN)
    # one poll, counted on the wire by the server
    batches: list[list[Sample]] = []

    async def sink(batch: list[Sample]) -> None:
        batches.append(batch)

    probe = ModbusConnector("mb", twin.model.sources["mb"], twin.index.bound_to("mb"), sink)  # type: ignore[arg-type]
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0, reconnect_delay=0)
    assert await client.connect()
    try:
        server = _server(plant)
        await plant.pause()
        before = server.reads
        await probe.poll(client)
        assert server.reads - before == len(EXPECTED_PLAN)
        assert len(batches) == 1
        assert {s.signal for s in batches[0]} == set(twin.index.signals)  # the first poll sends every value
        await probe.poll(client)
        assert server.reads - before == 2 * len(EXPECTED_PLAN)
        assert len(batches) == 1  # nothing changed, nothing sent
    finally:
        client.close()


async def test_a_device_that_stops_answering_turns_stale_and_recovers(plant: VirtualPlant, twin: Twin) -> None:
    path = f"{PRESS}/good_count"
    connector = _connector(twin)
    await plant.stop_server("mb")
    assert await twin.wait_for(lambda: _all(twin, Quality.STALE), 5)
    assert twin.state.get(path).value is not None  # type: ignore[union-attr]  # the last value is kept
    health = connector.health
    assert not health.connected
    assert health.errors >= 1
    await plant.start_server("mb")
    assert await twin.wait_for(lambda: _all(twin, Quality.GOOD), 5)
    assert health.connected
    assert health.reconnects == 1
    rows = await twin.historian.query(path, 0, time.time() + 60)
    assert [r.quality for r in rows].count(Quality.STALE) == 1, "the outage is marked once, not on every retry"


async def test_an_address_the_device_lacks_is_bad_for_its_request_only(plant: VirtualPlant, port: int) -> None:
    async with Twin(_model(port, extra=GHOST)) as twin:
        inputs = {s.path for s in twin.index.signals.values() if s.binding.modbus.table == "input"}  # type: ignore[union-attr]
        assert f"{PACKER}/ghost" in inputs
        assert len(inputs) == 6

        def settled() -> bool:
            states = twin.state.signals
            return len(states) == len(twin.index.signals) and all(
                st_.quality is (Quality.BAD if path in inputs else Quality.GOOD) for path, st_ in states.items()
            )

        assert await twin.wait_for(settled, 5)
        assert all(twin.state.get(p).value is None for p in inputs)  # type: ignore[union-attr]
        health = _connector(twin).health
        assert health.connected
        assert health.errors == 1  # counted once, not on every poll
        assert "exception 2 (illegal data address) reading input 0+26" in (health.last_error or "")


async def test_connector_writes_setpoints_and_maps_refusals(plant: VirtualPlant, twin: Twin) -> None:
    connector = _connector(twin)
    sig = twin.index.signals
    await connector.write(sig[f"{PRESS}/speed"], 75.0)
    await connector.write(sig[f"{PRESS}/temp_sp"], 170.5)
    await connector.write(sig[f"{PRESS}/reset"], 1)
    await connector.write(sig[f"{PRESS}/enable"], 0)
    values = plant.engine.values
    assert (values[f"{PRESS}/speed"], values[f"{PRESS}/temp_sp"]) == (75.0, 170.5)
    assert (values[f"{PRESS}/reset"], values[f"{PRESS}/enable"]) == (1.0, 0.0)
    await plant.pause()
    assert await twin.wait_for(lambda: all(_matches(twin, plant, p) for p in twin.index.signals), 5)
    assert twin.state.get(f"{PRESS}/running").value == 1  # type: ignore[union-attr]  # its neighbour bit is kept
    for path, value, reason in [
        (f"{PRESS}/speed", 110.0, "limits"),  # a step of 25 at most
        (f"{PRESS}/speed", 5000.0, "limits"),  # does not even fit the int16 register
        (f"{PRESS}/temp_sp", 400.0, "limits"),
        (f"{PRESS}/good_count", 0, "read_only"),
        (f"{PRESS}/temperature", 150.0, "read_only"),  # an input register
    ]:
        with pytest.raises(WriteRejected) as refused:
            await connector.write(sig[path], value)
        assert refused.value.reason == reason, path
    assert values[f"{PRESS}/speed"] == 75.0
    await plant.stop_server("mb")
    assert await twin.wait_for(lambda: not connector.health.connected, 5)
    with pytest.raises(ConnectorError, match="not connected"):
        await connector.write(sig[f"{PRESS}/speed"], 80.0)


async def test_the_server_refuses_writes_like_a_plc(plant: VirtualPlant, port: int) -> None:
    values = plant.engine.values
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0, reconnect_delay=0)
    assert await client.connect()
    try:
        assert (await client.write_registers(1, [0, 5])).exception_code == 2  # good_count is read-only
        assert (await client.write_register(9, 1)).exception_code == 2  # no signal lives there
        assert (await client.write_register(10, 1300)).exception_code == 3  # 130 % is over the limit
        assert values[f"{PRESS}/speed"] == 100.0
        assert (await client.read_holding_registers(10, count=1)).registers == [1000]  # not stored
        assert (await client.write_register(20, 0)).exception_code == 2  # clears bit 0 (running): read-only
        assert not (await client.write_register(10, 900)).isError()
        assert values[f"{PRESS}/speed"] == 90.0
        assert not (await client.write_register(20, 1 | 1 << 5)).isError()  # leaves bit 0, sets bit 5
        assert values[f"{PRESS}/reset"] == 1.0
        assert not (await client.write_coil(0, False)).isError()
        assert values[f"{PRESS}/enable"] == 0.0
        assert (await client.write_coil(1, True)).exception_code == 2
        assert (await client.read_holding_registers(50, count=1)).exception_code == 2
    finally:
        client.close()


async def _mbpoll(port: int, *args: str) -> list[str]:
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "tcp", "-1", "-o", "2", "-p", str(port), *args, "127.0.0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, out.decode() + err.decode()
    return re.findall(r"^\[\d+\]:\s+(\S+)\s*$", out.decode(), re.MULTILINE)


@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll is not installed (scripts/setup.sh --test)")
async def test_mbpoll_a_client_that_is_not_ours_reads_the_same_values(
    plant: VirtualPlant, twin: Twin, port: int
) -> None:
    assert await twin.wait_for(lambda: (twin.state.get(f"{PACKER}/good_count").value or 0) > 3, 10)  # type: ignore[union-attr,operator]
    await plant.pause()
    assert await twin.wait_for(lambda: all(_matches(twin, plant, p) for p in twin.index.signals), 5)
    value = {p.rsplit("/", 2)[-2] + "." + p.rsplit("/", 1)[-1]: s.value for p, s in twin.state.signals.items()}
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0, reconnect_delay=0)
    assert await client.connect()
    try:
        raw = (await client.read_holding_registers(0, count=21)).registers
    finally:
        client.close()
    assert [int(v) for v in await _mbpoll(port, "-a", "1", "-t", "4", "-r", "1", "-c", "21")] == raw
    assert int(raw[0]) == value["press.state"]
    assert raw[10] == round(value["press.speed"] * 10)  # type: ignore[operator]
    assert await _mbpoll(port, "-a", "1", "-t", "4:int", "-B", "-r", "2") == [str(value["press.good_count"])]
    assert await _mbpoll(port, "-a", "1", "-t", "4:int", "-r", "4") == [str(value["press.scrap_count"])]  # little
    assert float((await _mbpoll(port, "-a", "1", "-t", "4:float", "-r", "13"))[0]) == value["press.temp_sp"]
    (temperature,) = await _mbpoll(port, "-a", "1", "-t", "3:float", "-B", "-r", "1")
    assert float(temperature) == pytest.approx(value["press.temperature"], rel=1e-5)
    assert await _mbpoll(port, "-a", "1", "-t", "0", "-r", "1") == [str(value["press.enable"])]
    assert await _mbpoll(port, "-a", "1", "-t", "1", "-r", "1") == [str(value["press.ready"])]
    assert await _mbpoll(port, "-a", "2", "-t", "4", "-r", "101") == [str(value["packer.state"])]
    assert await _mbpoll(port, "-a", "1", "-t", "3", "-r", "21") == [str(value["conveyor.level"])]


async def test_registers_that_decode_to_nan_reach_the_twin_as_bad(plant: VirtualPlant, twin: Twin) -> None:
    path = f"{PRESS}/temperature"
    await plant.pause()
    _server(plant).inject_raw(path, [0x7FC0, 0x0000])  # float32 quiet NaN
    assert await twin.wait_for(lambda: twin.state.get(path).quality is Quality.BAD, 5)  # type: ignore[union-attr]
    assert twin.state.get(path).value is None  # type: ignore[union-attr]
    assert twin.stats()["intake"]["not_finite"] == 1  # once: a NaN that stays NaN is not news
    assert twin.intake.dead_letters[-1].reason == "not_finite"
    others = [s for p, s in twin.state.signals.items() if p != path]
    assert all(s.quality is Quality.GOOD for s in others)


async def test_poll_cycles_that_overrun_are_counted(plant: VirtualPlant, port: int) -> None:
    model = relocate(_model(port), {"mb": {"poll_interval_s": 0.0005}})
    async with Twin(model) as twin:
        connector = _connector(twin)
        assert await twin.wait_for(lambda: connector.overruns > 0 and _all(twin, Quality.GOOD), 5)
        assert connector.polls > connector.overruns / 2


async def test_a_device_that_accepts_but_never_answers_turns_stale(port: int) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # keep the connection open, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", port)
    try:
        async with Twin(relocate(_model(port), {"mb": {"timeout_s": 0.2}})) as twin:
            assert await twin.wait_for(lambda: _all(twin, Quality.STALE), 5)
            health = _connector(twin).health
            assert not health.connected
            assert "No response" in (health.last_error or "")
    finally:
        server.close()
        for writer in connections:
            writer.close()


async def test_an_unreachable_device_reads_stale_never_zero(port: int) -> None:
    async with Twin(_model(port)) as twin:  # nothing listens there
        assert await twin.wait_for(lambda: _all(twin, Quality.STALE), 5)
        assert all(s.value is None for s in twin.state.signals.values())
        health = _connector(twin).health
        assert not health.connected
        assert "Refused" in (health.last_error or "")

"""Store-and-forward: outages lose nothing and keep order, overflow is counted, the queue survives restarts."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from factorytwin.bus import Bus
from factorytwin.cli import example_path
from factorytwin.clock import ManualClock
from factorytwin.connect.base import SourceHealth
from factorytwin.core import Intake, LiveState
from factorytwin.edge import EdgeFilter, Forwarder, SpoolError, SpoolStore, decode_batch, encode_batch
from factorytwin.edge import spool as spool_module
from factorytwin.events import Quality, Sample
from factorytwin.model import PlantIndex, parse_model

SIG = "acme/lyon/bottling/line1/filler/product_temp"
FAST = {"retry_min_s": 0.001, "retry_max_s": 0.01}


def batch(start: int, n: int) -> list[Sample]:
    return [Sample(SIG, float(i), float(i) + 0.5, float(i)) for i in range(start, start + n)]


class Downstream:
    """A sink that records what it gets; fails while ``down``; waits at ``gate`` while it is cleared."""

    def __init__(self, down: bool = False) -> None:
        self.received: list[Sample] = []
        self.down = down
        self.calls = 0
        self.failures = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self._failed = asyncio.Condition()

    async def __call__(self, batch: list[Sample]) -> None:
        self.calls += 1
        await self.gate.wait()
        if self.down:
            async with self._failed:
                self.failures += 1
                self._failed.notify_all()
            raise ConnectionError("the twin is away")
        self.received.extend(batch)

    async def failed(self, times: int) -> None:
        async with self._failed:
            await asyncio.wait_for(self._failed.wait_for(lambda: self.failures >= times), 10)


async def drained(fw: Forwarder) -> None:
    await asyncio.wait_for(fw.drained(), 10)


async def test_an_outage_loses_nothing_and_keeps_order(tmp_path: Path) -> None:
    down = Downstream(down=True)
    health = SourceHealth("plant", "opc.tcp://plant")
    sent: list[Sample] = []
    async with Forwarder(down, tmp_path, 10_000, health=health, **FAST) as fw:
        for i in range(50):
            sent += batch(20 * i, 20)
            await fw.put(sent[-20:])
        assert fw.stats().queued == health.queued == 1000  # queued rises ...
        assert down.received == []
        down.down = False
        await drained(fw)
        stats = fw.stats()
        assert down.received == sent
        assert stats.queued == health.queued == 0  # ... and returns to 0
        assert stats.spilled == stats.replayed == 1000
        assert (stats.dropped, stats.forwarded, stats.failing) == (0, 0, False)
        assert stats.errors >= 1
        assert stats.last_error == "ConnectionError: the twin is away"
        await fw.put(batch(1000, 5))  # recovered: straight through again
        assert fw.stats().forwarded == 5
        assert down.received == sent + batch(1000, 5)


async def test_capacity_overflow_is_counted_exactly(tmp_path: Path) -> None:
    down = Downstream(down=True)
    health = SourceHealth("plant", "opc.tcp://plant")
    sent: list[Sample] = []
    async with Forwarder(down, tmp_path, capacity=95, health=health, **FAST) as fw:
        for i in range(30):
            sent += batch(10 * i, 10)
            await fw.put(sent[-10:])
        stats = fw.stats()
        assert (stats.queued, stats.dropped, stats.spilled) == (95, 205, 95)
        assert health.dropped == 205
        down.down = False
        await drained(fw)
    assert down.received == sent[:95]  # the oldest are kept; what did not fit is counted, not hidden
    assert fw.stats().replayed == 95


async def test_the_queue_survives_a_restart(tmp_path: Path) -> None:
    sent = batch(0, 500)
    async with Forwarder(Downstream(down=True), tmp_path, **FAST) as fw:
        for i in range(0, 500, 100):
            await fw.put(sent[i : i + 100])
        assert fw.stats().queued == 500
    up = Downstream()
    fw = Forwarder(up, tmp_path, **FAST)
    await fw.open()
    try:
        assert fw.stats().queued == 500
        await drained(fw)
        assert up.received == sent
        assert fw.stats().replayed == 500
    finally:
        await fw.close()
    assert SpoolStore(tmp_path).samples == 0


async def test_a_slow_downstream_does_not_block_the_producer(tmp_path: Path) -> None:
    slow = Downstream()
    slow.gate.clear()  # every call waits until released
    sent: list[Sample] = []
    async with Forwarder(slow, tmp_path, slow_after_s=0.01, **FAST) as fw:

        async def produce() -> None:
            for i in range(100):
                sent.extend(batch(10 * i, 10))
                await fw.put(sent[-10:])

        await asyncio.wait_for(produce(), 10)  # finishes although the downstream never returns
        stats = fw.stats()
        assert slow.calls == 1  # only the first batch reached the downstream; it waited slow_after_s at most
        assert (stats.slow, stats.spilled, stats.queued, stats.forwarded) == (1, 990, 990, 0)
        slow.gate.set()
        await drained(fw)
    assert slow.received == sent
    assert (fw.stats().forwarded, fw.stats().replayed) == (10, 990)


async def test_a_slow_batch_that_then_fails_goes_back_to_the_front(tmp_path: Path) -> None:
    flaky = Downstream(down=True)
    flaky.gate.clear()
    sent: list[Sample] = []
    async with Forwarder(flaky, tmp_path, slow_after_s=0.001, **FAST) as fw:
        for i in range(5):
            sent += batch(10 * i, 10)
            await fw.put(sent[-10:])
        assert (flaky.calls, fw.stats().queued) == (1, 40)
        flaky.gate.set()  # the first batch now fails, after the others were queued behind it
        await flaky.failed(times=2)  # the second failure is a replay: the first batch went back to the queue
        assert fw.stats().queued == 50
        flaky.down = False
        await drained(fw)
    stats = fw.stats()
    assert flaky.received == sent
    assert (stats.forwarded, stats.spilled, stats.replayed, stats.dropped) == (0, 50, 50, 0)


async def test_closing_requeues_a_delivery_that_does_not_finish(tmp_path: Path) -> None:
    stuck = Downstream()
    stuck.gate.clear()  # never returns
    fw = Forwarder(stuck, tmp_path, slow_after_s=0.001, **FAST)
    await fw.open()
    for i in range(3):
        await fw.put(batch(10 * i, 10))
    await fw.close(timeout=0.01)  # the first batch is cancelled and goes back to the front
    assert fw.stats().queued == 30
    up = Downstream()
    async with Forwarder(up, tmp_path, **FAST) as again:
        await drained(again)
    assert up.received == batch(0, 30)


async def test_a_disk_that_refuses_writes_loses_samples_but_counts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: SpoolStore, batch: list[Sample]) -> None:
        raise SpoolError("disk full")

    health = SourceHealth("plant", "opc.tcp://plant")
    async with Forwarder(Downstream(down=True), tmp_path, health=health, **FAST) as fw:
        await fw.put(batch(0, 10))  # fails downstream, queued on disk
        monkeypatch.setattr(SpoolStore, "append", refuse)
        await fw.put(batch(10, 5))
        stats = fw.stats()
        assert (stats.queued, stats.spilled, stats.dropped) == (10, 10, 5)
        assert (health.queued, health.dropped) == (10, 5)


async def test_a_backlogged_downstream_gets_the_queue_instead_of_the_batch(tmp_path: Path) -> None:
    busy = True
    down = Downstream()
    async with Forwarder(down, tmp_path, backlogged=lambda: busy, **FAST) as fw:
        await fw.put(batch(0, 10))
        assert fw.stats().spilled == 10
        await drained(fw)
        busy = False
        await fw.put(batch(10, 10))
    assert down.received == batch(0, 20)
    assert (fw.stats().replayed, fw.stats().forwarded) == (10, 10)


async def test_a_closed_forwarder_refuses_batches(tmp_path: Path) -> None:
    fw = Forwarder(Downstream(), tmp_path)
    with pytest.raises(SpoolError):
        await fw.put(batch(0, 1))
    async with fw:
        await fw.put(batch(0, 1))
    with pytest.raises(SpoolError, match="not open"):
        await fw.put(batch(1, 1))


async def test_unreadable_rows_are_counted_as_dropped(tmp_path: Path) -> None:
    store = SpoolStore(tmp_path)
    store.append(batch(0, 3))
    store.close()
    with sqlite3.connect(tmp_path / SpoolStore.FILE) as db:
        db.execute("INSERT INTO batches (count, data) VALUES (4, x'00ff')")
    store = SpoolStore(tmp_path)
    store.append(batch(3, 3))
    store.close()
    up = Downstream()
    async with Forwarder(up, tmp_path, **FAST) as fw:
        assert fw.stats().queued == 10
        await drained(fw)
    assert up.received == batch(0, 6)
    assert fw.stats().dropped == 4


async def test_a_file_that_is_not_a_spool_is_an_error(tmp_path: Path) -> None:
    (tmp_path / SpoolStore.FILE).write_bytes(b"not a database" * 100)
    with pytest.raises(SpoolError, match="cannot open the spool"):
        await Forwarder(Downstream(), tmp_path).open()


def test_store_splits_large_batches_and_pushes_to_the_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "ROW_SAMPLES", 7)
    store = SpoolStore(tmp_path)
    store.append(batch(10, 20))
    store.push_front(batch(0, 10))
    assert (store.samples, store.rows) == (30, 5)
    out: list[Sample] = []
    while (chunk := store.peek(12)) is not None:
        assert len(chunk.samples) <= 12
        out += chunk.samples
        store.pop(chunk)
    assert out == batch(0, 30)
    assert (store.samples, store.rows) == (0, 0)
    store.close()


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
SAMPLES = st.builds(
    Sample,
    st.text(min_size=1, max_size=40),
    st.floats(allow_nan=False),
    st.floats(allow_nan=False),
    VALUES,
    st.sampled_from(Quality),
)


@given(st.lists(SAMPLES, max_size=50))
def test_codec_round_trips_every_value_exactly(samples: list[Sample]) -> None:
    back = decode_batch(encode_batch(samples))
    assert len(back) == len(samples)
    for a, b in zip(samples, back, strict=True):
        assert (a.signal, a.source_time, a.receive_time, a.quality) == (
            b.signal,
            b.source_time,
            b.receive_time,
            b.quality,
        )
        assert type(a.value) is type(b.value)
        assert a.value == b.value or (isinstance(a.value, float) and math.isnan(a.value) and math.isnan(b.value))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data", [b"", b"\x02" + bytes(20), encode_batch(batch(0, 3))[:-5], encode_batch(batch(0, 1)) + b"x"]
)
def test_codec_refuses_what_it_did_not_write(data: bytes) -> None:
    with pytest.raises(ValueError, match="sample batch"):
        decode_batch(data)


async def test_a_model_edge_block_and_spool_feed_the_stream_in_order(tmp_path: Path) -> None:
    line = "acme/lyon/bottling/line1/filler"
    binding = 'binding: {opcua: {node: "ns=2;s=Line1.Filler.ProductTemp"}}'
    text = example_path().read_text()
    text = text.replace(binding, binding + "\n" + " " * 22 + "edge: {source_unit: degF, deadband_percent: 1}")
    text = text.replace(
        "    publishing_interval_ms: 100\n", "    publishing_interval_ms: 100\n    spool: {capacity: 1000}\n"
    )
    model = parse_model(text)
    index = PlantIndex(model)
    spool = model.sources["plant"].spool
    assert spool is not None
    intake, bus, state = Intake(index), Bus(), LiveState(index)
    sub = bus.subscribe("live-state")
    away = True

    async def ingest(batch: list[Sample]) -> None:
        if away:
            raise ConnectionError("the twin is away")
        await bus.publish(intake.admit(batch))

    edge = EdgeFilter.for_signals(index.bound_to("plant"), ManualClock(datetime(2024, 3, 1, tzinfo=UTC)))
    assert edge.signals == [f"{line}/product_temp"]
    async with Forwarder(ingest, tmp_path / "plant", spool.capacity, **FAST) as fw:
        sink = edge.wrap(fw.put)  # what the connector calls
        for i, fahrenheit in enumerate([40.0, 40.01, 41.0, 42.0]):  # 40.01 degF is inside 1 % of 3..7 degC
            await sink([Sample(f"{line}/product_temp", i, i, fahrenheit), Sample(f"{line}/good_count", i, i, i)])
        assert fw.stats().queued == 7
        away = False
        await drained(fw)
    got: list[Sample] = []
    while not sub.queue.empty():
        got += sub.queue.get_nowait()
    state.apply(got)
    temps = [s.value for s in got if s.signal.endswith("product_temp")]
    assert temps == [pytest.approx(4.444, abs=1e-3), pytest.approx(5.0), pytest.approx(5.556, abs=1e-3)]
    assert [s.value for s in got if s.signal.endswith("good_count")] == [0, 1, 2, 3]
    current = state.get(f"{line}/product_temp")
    assert current is not None
    assert current.value == pytest.approx(5.556, abs=1e-3)

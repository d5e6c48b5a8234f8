"""The stream in memory: intake (bad input counted and flagged), live state, bus backpressure."""

from __future__ import annotations

import asyncio
import functools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factorytwin.bus import Bus
from factorytwin.cli import example_path
from factorytwin.columns import SampleColumns
from factorytwin.core import Intake, LiveState
from factorytwin.events import Quality, Sample, StationState
from factorytwin.model import PlantIndex, load_model

from .conftest import LINE

TEMP = f"{LINE}/filler/product_temp"
COUNT = f"{LINE}/filler/good_count"
STATE = f"{LINE}/filler/state"


def s(signal: str, value: object, t: float = 1.0, quality: Quality = Quality.GOOD) -> Sample:
    return Sample(signal, t, t + 0.01, value, quality)  # type: ignore[arg-type]


def test_intake_counts_and_flags_bad_input_without_losing_good_samples(index: PlantIndex) -> None:
    intake = Intake(index)
    batch = [
        s(TEMP, 4.5),
        s("acme/nowhere/x", 1.0),
        s(TEMP, "hot"),
        s(TEMP, math.nan),
        s(TEMP, math.inf),
        s(COUNT, 12.0),  # integral float for a counter: accepted as int
        s(COUNT, 12.5),  # a fractional count is not a count
        s(COUNT, True),  # bool is not a number here
        s(TEMP, 4.6),
        s(TEMP, None),  # GOOD but no value
    ]
    out = intake.admit(batch)
    assert [x.value for x in out] == [4.5, None, None, None, 12, None, None, 4.6, None]
    assert [x.quality for x in out] == [
        Quality.GOOD,
        Quality.BAD,
        Quality.BAD,
        Quality.BAD,
        Quality.GOOD,
        Quality.BAD,
        Quality.BAD,
        Quality.GOOD,
        Quality.BAD,
    ]
    assert isinstance(out[4].value, int)
    assert intake.stats() == {"accepted": 9, "unknown_signal": 1, "wrong_type": 4, "not_finite": 2}
    assert [d.reason for d in intake.dead_letters] == [
        "unknown_signal",
        "wrong_type",
        "not_finite",
        "not_finite",
        "wrong_type",
        "wrong_type",
        "wrong_type",
    ]
    assert intake.dead_letters[0].sample.signal == "acme/nowhere/x"


@functools.cache
def _example_index() -> PlantIndex:
    return PlantIndex(load_model(example_path()))


@functools.cache
def _example_intake() -> Intake:
    return Intake(_example_index())


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([TEMP, COUNT, "junk/signal"]),
            st.one_of(st.none(), st.floats(allow_nan=True), st.integers(), st.text(), st.booleans()),
        )
    )
)
def test_intake_never_raises_and_accounts_for_every_sample(pairs: list[tuple[str, object]]) -> None:
    intake = _example_intake()
    before = dict(intake.stats())
    out = intake.admit([s(sig, v) for sig, v in pairs])
    after = intake.stats()
    assert after["accepted"] - before["accepted"] == len(out)
    assert after["unknown_signal"] - before["unknown_signal"] == sum(sig == "junk/signal" for sig, _ in pairs)
    for sample in out:
        if sample.quality is Quality.GOOD:
            assert isinstance(sample.value, int | float)
            assert not isinstance(sample.value, bool)
            assert math.isfinite(sample.value)
        else:
            assert sample.value is None


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([TEMP, COUNT, STATE, "junk/signal"]),
            st.one_of(st.none(), st.floats(allow_nan=True), st.integers(), st.text(), st.booleans()),
            st.floats(0, 10),
            st.sampled_from(list(Quality)),
        )
    )
)
def test_columns_are_admitted_and_applied_exactly_like_samples(rows: list[tuple[str, object, float, Quality]]) -> None:
    index = _example_index()
    batch = [s(sig, v, t, q) for sig, v, t, q in rows]
    as_list, as_columns = Intake(index), Intake(index)
    out_list = as_list.admit(batch)
    out_columns = as_columns.admit(SampleColumns.of(batch))
    assert isinstance(out_columns, SampleColumns)
    assert [(x, type(x.value)) for x in out_columns] == [(x, type(x.value)) for x in out_list]
    assert as_columns.stats() == as_list.stats()
    assert list(as_columns.dead_letters) == list(as_list.dead_letters)
    state_list, state_columns = LiveState(index), LiveState(index)
    state_list.apply(list(out_list))
    state_columns.apply(out_columns)
    assert state_columns.signals == state_list.signals
    assert state_columns.stations == state_list.stations


def test_live_state_keeps_latest_by_source_time_and_stale_keeps_the_value(index: PlantIndex) -> None:
    state = LiveState(index)
    state.apply([s(TEMP, 4.0, t=10), s(TEMP, 5.0, t=12), s(TEMP, 3.0, t=11)])  # 11 arrives late
    cur = state.get(TEMP)
    assert cur is not None
    assert cur.value == 5.0
    assert cur.source_time == 12
    assert cur.updates == 2
    state.apply([s(TEMP, None, t=13, quality=Quality.STALE)])
    cur = state.get(TEMP)
    assert cur is not None
    assert cur.value == 5.0
    assert cur.quality is Quality.STALE
    state.apply([s(TEMP, 4.8, t=12.5)])  # first value after reconnect is taken even if stamped earlier
    assert state.get(TEMP).value == 4.8
    assert state.get(TEMP).quality is Quality.GOOD
    state.apply([s(TEMP, None, t=14, quality=Quality.BAD)])
    assert state.get(TEMP).value is None
    assert state.get(TEMP).quality is Quality.BAD


def test_station_state_follows_its_state_signal_with_the_model_mapping(index: PlantIndex) -> None:
    state = LiveState(index)
    station = state.stations[f"{LINE}/filler"]
    assert station.state is StationState.UNKNOWN
    state.apply([s(STATE, 1, t=5)])
    assert (station.state, station.since) == (StationState.RUNNING, 5)
    state.apply([s(STATE, 1, t=6), s(STATE, 4, t=7)])
    assert (station.state, station.since) == (StationState.DOWN, 7)
    state.apply([s(STATE, 99, t=8)])
    assert station.state is StationState.UNKNOWN
    state.apply([s(STATE, None, t=9, quality=Quality.STALE)])
    assert station.quality is Quality.STALE
    assert station.state is StationState.UNKNOWN


async def test_bus_block_policy_holds_the_publisher_until_the_consumer_catches_up() -> None:
    bus = Bus(maxsize=2)
    sub = bus.subscribe("slow")
    for i in range(2):
        await bus.publish([s(TEMP, float(i))])
    third = asyncio.create_task(bus.publish([s(TEMP, 2.0)]))
    await asyncio.sleep(0.05)
    assert not third.done(), "publish must wait when a blocking subscriber is full"
    received = []
    async for batch in sub:
        received.append(batch[0].value)
        if len(received) == 3:
            break
    await asyncio.wait_for(third, 1)
    assert received == [0.0, 1.0, 2.0]
    assert sub.dropped == 0


async def test_bus_drop_oldest_counts_what_it_drops_and_never_blocks() -> None:
    bus = Bus()
    viewer = bus.subscribe("viewer", maxsize=2, policy="drop_oldest")
    for i in range(5):
        await asyncio.wait_for(bus.publish([s(TEMP, float(i)), s(TEMP, float(i))]), 0.5)
    assert viewer.dropped == 6
    assert viewer.queue.qsize() == 2
    assert [b[0].value for b in (viewer.queue.get_nowait(), viewer.queue.get_nowait())] == [3.0, 4.0]
    viewer.close()
    await bus.publish([s(TEMP, 9.0)])
    assert viewer.queue.qsize() == 0
    assert bus.stats() == []


@pytest.mark.parametrize("n", [0, 1])
async def test_bus_ignores_empty_batches(n: int) -> None:
    bus = Bus()
    sub = bus.subscribe("x")
    await bus.publish([s(TEMP, 1.0)] * n)
    assert sub.queue.qsize() == n
    assert bus.published == n

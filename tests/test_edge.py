"""Edge processing: unit conversion, deadband, swinging door, publish intervals, quality changes."""

from __future__ import annotations

import asyncio
import bisect
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from factorytwin.clock import ManualClock
from factorytwin.edge import EdgeConfig, EdgeFilter, SwingingDoor
from factorytwin.errors import ModelError
from factorytwin.events import Quality, Sample, Value
from factorytwin.model import PlantIndex, SignalInfo
from factorytwin.model.schema import Signal

from .conftest import LINE

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
BASE = T0.timestamp()
SIG = f"{LINE}/filler/product_temp"
OTHER = f"{LINE}/filler/good_count"
G, U, B, S = Quality.GOOD, Quality.UNCERTAIN, Quality.BAD, Quality.STALE


def info(
    edge: dict[str, Any] | None, unit: str | None = "degC", normal: tuple[float, float] | None = (0, 200)
) -> SignalInfo:
    spec: dict[str, Any] = {"id": "product_temp", "unit": unit, "edge": edge}
    if normal is not None:
        spec["normal"] = {"low": normal[0], "high": normal[1]}
    return SignalInfo(SIG, Signal.model_validate(spec), f"{LINE}/filler", LINE, "plant")


def make(**edge: Any) -> tuple[EdgeFilter, ManualClock]:
    clock = ManualClock(T0)
    return EdgeFilter.for_signals([info(edge)], clock), clock


def sample(t: float, value: Value, quality: Quality = G, signal: str = SIG) -> Sample:
    return Sample(signal, BASE + t, BASE + t, value, quality)


class Run:
    """Feeds (t, value[, quality]) one sample per batch at clock time t; ticks on demand."""

    def __init__(self, edge: EdgeFilter, clock: ManualClock) -> None:
        self.edge, self.clock, self.out, self.at = edge, clock, list[Sample](), 0.0

    def move(self, t: float) -> None:
        self.clock.advance(t - self.at)
        self.at = t

    def feed(self, t: float, value: Value, quality: Quality = G) -> list[Sample]:
        self.move(t)
        out = self.edge.process([sample(t, value, quality)])
        self.out.extend(out)
        return out

    def tick(self, t: float) -> list[Sample]:
        self.move(t)
        out = self.edge.tick()
        self.out.extend(out)
        return out

    def values(self) -> list[Value]:
        return [s.value for s in self.out]


def check_invariant(edge: EdgeFilter) -> None:
    s = edge.stats()
    assert s.received + s.repeated == s.emitted + s.deadband + s.swinging_door + s.min_interval + s.held


# --------------------------------------------------------------------------- configuration


def test_config_resolves_percent_deadband_and_skips_empty_blocks() -> None:
    config = EdgeConfig.of(info({"deadband_percent": 1.5}, normal=(-50, 150)))
    assert config is not None
    assert config.deadband == pytest.approx(3.0)
    assert EdgeConfig.of(info(None)) is None
    assert EdgeConfig.of(info({})) is None
    assert EdgeConfig.of(info({"min_interval_s": 0})) is None  # 0: no minimum


def test_config_refuses_percent_deadband_without_normal_range() -> None:
    with pytest.raises(ModelError, match=r"product_temp\.edge\.deadband_percent"):
        EdgeConfig.of(info({"deadband_percent": 1}, normal=None))


def test_config_refuses_units_that_do_not_convert() -> None:
    with pytest.raises(ModelError, match="source_unit"):
        EdgeConfig.of(info({"source_unit": "bar"}, unit="degC"))


def test_tick_interval_follows_the_smallest_interval(index: PlantIndex) -> None:
    edge, _ = make(min_interval_s=1.0, max_interval_s=8.0)
    assert edge.tick_interval == 0.25
    assert make(deadband=1.0)[0].tick_interval is None
    untouched = EdgeFilter.for_signals(index.signals.values(), ManualClock(T0))
    assert not untouched.active
    assert untouched.tick_interval is None


# --------------------------------------------------------------------------- hot path


def test_signals_without_edge_block_pass_through_in_place() -> None:
    edge, _ = make(deadband=1.0)
    batch = [sample(t, t, signal=OTHER) for t in range(5)]
    assert edge.process(batch) is batch
    empty = EdgeFilter([], ManualClock(T0))
    assert empty.process(batch) is batch
    assert not empty.active

    async def downstream(batch: list[Sample]) -> None:
        pass

    assert empty.wrap(downstream) is downstream
    assert edge.stats().received == edge.stats().emitted == 5


def test_mixed_batches_keep_their_order() -> None:
    edge, _ = make(deadband=1.0)
    batch = [sample(0, 1, signal=OTHER), sample(0, 10.0), sample(1, 2, signal=OTHER), sample(1, 10.5), sample(2, 11.5)]
    out = edge.process(batch)
    assert [(s.signal, s.value) for s in out] == [(OTHER, 1), (SIG, 10.0), (OTHER, 2), (SIG, 11.5)]
    assert edge.stats().deadband == 1
    check_invariant(edge)


# --------------------------------------------------------------------------- filters


def test_absolute_deadband_passes_values_that_moved_more_than_it() -> None:
    run = Run(*make(deadband=0.5))
    for t, v in enumerate([10.0, 10.25, 10.75, 11.5, 11.25, 10.0, 9.5]):
        run.feed(t, v)
    assert run.values() == [10.0, 10.75, 11.5, 10.0]
    assert run.edge.stats().deadband == 3
    check_invariant(run.edge)


def test_percent_deadband_is_a_share_of_the_normal_range_span() -> None:
    run = Run(*make(deadband_percent=1))  # normal 0..200: 2.0
    for t, v in enumerate([50.0, 51.0, 52.0, 52.5, 49.5, 55.0]):
        run.feed(t, v)
    assert run.values() == [50.0, 52.5, 49.5, 55.0]


def test_unit_conversion_degf_to_degc_applies_to_numbers_of_any_quality() -> None:
    run = Run(*make(source_unit="degF"))
    run.feed(0, 212.0)
    run.feed(1, 32)
    run.feed(2, 50.0, U)
    run.feed(3, None, B)
    assert run.values() == [pytest.approx(100.0), pytest.approx(0.0), pytest.approx(10.0), None]
    assert [s.quality for s in run.out] == [G, G, U, B]
    assert [s.source_time for s in run.out] == [BASE, BASE + 1, BASE + 2, BASE + 3]


def test_unit_conversion_comes_before_the_deadband() -> None:
    run = Run(*make(source_unit="degF", deadband=1.0))  # 1 degC
    for t, v in enumerate([212.0, 213.0, 214.0]):  # 100, 100.56, 101.11 degC
        run.feed(t, v)
    assert run.values() == [pytest.approx(100.0), pytest.approx(101.111, abs=1e-3)]


def test_swinging_door_keeps_the_corners_of_a_step() -> None:
    run = Run(*make(swinging_door=0.5))
    for t, v in enumerate([0.0, 0.0, 0.0, 5.0, 5.0, 5.0]):
        run.feed(t, v)
    run.out.extend(run.edge.flush())
    assert [(s.source_time - BASE, s.value) for s in run.out] == [(0, 0.0), (2, 0.0), (3, 5.0), (5, 5.0)]
    assert run.edge.stats().swinging_door == 2


def test_swinging_door_reduces_a_ramp_to_its_ends() -> None:
    run = Run(*make(swinging_door=0.1))
    for t in range(100):
        run.feed(t, 3.0 * t)
    assert run.values() == [0.0]
    assert run.edge.stats().held == 1
    run.out.extend(run.edge.flush())
    assert run.values() == [0.0, 297.0]
    check_invariant(run.edge)


def test_min_interval_sends_at_most_one_value_per_interval_then_the_latest() -> None:
    run = Run(*make(min_interval_s=1.0))
    assert run.feed(0, 1.0) == [sample(0, 1.0)]
    assert run.feed(0.25, 2.0) == []
    assert run.feed(0.5, 3.0) == []  # 2.0 is superseded
    assert run.tick(0.75) == []
    assert run.tick(1.0) == [sample(0.5, 3.0)]  # the latest, with its own time
    assert run.feed(1.25, 4.0) == []
    assert run.feed(2.5, 5.0) == [sample(2.5, 5.0)]  # the interval passed: the new latest goes, 4.0 is superseded
    assert run.tick(5.0) == []
    assert run.values() == [1.0, 3.0, 5.0]
    assert run.edge.stats().min_interval == 2
    check_invariant(run.edge)


def test_max_interval_repeats_the_last_value_on_the_clock() -> None:
    run = Run(*make(max_interval_s=5.0))
    run.feed(0, 1.0)
    assert run.tick(4.75) == []
    repeat = run.tick(5.0)
    assert [(s.value, s.source_time, s.receive_time, s.quality) for s in repeat] == [(1.0, BASE + 5, BASE + 5, G)]
    run.feed(7, 2.0)
    assert run.tick(11.75) == []
    assert [(s.value, s.source_time) for s in run.tick(12.0)] == [(2.0, BASE + 12)]
    assert [(s.value, s.source_time) for s in run.tick(17.0)] == [(2.0, BASE + 17)]
    assert run.edge.stats().repeated == 3
    check_invariant(run.edge)


def test_max_interval_repeat_keeps_the_source_clock_offset() -> None:
    edge, clock = make(max_interval_s=2.0)
    late = Sample(SIG, BASE - 3600, BASE, 7.0, G)  # the device clock runs an hour behind
    edge.process([late])
    clock.advance(2.0)
    (repeat,) = edge.tick()
    assert (repeat.source_time, repeat.receive_time) == (BASE - 3598, BASE + 2)


def test_max_interval_archives_what_the_swinging_door_holds_before_repeating() -> None:
    run = Run(*make(swinging_door=0.5, max_interval_s=5.0))
    for t in range(5):
        run.feed(t, float(t))
    assert run.values() == [0.0]
    assert run.tick(4.5) == []
    assert [(s.source_time - BASE, s.value) for s in run.tick(5.0)] == [(4, 4.0)]
    assert [(s.source_time - BASE, s.value) for s in run.tick(10.0)] == [(10, 4.0)]
    check_invariant(run.edge)


@pytest.mark.parametrize("quality", [U, B, S])
def test_quality_changes_always_pass_and_reset_the_filters(quality: Quality) -> None:
    run = Run(*make(deadband=100.0, swinging_door=1.0, min_interval_s=10.0))
    value = None if quality in (B, S) else 10.0
    run.feed(0, 10.0)
    run.feed(1, 10.5)  # inside the deadband
    run.feed(2, value, quality)
    run.feed(3, 10.0)  # first after a reset: passes despite deadband and minimum interval
    run.feed(4, value, quality)
    run.feed(5, value, quality)
    run.feed(6, 10.0)
    assert [(s.source_time - BASE, s.quality) for s in run.out] == [
        (0, G),
        (2, quality),
        (3, G),
        (4, quality),
        (5, quality),
        (6, G),
    ]
    check_invariant(run.edge)


def test_a_quality_change_releases_what_the_filters_hold_first() -> None:
    run = Run(*make(swinging_door=1.0))
    for t in range(3):
        run.feed(t, 0.0)
    run.feed(3, None, S)
    assert [(s.source_time - BASE, s.quality) for s in run.out] == [(0, G), (2, G), (3, S)]
    run = Run(*make(min_interval_s=10.0))
    run.feed(0, 1.0)
    run.feed(1, 2.0)
    run.feed(2, None, B)
    assert run.values() == [1.0, 2.0, None]


def test_values_that_are_not_finite_numbers_pass_like_quality_changes() -> None:
    run = Run(*make(deadband=100.0))
    run.feed(0, 1.0)
    run.feed(1, float("nan"))
    run.feed(2, "hot")
    run.feed(3, 1.0)
    assert len(run.out) == 4


async def test_run_ticks_the_pipeline_and_sends_downstream() -> None:
    edge, clock = make(max_interval_s=0.004)
    received: list[Sample] = []
    got = asyncio.Event()

    async def downstream(batch: list[Sample]) -> None:
        received.extend(batch)
        got.set()

    sink = edge.wrap(downstream)
    await sink([sample(0, 3.0)])
    assert [s.value for s in received] == [3.0]
    got.clear()
    clock.advance(1.0)
    ticker = asyncio.create_task(edge.run(downstream))
    await asyncio.wait_for(got.wait(), 5)
    ticker.cancel()
    assert [(s.value, s.source_time) for s in received] == [(3.0, BASE), (3.0, BASE + 1)]


# --------------------------------------------------------------------------- swinging door properties

DEVIATION = st.floats(0.01, 50.0)
SERIES = st.lists(st.tuples(st.floats(0.001, 10.0), st.floats(-1000.0, 1000.0)), min_size=1, max_size=150)
TOL = 1e-6


def series(points: list[tuple[float, float]]) -> list[Sample]:
    out, t = [], 0.0
    for dt, v in points:
        t += dt
        out.append(Sample(SIG, t, t, v, G))
    return out


def compress(samples: list[Sample], deviation: float) -> list[Sample]:
    door, out = SwingingDoor(deviation), list[Sample]()
    for s in samples:
        out.extend(door.push(s))
    out.extend(door.flush())
    return out


def polyline_at(archived: list[Sample], t: float) -> float:
    times = [a.source_time for a in archived]
    i = bisect.bisect_left(times, t)
    if i < len(times) and times[i] == t:
        return float(archived[i].value)  # type: ignore[arg-type]
    a, b = archived[i - 1], archived[i]
    va, vb = float(a.value), float(b.value)  # type: ignore[arg-type]
    return va + (vb - va) * (t - a.source_time) / (b.source_time - a.source_time)


def assert_within(samples: list[Sample], archived: list[Sample], deviation: float) -> None:
    for s in samples:
        assert abs(polyline_at(archived, s.source_time) - float(s.value)) <= deviation + TOL, s  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(SERIES, DEVIATION)
# Samples at t = 1, 2, 3, 4. Testing only that the doors still intersect would drop (2, 1.0) and (3, -0.5)
# and store the line (1, 0.0)-(4, -0.5), 1.17 away from (2, 1.0); testing the line to each new point does not.
@example(points=[(1.0, 0.0), (1.0, 1.0), (1.0, -0.5), (1.0, -0.5)], deviation=1.0)
def test_swinging_door_polyline_is_within_deviation_of_every_dropped_sample(
    points: list[tuple[float, float]], deviation: float
) -> None:
    samples = series(points)
    archived = compress(samples, deviation)
    assert archived[0] is samples[0]
    assert archived[-1] is samples[-1]
    ids = {id(s) for s in samples}
    assert all(id(a) in ids for a in archived)  # original samples, original times
    times = [a.source_time for a in archived]
    assert times == sorted(set(times))
    assert_within(samples, archived, deviation)


@settings(max_examples=200, deadline=None)
@given(SERIES, DEVIATION)
# Not exactly idempotent: compressed once this keeps (3, 0.0), which a second pass may drop, within the deviation.
@example(points=[(1.0, 5.0), (1.0, 1.0), (1.0, 0.0), (1.0, 0.0)], deviation=2.0)
def test_swinging_door_is_idempotent_on_compressed_data(points: list[tuple[float, float]], deviation: float) -> None:
    once = compress(series(points), deviation)
    twice = compress(once, deviation)
    assert twice[0] is once[0]
    assert twice[-1] is once[-1]
    assert_within(once, twice, deviation)
    assert len(twice) <= len(once)


@settings(max_examples=100, deadline=None)
@given(SERIES, DEVIATION)
def test_pipeline_with_swinging_door_emits_what_the_door_archives(
    points: list[tuple[float, float]], deviation: float
) -> None:
    samples = series(points)
    edge = EdgeFilter([EdgeConfig(SIG, swinging_door=deviation)], ManualClock(T0))
    out = edge.process(samples) + edge.flush()
    assert out == compress(samples, deviation)
    check_invariant(edge)

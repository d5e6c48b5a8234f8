"""Results, scenarios and calendars: what calibration, what-if and commissioning build on."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from scipy import stats

from factorytwin.model.calendar import Break, Calendar, Shift
from factorytwin.model.schema import Arrivals, Buffer, Distribution, Line, Setup, Station, StationSim
from factorytwin.sim import Change, Draws, Estimate, LineModel, Scenario, SimulationError, compare, run


def station(sid: str, dist: Distribution, **sim: object) -> Station:
    return Station(id=sid, sim=StationSim.model_validate({"processing_time": dist, **sim}))


def serial(stations: list[Station], caps: list[int], **line: object) -> Line:
    buffers = [
        Buffer(id=f"b{i}", upstream=a.id, downstream=b.id, capacity=c)
        for i, (a, b, c) in enumerate(zip(stations, stations[1:], caps, strict=False))
    ]
    return Line.model_validate({"id": "l", "stations": stations, "buffers": buffers, **line})


EXP = Distribution(dist="exponential", mean=1.0)


def three_stations() -> Line:
    return serial(
        [
            station("load", EXP, mtbf=100.0, mttr=8.0),
            station("weld", Distribution(dist="exponential", mean=1.15), mtbf=120.0, mttr=10.0),
            station("pack", EXP),
        ],
        [3, 3],
    )


# ------------------------------------------------------------------------------------ estimates


def test_estimate_is_the_student_t_interval() -> None:
    x = [3.0, 5.0, 4.0, 6.0, 2.0]
    e = Estimate.of(x, level=0.9)
    half = stats.t.ppf(0.95, 4) * np.std(x, ddof=1) / math.sqrt(5)
    assert (e.mean, e.n, e.level) == (4.0, 5, 0.9)
    assert e.low == pytest.approx(4.0 - half)
    assert e.high == pytest.approx(4.0 + half)
    assert e.half_width == pytest.approx(half)
    assert e.contains(4.5)
    assert not e.contains(7.0)
    assert str(e) == f"4 ± {half:.2g}"


def test_estimate_of_one_or_no_value() -> None:
    one = Estimate.of([2.0])
    assert one.mean == 2.0
    assert math.isnan(one.low)
    assert math.isnan(one.high)
    assert Estimate.of([math.nan, 1.0, 3.0]).n == 2  # replications without a value are left out
    assert math.isnan(Estimate.of([]).mean)


# -------------------------------------------------------------------------------------- results


def test_results_hold_line_and_station_figures() -> None:
    r = run(three_stations(), 3000.0, 8, seed=2, warmup=300.0)
    assert (r.line, r.engine, r.replications, r.seed, r.horizon, r.warmup) == ("l", "fast", 8, 2, 3000.0, 300.0)
    assert r.planned == 2700.0
    assert r.throughput.mean == pytest.approx(r.output.mean * 3600 / 2700)
    assert r.throughput.low < r.throughput.mean < r.throughput.high
    # Little's law: WIP = throughput x lead time (parts inside the line, per replication).
    little = r.samples.throughput / 3600 * r.samples.lead_time
    np.testing.assert_allclose(r.samples.wip, little, rtol=0.05)
    for s in r.stations:
        fractions = [s.running, s.changeover, s.down, s.blocked, s.starved, s.idle]
        assert sum(f.mean for f in fractions) == pytest.approx(1.0)
        assert s.active.mean == pytest.approx(s.running.mean + s.changeover.mean + s.down.mean)
    assert [s.id for s in r.stations] == ["load", "weld", "pack"]
    assert r.station("load").starved.mean == pytest.approx(0.0, abs=1e-12)  # unlimited supply
    assert r.station("pack").blocked.mean == 0.0  # unlimited demand
    assert r.bottleneck == "weld"
    assert sum(s.bottleneck_share for s in r.stations) == pytest.approx(1.0)
    assert r.station("weld").bottleneck_share > 0.5


def test_same_seed_same_results_and_different_seed_different() -> None:
    a = run(three_stations(), 1000.0, 4, seed=1)
    b = run(three_stations(), 1000.0, 4, seed=1)
    c = run(three_stations(), 1000.0, 4, seed=2)
    np.testing.assert_array_equal(a.samples.throughput, b.samples.throughput)
    assert not np.array_equal(a.samples.throughput, c.samples.throughput)


def test_bad_run_arguments() -> None:
    with pytest.raises(SimulationError, match="warmup"):
        run(three_stations(), 100.0, 2, warmup=100.0)
    with pytest.raises(SimulationError, match="replications"):
        run(three_stations(), 100.0, 0)


def test_setups_and_arrivals_pace_the_line_exactly() -> None:
    """A 1 s station that sets up for 10 s every 10 parts makes 10 parts per 20 s; a release of 2
    parts every 5 s into a faster line makes 0.4 parts per second."""
    setup = Setup(time=Distribution(mean=10.0), every=10)
    r = run(Line(id="l", stations=[station("a", Distribution(mean=1.0), setup=setup)]), 2000.5, 2)
    assert r.samples.output.tolist() == [1000.0, 1000.0]
    assert r.station("a").changeover.mean == pytest.approx(0.5, abs=1e-3)
    released = serial([station("a", Distribution(mean=1.0)), station("b", Distribution(mean=1.5))], [0])
    released = released.model_copy(update={"arrivals": Arrivals(interval=Distribution(mean=5.0), batch=2)})
    r = run(released, 1000.2, 2, engine="simpy")
    assert r.samples.output.tolist() == [400.0, 400.0]
    assert r.station("b").starved.mean == pytest.approx(0.4, abs=0.01)


# ------------------------------------------------------------------------------------ scenarios


def test_change_parse_and_apply() -> None:
    line = three_stations()
    faster = Change.parse("weld.speed=1.15").apply(line)
    assert faster.stations[1].sim.processing_time.mean == pytest.approx(1.0)
    assert Change.parse(" b1.capacity = 10 ").apply(line).buffers[1].capacity == 10
    assert Change.parse("weld.machines=2").apply(line).stations[1].sim.machines == 2
    assert Change.parse("load.mttr=4").apply(line).stations[0].sim.mttr == 4.0
    assert Change.parse("pack.processing_time=0.5").apply(line).stations[2].sim.processing_time.mean == 0.5
    empirical = station("e", Distribution(dist="empirical", values=[1.0, 2.0, 3.0]))
    scaled = Change("e", "speed", 2.0).apply(Line(id="l", stations=[empirical]))
    assert scaled.stations[0].sim.processing_time.values == [0.5, 1.0, 1.5]
    assert scaled.stations[0].sim.processing_time.mean == 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("weld.speed", "expected target.param=number"),
        ("weld=2", "expected target.param=number"),
        ("weld.speed=fast", "expected target.param=number"),
        ("oven.speed=2", "'oven' is no station or buffer of line 'l' \\(load, weld, pack, b0, b1\\)"),
        ("weld.color=2", "a station has no parameter 'color'"),
        ("b0.speed=2", "a buffer has no parameter 'speed'"),
        ("b0.capacity=-1", "b0.capacity=-1 makes an invalid line: buffers.0.capacity"),
        ("pack.mtbf=100", "mtbf and mttr must be given together"),
        ("weld.speed=0", "must be positive"),
    ],
)
def test_bad_changes_are_explained(text: str, message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        Change.parse(text).apply(three_stations())


def test_scenario_comparison_on_common_random_numbers() -> None:
    """Speeding up the bottleneck raises throughput; paired differences give a much tighter interval
    than comparing the two runs' intervals, because both runs use the same draws."""
    model = LineModel(three_stations())
    base = run(model, 4000.0, 10, seed=4, warmup=400.0)
    better = Scenario("faster weld", (Change.parse("weld.speed=1.3"),)).apply(model)
    other = run(better, 4000.0, 10, seed=4, warmup=400.0)
    diff = compare(base, other)
    assert diff.throughput.low > 0
    assert diff.throughput.mean == pytest.approx(other.throughput.mean - base.throughput.mean)
    assert diff.throughput.half_width < 0.5 * (base.throughput.half_width + other.throughput.half_width)
    assert diff.bottleneck_moved
    assert (base.bottleneck, other.bottleneck) == ("weld", "load")
    no_change = compare(base, run(Scenario("baseline").apply(model), 4000.0, 10, seed=4, warmup=400.0))
    assert no_change.throughput.mean == 0.0
    assert not no_change.bottleneck_moved
    with pytest.raises(SimulationError, match="seed"):
        compare(base, run(model, 4000.0, 10, seed=5, warmup=400.0))


def test_changing_one_station_keeps_the_others_draws() -> None:
    line = three_stations()
    changed = Change.parse("weld.mttr=20").apply(line)
    a, b = Draws(line, 3, seed=9), Draws(changed, 3, seed=9)
    np.testing.assert_array_equal(a.processing(0, 100), b.processing(0, 100))
    np.testing.assert_array_equal(a.processing(1, 100), b.processing(1, 100))
    ttf_a, ttr_a = a.failures(1, 0, 20)
    ttf_b, ttr_b = b.failures(1, 0, 20)
    np.testing.assert_array_equal(ttf_a, ttf_b)
    np.testing.assert_allclose(ttr_b, 2 * ttr_a)  # the same uniforms through a distribution twice as long


# ------------------------------------------------------------------------------------- calendars


def day_calendar() -> Calendar:
    return Calendar(
        shifts=[Shift(name="early", start="06:00", end="14:00")],
        breaks=[Break(name="lunch", start="10:00", end="10:30")],
    )


def test_a_calendar_freezes_the_line_outside_planned_time() -> None:
    start = datetime(2026, 3, 2, 0, 0, tzinfo=UTC).timestamp()  # a Monday
    model = LineModel(three_stations(), day_calendar(), "UTC", start)
    assert model.production(86_400.0) == 7.5 * 3600
    shifted = run(model, 86_400.0, 3, seed=1)
    plain = run(three_stations(), 7.5 * 3600, 3, seed=1)
    assert shifted.planned == 7.5 * 3600
    np.testing.assert_array_equal(shifted.samples.output, plain.samples.output)
    # Production time maps back to the clock: 06:00 start, lunch from 10:00 to 10:30.
    assert model.elapsed(0.0, 86_400.0) == 6 * 3600
    assert model.elapsed(4 * 3600, 86_400.0) == 10 * 3600
    assert model.elapsed(4 * 3600 + 1, 86_400.0) == 10.5 * 3600 + 1
    assert model.elapsed(7.5 * 3600, 86_400.0) == 14 * 3600
    assert LineModel(three_stations()).elapsed(123.0, 1000.0) == 123.0


# ------------------------------------------------------------------------------------------ draws


def test_draws_are_the_same_one_at_a_time_and_in_bulk() -> None:
    """The event-driven engine reads values one by one (forgetting old blocks of a single
    replication); the fast engine reads them in bulk; drawing more never changes earlier values."""
    line = three_stations()
    bulk = Draws(line, 1, seed=3, block=64).processing(1, 1000)[:, 0]
    one = Draws(line, 1, seed=3, block=64).replication(0)
    assert [one.processing(1, k) for k in range(1000)] == bulk.tolist()
    assert one.processing(1, 3) == bulk[3]  # a forgotten block is drawn again, identically
    both = Draws(line, 2, seed=3, block=64)
    first = both.processing(0, 100).copy()
    np.testing.assert_array_equal(both.processing(0, 5000)[:100], first)
    assert both.processing(0, 5000).shape == (5000, 2)
    assert not np.array_equal(first[:, 0], first[:, 1])  # replications are independent

"""Live analytics against ground truth from the virtual plant: states, KPIs, bottlenecks, alerts."""

from __future__ import annotations

import pytest

from factorytwin.cli import example_path
from factorytwin.core.accounting import Production
from factorytwin.core.alerts import AlertManager, AlertState
from factorytwin.core.analytics import Analytics
from factorytwin.errors import FactoryTwinError
from factorytwin.events import Finding, Quality, Sample, Severity, StationState
from factorytwin.model import PlantIndex, PlantModel, load_model, parse_model
from factorytwin.plant import PlantEngine
from factorytwin.sim import StationRun

from .models import one_line

T0 = 1_795_000_000.0  # POSIX time of simulated second 0


def two_stations(a: float, b: float, buffer: int = 5, extra: str = "", calendar: str = "") -> PlantModel:
    def station(name: str, cycle: float) -> str:
        return f"""
          - id: {name}
            sim: {{processing_time: {{mean: {cycle}}}{extra}}}
            signals:
              - {{id: state, role: state}}
              - {{id: good_count, role: good_count}}
              - {{id: scrap_count, role: scrap_count}}"""

    return parse_model(f"""
factorytwin: 1
enterprise:
  id: e
  sites:
  - id: s
    {calendar}
    areas:
    - id: a
      lines:
      - id: l
        stations:{station("a", a)}{station("b", b)}
        buffers:
          - {{id: q, upstream: a, downstream: b, capacity: {buffer}}}
""")


def simulate(model: PlantModel, seconds: float, dt: float = 0.5, switch: tuple[float, dict[int, float]] | None = None):  # type: ignore[no-untyped-def]
    """Run the plant engine and feed its value changes to Analytics as samples at simulated times."""
    engine = PlantEngine(model)
    analytics = Analytics(PlantIndex(model))
    analytics.apply([Sample(p, T0, T0, v) for p, v in engine.changes().items()])
    t = 0.0
    while t < seconds:
        t += dt
        if switch is not None and t == switch[0]:
            line = engine.line_sim(next(iter(engine.index.lines)))
            for pos, factor in switch[1].items():
                line.set_speed(pos, factor)
        engine.advance(t)
        analytics.apply([Sample(p, T0 + t, T0 + t, v) for p, v in engine.changes().items()])
    return engine, analytics


def truth(run: StationRun, state: StationState, now: float) -> float:
    """The engine's own time in a state, including the state it is still in."""
    return run.time_in_state.get(state, 0.0) + (now - run.since if run.state is state else 0.0)


def test_blocked_feeder_and_busy_bottleneck_have_the_exact_availability_and_oee() -> None:
    engine, analytics = simulate(two_stations(1.0, 2.0), 3600)
    line = engine.line_sim("e/s/a/l")
    start, end = T0 + 600, T0 + 3600  # after the buffer filled
    a = analytics.station_kpis("e/s/a/l/a", start, end)
    b = analytics.station_kpis("e/s/a/l/b", start, end)
    assert a.availability == pytest.approx(0.5, abs=1e-3)  # runs 1 s, blocked 1 s
    assert a.effectiveness == pytest.approx(1.0, abs=2e-3)
    assert b.availability == pytest.approx(1.0, abs=1e-6)
    assert b.oee == pytest.approx(1.0, abs=2e-3)
    assert b.good == pytest.approx(1500, abs=1)
    assert b.quality_rate == 1.0
    assert a.time.adet == pytest.approx(1500, abs=1)
    # the same fractions as the engine's own bookkeeping over the whole run
    total = analytics.station_kpis("e/s/a/l/a", T0, T0 + 3600).time
    assert total.apt == pytest.approx(truth(line.stations[0], StationState.RUNNING, 3600), abs=1.0)


def test_bottleneck_is_the_slow_station_alone() -> None:
    _, analytics = simulate(two_stations(1.0, 2.0), 1800)
    result = analytics.bottlenecks("e/s/a/l", T0 + 60, T0 + 1800)
    assert result.main == "e/s/a/l/b"
    shares = {s.station: s for s in result.shares}
    assert shares["e/s/a/l/b"].sole == pytest.approx(1.0, abs=1e-6)
    assert shares["e/s/a/l/a"].total == 0


def test_shifting_bottleneck_when_speeds_swap_halfway() -> None:
    # a: 1 s, b: 2 s for the first half hour; then a slows to 2 s and b speeds up to 1 s
    _, analytics = simulate(two_stations(1.0, 2.0, buffer=3), 3600, switch=(1800.0, {0: 0.5, 1: 2.0}))
    result = analytics.bottlenecks("e/s/a/l", T0 + 60, T0 + 3600)
    shares = {s.station.rsplit("/", 1)[1]: s for s in result.shares}
    assert shares["b"].total == pytest.approx((1800 - 60) / 3540, abs=0.02)
    assert shares["a"].total == pytest.approx(1800 / 3540, abs=0.02)
    assert shares["a"].shifting > 0
    assert shares["b"].shifting > 0  # they overlap around the swap
    timeline = [st.rsplit("/", 1)[1] for _, _, st in result.timeline]
    assert timeline[0] == "b"
    assert timeline[-1] == "a"


def test_planned_breaks_are_not_planned_busy_time() -> None:
    calendar = (
        "calendar: {shifts: [{name: early, start: '06:00', end: '14:00'}], "
        "breaks: [{name: meal, start: '10:00', end: '10:30'}]}"
    )
    model = two_stations(1.0, 2.0, calendar=calendar)
    _, analytics = simulate(model, 3600 * 10, dt=1.0)
    # the simulated clock starts at T0 = 11:06:40 UTC, after the 10:00-10:30 break; the shift ends at 14:00
    day = T0 - (T0 % 86400)
    shift = (day + 6 * 3600, day + 14 * 3600)
    b = analytics.station_kpis("e/s/a/l/b", *shift)
    assert b.time.pot == 8 * 3600
    assert b.time.pdot == 1800
    assert b.time.pbt == 7.5 * 3600
    # b runs all the time from its first part (T0 + 1 s) on: only its running inside planned busy time counts
    assert b.time.apt == pytest.approx(shift[1] - (T0 + 1), abs=2)
    # the shift's time before the data starts (06:00 to T0, less the break) is unknown, not lost
    assert b.time.unknown == pytest.approx(T0 - shift[0] - 1800, abs=2)
    assert b.availability == pytest.approx(b.time.apt / (shift[1] - T0), abs=1e-3)
    assert b.availability > 0.999
    assert b.throughput_per_h == pytest.approx(3600 * b.good / (shift[1] - T0), rel=1e-3)
    night = analytics.station_kpis("e/s/a/l/b", shift[1], shift[1] + 4 * 3600)
    assert night.time.pbt == 0
    assert night.availability is None  # running outside the calendar is not planned production
    rows = analytics.shift_report("e/s/a/l", day, day + 86400)
    assert {r.shift for r in rows} == {"early"}
    assert [r.asset for r in rows] == ["a", "b", "l"]


def test_failures_give_iso_mtbf_and_mttr() -> None:
    model = two_stations(1.0, 0.5, extra=", mtbf: 300, mttr: 30")
    engine, analytics = simulate(model, 4 * 3600)
    run = engine.line_sim("e/s/a/l").stations[0]
    k = analytics.station_kpis("e/s/a/l/a", T0, T0 + 4 * 3600)
    # a repair shorter than the 0.5 s publication step is invisible to any observer of the signals
    assert run.failures - 2 <= k.time.failures <= run.failures
    # each state change is seen up to one 0.5 s step late: down and running time agree to that resolution
    assert k.time.adot == pytest.approx(truth(run, StationState.DOWN, 4 * 3600), abs=0.5 * run.failures)
    assert k.time.apt == pytest.approx(truth(run, StationState.RUNNING, 4 * 3600), abs=0.5 * run.failures)
    assert k.mttr_s == k.time.adot / k.time.failures
    assert k.mtbf_s == k.time.apt / k.time.failures
    assert k.availability == pytest.approx(truth(run, StationState.RUNNING, 4 * 3600) / (4 * 3600), abs=0.005)


def test_the_example_plants_designed_bottleneck_is_found() -> None:
    _, analytics = simulate(load_model(example_path()), 4 * 3600, dt=1.0)
    line = "acme/lyon/bottling/line1"
    assert analytics.bottlenecks(line, T0 + 300, T0 + 4 * 3600).main == f"{line}/filler"
    kpis = analytics.line_kpis(line, T0 + 300, T0 + 4 * 3600)
    assert 0.7 < (kpis.oee or 0) < 1.0
    assert kpis.ideal_cycle_s == 1.25


def test_counter_resets_count_from_zero_and_replays_agree() -> None:
    index = PlantIndex(two_stations(1.0, 2.0))
    counter = "e/s/a/l/a/good_count"
    samples = [Sample(counter, T0 + t, T0 + t, v) for t, v in [(0, 100), (1, 103), (2, 103), (3, 2), (4, 5)]]
    samples.insert(2, Sample(counter, T0 + 1.5, T0 + 1.5, None, Quality.STALE))
    production = Production(index)
    production.apply(samples)
    assert production.counts("e/s/a/l/a", T0, T0 + 10) == (3 + 2 + 3, 0)
    replayed = Production(index)
    for s in samples:
        replayed.apply([s])
    assert replayed.increments == production.increments


def finding(t: float, active: bool, severity: Severity = Severity.WARNING, key: str = "range:x") -> Finding:
    return Finding(key, "range", t, active, severity, f"x at {t}", signal="x", station="st", value=t)


def test_alert_lifecycle_deduplicates_and_clears_after_hysteresis() -> None:
    mgr = AlertManager(clear_after_s=10)
    (raised,) = mgr.apply([finding(0, True)])
    assert raised.state is AlertState.ACTIVE
    (repeat,) = mgr.apply([finding(1, True, Severity.CRITICAL)])
    assert (repeat.id, repeat.count, repeat.severity) == (raised.id, 2, Severity.CRITICAL)
    assert mgr.apply([finding(2, False)]) == []
    assert mgr.tick(5) == []  # not gone long enough
    mgr.apply([finding(6, True)])  # back before the hysteresis ran out: same alert
    mgr.apply([finding(7, False)])
    acked = mgr.acknowledge(raised.id, "anna", at=8)
    assert acked.state is AlertState.ACKNOWLEDGED
    assert acked.acknowledged_by == "anna"
    (cleared,) = mgr.tick(17)
    assert cleared.state is AlertState.CLEARED
    assert cleared.cleared_at == 17
    assert mgr.active() == []
    (again,) = mgr.apply([finding(30, True)])
    assert again.id != raised.id
    with pytest.raises(FactoryTwinError, match="already cleared"):
        mgr.acknowledge(raised.id, "anna", at=31)
    with pytest.raises(FactoryTwinError, match="no alert 99"):
        mgr.acknowledge(99, "anna", at=31)


def test_states_are_inferred_from_counters_and_buffers_without_a_state_signal() -> None:
    model = parse_model(
        one_line(
            """
          - id: a
            sim: {processing_time: {mean: 1.0}, mtbf: 300, mttr: 60}
            signals: [{id: good_count, role: good_count}]
          - id: b
            sim: {processing_time: {mean: 0.5}}
            signals: [{id: good_count, role: good_count}]
""",
            buffers="- {id: q, upstream: a, downstream: b, capacity: 5, signals: [{id: level, role: level}]}",
        )
    )
    engine, analytics = simulate(model, 4 * 3600, dt=0.25)
    run_a, run_b = engine.line_sim("e/s/a/l").stations
    a = analytics.station_kpis("e/s/a/l/a", T0, T0 + 4 * 3600)
    b = analytics.station_kpis("e/s/a/l/b", T0, T0 + 4 * 3600)
    # the inference sees a down 3 cycles after its last part; a failure strikes mid-part (on average half a
    # cycle after that part) and the first part after the repair is counted half a cycle late: 2 cycles net
    true_down = truth(run_a, StationState.DOWN, 4 * 3600)
    assert a.time.adot == pytest.approx(true_down - 2.0 * run_a.failures, abs=0.5 * run_a.failures)
    assert run_a.failures - 2 <= a.time.failures <= run_a.failures
    # b's short waits between parts fall inside its 3-cycle window (1.5 s): it is seen starved only while a is
    # down. b is faster, so the buffer is empty: b's last part ends 0.5 s after a's, b looks starved 1.5 s later
    # (about 1.5 s after the failure); after the repair b counts again 1 s later: about 0.5 s less per failure
    assert b.time.adet == pytest.approx(true_down - 0.5 * run_a.failures, abs=0.5 * run_a.failures)
    assert run_b.time_in_state[StationState.STARVED] > b.time.adet  # the rest of its waiting is invisible
    assert analytics.bottlenecks("e/s/a/l", T0 + 60, T0 + 4 * 3600).main == "e/s/a/l/a"

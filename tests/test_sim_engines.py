"""The fast engine and the SimPy engine give the same part-by-part results on the same draws.

Every test builds a line, draws its random numbers once (``Draws``), runs the fast recursions
(``simulate``) and the SimPy engine (``LineSim`` fed by the same draws) over the same horizon, and
compares, for every part and station, the time the station took the part, finished it and let it
go. Lines are drawn at random (seeded): serial lines with zero and finite buffers, every
processing-time distribution, operation-dependent failures, scrap, setups, arrival schedules, and
closed loops of pallets.
"""

from __future__ import annotations

import random
from typing import Literal

import numpy as np
import pytest
import simpy

from factorytwin.events import StationState
from factorytwin.model.schema import (
    Arrivals,
    Buffer,
    Distribution,
    Line,
    Setup,
    Station,
    StationSim,
)
from factorytwin.sim import Draws, LineSim, SimulationError, Trace, run, simulate, unsupported
from factorytwin.sim.engines import run_engine
from factorytwin.sim.layout import Layout
from factorytwin.sim.warm import Initial, StationStart, WarmStart

HORIZON = 400.0
TOLERANCE = 1e-9


def simpy_trace(draws: Draws, horizon: float, start: Initial | None = None) -> Trace:
    records = []
    for r in range(draws.replications):
        env = simpy.Environment()
        sim = LineSim(env, draws.line, draws=draws.replication(r), trace=True, start=start)
        env.run(until=horizon)
        assert sim.trace is not None
        records.append(sim.trace)
    return Trace.from_records(records, draws.line.pallets is not None)


def assert_same_parts(
    line: Line, horizon: float = HORIZON, replications: int = 3, seed: int = 0, warm: WarmStart | None = None
) -> int:
    """Both engines agree on every event before the horizon; returns how many events were compared."""
    draws = Draws(line, replications, seed)
    start = warm.resolve(draws) if warm is not None else None
    fast = simulate(draws, horizon, start).trace
    slow = simpy_trace(draws, horizon, start)
    compared = 0
    for name in ("taken", "completed", "departed"):
        a, b = getattr(fast, name), getattr(slow, name)
        seen = b.shape[2]
        assert a.shape[2] >= seen
        # Every event SimPy processed before the horizon, the fast engine has at the same time ...
        done = ~np.isnan(b) & (b < horizon)
        np.testing.assert_allclose(a[:, :, :seen][done], b[done], rtol=0, atol=TOLERANCE)
        # ... and the fast engine has no event before the horizon that SimPy lacks.
        extra = np.nan_to_num(a[:, :, seen:], nan=np.inf) < horizon
        missing = np.isnan(b) & (np.nan_to_num(a[:, :, :seen], nan=np.inf) < horizon)
        assert not extra.any()
        assert not missing.any()
        compared += int(done.sum())
    left_fast = fast.leave < horizon
    left_slow = slow.leave < horizon
    assert left_fast.sum() == left_slow.sum()
    assert (fast.good & left_fast).sum() == (slow.good & left_slow).sum()
    return compared


DISTS = [
    Distribution(mean=1.0),
    Distribution(dist="exponential", mean=0.9),
    Distribution(dist="normal", mean=1.1, cv=0.4),
    Distribution(dist="lognormal", mean=1.0, cv=0.6),
    Distribution(dist="empirical", values=[0.5, 0.8, 1.3, 2.0, 0.9]),
]


def random_station(rng: random.Random, i: int, scrap: bool) -> Station:
    sim: dict[str, object] = {"processing_time": rng.choice(DISTS)}
    if rng.random() < 0.6:
        sim |= {"mtbf": rng.uniform(20, 80), "mttr": rng.uniform(2, 10)}
    if rng.random() < 0.2:
        sim |= {
            "time_to_failure": Distribution(dist="lognormal", mean=40.0, cv=0.5),
            "time_to_repair": Distribution(dist="normal", mean=5.0, cv=0.3),
        }
        sim.pop("mtbf", None)
        sim.pop("mttr", None)
    if scrap and rng.random() < 0.4:
        sim["scrap_rate"] = rng.uniform(0.02, 0.2)
    if rng.random() < 0.3:
        sim["setup"] = Setup(time=Distribution(dist="exponential", mean=4.0), every=rng.randint(1, 12))
    return Station(id=f"s{i}", sim=StationSim.model_validate(sim))


def random_line(seed: int, loop: bool) -> Line:
    rng = random.Random(seed)
    m = rng.randint(2, 6)
    stations = [random_station(rng, i, scrap=True) for i in range(m)]
    pairs = [(i, i + 1) for i in range(m - 1)] + ([(m - 1, 0)] if loop else [])
    buffers = [
        Buffer(id=f"b{a}", upstream=f"s{a}", downstream=f"s{b}", capacity=rng.choice([0, 0, 1, 2, 5])) for a, b in pairs
    ]
    places = sum(b.capacity + 1 for b in buffers)
    pallets = rng.randint(1, places - 1) if loop else None
    arrivals = None
    if not loop and rng.random() < 0.4:
        arrivals = Arrivals(interval=rng.choice(DISTS[:4]), batch=rng.randint(1, 3))
    return Line(id="l", stations=stations, buffers=buffers, pallets=pallets, arrivals=arrivals)


@pytest.mark.parametrize("seed", range(8))
def test_random_serial_lines_agree_part_by_part(seed: int) -> None:
    assert assert_same_parts(random_line(seed, loop=False), seed=seed) > 300


@pytest.mark.parametrize("seed", range(6))
def test_random_closed_loops_agree_part_by_part(seed: int) -> None:
    assert assert_same_parts(random_line(100 + seed, loop=True), seed=seed) > 300


def station(i: int, dist: Distribution, **sim: object) -> Station:
    return Station(id=f"s{i}", sim=StationSim.model_validate({"processing_time": dist, **sim}))


def serial(stations: list[Station], caps: list[int], **line: object) -> Line:
    buffers = [Buffer(id=f"b{i}", upstream=f"s{i}", downstream=f"s{i + 1}", capacity=c) for i, c in enumerate(caps)]
    return Line.model_validate({"id": "l", "stations": stations, "buffers": buffers, **line})


def test_zero_buffers_with_failures_and_scrap_agree() -> None:
    exp = Distribution(dist="exponential", mean=1.0)
    stations = [station(i, exp, mtbf=30.0, mttr=4.0, scrap_rate=0.1) for i in range(5)]
    assert assert_same_parts(serial(stations, [0, 0, 0, 0]), horizon=600.0, replications=4) > 5000


def test_tight_loop_with_zero_buffers_agrees() -> None:
    """Three stations, zero buffers everywhere and two pallets: every move waits for another."""
    stations = [station(i, Distribution(dist="lognormal", mean=1.0, cv=0.5), mtbf=40.0, mttr=5.0) for i in range(3)]
    buffers = [Buffer(id=f"b{i}", upstream=f"s{i}", downstream=f"s{(i + 1) % 3}", capacity=0) for i in range(3)]
    line = Line(id="l", stations=stations, buffers=buffers, pallets=2)
    assert assert_same_parts(line, horizon=800.0) > 3000


def test_deterministic_ties_agree() -> None:
    """Equal deterministic times make many events simultaneous; both engines resolve them alike."""
    stations = [station(i, Distribution(mean=1.0 + (i % 2))) for i in range(4)]
    assert assert_same_parts(serial(stations, [0, 1, 0]), horizon=100.5, replications=1) > 100


def test_the_fast_engine_names_what_it_cannot_run() -> None:
    d = Distribution(mean=1.0)
    parallel = serial([station(0, d), station(1, d, machines=2)], [1])
    timed = serial([station(0, d, mtbf=10.0, mttr=1.0, failure_mode="time"), station(1, d)], [1])
    assert unsupported(parallel) == "station 's1' has 2 parallel machines"
    assert unsupported(timed) == "station 's0' has time-dependent failures"
    with pytest.raises(SimulationError, match="parallel machines"):
        simulate(Draws(parallel), 10.0)
    with pytest.raises(SimulationError, match="time-dependent failures"):
        run(timed, 10.0, 2, engine="fast")
    assert run(timed, 10.0, 2).engine == "simpy"
    assert run(parallel, 10.0, 2, engine="auto").engine == "simpy"
    assert run(serial([station(0, d), station(1, d)], [1]), 10.0, 2).engine == "fast"


def test_station_states_agree_between_engines() -> None:
    """The fast engine derives states from part times; SimPy accumulates them event by event."""
    exp = Distribution(dist="exponential", mean=1.0)
    setup = Setup(time=Distribution(mean=6.0), every=20)
    stations = [
        station(0, exp, mtbf=50.0, mttr=5.0),
        station(1, Distribution(dist="normal", mean=1.1, cv=0.3), scrap_rate=0.05, setup=setup),
        station(2, exp, mtbf=30.0, mttr=3.0),
    ]
    line = serial(stations, [2, 0])
    fast = run(line, 2000.0, 4, seed=5, warmup=300.0, engine="fast")
    slow = run(line, 2000.0, 4, seed=5, warmup=300.0, engine="simpy")
    np.testing.assert_allclose(fast.samples.states, slow.samples.states, atol=1e-9)
    np.testing.assert_allclose(fast.samples.throughput, slow.samples.throughput, rtol=0, atol=0)
    np.testing.assert_allclose(fast.samples.wip, slow.samples.wip, atol=1e-9)
    np.testing.assert_allclose(fast.samples.lead_time, slow.samples.lead_time, atol=1e-9)
    assert fast.station("s1").changeover.mean > 0.05
    assert fast.station("s0").down.mean > 0.02
    assert fast.station("s0").blocked.mean > 0.01


# ------------------------------------------------------------------ what only the SimPy engine runs


def test_parallel_machines_share_the_work() -> None:
    """A 1 s station feeds 3 machines of 3 s through no buffer: the pair makes one part a second."""
    line = serial([station(0, Distribution(mean=1.0)), station(1, Distribution(mean=3.0), machines=3)], [0])
    env = simpy.Environment()
    sim = LineSim(env, line, record=True, trace=True)
    env.run(until=100.5)
    assert sim.stations[1].good == 97  # parts 0..96 finish at t = 4, 5, ..., 100
    assert sim.stations[0].state is StationState.RUNNING
    assert sim.trace is not None
    finished = sorted(rec[2] for rec in sim.trace[1] if rec[2] == rec[2])
    assert finished == [float(t) for t in range(4, 101)]
    # Each machine took every third part, and none was ever starved once the flow started.
    for machine in sim.stations[1].machines:
        assert machine.total(StationState.RUNNING, env.now) == pytest.approx(96.5, abs=3.0)


def test_time_dependent_failures_strike_while_starved() -> None:
    """Station b (1 s) behind a (2 s) is starved half of the time but fails in elapsed time.

    Its down periods form an alternating renewal process: failures ~ T / (mtbf + mttr), not
    busy / mtbf as with operation-dependent failures (4-sigma Poisson bounds).
    """
    mtbf, mttr, until = 20.0, 2.0, 8_000.0
    b = station(1, Distribution(mean=1.0), mtbf=mtbf, mttr=mttr, failure_mode="time")
    line = serial([station(0, Distribution(mean=2.0)), b], [5])
    env = simpy.Environment()
    sim = LineSim(env, line, seed=3, record=True)
    env.run(until=until)
    b_run = sim.stations[1]
    expected = until / (mtbf + mttr)
    assert abs(b_run.failures - expected) <= 4 * np.sqrt(expected)
    busy_based = b_run.busy_time / mtbf
    assert abs(b_run.failures - busy_based) > 4 * np.sqrt(busy_based)
    assert sim.log is not None
    downs = [k for k, (_, sid, e) in enumerate(sim.log) if sid == "s1" and e == "down"]
    came_from = {[e for _, sid, e in sim.log[:k] if sid == "s1" and e in ("running", "starved")][-1] for k in downs}
    assert came_from == {"running", "starved"}
    # Still all parts flow: b keeps up with a (1 part / 2 s) despite 9 % down time.
    assert b_run.good == pytest.approx(until / 2, abs=30)


# ----------------------------------------------------------------------------------- warm starts


def random_start(line: Line, seed: int) -> WarmStart:
    """Buffers partly full and every station in a random state, down ones with a repair under way."""
    rng = random.Random(seed)
    states = [StationState.RUNNING, StationState.DOWN, StationState.BLOCKED, StationState.STARVED]
    caps = Layout.of(line).buffer[:-1]
    return WarmStart(
        buffers=tuple(rng.randint(0, int(c)) for c in caps),
        stations=tuple(StationStart(rng.choice(states), rng.uniform(0.0, 8.0)) for _ in line.stations),
    )


@pytest.mark.parametrize("seed", range(8))
def test_warm_started_serial_lines_agree_part_by_part(seed: int) -> None:
    line = random_line(200 + seed, loop=False)
    assert assert_same_parts(line, seed=seed, warm=random_start(line, seed)) > 300


def test_warm_start_with_every_station_down_or_blocked_agrees() -> None:
    """Full buffers, blocked stations behind a down one, scrap and setups: parts leave in FIFO order."""
    exp = Distribution(dist="exponential", mean=1.0)
    setup = Setup(time=Distribution(mean=3.0), every=5)
    stations = [
        station(0, exp, mtbf=30.0, mttr=6.0, scrap_rate=0.1),
        station(1, Distribution(dist="lognormal", mean=1.2, cv=0.3), setup=setup, scrap_rate=0.05),
        station(
            2,
            exp,
            time_to_failure=Distribution(mean=25.0),
            time_to_repair=Distribution(dist="normal", mean=8.0, cv=0.4),
        ),
        station(3, Distribution(mean=0.8)),
    ]
    line = serial(stations, [3, 0, 2])
    states = (StationState.BLOCKED, StationState.BLOCKED, StationState.DOWN, StationState.RUNNING)
    warm = WarmStart((3, 0, 2), tuple(StationStart(s, 5.0) for s in states))
    assert assert_same_parts(line, horizon=300.0, replications=4, warm=warm) > 1000
    draws = Draws(line, 4, 0)
    start = warm.resolve(draws)
    assert start.parts == 3 + 1 + 0 + 1 + 2 + 1 + 1  # buffers and held parts: 3 | s0, s1 | s2 | 2 | s3
    repairs = start.repair[2][:, 0]
    assert (repairs > 0).all()
    assert len(set(repairs.tolist())) == 4  # residuals differ by replication
    # A warm start changes the first hour's output against a cold one: the line starts full.
    hour = 600.0
    cold = simulate(Draws(line, 4, 0), hour).trace
    warmed = simulate(draws, hour, start).trace
    assert ((warmed.leave < 20.0) & warmed.good).sum() > ((cold.leave < 20.0) & cold.good).sum()


def test_warm_start_states_agree_between_engines() -> None:
    exp = Distribution(dist="exponential", mean=1.0)
    stations = [station(0, exp, mtbf=50.0, mttr=5.0), station(1, exp, mtbf=30.0, mttr=8.0), station(2, exp)]
    line = serial(stations, [4, 2])
    warm = WarmStart((4, 1), (StationStart(StationState.BLOCKED), StationStart(StationState.DOWN, 3.0), StationStart()))
    fast = run_warm(line, warm, "fast")
    slow = run_warm(line, warm, "simpy")
    np.testing.assert_allclose(fast, slow, atol=1e-9)
    assert fast[:, 1, 2].mean() > 0.02  # s1 down from the start


def run_warm(line: Line, warm: WarmStart, engine: Literal["fast", "simpy"]) -> np.ndarray:
    draws = Draws(line, 4, 9)
    _, states = run_engine(draws, engine, 0.0, 500.0, warm.resolve(draws))
    return states


def test_a_warm_start_that_does_not_fit_the_line_is_refused() -> None:
    d = Distribution(mean=1.0)
    line = serial([station(0, d), station(1, d)], [2])
    draws = Draws(line)
    with pytest.raises(SimulationError, match="holds 3 parts; it takes 0 to 2"):
        WarmStart((3,), (StationStart(), StationStart())).resolve(draws)
    with pytest.raises(SimulationError, match="needs 2 station states and 1 buffer levels"):
        WarmStart((), (StationStart(),)).resolve(draws)
    with pytest.raises(SimulationError, match="must be finite"):
        WarmStart((0,), (StationStart(StationState.DOWN, float("nan")), StationStart())).resolve(draws)
    loop = Line(
        id="l",
        stations=[station(0, d), station(1, d)],
        buffers=[
            Buffer(id="a", upstream="s0", downstream="s1", capacity=1),
            Buffer(id="b", upstream="s1", downstream="s0", capacity=1),
        ],
        pallets=2,
    )
    with pytest.raises(SimulationError, match="open line"):
        WarmStart((0,), (StationStart(), StationStart())).resolve(Draws(loop))

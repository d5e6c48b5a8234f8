"""The serial-line engine (factorytwin.sim.line) checked against theory.

Where queueing theory is exact (deterministic stations), the recorded event log is compared
exactly; where it is statistical, the tolerance is a 4-sigma bound derived from the model
(never a magic number) and the seed is fixed, so every test is deterministic.

Note on boundaries: ``env.run(until=T)`` does not process events scheduled at exactly ``T``
(SimPy semantics), so run lengths below are chosen off the event grid where that matters.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from factorytwin.events import StationState
from factorytwin.model.schema import Buffer, Distribution, Line, Station, StationSim
from factorytwin.sim import LineSim, draw

# --------------------------------------------------------------------------------------- helpers

STATES = {s.value for s in StationState}


def station(sid: str, mean: float, dist: str = "deterministic", cv: float = 0.0, **sim: float) -> Station:
    return Station(id=sid, sim=StationSim(processing_time=Distribution(dist=dist, mean=mean, cv=cv), **sim))


def serial(*stations: Station, capacity: int | list[int] = 1) -> Line:
    caps = capacity if isinstance(capacity, list) else [capacity] * (len(stations) - 1)
    buffers = [
        Buffer(id=f"q{i}", upstream=up.id, downstream=down.id, capacity=cap)
        for i, (up, down, cap) in enumerate(zip(stations, stations[1:], caps, strict=False))
    ]
    return Line(id="l", stations=list(stations), buffers=buffers)


def run(line: Line, until: float, seed: int = 0) -> LineSim:
    env = simpy.Environment()
    sim = LineSim(env, line, seed=seed, record=True)
    env.run(until=until)
    return sim


def events(sim: LineSim, sid: str, *kinds: str) -> list[tuple[float, str]]:
    """(time, event) of one station, optionally only some event kinds."""
    assert sim.log is not None
    return [(t, e) for t, s, e in sim.log if s == sid and (not kinds or e in kinds)]


def times(sim: LineSim, sid: str, kind: str) -> list[float]:
    return [t for t, _ in events(sim, sid, kind)]


def state_changes(sim: LineSim, sid: str) -> list[tuple[float, str]]:
    return [(t, e) for t, e in events(sim, sid) if e in STATES]


def intervals(sim: LineSim, sid: str, state: str, end: float) -> list[tuple[float, float]]:
    """Half-open intervals [t0, t1) a station spent in a state, the last one clipped at ``end``."""
    changes = state_changes(sim, sid)
    out = []
    for k, (t, e) in enumerate(changes):
        if e == state:
            out.append((t, changes[k + 1][0] if k + 1 < len(changes) else end))
    return out


def durations(sim: LineSim, sid: str) -> list[float]:
    """Start-to-end time of every part a station processed (end = finish or scrap)."""
    out, started = [], None
    for t, e in events(sim, sid, "start", "finish", "scrap"):
        if e == "start":
            started = t
        else:
            assert started is not None
            out.append(t - started)
            started = None
    return out


def time_in(run_: object, state: StationState, now: float) -> float:
    """Time in a state including the currently open interval."""
    total = run_.time_in_state.get(state, 0.0)  # type: ignore[attr-defined]
    if run_.state is state:  # type: ignore[attr-defined]
        total += now - run_.since  # type: ignore[attr-defined]
    return total


# ------------------------------------------------------------------------- single station, counts


@pytest.mark.parametrize(("cycle", "until"), [(1.0, 10.5), (2.0, 9.9), (0.75, 100.2), (3.0, 1000.0 + 1.5)])
def test_single_deterministic_station_makes_floor_t_over_c_parts(cycle: float, until: float) -> None:
    sim = run(Line(id="l", stations=[station("a", cycle)]), until)
    expected = math.floor(until / cycle)
    assert sim.stations[0].good == expected
    assert sim.stations[0].scrap == 0
    assert times(sim, "a", "finish") == pytest.approx([cycle * k for k in range(1, expected + 1)])
    # Never starved (unlimited supply) nor blocked (unlimited demand): running from t=0 on.
    assert state_changes(sim, "a") == [(0, "running")]


def test_event_at_exactly_until_is_not_processed_yet() -> None:
    env = simpy.Environment()
    sim = LineSim(env, Line(id="l", stations=[station("a", 2.0)]))
    env.run(until=10.0)
    assert sim.stations[0].good == 4  # the finish at t=10 is scheduled but not processed yet
    env.run(until=10.5)
    assert sim.stations[0].good == 5


def test_scrap_keeps_total_output_and_follows_binomial() -> None:
    cycle, until, rate = 1.0, 2000.5, 0.1
    sim = run(Line(id="l", stations=[station("a", cycle, scrap_rate=rate)]), until, seed=3)
    st = sim.stations[0]
    n = math.floor(until / cycle)
    assert st.good + st.scrap == n
    assert len(times(sim, "a", "scrap")) == st.scrap
    assert len(times(sim, "a", "finish")) == st.good
    # scrap ~ Binomial(n, rate): 4-sigma bound.
    assert abs(st.scrap - n * rate) <= 4 * math.sqrt(n * rate * (1 - rate))


def test_scrapped_parts_never_reach_the_next_station() -> None:
    line = serial(station("a", 1.0, scrap_rate=0.3), station("b", 0.5), capacity=5)
    sim = run(line, 500.5, seed=1)
    a, b = sim.stations
    assert a.scrap > 0
    # Parts released by a are exactly the good ones, and b consumes only those.
    assert len(times(sim, "a", "release")) == a.good
    assert len(times(sim, "b", "start")) + sim.buffer_level(0) == a.good
    assert b.good == len(times(sim, "b", "finish"))


# ------------------------------------------------------------------- two stations: blocking theory


@pytest.mark.parametrize("capacity", [1, 2, 3, 7])
def test_fast_upstream_blocks_at_exact_time_and_slow_downstream_never_starves(capacity: int) -> None:
    """Upstream a (1 s) feeds downstream b (2 s) through a buffer of capacity K.

    a finishes part n at t = n while unblocked; b takes part m at t = 2m - 1 (its first part at
    t = 1, then one every 2 s). Parts are conserved: when a finishes part n it is blocked iff
    n > (parts b has completed) + 1 (the part in b) + K (the buffer) + ... i.e. iff the buffer is
    full. At t = 2K + 1 b takes a part at the same instant (b's timeout was scheduled earlier, so
    SimPy serves it first): the buffer has room. At t = 2K + 2 b has completed K parts and holds
    part K + 1, the buffer holds parts K + 2 .. 2K + 1 (K parts) and a holds part 2K + 2: a is
    blocked first at t = 2K + 2, released at t = 2K + 3 when b takes a part, and from then on it
    runs 1 s and waits 1 s, in step with b.
    """
    k = capacity
    until = 2 * k + 41.5
    sim = run(serial(station("a", 1.0), station("b", 2.0), capacity=k), until)

    blocked = intervals(sim, "a", "blocked", until)
    first_block = 2.0 * k + 2.0
    assert blocked[0][0] == first_block
    expected = [(first_block + 2 * j, first_block + 2 * j + 1) for j in range(len(blocked))]
    assert blocked == expected
    assert len(blocked) == math.floor((until - first_block) / 2) + 1  # none missing at the end
    # a never starves and is only ever running or blocked.
    assert {e for _, e in state_changes(sim, "a")} == {"running", "blocked"}
    # b: starved only until its first part at t = 1, then busy without a break.
    assert state_changes(sim, "b") == [(0, "starved"), (1.0, "running")]
    assert times(sim, "b", "start") == [1.0 + 2 * m for m in range(len(times(sim, "b", "start")))]
    # From t = 2K on the buffer is full after every instant (b's take and a's put coincide).
    assert sim.buffer_level(0) == k
    # Line throughput is the bottleneck's: b finished floor((until - 1) / 2) parts.
    assert sim.stations[1].good == math.floor((until - 1) / 2)


def test_slow_upstream_starves_downstream_between_parts_exactly() -> None:
    """Upstream a (2 s) feeds downstream b (1 s): b waits [0, 2), then [2m + 1, 2m + 2) each cycle."""
    until = 40.5
    sim = run(serial(station("a", 2.0), station("b", 1.0), capacity=3), until)
    starved = intervals(sim, "b", "starved", until)
    expected = [(0.0, 2.0)] + [(2.0 * m + 1, 2.0 * m + 2) for m in range(1, 20)]
    assert starved == expected
    assert times(sim, "b", "start") == [2.0 * m for m in range(1, 21)]
    assert times(sim, "b", "finish") == [2.0 * m + 1 for m in range(1, 20)]  # the one from 40 is due at 41
    assert time_in(sim.stations[1], StationState.STARVED, until) == pytest.approx(2.0 + 19 * 1.0)
    # a is never blocked; the buffer never holds more than what b has not yet taken.
    assert not intervals(sim, "a", "blocked", until)
    assert sim.buffer_level(0) == 0


def test_time_in_state_adds_up_to_elapsed_time() -> None:
    line = serial(
        station("a", 1.0, "exponential", mtbf=30.0, mttr=5.0),
        station("b", 1.1, "normal", 0.3, scrap_rate=0.05),
        station("c", 0.9, "lognormal", 0.5, mtbf=50.0, mttr=3.0),
        capacity=[2, 1],
    )
    until = 3000.0
    sim = run(line, until, seed=11)
    for st in sim.stations:
        total = sum(time_in(st, s, until) for s in StationState)
        assert total == pytest.approx(until)
        # The log's intervals agree with the accumulated times.
        for state in ("running", "starved", "blocked", "down"):
            logged = sum(t1 - t0 for t0, t1 in intervals(sim, st.station.id, state, until))
            assert logged == pytest.approx(time_in(st, StationState(state), until))


def test_flow_is_conserved_between_stations() -> None:
    line = serial(station("a", 1.0, "exponential"), station("b", 1.0, "exponential"), capacity=4)
    sim = run(line, 5000.3, seed=5)
    a = sim.stations[0]
    holding = 1 if a.state is StationState.BLOCKED else 0  # a finished part waiting for room
    assert a.good == len(times(sim, "b", "start")) + sim.buffer_level(0) + holding
    assert 0 <= sim.buffer_level(0) <= 4


# --------------------------------------------------------------------------------- speed factor


def test_half_speed_doubles_the_cycle_from_the_next_part() -> None:
    env = simpy.Environment()
    sim = LineSim(env, Line(id="l", stations=[station("a", 1.0)]), record=True)
    env.run(until=2.5)  # part 3 is in progress (started at 2)
    sim.set_speed(0, 0.5)
    env.run(until=10.5)
    assert times(sim, "a", "start") == [0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 9.0]
    assert times(sim, "a", "finish") == [1.0, 2.0, 3.0, 5.0, 7.0, 9.0]
    assert sim.stations[0].last_cycle == 2.0
    sim.set_speed(0, 2.0)  # part started at 9 still takes 2 s, then 0.5 s each
    env.run(until=13.2)
    assert times(sim, "a", "finish")[-6:] == [9.0, 11.0, 11.5, 12.0, 12.5, 13.0]


def test_speed_zero_idles_the_station_until_set_back() -> None:
    env = simpy.Environment()
    sim = LineSim(env, Line(id="l", stations=[station("a", 1.0)]), record=True)
    env.run(until=2.5)
    sim.set_speed(0, 0.0)
    env.run(until=10.0)
    assert sim.stations[0].state is StationState.IDLE
    assert sim.stations[0].good == 3  # the part in progress is finished, then nothing
    sim.set_speed(0, 1.0)
    env.run(until=12.5)
    assert events(sim, "a")[-8:] == [
        (3.0, "finish"),
        (3.0, "idle"),
        (10.0, "running"),
        (10.0, "start"),
        (11.0, "finish"),
        (11.0, "start"),
        (12.0, "finish"),
        (12.0, "start"),
    ]
    assert time_in(sim.stations[0], StationState.IDLE, env.now) == pytest.approx(7.0)
    assert sim.stations[0].speed == 1.0


def test_negative_speed_is_clamped_to_stopped() -> None:
    env = simpy.Environment()
    sim = LineSim(env, Line(id="l", stations=[station("a", 1.0)]), record=True)
    sim.set_speed(0, -1.0)
    env.run(until=5.0)
    assert sim.stations[0].speed == 0.0
    assert sim.stations[0].good == 0
    assert sim.stations[0].state is StationState.IDLE


def test_speed_zero_while_starved_idles_instead_of_running_forever() -> None:
    env = simpy.Environment()
    sim = LineSim(env, serial(station("a", 2.0), station("b", 1.0), capacity=3), record=True)
    env.run(until=3.5)  # b is starved, waiting for the part a finishes at t = 4
    sim.set_speed(1, 0.0)
    env.run(until=20.0)
    assert sim.stations[1].state is StationState.IDLE
    sim.set_speed(1, 1.0)
    env.run(until=30.5)
    assert sim.stations[1].good >= 10  # b catches up with a once it runs again


# ------------------------------------------------------------------------------------- failures


def test_long_run_throughput_with_failures_matches_theory() -> None:
    """One deterministic station, exponential failures (in busy time) and repairs.

    Busy time B(T) is the up time of an alternating renewal process (up ~ Exp(mtbf), down ~
    Exp(mttr)): E[B] = T·mtbf/(mtbf + mttr), and by the renewal CLT
    Var[B] ~ T·(sd_up²·m_down² + sd_down²·m_up²)/(m_up + m_down)³ = 2·T·mtbf²·mttr²/(mtbf + mttr)³
    (exponentials: sd = mean).
    Good parts are floor(B / c), so throughput = 1/(c·(1 + mttr/mtbf)) with sd(N) = sd(B)/c.
    """
    c, mtbf, mttr, until = 1.0, 20.0, 5.0, 50_000.5
    sim = run(Line(id="l", stations=[station("a", c, mtbf=mtbf, mttr=mttr)]), until, seed=7)
    st = sim.stations[0]

    expected_n = until / (c * (1 + mttr / mtbf))
    sd_n = math.sqrt(2 * until * mtbf**2 * mttr**2 / (mtbf + mttr) ** 3) / c
    assert abs(st.good - expected_n) <= 4 * sd_n + 1
    assert st.good / until == pytest.approx(1 / (c * (1 + mttr / mtbf)), abs=(4 * sd_n + 1) / until)

    # Exact bookkeeping: elapsed = busy + down, and busy holds every good part plus one partial.
    down = intervals(sim, "a", "down", until)
    total_down = sum(t1 - t0 for t0, t1 in down)
    busy = until - total_down
    assert busy == pytest.approx(st.busy_time, abs=c)
    assert st.good * c <= busy + 1e-6
    assert busy <= (st.good + 1) * c + 1e-6

    # Failures ~ Poisson(busy / mtbf); repairs ~ Exp(mttr) (sd of the mean = mttr / sqrt(n)).
    assert st.failures == len(down)
    assert abs(st.failures - busy / mtbf) <= 4 * math.sqrt(busy / mtbf)
    repairs = [t1 - t0 for t0, t1 in down[:-1]]  # the last may be cut off at `until`
    assert abs(np.mean(repairs) - mttr) <= 4 * mttr / math.sqrt(len(repairs))


def test_failures_happen_only_while_running() -> None:
    line = serial(
        station("a", 1.0, "exponential", mtbf=15.0, mttr=3.0),
        station("b", 1.2, "normal", 0.4, mtbf=25.0, mttr=4.0, scrap_rate=0.05),
        station("c", 1.0, "lognormal", 0.6, mtbf=20.0, mttr=6.0),
        capacity=[1, 2],
    )
    until = 4000.0
    sim = run(line, until, seed=2)
    for st in sim.stations:
        sid = st.station.id
        changes = state_changes(sim, sid)
        downs = [k for k, (_, e) in enumerate(changes) if e == "down"]
        assert len(downs) == st.failures > 10
        for k in downs:
            assert changes[k - 1][1] == "running"  # operation-dependent: fails only while busy
            if k + 1 < len(changes):
                assert changes[k + 1][1] == "running"  # resumes the interrupted part
        # Every failure falls inside a part (between its start and its finish/scrap).
        part_events = events(sim, sid, "start", "finish", "scrap")
        for t_down, _ in (changes[k] for k in downs):
            before = [e for t, e in part_events if t <= t_down]
            assert before
            assert before[-1] == "start"


def test_failures_count_busy_time_not_elapsed_time() -> None:
    """A fast station behind a slow one is blocked ~75 % of the time and fails ~4x less often.

    a (1 s, mtbf 20 s) feeds b (4 s) through one place: a is busy ~1/4 of the time, so its
    failures are Poisson(busy/mtbf); failures in elapsed time would be ~T/(mtbf + mttr).
    """
    mtbf, mttr, until = 20.0, 2.0, 20_000.0
    line = serial(station("a", 1.0, mtbf=mtbf, mttr=mttr), station("b", 4.0), capacity=1)
    sim = run(line, until, seed=4)
    a = sim.stations[0]
    lam = a.busy_time / mtbf
    assert a.busy_time < 0.3 * until
    assert abs(a.failures - lam) <= 4 * math.sqrt(lam)
    time_based = until / (mtbf + mttr)
    assert abs(a.failures - time_based) > 4 * math.sqrt(time_based)


def test_wear_resets_at_repair() -> None:
    env = simpy.Environment()
    sim = LineSim(env, Line(id="l", stations=[station("a", 1.0, mtbf=50.0, mttr=5.0)]), seed=9, record=True)
    seen_drop = False
    last = 0.0
    for t in np.arange(1.5, 2000, 1.0):
        env.run(until=float(t))
        wear = sim.stations[0].wear
        assert wear >= 0
        if wear < last:
            seen_drop = True
            assert sim.stations[0].failures > 0
        last = wear
    assert seen_drop


# ------------------------------------------------------------------ determinism and random streams


def stochastic_line() -> Line:
    return serial(
        station("a", 1.0, "normal", 0.3, scrap_rate=0.05),
        station("b", 0.8, "exponential", mtbf=40.0, mttr=4.0),
        station("c", 0.9, "lognormal", 0.4, mtbf=30.0, mttr=5.0, scrap_rate=0.02),
        capacity=[3, 2],
    )


def test_same_seed_gives_identical_logs() -> None:
    first = run(stochastic_line(), 1500.0, seed=123)
    second = run(stochastic_line(), 1500.0, seed=123)
    assert first.log == second.log
    assert len(first.log or []) > 1000


def test_different_seeds_give_different_logs() -> None:
    first = run(stochastic_line(), 1500.0, seed=123)
    second = run(stochastic_line(), 1500.0, seed=124)
    assert first.log != second.log
    assert durations(first, "a")[:50] != durations(second, "a")[:50]


def test_changing_station_2_does_not_shift_station_0_draws() -> None:
    """Common random numbers: each station has its own streams.

    Station 0 never blocks here (the first buffer is far larger than the run can fill), so its
    start/finish times are exactly its own processing draws; slowing station 2 changes the
    interleaving of every station's events but must not change station 0's draws.
    """
    line = serial(
        station("a", 1.0, "normal", 0.3, scrap_rate=0.05),
        station("b", 0.8, "exponential", mtbf=40.0, mttr=4.0),
        station("c", 0.9, "lognormal", 0.4, mtbf=30.0, mttr=5.0, scrap_rate=0.02),
        capacity=[100_000, 2],
    )
    until = 1500.0
    base = run(line, until, seed=42)

    env = simpy.Environment()
    changed = LineSim(env, line, seed=42, record=True)
    env.run(until=100.0)
    changed.set_speed(2, 0.5)
    env.run(until=until)

    assert not intervals(base, "a", "blocked", until)
    assert not intervals(changed, "a", "blocked", until)
    assert events(changed, "c") != events(base, "c")  # the change did something
    d_base, d_changed = durations(base, "a"), durations(changed, "a")
    assert len(d_base) > 1000
    assert d_changed == d_base
    assert events(changed, "a") == events(base, "a")  # including which parts were scrapped


# ---------------------------------------------------------------------------------- distributions

N_DRAWS = 40_000


def sample(dist: Distribution, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([draw(dist, rng) for _ in range(N_DRAWS)])


def check_moments(x: np.ndarray, mean: float, sd: float, kurtosis: float) -> None:
    """Sample mean and variance within 4 standard errors (Var[s²] ≈ σ⁴·(κ - 1)/n)."""
    n = len(x)
    assert abs(x.mean() - mean) <= 4 * sd / math.sqrt(n)
    assert abs(x.var(ddof=1) - sd**2) <= 4 * sd**2 * math.sqrt((kurtosis - 1) / n)


def test_deterministic_draw_is_the_mean() -> None:
    rng = np.random.default_rng(0)
    assert {draw(Distribution(mean=2.5), rng) for _ in range(100)} == {2.5}
    # cv 0 of normal/lognormal is deterministic too.
    assert draw(Distribution(dist="normal", mean=1.5), rng) == 1.5
    assert draw(Distribution(dist="lognormal", mean=1.5), rng) == 1.5


def test_exponential_draws() -> None:
    mean = 2.0
    x = sample(Distribution(dist="exponential", mean=mean, cv=0.3))  # cv is ignored: always 1
    check_moments(x, mean, mean, kurtosis=9.0)
    assert x.min() >= 0


def test_normal_draws() -> None:
    mean, cv = 3.0, 0.15  # truncation at zero is a 6.7-sigma event here: negligible
    x = sample(Distribution(dist="normal", mean=mean, cv=cv), seed=1)
    check_moments(x, mean, cv * mean, kurtosis=3.0)


def test_lognormal_draws() -> None:
    mean, cv = 1.2, 0.5
    s2 = math.log1p(cv**2)
    kurtosis = math.exp(4 * s2) + 2 * math.exp(3 * s2) + 3 * math.exp(2 * s2) - 3
    x = sample(Distribution(dist="lognormal", mean=mean, cv=cv), seed=2)
    check_moments(x, mean, cv * mean, kurtosis=kurtosis)
    assert x.min() > 0


def test_normal_truncated_at_zero_is_always_positive_with_truncated_mean() -> None:
    """With cv 1.5 a quarter of raw normal draws are negative; draw rejects them.

    The result is a normal truncated to (0, inf): mean m + s·phi(a)/(1 - Phi(a)) with a = -m/s.
    """
    mean, cv = 1.0, 1.5
    x = sample(Distribution(dist="normal", mean=mean, cv=cv), seed=3)
    assert (x > 0).all()
    sd = cv * mean
    alpha = -mean / sd
    phi = math.exp(-(alpha**2) / 2) / math.sqrt(2 * math.pi)
    tail = 1 - 0.5 * (1 + math.erf(alpha / math.sqrt(2)))
    t_mean = mean + sd * phi / tail
    t_var = sd**2 * (1 + alpha * phi / tail - (phi / tail) ** 2)
    assert abs(x.mean() - t_mean) <= 4 * math.sqrt(t_var / len(x))
    assert x.mean() > mean  # truncation biases the mean upwards


def test_processing_times_in_the_line_use_the_distribution() -> None:
    """A lone station's start-to-finish durations are its processing draws (divided by speed)."""
    mean, cv = 2.0, 0.25
    sim = run(Line(id="l", stations=[station("a", mean, "lognormal", cv)]), 20_000.0, seed=8)
    d = np.array(durations(sim, "a"))
    assert len(d) > 9000
    assert abs(d.mean() - mean) <= 4 * cv * mean / math.sqrt(len(d))

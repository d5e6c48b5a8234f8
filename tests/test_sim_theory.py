"""The engines against queueing theory: each exact long-run value lies in the run's confidence interval.

Every test runs independent replications with a fixed seed (so it is deterministic), discards a
warm-up, and checks that the closed-form value lies inside the 99 % Student-t interval of the
replication means. The intervals are also asserted to be narrow, so that a wide, uninformative
interval cannot pass by accident.
"""

from __future__ import annotations

import pytest

from factorytwin.model.schema import Buffer, Line, Station, StationSim
from factorytwin.sim import Results, run

LEVEL = 0.99


def station(i: int, dist: str, mean: float, **sim: float) -> Station:
    return Station(id=f"s{i}", sim=StationSim.model_validate({"processing_time": {"dist": dist, "mean": mean}, **sim}))


def line_of(stations: list[Station], caps: list[int], pallets: int | None = None) -> Line:
    n = len(stations)
    links = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if pallets else [])
    buffers = [
        Buffer(id=f"b{a}", upstream=f"s{a}", downstream=f"s{b}", capacity=c)
        for (a, b), c in zip(links, caps, strict=True)
    ]
    return Line(id="l", stations=stations, buffers=buffers, pallets=pallets)


def per_second(results: Results) -> tuple[float, float, float]:
    t = results.throughput
    return t.mean / 3600, t.low / 3600, t.high / 3600


def assert_in_interval(results: Results, expected: float, max_relative_width: float) -> None:
    mean, low, high = per_second(results)
    assert low <= expected <= high, f"{expected:.6f} not in [{low:.6f}, {high:.6f}] (mean {mean:.6f})"
    assert (high - low) / 2 <= max_relative_width * expected


def two_station_throughput(mu1: float, mu2: float, b: int) -> float:
    """Long-run throughput of two exponential stations with b places between them, blocking after service."""
    rho, k = mu1 / mu2, b + 2
    p0 = 1 / (k + 1) if rho == 1 else (1 - rho) / (1 - rho ** (k + 1))
    return mu2 * (1 - p0)


@pytest.mark.parametrize(
    ("mu1", "mu2", "b", "engine", "reps", "horizon"),
    [
        (1.0, 1.0, 0, "fast", 20, 20_000.0),
        (1.0, 0.8, 3, "fast", 20, 20_000.0),
        (0.7, 1.0, 5, "fast", 20, 20_000.0),
        (1.0, 1.25, 1, "simpy", 10, 5_000.0),
    ],
)
def test_two_exponential_stations_with_a_finite_buffer(
    mu1: float, mu2: float, b: int, engine: str, reps: int, horizon: float
) -> None:
    """Two exponential stations (rates mu1, mu2), b places between them, blocking after service.

    Station 1 never starves, station 2 never blocks. Let n be the parts in the buffer and in
    station 2, plus one when station 1 holds a finished part it cannot release (blocked): n runs
    over 0 .. b + 2. Station 1 finishes a part at rate mu1 whenever n <= b + 1 (the part moves on,
    or station 1 becomes blocked at n = b + 2); station 2 finishes at rate mu2 whenever n >= 1 (and
    a blocked part moves in). This birth-death chain is the M/M/1/K queue with K = b + 2 and
    rho = mu1/mu2, so P0 = (1 - rho) / (1 - rho^(K+1)) (1/(K+1) when rho = 1) and the throughput is
    mu2 (1 - P0). See Buzacott and Shanthikumar, "Stochastic Models of Manufacturing Systems"
    (1993), section 5.2, or Gershwin, "Manufacturing Systems Engineering" (1994), chapter 3.
    """
    line = line_of([station(0, "exponential", 1 / mu1), station(1, "exponential", 1 / mu2)], [b])
    results = run(line, horizon, reps, seed=11, warmup=200.0, engine=engine, level=LEVEL)  # type: ignore[arg-type]
    assert results.engine == engine
    assert_in_interval(results, two_station_throughput(mu1, mu2, b), 0.02 if engine == "fast" else 0.05)


@pytest.mark.parametrize(("m", "n"), [(3, 2), (4, 5), (5, 10)])
def test_closed_loop_of_exponential_stations(m: int, n: int) -> None:
    """M identical exponential stations (rate mu) in a loop with N pallets and room for all of them.

    With no blocking this is a closed Jackson (Gordon-Newell) network: every one of the
    C(N + M - 1, M - 1) placements of the pallets is equally likely, a station is idle in
    C(N + M - 2, M - 2) of them, so it works a fraction N/(M + N - 1) of the time and the
    throughput is TH = N mu / (M + N - 1) (Gordon and Newell, Operations Research 15, 1967).
    Each station holds N/M pallets on average, so N/M - TH/mu of them wait in front of the first
    station; the others are in the line (WIP counts a part from the moment the first station
    takes it), and by Little's law the lead time is WIP/TH.
    """
    mu = 1.0
    stations = [station(i, "exponential", 1 / mu) for i in range(m)]
    results = run(line_of(stations, [n] * m, pallets=n), 20_000.0, 20, seed=3, warmup=200.0, level=LEVEL)
    assert results.engine == "fast"
    assert_in_interval(results, n * mu / (m + n - 1), 0.02)
    th = n * mu / (m + n - 1)
    wip = n - (n / m - th / mu)
    assert results.wip.low <= wip <= results.wip.high
    assert results.lead_time.mean == pytest.approx(wip / th, rel=0.02)


def test_zero_buffer_line_of_deterministic_stations_with_failures() -> None:
    """M stations with the same deterministic cycle c, no buffers, operation-dependent failures.

    Conditions: zero-capacity buffers and blocking after service make the line a synchronous
    transfer line: every station finishes its part, then all parts move at once. A failure of any
    station stops the whole line; the others are then starved or blocked and, failures being
    operation-dependent, do not fail meanwhile. With p_i = c/MTBF_i the failure probability per
    cycle and r_i = c/MTTR_i the repair probability per cycle, the efficiency is
    E = 1 / (1 + sum p_i / r_i) and the throughput E / c (Buzacott, "Automatic transfer lines with
    buffer stocks", Int. J. Prod. Res. 5, 1967; Gershwin 1994, section 3.2). The formula counts
    down time once per failure; in continuous time two stations can also fail within the same
    cycle, before the line has stopped, and their repairs then overlap. That happens in about
    C(M, 2)(c/MTBF)^2 of the cycles: here 6 * 0.005^2 = 1.5e-4, shifting the throughput by about
    1.5e-4 * 5 s / 1.2 s = 6e-4 relative, well inside the interval (below 1 % wide).
    """
    c, m = 1.0, 4
    mtbf = [200.0, 250.0, 200.0, 150.0]
    mttr = [10.0, 8.0, 12.0, 6.0]
    stations = [station(i, "deterministic", c, mtbf=mtbf[i], mttr=mttr[i]) for i in range(m)]
    results = run(line_of(stations, [0] * (m - 1)), 50_000.0, 20, seed=7, warmup=500.0, level=LEVEL)
    efficiency = 1 / (1 + sum((c / f) / (c / r) for f, r in zip(mtbf, mttr, strict=True)))
    assert_in_interval(results, efficiency / c, 0.01)


def test_unlimited_buffers_run_at_the_slowest_stations_available_rate() -> None:
    """With unlimited buffers the slowest station never starves in the long run and sets the pace.

    Operation-dependent failures stretch a part's mean processing time p to p (1 + MTTR/MTBF), so
    station i's rate is 1 / (p_i (1 + MTTR_i/MTBF_i)) and the line's the smallest of these. The
    buffers here (10^6 places) are never full within the run.
    """
    specs = [(1.0, 200.0, 10.0), (0.9, 300.0, 20.0), (1.2, 100.0, 10.0), (1.0, 150.0, 5.0)]
    stations = [station(i, "exponential", p, mtbf=f, mttr=r) for i, (p, f, r) in enumerate(specs)]
    results = run(line_of(stations, [10**6] * 3), 40_000.0, 20, seed=5, warmup=2_000.0, level=LEVEL)
    rates = [1 / (p * (1 + r / f)) for p, f, r in specs]
    assert_in_interval(results, min(rates), 0.02)
    slowest = results.station("s2")
    assert slowest.starved.mean < 0.01
    assert slowest.blocked.mean == 0.0
    assert slowest.active.mean > 0.99

"""Fast line engine against a plain SimPy model of the same line, on the same random draws.

Method
------
* **The line** - 10 stations in series, lognormal processing times (one slower station),
  operation-dependent failures (exponential times to failure in busy time, exponential repairs)
  and finite buffers of 2 to 5 places, blocking after service. Unlimited supply and demand.
* **The draws** - one ``factorytwin.sim.Draws`` object: per station and part a processing time,
  per station the sequence of times to failure and repair times, for ``--replications``
  replications. Both models read these numbers, so they simulate exactly the same parts; drawing
  them is done (and timed) once, before either model runs.
* **Plain SimPy** - what a SimPy user writes: one process per station, ``simpy.Store(capacity=b)``
  buffers (``get`` to take a part, ``put`` waits while the buffer is full), a loop of
  ``env.timeout`` for processing with the failure clock, ``env.run(until=horizon)``, one
  environment per replication. Its throughput is the parts the last station finished.
* **factorytwin** - ``factorytwin.sim.simulate(draws, horizon)``: the departure-time recursions,
  all replications at once. Its throughput is the parts that left the line before the horizon.
* **Timing** - both after the draws exist and the fast engine's kernels are compiled (one warm-up
  call). SimPy runs once (many seconds, so load spikes average out); the fast engine runs
  ``FAST_REPEATS`` times and its median counts (a single run of ~0.1 s is at the mercy of a
  scheduler hiccup on a shared machine). Both are single-threaded.
* ``speedup`` is SimPy's time over the fast engine's; ``rel_diff`` the relative difference of the
  total throughput (parts over all replications) of the two.

The last line printed is ``speedup=<x> rel_diff=<throughput relative difference>``.

    .venv/bin/python bench/sim_vs_simpy.py --quick
    .venv/bin/python bench/sim_vs_simpy.py                 # 200 replications of 2000 s (about 90 s)
    .venv/bin/python bench/sim_vs_simpy.py --replications 1000 --horizon 200
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Generator
from typing import Any

import simpy

from factorytwin.model.schema import Buffer, Distribution, Line, Station, StationSim
from factorytwin.sim import Draws, simulate

STATIONS = 10
MEANS = [1.0, 0.95, 1.05, 1.0, 1.2, 0.9, 1.0, 1.1, 0.95, 1.0]
CAPACITIES = [3, 2, 4, 5, 2, 3, 4, 2, 3]
FAST_REPEATS = 5


def bench_line() -> Line:
    stations = [
        Station(
            id=f"s{i}",
            sim=StationSim(
                processing_time=Distribution(dist="lognormal", mean=MEANS[i], cv=0.25),
                mtbf=400.0 + 50 * i,
                mttr=20.0 + 2 * i,
            ),
        )
        for i in range(STATIONS)
    ]
    buffers = [
        Buffer(id=f"b{i}", upstream=f"s{i}", downstream=f"s{i + 1}", capacity=c) for i, c in enumerate(CAPACITIES)
    ]
    return Line(id="bench", stations=stations, buffers=buffers)


def plain_simpy(processing: list[list[float]], ttf: list[list[float]], ttr: list[list[float]], horizon: float) -> int:
    """One replication as a SimPy user writes it; returns the parts the last station finished."""
    env = simpy.Environment()
    buffers = [simpy.Store(env, capacity=c) for c in CAPACITIES]
    finished = [0]

    def station(i: int) -> Generator[Any, Any, None]:
        failures, left, part = 0, ttf[i][0], 0
        while True:
            if i > 0:
                part = yield buffers[i - 1].get()
            remaining = processing[i][part]
            while left <= remaining:  # the failure clock runs out during this part
                yield env.timeout(left)
                remaining -= left
                yield env.timeout(ttr[i][failures])
                failures += 1
                left = ttf[i][failures]
            yield env.timeout(remaining)
            left -= remaining
            if i < STATIONS - 1:
                yield buffers[i].put(part)
            else:
                finished[0] += 1
            part += 1

    for i in range(STATIONS):
        env.process(station(i))
    env.run(until=horizon)
    return finished[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (under 30 s)")
    parser.add_argument("--replications", type=int, default=None)
    parser.add_argument("--horizon", type=float, default=None, help="simulated seconds per replication")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    reps = args.replications or 200
    horizon = args.horizon or (500.0 if args.quick else 2000.0)

    line = bench_line()
    draws = Draws(line, reps, args.seed)
    t0 = time.perf_counter()
    parts = int(1.5 * horizon / min(MEANS)) + 200
    arrays = [draws.processing(i, parts) for i in range(STATIONS)]
    fails = [draws.failures(i, 0, int(3 * horizon / 400) + 50) for i in range(STATIONS)]
    t_draw = time.perf_counter() - t0
    simulate(draws, horizon)  # warm the draw cache to the parts the fast engine reads

    times = []
    for _ in range(FAST_REPEATS):
        t0 = time.perf_counter()
        run = simulate(draws, horizon)
        times.append(time.perf_counter() - t0)
    t_fast = statistics.median(times)
    fast_out = int((run.trace.leave < horizon).sum())

    t0 = time.perf_counter()
    simpy_out = 0
    for r in range(reps):
        simpy_out += plain_simpy(
            [a[:, r].tolist() for a in arrays],
            [f[0][:, r].tolist() for f in fails],
            [f[1][:, r].tolist() for f in fails],
            horizon,
        )
    t_simpy = time.perf_counter() - t0

    part_stations = STATIONS * simpy_out
    print(f"line: {STATIONS} stations, lognormal cv 0.25, operation-dependent failures, buffers {CAPACITIES}")
    print(f"replications={reps} horizon={horizon:g}s parts_out={simpy_out} draws={t_draw:.2f}s")
    print(f"plain SimPy      {t_simpy:8.3f} s  {t_simpy / part_stations * 1e9:8.0f} ns per part and station")
    print(f"factorytwin fast {t_fast:8.3f} s  {t_fast / part_stations * 1e9:8.0f} ns per part and station", end=" ")
    print(f"(median of {FAST_REPEATS}: {', '.join(f'{t:.3f}' for t in times)})")
    print(f"throughput (parts/h per replication): simpy {simpy_out / reps / horizon * 3600:.3f}", end=" ")
    print(f"fast {fast_out / reps / horizon * 3600:.3f}")
    rel = abs(fast_out - simpy_out) / max(simpy_out, 1)
    print(f"speedup={t_simpy / t_fast:.1f} rel_diff={rel:.3g}")


if __name__ == "__main__":
    main()

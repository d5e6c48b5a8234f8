"""Cost of one candidate in the buffer-allocation search, against a full run per candidate.

Method
------
* **The line** - the bundled bottling line (5 stations, lognormal and normal processing times,
  operation-dependent failures, scrap), ``--hours`` of production after a 30 min warm-up,
  ``--replications`` replications, seed 0.
* **The candidates** - ``--candidates`` random allocations of 120 buffer places over its 4 buffers
  (a fixed generator, the same list for both).
* **Baseline** - what a search written on the public ``run()`` does: one full run per candidate
  (fresh draws, every station state fraction, every estimate).
* **factorytwin's search** - ``Trials.throughput``: the draws of the first candidate kept for all
  the others (buffer places never change a random number) and only the throughput computed.
* Both after one warm-up call (kernels compiled); the same numbers come out (checked).
* ``speedup`` is the baseline's time over the search's.

The last line printed is ``speedup=<x> per_candidate_ms=<search's time per candidate>``.

    .venv/bin/python bench/buffer_search.py --quick      # a few seconds
    .venv/bin/python bench/buffer_search.py              # 8 h x 10 replications, 40 candidates
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from factorytwin.cli import example_path
from factorytwin.model import PlantIndex, load_model
from factorytwin.sim import LineModel, run
from factorytwin.sim.allocation import with_capacities
from factorytwin.sim.trials import RunSettings, Trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 h x 5 replications, 10 candidates")
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=40)
    args = parser.parse_args()
    hours, reps, count = (2.0, 5, 10) if args.quick else (args.hours, args.replications, args.candidates)
    model = LineModel.of(next(iter(PlantIndex(load_model(example_path())).lines.values())))
    settings = RunSettings(hours * 3600, reps, 0, 1800)
    rng = np.random.default_rng(7)
    candidates = [tuple(int(c) for c in rng.multinomial(120, [0.25] * 4)) for _ in range(count)]
    lines = [with_capacities(model.line, caps) for caps in candidates]

    run(lines[0], settings.horizon, reps, 0, warmup=settings.warmup)  # compile the kernels
    t0 = time.perf_counter()
    full = [run(line, settings.horizon, reps, 0, warmup=settings.warmup).throughput.mean for line in lines]
    baseline = time.perf_counter() - t0

    trials = Trials(model, settings)
    t0 = time.perf_counter()
    fast = [float(trials.throughput(line).mean()) for line in lines]
    search = time.perf_counter() - t0

    assert np.allclose(full, fast, rtol=1e-12), "the search must see the same throughput as full runs"
    print(f"{count} candidates, {hours:g} h x {reps} replications of {model.line.id}")
    print(f"full run per candidate: {baseline:.2f} s; search evaluation: {search:.2f} s")
    print(f"speedup={baseline / search:.2f} per_candidate_ms={1000 * search / count:.1f}")


if __name__ == "__main__":
    main()

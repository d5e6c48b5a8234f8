"""Evaluate health, RUL and failure warnings on virtual-plant run-to-failure histories with known failure times.

Runs the example bottling line with bearing wear on every station (``wear: {life: 2 days}``),
unpaced, for several seeds; the maintenance monitor learns from the failures it sees (online, no
other knowledge) and predicts. The plant's ground truth (``PlantEngine.wear_events``) scores it:

* RUL RMSE (hours) over all predictions, and over those made in the last 48 h before a failure;
* coverage of the 90 % prediction interval;
* lead time of the first warning (P(failure within a day) >= 30 %) before each failure whose
  unit started after the station had a learned model;
* false warnings: warning onsets more than two days before the next failure, per station-month
  of such healthy operation.

    .venv/bin/python bench/maintenance_eval.py            # 3 seeds x 14 days, one process per seed
    .venv/bin/python bench/maintenance_eval.py --quick    # 1 seed x 10 days
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from factorytwin.cli import example_path
from factorytwin.maintenance import MaintenanceMonitor
from factorytwin.model import load_model
from factorytwin.model.schema import Wear
from factorytwin.plant import PlantEngine
from factorytwin.plant.unpaced import samples, with_wear

HEALTHY_S = 2 * 86400.0  # more than this before the next failure counts as healthy operation
SHIFT_S = 8 * 3600.0


@dataclass
class Score:
    """Everything measured over the seeds."""

    errors: list[float] = field(default_factory=list)
    late_errors: list[float] = field(default_factory=list)
    covered: list[bool] = field(default_factory=list)
    leads: list[float] = field(default_factory=list)
    missed: int = 0
    false_warnings: int = 0
    healthy_s: float = 0.0
    failures: int = 0


def run_seed(seed: int, days: float) -> Score:
    """One seeded run of the plant with the monitor watching it, scored against its ground truth."""
    score = Score()
    model = with_wear(load_model(example_path()), Wear(life=2 * 86400))
    engine = PlantEngine(model, seed=seed, physics_dt=30)
    monitor = MaintenanceMonitor(engine.index)
    monitor.record = []
    onsets: dict[str, list[float]] = {p: [] for p in monitor.stations}
    learned_at: dict[str, float] = {}
    for batch in samples(engine, days * 86400, 30.0, signals=set(monitor._signals)):
        for f in monitor.apply(batch):
            if f.active and f.station is not None and (not onsets[f.station] or onsets[f.station][-1] < 0):
                onsets[f.station].append(f.time)
            elif not f.active and f.station is not None and onsets[f.station] and onsets[f.station][-1] >= 0:
                onsets[f.station].append(-f.time)  # the end of a warning episode
        for st in monitor.populations:
            learned_at.setdefault(st, batch[-1].source_time)
    failures: dict[str, list[float]] = {p: [] for p in monitor.stations}
    for ev in engine.wear_events:
        if ev.kind == "failure":
            failures[ev.station].append(ev.time)
    for a in monitor.record:
        if a.rul is None:
            continue
        nxt = [t for t in failures[a.health.station] if t > a.health.time]
        if not nxt:
            continue
        truth = nxt[0] - a.health.time
        err = (a.rul.median - truth) / 3600
        score.errors.append(err)
        if truth <= 48 * 3600:
            score.late_errors.append(err)
        score.covered.append(a.rul.low <= truth <= a.rul.high)
    for st, times in failures.items():
        starts = [t for t in onsets[st] if t >= 0]
        previous = 0.0
        for t_fail in times:
            renewal = previous
            previous = t_fail
            if st not in learned_at or learned_at[st] > renewal:
                continue  # this unit started before the model existed: not scored
            score.failures += 1
            warned = [t for t in starts if renewal < t <= t_fail]
            if warned:
                score.leads.append((t_fail - warned[0]) / 3600)
            else:
                score.missed += 1
            score.false_warnings += sum(1 for t in warned if t_fail - t > HEALTHY_S)
            score.healthy_s += max(0.0, t_fail - renewal - HEALTHY_S)
        # after the last failure the time to the next one is unknown: not counted
    return score


def report(score: Score, seeds: list[int], days: float, seconds: float) -> str:
    """The figures as a Markdown table."""
    errors, late = np.array(score.errors), np.array(score.late_errors)
    months = score.healthy_s / (30 * 86400)
    leads = np.array(score.leads) if score.leads else np.array([math.nan])
    rows = [
        ("seeds x days", f"{len(seeds)} x {days:g} (seeds {', '.join(map(str, seeds))})"),
        ("scored failures", f"{score.failures}"),
        ("RUL predictions scored", f"{len(errors)}"),
        ("RUL RMSE, all predictions", f"{math.sqrt(np.mean(errors**2)):.1f} h"),
        ("RUL RMSE, last 48 h before failure", f"{math.sqrt(np.mean(late**2)):.1f} h"),
        ("90 % interval coverage", f"{100 * np.mean(score.covered):.0f} %"),
        ("failures warned", f"{score.failures - score.missed} of {score.failures}"),
        ("warned >= one shift (8 h) ahead", f"{int(np.sum(leads >= 8))} of {score.failures}"),
        (
            "warning lead time min / median",
            f"{np.nanmin(leads):.1f} h / {np.nanmedian(leads):.1f} h" if score.leads else "n/a",
        ),
        ("false warnings", f"{score.false_warnings} in {months:.2f} station-months of healthy operation"),
        (
            "false warnings per station-month",
            f"{score.false_warnings / months:.2f}" if months > 0 else "n/a",
        ),
        ("wall time", f"{seconds:.0f} s"),
    ]
    lines = ["| measure | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]]
    return "\n".join(lines)


def main() -> None:
    """Run the evaluation and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 10 days")
    parser.add_argument("--days", type=float, default=None, help="days per seed (default 14)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N (default 3)")
    args = parser.parse_args()
    seeds, days = ([1], 10.0) if args.quick else (list(range(1, args.seeds + 1)), 14.0)
    days = args.days if args.days is not None else days
    score = Score()
    t0 = time.perf_counter()
    with ProcessPoolExecutor(len(seeds)) as pool:  # one process per seed
        for seed, part in zip(seeds, pool.map(run_seed, seeds, [days] * len(seeds)), strict=True):
            print(f"seed {seed} done after {time.perf_counter() - t0:.0f} s", flush=True)
            for name in ("errors", "late_errors", "covered", "leads"):
                getattr(score, name).extend(getattr(part, name))
            for name in ("missed", "false_warnings", "healthy_s", "failures"):
                setattr(score, name, getattr(score, name) + getattr(part, name))
    print(report(score, seeds, days, time.perf_counter() - t0))


if __name__ == "__main__":
    main()

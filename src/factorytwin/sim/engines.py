"""Both engines behind one call: simulate every replication to a time, return the trace and station states."""

from __future__ import annotations

from typing import Literal

import numpy as np
import simpy

from ..events import StationState
from .distributions import FloatArray
from .draws import Draws
from .errors import SimulationError
from .fast import FastRun, simulate, unsupported
from .line import LineSim, PartRecord
from .results import STATES
from .trace import Trace
from .warm import Initial

__all__ = ["Engine", "choose", "run_engine"]

Engine = Literal["auto", "fast", "simpy"]


def choose(draws: Draws, engine: Engine) -> Literal["fast", "simpy"]:
    """The engine that runs: the fast one when it supports the line (or is asked for), else SimPy."""
    reason = unsupported(draws.line)
    if engine == "fast" and reason is not None:
        raise SimulationError(f"the fast engine cannot run line '{draws.line.id}': {reason}")
    if engine == "auto":
        return "fast" if reason is None else "simpy"
    return engine


def run_engine(
    draws: Draws, engine: Literal["fast", "simpy"], warmup: float, end: float, start: Initial | None = None
) -> tuple[Trace, FloatArray]:
    """Trace and state fractions (replications, stations, STATES) over [warmup, end), from a warm ``start``."""
    if engine == "fast":
        run = simulate(draws, end, start)
        return run.trace, _fast_states(run, warmup, end)
    return _simpy(draws, warmup, end, start)


def _simpy(draws: Draws, warmup: float, end: float, start: Initial | None) -> tuple[Trace, FloatArray]:
    records: list[list[list[PartRecord]]] = []
    states = np.zeros((draws.replications, len(draws.line.stations), len(STATES)))
    for r in range(draws.replications):
        env = simpy.Environment()
        sim = LineSim(env, draws.line, draws=draws.replication(r), trace=True, start=start)
        before = np.zeros(states.shape[1:])
        if warmup > 0:
            env.run(until=warmup)
            before = _machine_time(sim)
        env.run(until=end)
        machines = np.array([len(s.machines) for s in sim.stations], dtype=np.float64)
        states[r] = (_machine_time(sim) - before) / (machines[:, None] * (end - warmup))
        assert sim.trace is not None
        records.append(sim.trace)
    return Trace.from_records(records, draws.line.pallets is not None), states


def _machine_time(sim: LineSim) -> FloatArray:
    """Machine-seconds each station spent in each state so far."""
    now = float(sim.env.now)
    return np.array([[sum(m.total(StationState(s), now) for m in st.machines) for s in STATES] for st in sim.stations])


def _fast_states(run: FastRun, start: float, end: float) -> FloatArray:
    """State fractions from part times: service, setup and down periods, blocking; the rest is starved."""

    def busy(a: FloatArray, b: FloatArray) -> FloatArray:
        inside: FloatArray = np.nan_to_num(np.clip(b, start, end) - np.clip(a, start, end)).sum(axis=-1)
        return inside

    t = run.trace
    span = end - start
    service = busy(t.taken, t.completed)
    setup = busy(t.taken, t.taken + run.setup)
    down = np.stack([busy(f.start, f.end) for f in run.failures()])
    blocked = busy(t.completed, t.departed)
    columns = {
        "running": service - setup - down,
        "changeover": setup,
        "down": down,
        "blocked": blocked,
        "starved": span - service - blocked,
        "idle": np.zeros_like(service),
    }
    fractions: FloatArray = np.stack([columns[s] for s in STATES], axis=-1).transpose(1, 0, 2) / span
    return fractions

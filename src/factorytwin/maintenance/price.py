"""Price a maintenance plan with the twin's simulation: the good output the line makes under it.

The line runs on the SimPy engine (``LineSim``) with its own processing times, random failures and
buffers, plus what the plan changes:

* the plan's stops are planned stops in the line's calendar: the line is frozen during them (as
  ``factorytwin.sim.run`` treats a calendar), and each stop renews the stations it services;
* each station fails from wear when its running time since the last renewal reaches a life drawn
  from its outlook (the RUL samples for the current unit, a new unit's life after a renewal); it is
  then down for its repair time, and renewed.

Lives are drawn per replication and station from their own seeds, and processing times from the
line's seeded draws, so every plan is priced on the same random numbers. To keep a week of a
bottling line quick, parts are simulated in lots of ``lot`` (processing time ``lot`` times the
mean, its variation shrunk by ``sqrt(lot)``, buffers in lots); outputs are counted in parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy

from ..events import StationState
from ..model.schema import Line
from ..sim import Estimate, LineSim
from ..sim.run import LineModel
from .plan import Outlook, Plan

__all__ = ["Priced", "coarse", "price"]


@dataclass(frozen=True, slots=True)
class Priced:
    """A plan's output over its horizon, with the failures and planned downtime it led to."""

    plan: Plan
    output: Estimate
    failures: float  # mean wear failures per replication
    planned_s: float  # planned downtime


def coarse(line: Line, lot: int) -> Line:
    """The line with parts in lots of ``lot``: same mean rates, buffers in lots."""
    if lot <= 1:
        return line
    data = line.model_dump(exclude_none=True)
    for st in data["stations"]:
        pt = st["sim"]["processing_time"]
        if pt.get("dist") == "empirical":
            pt["values"] = [v * lot for v in pt["values"]]
        else:
            pt["mean"] = pt["mean"] * lot
            pt["cv"] = pt.get("cv", 0.0) / math.sqrt(lot)
        st["sim"].pop("setup", None)
    for buf in data.get("buffers", []):
        buf["capacity"] = buf["capacity"] // lot
    return Line.model_validate(data)


class _Wear:
    """Wear failures and renewals of one replication, as a LineSim pause hook."""

    def __init__(self, sim: LineSim, outlooks: list[Outlook], renewals: list[list[float]], seed: int) -> None:
        self.sim, self.renewals = sim, renewals
        self.outlooks = outlooks
        self.rngs = [np.random.default_rng([seed, i]) for i in range(len(outlooks))]
        self.life = [float(self.rngs[i].choice(o.remaining)) for i, o in enumerate(outlooks)]
        self.since = [0.0] * len(outlooks)
        self.failures = 0

    def __call__(self, i: int, m: int) -> tuple[StationState, float] | None:
        run, now = self.sim.stations[i], float(self.sim.env.now)
        while self.renewals[i] and self.renewals[i][0] <= now:  # a planned stop serviced it
            self.renewals[i].pop(0)
            self._renew(i, run.busy_time)
        if run.busy_time - self.since[i] < self.life[i]:
            return None
        self.failures += 1
        self._renew(i, run.busy_time)
        return StationState.DOWN, self.outlooks[i].repair

    def _renew(self, i: int, busy: float) -> None:
        self.since[i] = busy
        self.life[i] = float(self.rngs[i].choice(self.outlooks[i].life))


def price(
    model: LineModel, outlooks: list[Outlook], plan: Plan, replications: int = 4, seed: int = 0, lot: int = 1
) -> Priced:
    """Simulate the plan ``replications`` times over its horizon; its good output in parts."""
    line = coarse(model.line, lot)
    ids = [s.id for s in line.stations]
    wear = [next((o for o in outlooks if o.station == sid), None) for sid in ids]
    worn = [o for o in wear if o is not None]
    index = {o.station: k for k, o in enumerate(worn)}
    production = model.production(plan.horizon)
    planned = sum(s.duration for s in plan.stops)
    end = max(production - planned, 0.0)
    outputs, failures = [], []
    for r in range(replications):
        renewals: list[list[float]] = [[] for _ in worn]
        shift = 0.0  # the line is frozen during planned stops: production time of each stop's start
        for stop in sorted(plan.stops, key=lambda s: s.start):
            for sid in stop.stations:
                if sid in index:
                    renewals[index[sid]].append(max(0.0, stop.start - shift))
            shift += stop.duration
        env = simpy.Environment()
        sim = LineSim(env, line, seed=seed * 1000 + r)
        hook = _Wear(sim, worn, renewals, seed * 1000 + r)
        positions = [ids.index(o.station) for o in worn]
        sim.pause = lambda i, m, h=hook, p=positions: h(p.index(i), m) if i in p else None
        env.run(until=end)
        outputs.append(sim.stations[-1].good * lot)
        failures.append(hook.failures)
    return Priced(plan, Estimate.of(np.array(outputs, dtype=float), 0.95), float(np.mean(failures)), planned)

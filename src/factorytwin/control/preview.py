"""Try a setpoint on the simulation first: "what would this do to throughput?".

A setpoint maps to a simulation change where the model links them: a station's ``speed`` signal
(percent of nominal, as the virtual plant applies it) is the station's speed factor ``value / 100``.
The baseline runs every station at its live speed setpoint; the proposal changes the one station;
both run on the same random numbers, so the difference has a tight confidence interval.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import PlantIndex, SignalInfo
from ..model.schema import Role
from ..sim import Change, Comparison, Scenario, compare, run
from ..sim.run import LineModel
from .limits import SetpointRefused

__all__ = ["Preview", "preview", "sim_change"]


@dataclass(frozen=True, slots=True)
class Preview:
    """A setpoint tried on the simulation: the comparison with the line as it runs now."""

    signal: str
    change: Change
    hours: float
    replications: int
    comparison: Comparison


def sim_change(index: PlantIndex, info: SignalInfo, value: float) -> Change:
    """The simulation change a setpoint stands for; SetpointRefused when the model links it to none."""
    asset = index.assets.get(info.asset_path)
    if info.role is not Role.SPEED or asset is None or asset.kind != "station":
        raise SetpointRefused(
            f"'{info.path}' (role {info.role.value}) has no link to the simulation; "
            "only a station's speed setpoint (role speed) can be tried first",
            "no_simulation",
        )
    return Change(asset.asset.id, "speed", value / 100.0)


def preview(
    index: PlantIndex,
    info: SignalInfo,
    value: float,
    live: dict[str, float],
    hours: float = 4.0,
    replications: int = 10,
    seed: int = 0,
) -> Preview:
    """Compare the line at its live speeds with the line after the setpoint (CPU-bound: run it in a thread)."""
    change = sim_change(index, info, value)
    line = index.lines[info.line_path]
    now = tuple(
        sim_change(index, sig, live[sig.path])
        for station in line.stations
        for sig in station.signals.values()
        if sig.role is Role.SPEED and sig.signal.write is not None and sig.path in live
    )
    base_scenario = Scenario("now", now)
    proposed = Scenario("proposed", (*(c for c in now if c.target != change.target), change))
    model = LineModel(line.line)
    horizon, warmup = hours * 3600, min(1800.0, hours * 900)
    base, other = (run(s.apply(model), horizon, replications, seed, warmup=warmup) for s in (base_scenario, proposed))
    return Preview(info.path, change, hours, replications, compare(base, other))

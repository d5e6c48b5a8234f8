"""The virtual plant's simulation: the SimPy line engine plus continuous physics, as signal values.

The engine knows nothing of wall-clock time or protocols: ``advance(until)`` runs the simulation
to a simulated time, ``changes()`` returns the signal values that moved since the last call, and
``write(path, value)`` applies a setpoint. The runner (runner.py) paces it in scaled real time and
the protocol servers serve its values.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from ..errors import WriteRejected
from ..events import DEFAULT_STATE_CODES, StationState, Value
from ..model import AssetInfo, PlantIndex, PlantModel, Role, SignalInfo
from ..sim import LineSim
from ..sim.station import StationRun
from .physics import LagSignal, WearPath

__all__ = ["PlantEngine", "WearEvent"]


@dataclass(frozen=True, slots=True)
class WearEvent:
    """Ground truth of the wear model: a station failed from wear, or was serviced, at a simulated time."""

    time: float
    station: str
    kind: str  # "failure" or "service"
    wear: float


_COUNTERS = {Role.GOOD_COUNT: "good", Role.SCRAP_COUNT: "scrap"}


class PlantEngine:
    """A whole plant model running as a seeded discrete-event simulation."""

    def __init__(self, model: PlantModel, seed: int | None = None, physics_dt: float = 1.0) -> None:
        self.index = PlantIndex(model)
        self.seed = model.virtual_plant.seed if seed is None else seed
        self.env = simpy.Environment()
        self.physics_dt = physics_dt
        self.values: dict[str, Value] = {}
        self._changed: dict[str, Value] = {}
        self._setpoints: dict[str, float] = {}
        self._lags: dict[str, LagSignal] = {}
        self._where: dict[str, tuple[LineSim, int]] = {}  # asset path -> (line, position)
        self._rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(1)[0])
        self.wear: dict[str, WearPath] = {}
        self.wear_events: list[WearEvent] = []
        self._worn_busy: dict[str, float] = {}
        self._service: set[str] = set()
        for l_i, info in enumerate(self.index.lines.values()):
            line = LineSim(self.env, info.line, seed=self.seed * 1000 + l_i)
            for pos, asset in enumerate(info.stations):
                self._where[asset.path] = (line, pos)
                self._add_wear(asset.path, asset.asset, l_i * 1000 + pos)
            line.pause = self._pauser(line, [a.path for a in info.stations])
            for asset in info.buffers:
                up = [s.asset.id for s in info.stations].index(asset.asset.upstream)  # type: ignore[union-attr]
                self._where[asset.path] = (line, up)
        for sig in self.index.signals.values():
            self._init_signal(sig)
        self.env.process(self._physics())
        self._refresh()

    @property
    def now(self) -> float:
        """Simulated seconds since the plant started."""
        return float(self.env.now)

    def line_sim(self, line_path: str) -> LineSim:
        """The line engine behind a line path."""
        return self._where[self.index.lines[line_path].stations[0].path][0]

    def advance(self, until: float) -> None:
        """Run the simulation up to a simulated time (seconds since start)."""
        if until > self.env.now:
            self.env.run(until=until)
        self._refresh()

    def changes(self) -> dict[str, Value]:
        """Signal values that changed since the last call (path -> value)."""
        out, self._changed = self._changed, {}
        return out

    def write(self, path: str, value: float) -> float:
        """Apply a setpoint write; raise WriteRejected when it is unknown, read-only or out of limits."""
        info = self.index.signals.get(path)
        if info is None:
            raise WriteRejected(f"unknown signal '{path}'", "unknown")
        limits = info.signal.write
        if limits is None:
            raise WriteRejected(f"'{path}' is not writable", "read_only")
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise WriteRejected(f"'{path}' needs a finite number, got {value!r}", "type")
        if not limits.min <= value <= limits.max:
            raise WriteRejected(f"{value} is outside [{limits.min}, {limits.max}] for '{path}'")
        current = self._setpoints.get(path)
        if limits.max_step is not None and current is not None and abs(value - current) > limits.max_step:
            raise WriteRejected(f"{value} is more than {limits.max_step:g} away from {current:g} for '{path}'")
        self._setpoints[path] = float(value)
        if info.role is Role.SPEED:
            line, pos = self._where[info.asset_path]
            line.set_speed(pos, float(value) / 100.0)
        self._set(path, float(value))
        return float(value)

    def service(self, station: str) -> None:
        """Planned maintenance of a station with wear: it stops for ``wear.service`` before its next part."""
        if station not in self.wear:
            raise WriteRejected(f"'{station}' has no wear to service", "unknown")
        self._service.add(station)

    def _add_wear(self, path: str, station: Any, key: int) -> None:
        wear = station.sim.wear
        if wear is not None:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 7, key]))
            self.wear[path], self._worn_busy[path] = WearPath(wear, rng), 0.0

    def _pauser(self, line: LineSim, paths: list[str]) -> Any:
        def pause(i: int, m: int) -> tuple[StationState, float] | None:
            return self._wear_stop(paths[i], line.stations[i]) if paths[i] in self.wear else None

        return pause

    def _wear_stop(self, path: str, run: StationRun) -> tuple[StationState, float] | None:
        """Grow a station's wear by its busy time since the last part; a failure or a service stops it."""
        path_wear = self.wear[path]
        failed = path_wear.grow(run.busy_time - self._worn_busy[path], run.speed)
        self._worn_busy[path] = run.busy_time
        if not failed and path not in self._service:
            return None
        kind = "failure" if failed else "service"
        self._service.discard(path)
        self.wear_events.append(WearEvent(self.now, path, kind, path_wear.level))
        path_wear.renew()
        settings = path_wear.wear
        return (StationState.DOWN, settings.repair) if failed else (StationState.PLANNED_STOP, settings.service)

    def _init_signal(self, sig: SignalInfo) -> None:
        if sig.signal.write is not None or sig.role in (Role.SETPOINT, Role.SPEED):
            base = sig.signal.sim.base if sig.role is not Role.SPEED else sig.signal.sim.base or 100.0
            self._setpoints[sig.path] = base
            if sig.role is Role.SPEED:
                line, pos = self._where[sig.asset_path]
                line.set_speed(pos, base / 100.0)
        elif sig.role not in (Role.STATE, Role.GOOD_COUNT, Role.SCRAP_COUNT, Role.CYCLE_TIME, Role.LEVEL):
            self._lags[sig.path] = LagSignal(sig.signal.sim, sig.signal.sim.base)
            self._set(sig.path, sig.signal.sim.base)

    def _set(self, path: str, value: Value) -> None:
        if self.values.get(path, _MISSING) != value:
            self.values[path] = value
            self._changed[path] = value

    def _refresh(self) -> None:
        """Copy the discrete state of every line into signal values."""
        for sig in self.index.signals.values():
            if sig.path in self._lags:
                continue
            if sig.path in self._setpoints:
                self._set(sig.path, self._setpoints[sig.path])
                continue
            line, pos = self._where[sig.asset_path]
            if sig.role is Role.LEVEL:
                self._set(sig.path, line.buffer_level(pos))
                continue
            run = line.stations[pos]
            if sig.role is Role.STATE:
                self._set(sig.path, _code_of(sig, run.state))
            elif sig.role in _COUNTERS:
                self._set(sig.path, int(getattr(run, _COUNTERS[sig.role])))
            elif sig.role is Role.CYCLE_TIME:  # before its first part a station shows its nominal cycle
                self._set(sig.path, round(run.last_cycle or run.station.sim.processing_time.mean, 4))

    def _physics(self) -> Generator[Any, Any, None]:
        dt = self.physics_dt
        while True:
            yield self.env.timeout(dt)
            for path, lag in self._lags.items():
                sig = self.index.signals[path]
                self._set(path, round(lag.step(dt, self._reference(sig), *self._load_wear(sig), self._rng), 4))

    def _reference(self, sig: SignalInfo) -> float:
        follows = sig.signal.sim.follows
        if follows is None:
            return sig.signal.sim.base
        return self._setpoints.get(f"{sig.asset_path}/{follows}", sig.signal.sim.base)

    def _load_wear(self, sig: SignalInfo) -> tuple[float, float]:
        line, pos = self._where[sig.asset_path]
        asset: AssetInfo = self.index.assets[sig.asset_path]
        if asset.kind != "station":
            return 0.0, 0.0
        run = line.stations[pos]
        load = run.speed if run.state is StationState.RUNNING else 0.0
        worn = self.wear.get(sig.asset_path)
        return load, worn.level if worn is not None else run.wear


_MISSING = object()


def _code_of(sig: SignalInfo, state: StationState) -> int:
    codes = sig.signal.states or DEFAULT_STATE_CODES
    for code, st in codes.items():
        if st is state:
            return code
    return -1

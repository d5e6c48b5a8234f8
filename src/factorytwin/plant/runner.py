"""The virtual plant: the engine paced in scaled real time, served over real protocol servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..clock import Clock, SystemClock
from ..errors import FactoryTwinError
from ..lifecycle import Service
from ..model import PlantModel, relocate
from .engine import PlantEngine
from .servers import PlantServer, make_server

__all__ = ["VirtualPlant"]

_log = logging.getLogger(__name__)


class VirtualPlant(Service):
    """Runs a plant model as a simulation in scaled real time and serves it over OPC UA.

    ``speed`` is simulated seconds per wall-clock second. ``endpoints`` overrides the endpoint of
    a served source (tests and the demo put servers on free ports).
    """

    def __init__(
        self,
        model: PlantModel,
        speed: float = 1.0,
        clock: Clock | None = None,
        endpoints: dict[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        if speed <= 0:
            raise FactoryTwinError(f"speed must be positive, got {speed}")
        if endpoints:  # OPC UA sources moved to other endpoints (tests, the demo)
            model = relocate(model, {sid: {"endpoint": url} for sid, url in endpoints.items()})
        self.model = model
        self.speed = speed
        self.clock = clock or SystemClock()
        self.engine = PlantEngine(model, seed=seed)
        self.tick_s = model.virtual_plant.tick_s
        self.servers: dict[str, PlantServer] = {
            sid: make_server(self.engine.index, sid, model.sources[sid], self.write, self.clock)
            for sid in model.virtual_plant.serves
        }
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start every protocol server and the simulation clock."""
        for server in self.servers.values():
            await server.start(self.engine.values)
        self.resume()

    async def stop(self) -> None:
        """Stop the simulation and every server."""
        await self.pause()
        for server in self.servers.values():
            await server.stop()

    async def pause(self) -> None:
        """Freeze the simulation after publishing its latest values; the servers keep serving."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self._publish()

    def resume(self) -> None:
        """Let simulated time run again from where it was paused."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="virtual-plant")

    @property
    def paused(self) -> bool:
        """True while the simulation is frozen."""
        return self._task is None

    async def stop_server(self, source: str) -> None:
        """Take one protocol server off the network (the simulation keeps running)."""
        await self.servers[source].stop()

    async def start_server(self, source: str) -> None:
        """Bring a stopped protocol server back with the current values."""
        await self.servers[source].start(self.engine.values)

    def write(self, path: str, value: float) -> float:
        """Apply a setpoint to the simulation (checked against the model's limits)."""
        _log.info("setpoint %s := %s", path, value)
        return self.engine.write(path, value)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        wall0, sim0 = loop.time(), self.engine.now
        while True:
            self.engine.advance(sim0 + (loop.time() - wall0) * self.speed)
            await self._publish()
            await asyncio.sleep(self.tick_s)

    async def _publish(self) -> None:
        changes = self.engine.changes()
        if changes:
            now = self.clock.now()
            for server in self.servers.values():
                await server.publish(changes, now)

"""Store-and-forward in the running twin: a stalled downstream loses nothing, and the counts say so."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from factorytwin.events import Quality, Sample
from factorytwin.historian import DuckDBHistorian
from factorytwin.model import PlantModel, relocate
from factorytwin.model.sources import Spool
from factorytwin.plant import VirtualPlant
from factorytwin.runtime import Twin

from .conftest import LINE


class StallingHistorian(DuckDBHistorian):
    """A real DuckDB historian whose appends wait while ``gate`` is closed (a downstream outage)."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.gate = asyncio.Event()
        self.gate.set()

    async def append(self, batch: list[Sample]) -> None:
        await self.gate.wait()
        await super().append(batch)


async def test_stalled_downstream_spills_to_disk_and_replays_everything_in_order(
    model: PlantModel, endpoints: dict[str, str], tmp_path: Path
) -> None:
    model = relocate(model, {"plant": {"endpoint": endpoints["plant"], "spool": Spool(capacity=100_000)}})
    path = f"{LINE}/filler/good_count"
    historian = StallingHistorian()
    async with VirtualPlant(model, speed=20) as plant:
        published: list[float] = []
        original = plant.servers["plant"].publish

        async def spy(values, when):  # type: ignore[no-untyped-def]
            if path in values:
                published.append(values[path])
            await original(values, when)

        plant.servers["plant"].publish = spy  # type: ignore[method-assign]
        async with Twin(model, historian=historian, bus_maxsize=2, spool_dir=tmp_path) as twin:
            health = twin.connectors["plant"].health
            forwarder = twin.chains["plant"].forwarder
            assert forwarder is not None
            assert await twin.wait_for(lambda: len(published) >= 5, 15)
            historian.gate.clear()  # the downstream stops taking data
            deadline = time.monotonic() + 20
            while health.queued == 0:  # the forwarder spills what the stalled twin cannot take
                assert time.monotonic() < deadline, "nothing was spilled to disk"
                await asyncio.sleep(0.1)
            assert list((tmp_path / "plant").iterdir()), "the queue lives on disk"
            peak = health.queued
            historian.gate.set()  # the downstream recovers
            while forwarder.queued > 0:
                assert time.monotonic() < deadline + 20, "the queue never drained"
                await asyncio.sleep(0.1)
            await plant.pause()
            assert await twin.wait_for(lambda: twin.state.get(path).value == published[-1], 15)  # type: ignore[union-attr]
            stats = forwarder.stats()
            assert stats.spilled >= peak > 0
            assert stats.replayed == stats.spilled
            assert stats.dropped == 0
            assert health.dropped == 0
            assert health.queued == 0
            rows = await twin.historian.query(path, 0, time.time() + 60)
    stored = [r.value for r in rows if r.quality is Quality.GOOD]
    # the plant published before the twin subscribed: compare from the twin's first value on
    expected = published[published.index(stored[0]) :]
    assert len(expected) >= 10
    assert stored == expected, "values were lost, repeated or reordered across the outage"

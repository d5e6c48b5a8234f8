"""One code path, live and historical: replaying the historian gives the live twin's numbers exactly."""

from __future__ import annotations

from factorytwin.core.states import StateInterval
from factorytwin.plant import VirtualPlant
from factorytwin.replay import replay
from factorytwin.runtime import Twin

from .conftest import LINE


def clipped(intervals: list[StateInterval], start: float, end: float) -> list[tuple[str, tuple[float, float]]]:
    return [(iv.state.value, iv.clipped(start, end)) for iv in intervals]


async def test_kpis_bottlenecks_and_states_from_history_equal_the_live_ones(plant: VirtualPlant, twin: Twin) -> None:
    path = f"{LINE}/packer/good_count"
    first = twin.state.get(path).value  # type: ignore[union-attr]
    assert await twin.wait_for(lambda: (twin.state.get(path).value or 0) >= (first or 0) + 60, 30)  # type: ignore[union-attr,operator]
    await plant.pause()
    final = plant.engine.values[path]
    assert await twin.wait_for(lambda: twin.state.get(path).value == final, 10)  # type: ignore[union-attr]
    await twin.bus.drain()
    live = twin.analytics
    assert live.now is not None
    start = min(iv.start for ivs in live.intervals.values() for iv in ivs) + 1.0
    end = live.now
    past = await replay(twin.index, twin.historian, start, end)
    for station in twin.index.lines[LINE].stations:
        assert past.station_kpis(station.path, start, end) == live.station_kpis(station.path, start, end)
        assert clipped(past.station_intervals(station.path, start, end), start, end) == clipped(
            live.station_intervals(station.path, start, end), start, end
        )
    assert past.line_kpis(LINE, start, end) == live.line_kpis(LINE, start, end)
    assert past.bottlenecks(LINE, start, end) == live.bottlenecks(LINE, start, end)
    assert live.line_kpis(LINE, start, end).good > 0
    stored = await twin.historian.intervals(0, end + 1)
    assert stored, "closed state intervals are stored in the historian"

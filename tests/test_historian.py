"""DuckDB historian round trip: batched appends, time ranges, qualities, persistence."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from factorytwin.errors import HistorianError
from factorytwin.events import Quality, Sample
from factorytwin.historian import DuckDBHistorian

T0 = 1_795_000_000.0


def samples(signal: str, n: int, step: float = 0.5) -> list[Sample]:
    return [Sample(signal, T0 + i * step, T0 + i * step + 0.01, float(i), Quality.GOOD) for i in range(n)]


async def test_round_trip_keeps_values_times_and_quality_in_order(tmp_path: Path) -> None:
    hist = DuckDBHistorian(tmp_path / "h.duckdb", batch_size=7)
    await hist.open()
    data = samples("a", 20) + samples("b", 5)
    data.append(Sample("a", T0 + 10.25, T0 + 10.3, None, Quality.STALE))
    for i in range(0, len(data), 3):
        await hist.append(data[i : i + 3])
    rows = await hist.query("a", T0, T0 + 100)
    expected = sorted([d for d in data if d.signal == "a"], key=lambda d: d.source_time)
    got = [(round(r.source_time, 6), r.value, r.quality) for r in rows]
    assert got == [(round(e.source_time, 6), e.value, e.quality) for e in expected]
    assert rows[0].receive_time == pytest.approx(T0 + 0.01, abs=1e-6)
    assert await hist.count() == 26
    assert hist.stored == 26
    await hist.close()


async def test_query_range_is_start_inclusive_end_exclusive_with_limit(tmp_path: Path) -> None:
    hist = DuckDBHistorian(tmp_path / "h.duckdb")
    await hist.open()
    await hist.append(samples("a", 10, step=1.0))
    rows = await hist.query("a", T0 + 2, T0 + 5)
    assert [r.value for r in rows] == [2.0, 3.0, 4.0]
    assert [r.value for r in await hist.query("a", T0, T0 + 10, limit=4)] == [0.0, 1.0, 2.0, 3.0]
    assert await hist.query("nobody", T0, T0 + 10) == []
    await hist.close()


async def test_history_survives_a_restart_of_the_twin(tmp_path: Path) -> None:
    path = tmp_path / "plant.duckdb"
    first = DuckDBHistorian(path)
    await first.open()
    await first.append(samples("a", 3))
    await first.close()
    second = DuckDBHistorian(path)
    await second.open()
    await second.append(samples("a", 5)[3:])
    assert [r.value for r in await second.query("a", T0, T0 + 10)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    await second.close()


async def test_a_locked_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.duckdb"
    path.write_text("this is not a duckdb file")
    hist = DuckDBHistorian(path)
    with pytest.raises(HistorianError, match="cannot open historian"):
        await hist.open()


async def test_flush_writes_on_timer_without_a_full_batch(tmp_path: Path) -> None:
    hist = DuckDBHistorian(tmp_path / "h.duckdb", batch_size=10_000, flush_interval_s=0.05)
    await hist.open()
    await hist.append(samples("a", 3))
    assert hist.stored == 0
    import asyncio

    task = asyncio.create_task(hist.run())
    for _ in range(100):
        if hist.stored == 3:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    assert hist.stored == 3
    await hist.close()
    with duckdb.connect(str(tmp_path / "h.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM samples").fetchone() == (3,)

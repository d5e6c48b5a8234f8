"""The historian's read side for charts and exports, on known data in a DuckDB file."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa

from factorytwin.events import Quality, Sample
from factorytwin.historian import DuckDBHistorian
from factorytwin.historian.series_sql import Bucket

T0 = 1_700_000_000.0


def s(signal: str, t: float, value: float | None, quality: Quality = Quality.GOOD) -> Sample:
    return Sample(signal, T0 + t, T0 + t + 0.01, value, quality)


async def test_buckets_aggregate_usable_values_per_time_bucket(tmp_path: Path) -> None:
    h = DuckDBHistorian(tmp_path / "h.duckdb")
    await h.open()
    values = [5.0, 1.0, 9.0, 3.0, 4.0, 8.0, 2.0]  # at t = 0..6 s
    await h.append([s("a", t, v) for t, v in enumerate(values)])
    await h.append([s("a", 2.5, None, Quality.BAD), s("a", 3.5, 100.0, Quality.STALE), s("b", 1, 50.0)])
    await h.append([s("a", 7.5, 6.0, Quality.UNCERTAIN)])
    try:
        buckets = await h.buckets("a", T0, T0 + 10, 3.0)
    finally:
        await h.close()
    assert buckets == [
        Bucket(T0, 3, 1.0, 9.0, 5.0, 5.0, 9.0),
        Bucket(T0 + 3, 3, 3.0, 8.0, 5.0, 3.0, 8.0),  # the stale 100 is not a value
        Bucket(T0 + 6, 2, 2.0, 6.0, 4.0, 2.0, 6.0),  # uncertain counts
    ]


async def test_series_and_export_read_while_the_twin_keeps_appending(tmp_path: Path) -> None:
    h = DuckDBHistorian(tmp_path / "h.duckdb")
    await h.open()
    await h.append([s("a", t / 10, math.sin(t)) for t in range(1000)] + [s("a", 0.05, None, Quality.BAD)])
    await h.append([s("b", t / 10, float(t)) for t in range(1000)] + [s("c", 1, 1.0)])
    try:
        times, values = await h.series("a", T0, T0 + 50)
        assert len(times) == len(values) == 500
        assert times[0] == T0
        assert values[1] == math.sin(1)
        batches = []
        async for batch in h.export(["a", "b"], T0, T0 + 100, batch_rows=300):
            batches.append(batch)
            await h.append([s("a", 200 + len(batches), 0.0)])  # appends go on during an export
            await h.flush()
        table = pa.Table.from_batches(batches)
        assert len(batches) > 3
        assert table.num_rows == 2001
        assert table.column_names == ["signal", "source_time", "receive_time", "value", "quality"]
        assert set(table.column("signal").to_pylist()) == {"a", "b"}
        assert table.column("quality").to_pylist().count("bad") == 1
        assert await h.count() == 2001 + 1 + len(batches)
    finally:
        await h.close()

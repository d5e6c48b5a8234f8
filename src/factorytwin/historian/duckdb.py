"""The embedded historian: a DuckDB file, appended to in Arrow batches from one worker thread.

DuckDB lets one process open a file for writing, and nobody else while it does: tools that read
history while the twin runs go through the twin's API (``/api/history``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ..columns import Batch, SampleColumns, columns_of
from ..core.alerts import Alert
from ..core.states import StateInterval
from ..errors import HistorianError
from ..events import Quality, Sample
from .events_sql import EVENT_SCHEMA, insert_intervals, max_alert_id, select_alerts, select_intervals, upsert_alerts
from .series_sql import Bucket, export_reader, next_batch, select_buckets, select_series

__all__ = ["DuckDBHistorian"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    signal VARCHAR NOT NULL,
    source_time TIMESTAMPTZ NOT NULL,
    receive_time TIMESTAMPTZ NOT NULL,
    value DOUBLE,
    quality UTINYINT NOT NULL
)
"""
_TS = pa.timestamp("us", tz="UTC")


class DuckDBHistorian:
    """Stores samples in a DuckDB database (a file, or ``:memory:``)."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        batch_size: int = 50_000,
        flush_interval_s: float = 1.0,
        read_only: bool = False,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.stored = 0
        self._pending = SampleColumns()
        self._db: duckdb.DuckDBPyConnection | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="historian")
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Open (creating if needed) the database and its table."""
        try:
            self._db = await self._call(_connect, self.path, self.read_only)
        except duckdb.Error as exc:
            raise HistorianError(f"cannot open historian {self.path}: {exc}") from exc

    async def append(self, batch: Batch) -> None:
        """Queue samples (a list or columns); write once a full batch is waiting."""
        self._pending.extend(columns_of(batch))
        if len(self._pending) >= self.batch_size:
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued so far in one Arrow append."""
        async with self._lock:
            if not len(self._pending) or self._db is None:
                return
            pending, self._pending = self._pending, SampleColumns()
            # shielded: a cancelled caller must not lose the batch it took out of the queue
            await asyncio.shield(self._write(pending))

    async def _write(self, pending: SampleColumns) -> None:
        assert self._db is not None
        try:
            await self._call(_insert, self._db, _to_arrow(pending))
        except duckdb.Error as exc:
            pending.extend(self._pending)  # keep them for the next attempt, in order
            self._pending = pending
            raise HistorianError(f"cannot write to historian {self.path}: {exc}") from exc
        self.stored += len(pending)

    async def run(self) -> None:
        """Flush on a timer until cancelled (so quiet signals reach the store too)."""
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()

    async def query(self, signal: str, start: float, end: float, limit: int = 10_000) -> list[Sample]:
        """Stored samples of one signal with start <= source_time < end, oldest first."""
        await self.flush()
        if self._db is None:
            raise HistorianError("historian is not open")
        rows = await self._call(_select, self._db, signal, start, end, limit)
        return [Sample(signal, st, rt, v, Quality(q)) for st, rt, v, q in rows]

    async def buckets(self, signal: str, start: float, end: float, width: float) -> list[Bucket]:
        """Count, min, max, avg, first and last of one signal's usable values per bucket of ``width`` seconds."""
        await self.flush()
        return await self._call(select_buckets, self._open_db(), signal, start, end, width)  # type: ignore[no-any-return]

    async def series(
        self, signal: str, start: float, end: float, limit: int = 1_000_000
    ) -> tuple[np.ndarray, np.ndarray]:
        """Source times and usable values of one signal, oldest first (what charts reduce)."""
        await self.flush()
        return await self._call(select_series, self._open_db(), signal, start, end, limit)  # type: ignore[no-any-return]

    async def export(
        self, signals: list[str], start: float, end: float, batch_rows: int = 65_536
    ) -> AsyncIterator[pa.RecordBatch]:
        """Every stored sample of ``signals`` in the range as Arrow record batches, in source-time order."""
        await self.flush()
        cursor, reader = await self._call(export_reader, self._open_db(), signals, start, end, batch_rows)
        try:
            while (batch := await self._call(next_batch, reader)) is not None:
                yield batch
        finally:
            await self._call(cursor.close)

    async def window(self, start: float, end: float) -> list[Sample]:
        """Every stored sample with start <= source_time < end, in source-time order (for replays)."""
        await self.flush()
        rows = await self._call(_select_window, self._open_db(), start, end)
        return [Sample(sig, st, rt, v, Quality(q)) for sig, st, rt, v, q in rows]

    async def initial(self, before: float) -> list[Sample]:
        """The last stored sample of every signal before a time (the state a replay starts from)."""
        await self.flush()
        rows = await self._call(_select_initial, self._open_db(), before)
        return [Sample(sig, st, rt, v, Quality(q)) for sig, st, rt, v, q in rows]

    async def append_intervals(self, intervals: list[StateInterval]) -> None:
        """Store closed station state intervals."""
        await self._call(insert_intervals, self._open_db(), intervals)

    async def intervals(self, start: float, end: float, station: str | None = None) -> list[StateInterval]:
        """Stored state intervals overlapping [start, end)."""
        return await self._call(select_intervals, self._open_db(), start, end, station)  # type: ignore[no-any-return]

    async def store_alerts(self, alerts: list[Alert]) -> None:
        """Store alerts (their latest version wins)."""
        await self._call(upsert_alerts, self._open_db(), alerts)

    async def alerts(self, start: float, end: float) -> list[Alert]:
        """Alerts raised in or still open during [start, end), newest first."""
        return await self._call(select_alerts, self._open_db(), start, end)  # type: ignore[no-any-return]

    async def last_alert_id(self) -> int:
        """The highest alert id stored (new alerts continue after it)."""
        return await self._call(max_alert_id, self._open_db())  # type: ignore[no-any-return]

    def _open_db(self) -> duckdb.DuckDBPyConnection:
        if self._db is None:
            raise HistorianError("historian is not open")
        return self._db

    async def count(self) -> int:
        """Number of stored samples."""
        await self.flush()
        assert self._db is not None
        result = await self._call(lambda db: db.execute("SELECT count(*) FROM samples").fetchall()[0], self._db)
        return int(result[0])

    async def close(self) -> None:
        """Flush and close the database."""
        await self.flush()
        if self._db is not None:
            await self._call(self._db.close)
            self._db = None
        self._worker.shutdown(wait=True)

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)


def _connect(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    if path != ":memory:" and not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = duckdb.connect(path, read_only=read_only)
    db.execute("SET TimeZone = 'UTC'")
    if not read_only:
        db.execute(_SCHEMA)
        db.execute(EVENT_SCHEMA)
    return db


def _to_arrow(cols: SampleColumns) -> pa.Table:
    src = (np.array(cols.source_times, np.float64) * 1e6).astype(np.int64)
    rcv = (np.array(cols.receive_times, np.float64) * 1e6).astype(np.int64)
    try:  # numbers and None, the usual case, in one call
        values = pa.array(cols.values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # text, or integers beyond what a double holds exactly
        values = pa.array([float(v) if isinstance(v, int | float) else None for v in cols.values], pa.float64())
    return pa.table(
        {
            "signal": pa.array(cols.signals, pa.string()),
            "source_time": pa.array(src, _TS),
            "receive_time": pa.array(rcv, _TS),
            "value": values,
            "quality": pa.array(cols.qualities, pa.uint8()),
        }
    )


def _insert(db: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    db.register("incoming", table)
    try:
        db.execute("INSERT INTO samples SELECT * FROM incoming")
    finally:
        db.unregister("incoming")


_COLUMNS = "signal, epoch_us(source_time) / 1e6, epoch_us(receive_time) / 1e6, value, quality"


def _select_window(db: duckdb.DuckDBPyConnection, start: float, end: float) -> list[tuple[Any, ...]]:
    return db.execute(
        f"SELECT {_COLUMNS} FROM samples WHERE source_time >= to_timestamp(?) AND source_time < to_timestamp(?) "
        "ORDER BY source_time, signal",
        [start, end],
    ).fetchall()


def _select_initial(db: duckdb.DuckDBPyConnection, before: float) -> list[tuple[Any, ...]]:
    return db.execute(
        f"SELECT {_COLUMNS} FROM samples WHERE source_time < to_timestamp(?) "
        "QUALIFY row_number() OVER (PARTITION BY signal ORDER BY source_time DESC) = 1 ORDER BY source_time, signal",
        [before],
    ).fetchall()


def _select(db: duckdb.DuckDBPyConnection, signal: str, start: float, end: float, limit: int) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT epoch_us(source_time) / 1e6, epoch_us(receive_time) / 1e6, value, quality FROM samples "
        "WHERE signal = ? AND source_time >= to_timestamp(?) AND source_time < to_timestamp(?) "
        "ORDER BY source_time LIMIT ?",
        [signal, start, end, limit],
    ).fetchall()

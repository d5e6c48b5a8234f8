"""Read-side SQL over the samples table for charts and exports: time buckets, value series, export batches.

Buckets and series use usable values only (quality good or uncertain, a number): a bad or stale
reading never shows up as a value on a chart. Exports hold every stored sample, with its quality
as a word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

__all__ = ["EXPORT_COLUMNS", "Bucket", "export_reader", "next_batch", "select_buckets", "select_series"]

_USABLE = "quality <= 1 AND value IS NOT NULL AND isfinite(value)"
_RANGE = "signal = ? AND source_time >= to_timestamp(?) AND source_time < to_timestamp(?)"
EXPORT_COLUMNS = ("signal", "source_time", "receive_time", "value", "quality")


@dataclass(frozen=True, slots=True)
class Bucket:
    """The usable values of one signal in one time bucket [start, start + width)."""

    start: float
    count: int
    min: float
    max: float
    avg: float
    first: float
    last: float


def select_buckets(db: duckdb.DuckDBPyConnection, signal: str, start: float, end: float, width: float) -> list[Bucket]:
    """Aggregates per bucket of ``width`` seconds from ``start``, oldest first; empty buckets are left out."""
    rows = db.execute(
        "SELECT b, count(*), min(value), max(value), avg(value), arg_min(value, source_time), "
        "arg_max(value, source_time) FROM ("
        "  SELECT floor((epoch_us(source_time) - ?) / ?)::BIGINT AS b, source_time, value FROM samples"
        f"  WHERE {_RANGE} AND {_USABLE}"
        ") GROUP BY b ORDER BY b",
        [round(start * 1e6), width * 1e6, signal, start, end],
    ).fetchall()
    return [Bucket(start + b * width, n, lo, hi, mean, first, last) for b, n, lo, hi, mean, first, last in rows]


def select_series(
    db: duckdb.DuckDBPyConnection, signal: str, start: float, end: float, limit: int
) -> tuple[np.ndarray, np.ndarray]:
    """Source times (POSIX seconds) and usable values of one signal, oldest first, at most ``limit``."""
    cols: dict[str, np.ndarray] = db.execute(
        f"SELECT epoch_us(source_time) / 1e6 AS t, value AS v FROM samples WHERE {_RANGE} AND {_USABLE} "
        "ORDER BY source_time LIMIT ?",
        [signal, start, end, limit],
    ).fetchnumpy()
    return np.asarray(cols["t"], np.float64), np.asarray(cols["v"], np.float64)


def export_reader(
    db: duckdb.DuckDBPyConnection, signals: list[str], start: float, end: float, batch_rows: int
) -> tuple[duckdb.DuckDBPyConnection, Any]:
    """A cursor of its own and an Arrow record-batch reader over the samples of ``signals`` in the range.

    The cursor is a separate connection, so appends on the main one go on while the export is read.
    """
    cursor = db.cursor()
    marks = ", ".join("?" for _ in signals)
    reader = cursor.sql(
        "SELECT signal, source_time, receive_time, value, "
        "CASE quality WHEN 0 THEN 'good' WHEN 1 THEN 'uncertain' WHEN 2 THEN 'bad' ELSE 'stale' END AS quality "
        f"FROM samples WHERE signal IN ({marks}) AND source_time >= to_timestamp(?) AND source_time < to_timestamp(?) "
        "ORDER BY source_time, signal",
        params=[*signals, start, end],
    ).to_arrow_reader(batch_rows)
    return cursor, reader


def next_batch(reader: Any) -> Any:
    """The next record batch of an export reader, or None at the end."""
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None

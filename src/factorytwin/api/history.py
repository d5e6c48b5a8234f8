"""History for charts and exports: time buckets, shape-preserving reductions, CSV and Parquet files.

* ``/api/history/buckets`` - count, min, max, avg, first and last of a signal per time bucket (DuckDB SQL);
* ``/api/history/downsampled`` - at most ``points`` points of a signal chosen by LTTB or min-max;
* ``/api/export`` - every stored sample of some signals in a window, streamed as CSV or Parquet.

The raw samples of one signal are ``/api/history`` (in `factorytwin.api.app`).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from ..core.downsample import lttb, minmax
from ..historian.series_sql import Bucket
from ..runtime import Twin
from .params import End, Start, time_window

__all__ = ["BucketOut", "BucketsOut", "DownsampledOut", "PointXY", "history_router"]

MAX_BUCKETS = 100_000
MAX_SERIES = 5_000_000  # values read for one reduction
Signal = Annotated[str, Query(description="Signal path, e.g. acme/lyon/bottling/line1/filler/product_temp")]


class BucketOut(BaseModel):
    """Usable values of a signal in [start, start + width)."""

    start: datetime
    count: int
    min: float
    max: float
    avg: float
    first: float
    last: float

    @classmethod
    def of(cls, b: Bucket) -> BucketOut:
        """Build from a historian bucket."""
        return cls(start=_at(b.start), count=b.count, min=b.min, max=b.max, avg=b.avg, first=b.first, last=b.last)


class BucketsOut(BaseModel):
    """A signal's values aggregated per time bucket; buckets without a value are left out."""

    signal: str
    unit: str | None
    start: datetime
    end: datetime
    width_s: float
    buckets: list[BucketOut]


class PointXY(BaseModel):
    """One kept point."""

    time: datetime
    value: float


class DownsampledOut(BaseModel):
    """At most ``points`` of a signal's usable values, chosen to keep the shape of the curve."""

    signal: str
    unit: str | None
    start: datetime
    end: datetime
    method: str
    total: int
    truncated: bool
    points: list[PointXY]


def history_router(twin: Twin) -> APIRouter:
    """History endpoints of a running twin: buckets, downsampled series, exports."""
    router = APIRouter(prefix="/api", tags=["history"])

    def window(start: datetime | None, end: datetime | None) -> tuple[float, float]:
        return time_window(twin.clock, start, end, 3600.0)

    def unit_of(signal: str) -> str | None:
        info = twin.index.signals.get(signal)
        if info is None:
            raise HTTPException(404, f"unknown signal '{signal}'; see /api/assets for signal paths")
        return info.signal.unit

    @router.get("/history/buckets")
    async def buckets(
        signal: Signal,
        start: Start = None,
        end: End = None,
        interval: Annotated[
            float | None, Query(gt=0, allow_inf_nan=False, description="Bucket width in seconds")
        ] = None,
        count: Annotated[int, Query(ge=1, le=10_000, description="Number of buckets, when no interval")] = 100,
    ) -> BucketsOut:
        """Count, min, max, avg, first and last of a signal's usable values per time bucket."""
        unit = unit_of(signal)
        t0, t1 = window(start, end)
        width = interval or (t1 - t0) / count
        if (t1 - t0) / width > MAX_BUCKETS:
            raise HTTPException(422, f"at most {MAX_BUCKETS} buckets: widen the interval or shorten the window")
        rows = await twin.historian.buckets(signal, t0, t1, width)
        return BucketsOut(
            signal=signal,
            unit=unit,
            start=_at(t0),
            end=_at(t1),
            width_s=width,
            buckets=[BucketOut.of(b) for b in rows],
        )

    @router.get("/history/downsampled")
    async def downsampled(
        signal: Signal,
        start: Start = None,
        end: End = None,
        points: Annotated[int, Query(ge=3, le=100_000, description="At most this many points")] = 1000,
        method: Annotated[Literal["lttb", "minmax"], Query(description="lttb, or minmax per bucket")] = "lttb",
    ) -> DownsampledOut:
        """A signal's usable values reduced to at most ``points`` with LTTB or min-max, for a chart."""
        unit = unit_of(signal)
        t0, t1 = window(start, end)
        times, values = await twin.historian.series(signal, t0, t1, MAX_SERIES + 1)
        truncated = len(times) > MAX_SERIES
        times, values = times[:MAX_SERIES], values[:MAX_SERIES]
        kept = lttb(times, values, points) if method == "lttb" else minmax(values, points)
        return DownsampledOut(
            signal=signal,
            unit=unit,
            start=_at(t0),
            end=_at(t1),
            method=method,
            total=len(times),
            truncated=truncated,
            points=[PointXY(time=_at(float(times[i])), value=float(values[i])) for i in kept],
        )

    @router.get("/export", response_class=StreamingResponse, responses={200: {"content": _EXPORT_TYPES}})
    async def export(
        signals: Annotated[str, Query(description="Comma-separated signal paths")],
        start: Start = None,
        end: End = None,
        format: Annotated[Literal["csv", "parquet"], Query(description="csv or parquet")] = "csv",
    ) -> StreamingResponse:
        """Every stored sample of the signals in the window (signal, source_time, receive_time, value, quality)."""
        paths = [p.strip() for p in signals.split(",") if p.strip()]
        if not paths:
            raise HTTPException(422, "name at least one signal")
        for path in paths:
            unit_of(path)
        t0, t1 = window(start, end)
        batches = twin.historian.export(paths, t0, t1)
        body = _csv(batches) if format == "csv" else _parquet(batches)
        name = f"factorytwin-{int(t0)}-{int(t1)}.{format}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return StreamingResponse(body, media_type=_EXPORT_TYPES_BY_FORMAT[format], headers=headers)

    return router


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


_EXPORT_TYPES_BY_FORMAT = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
_EXPORT_TYPES: dict[str, Any] = {media: {} for media in _EXPORT_TYPES_BY_FORMAT.values()}
_SCHEMA = pa.schema(
    [
        ("signal", pa.string()),
        ("source_time", pa.timestamp("us", tz="UTC")),
        ("receive_time", pa.timestamp("us", tz="UTC")),
        ("value", pa.float64()),
        ("quality", pa.string()),
    ]
)


async def _csv(batches: AsyncIterator[pa.RecordBatch]) -> AsyncIterator[bytes]:
    """CSV text, one chunk per record batch, the header once (also for an empty export)."""
    header = True
    async for batch in batches:
        yield _csv_chunk(batch.cast(_SCHEMA), header)
        header = False
    if header:
        yield _csv_chunk(_SCHEMA.empty_table(), True)


def _csv_chunk(data: pa.RecordBatch | pa.Table, header: bool) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(data, buf, pacsv.WriteOptions(include_header=header))
    return buf.getvalue()


class _Chunks(io.RawIOBase):
    """A write-only stream that hands out what was written so far (a Parquet writer needs its position)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        """What was written since the last take."""
        out, self._parts = b"".join(self._parts), []
        return out


async def _parquet(batches: AsyncIterator[pa.RecordBatch]) -> AsyncIterator[bytes]:
    """A Parquet file, one row group per record batch, sent as each is written."""
    sink = _Chunks()
    writer = pq.ParquetWriter(sink, _SCHEMA, compression="zstd")
    try:
        async for batch in batches:
            writer.write_batch(batch.cast(_SCHEMA))
            yield sink.take()
    finally:
        writer.close()
    yield sink.take()

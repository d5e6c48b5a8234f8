"""The historian seam: what the twin needs from any time-series store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import numpy as np
import pyarrow as pa

from ..columns import Batch
from ..core.alerts import Alert
from ..core.states import StateInterval
from ..events import Sample
from .series_sql import Bucket

__all__ = ["Historian"]


class Historian(Protocol):
    """Stores samples and reads them back by signal and time range (POSIX seconds, UTC)."""

    async def open(self) -> None:
        """Create or open the store."""
        ...

    async def append(self, batch: Batch) -> None:
        """Queue samples (a list or columns) for storage (written in batches)."""
        ...

    async def flush(self) -> None:
        """Write everything queued so far."""
        ...

    async def query(self, signal: str, start: float, end: float, limit: int = 10_000) -> list[Sample]:
        """Stored samples of one signal with start <= source_time < end, oldest first."""
        ...

    async def buckets(self, signal: str, start: float, end: float, width: float) -> list[Bucket]:
        """Aggregates of one signal's usable values per time bucket of ``width`` seconds from ``start``."""
        ...

    async def series(
        self, signal: str, start: float, end: float, limit: int = 1_000_000
    ) -> tuple[np.ndarray, np.ndarray]:
        """Source times and usable values of one signal with start <= source_time < end, oldest first."""
        ...

    def export(
        self, signals: list[str], start: float, end: float, batch_rows: int = 65_536
    ) -> AsyncIterator[pa.RecordBatch]:
        """Every stored sample of ``signals`` in the range as Arrow record batches (signal, times, value, quality)."""
        ...

    async def window(self, start: float, end: float) -> list[Sample]:
        """Every stored sample with start <= source_time < end, in source-time order."""
        ...

    async def initial(self, before: float) -> list[Sample]:
        """The last stored sample of every signal before a time."""
        ...

    async def append_intervals(self, intervals: list[StateInterval]) -> None:
        """Store closed station state intervals."""
        ...

    async def intervals(self, start: float, end: float, station: str | None = None) -> list[StateInterval]:
        """Stored state intervals overlapping [start, end)."""
        ...

    async def store_alerts(self, alerts: list[Alert]) -> None:
        """Store alerts (their latest version wins)."""
        ...

    async def alerts(self, start: float, end: float) -> list[Alert]:
        """Alerts raised in or still open during [start, end), newest first."""
        ...

    async def last_alert_id(self) -> int:
        """The highest alert id stored."""
        ...

    async def close(self) -> None:
        """Flush and release the store."""
        ...

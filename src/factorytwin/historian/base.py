"""The historian seam: what the twin needs from any time-series store."""

from __future__ import annotations

from typing import Protocol

from ..columns import Batch
from ..core.alerts import Alert
from ..core.states import StateInterval
from ..events import Sample

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

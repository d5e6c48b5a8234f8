"""The historian seam: what the twin needs from any time-series store."""

from __future__ import annotations

from typing import Protocol

from ..events import Sample

__all__ = ["Historian"]


class Historian(Protocol):
    """Stores samples and reads them back by signal and time range (POSIX seconds, UTC)."""

    async def open(self) -> None:
        """Create or open the store."""
        ...

    async def append(self, batch: list[Sample]) -> None:
        """Queue samples for storage (written in batches)."""
        ...

    async def flush(self) -> None:
        """Write everything queued so far."""
        ...

    async def query(self, signal: str, start: float, end: float, limit: int = 10_000) -> list[Sample]:
        """Stored samples of one signal with start <= source_time < end, oldest first."""
        ...

    async def close(self) -> None:
        """Flush and release the store."""
        ...

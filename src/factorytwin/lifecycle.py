"""The lifecycle every long-running part shares: start, stop, and ``async with`` for both."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Service"]


class Service:
    """Something that runs between ``start()`` and ``stop()``; ``async with`` does both."""

    async def start(self) -> None:
        """Begin running."""

    async def stop(self) -> None:
        """Stop running and release what was acquired."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

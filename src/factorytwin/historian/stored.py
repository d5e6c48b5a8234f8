"""A historian file opened read-only, for commands that recompute from what a twin stored."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from ..errors import FactoryTwinError, HistorianError
from .duckdb import DuckDBHistorian

__all__ = ["stored_history"]


@asynccontextmanager
async def stored_history(path: Path, while_running: str) -> AsyncIterator[DuckDBHistorian]:
    """Open ``path`` read-only and close it after; ``while_running`` says what to do while a twin holds it."""
    if not os.path.isfile(path):  # noqa: ASYNC240 (one stat before opening)
        raise FactoryTwinError(f"no historian file {path}")
    historian = DuckDBHistorian(path, read_only=True)
    try:
        await historian.open()
    except HistorianError as exc:
        raise FactoryTwinError(f"{exc}; while a twin runs, {while_running}") from None
    try:
        yield historian
    finally:
        await historian.close()

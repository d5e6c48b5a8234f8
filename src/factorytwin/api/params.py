"""Query parameters every router reads the same way: a time window and a line of the plant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import HTTPException, Query

from ..clock import Clock, utc
from ..model import LineInfo, PlantIndex

__all__ = ["End", "Start", "line_info", "time_window"]

Start = Annotated[datetime | None, Query(description="ISO 8601; default a window before end")]
End = Annotated[datetime | None, Query(description="ISO 8601; default now")]


def time_window(
    clock: Clock, start: datetime | None, end: datetime | None, default_s: float, max_s: float | None = None
) -> tuple[float, float]:
    """``(start, end)`` as POSIX seconds: end defaults to now, start to ``default_s`` before end.

    Times that cannot be represented in UTC, an empty window and one longer than ``max_s`` are a 422
    with the reason, never a server error.
    """
    try:
        t1 = (utc(end) if end else clock.now()).timestamp()
        t0 = utc(start).timestamp() if start else t1 - default_s
        datetime.fromtimestamp(t0, UTC), datetime.fromtimestamp(t1, UTC)  # both representable in UTC
    except (OverflowError, ValueError, OSError):
        raise HTTPException(422, "start and end must lie between the years 1 and 9999 in UTC") from None
    if t0 >= t1:
        raise HTTPException(422, "start must be before end")
    if max_s is not None and t1 - t0 > max_s:
        raise HTTPException(422, f"the window is at most {max_s / 86400:g} days")
    return t0, t1


def line_info(index: PlantIndex, path: str | None) -> LineInfo:
    """The line at ``path`` (the first line when None); a 404 naming where lines are listed."""
    if path is None:
        return next(iter(index.lines.values()))
    found = index.lines.get(path)
    if found is None:
        raise HTTPException(404, f"unknown line '{path}'; see /api/assets")
    return found

"""Calibration and forecast endpoints: the line model fitted to history, and this shift's outlook.

* ``GET /api/calibration?line=&start=&end=``: each station's fitted processing time, failures and
  scrap with goodness of fit and intervals, the calibrated ``sim`` blocks, and the validation of
  the calibrated line on the same window (docs/calibration.md).
* ``GET /api/forecast?line=``: the line's model started from the live state (buffer levels,
  station states and how long they have lasted) and run for the production time left in the
  current shift; with the good parts the last station counted this shift, the expected total and
  the chance to reach the shift's target (``target_rate`` x the shift's planned hours).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from ..calibrate import calibrate, good_parts, read_history, warm_start
from ..model import LineInfo, Role
from ..runtime import Twin
from ..security import Role as Access
from ..sim.errors import SimulationError
from ..sim.forecast import forecast
from ..sim.warm import HOLDING, StationStart
from .auth import require
from .params import line_info, time_window

__all__ = ["calibration_router"]

_MAX_WINDOW_S = 31 * 86400


def calibration_router(twin: Twin) -> APIRouter:
    """The calibration and forecast endpoints of a running twin."""
    # simulations cost CPU: engineer, like every what-if (docs/security.md)
    router = APIRouter(prefix="/api", tags=["simulation"], dependencies=[Depends(require(Access.ENGINEER))])

    def line_of(path: str | None) -> LineInfo:
        return line_info(twin.index, path)

    @router.get("/calibration")
    async def calibration(
        line: Annotated[str | None, Query(description="Line path (default: the first line)")] = None,
        start: Annotated[datetime | None, Query(description="ISO 8601; default 8 hours before end")] = None,
        end: Annotated[datetime | None, Query(description="ISO 8601; default now")] = None,
        replications: Annotated[int, Query(ge=2, le=500)] = 30,
    ) -> dict[str, Any]:
        """Fit the line model to a window of history and validate it on the same window."""
        info = line_of(line)
        t0, t1 = time_window(twin.clock, start, end, 8 * 3600.0, _MAX_WINDOW_S)
        history = await read_history(twin.historian, twin.index, info.path, t0, t1)
        try:
            result = await asyncio.to_thread(calibrate, history, replications=replications)
        except SimulationError as exc:
            raise HTTPException(422, str(exc)) from None
        return result.as_dict()

    @router.get("/forecast")
    async def shift_forecast(
        line: Annotated[str | None, Query(description="Line path (default: the first line)")] = None,
        replications: Annotated[int, Query(ge=2, le=2000)] = 100,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Will the current shift reach its target? Simulated from the live state."""
        info = line_of(line)
        now = twin.clock.now().timestamp()
        period = info.calendar.shift_at(now, info.timezone, info.line.id)
        if period is None:
            raise HTTPException(409, f"no shift of line '{info.path}' is running now")
        left = info.calendar.planned_seconds(now, period.end, info.timezone, info.line.id)
        if left <= 0:
            raise HTTPException(409, "no production time is left in this shift")
        levels = {}
        for buffer in info.buffers:
            level = buffer.by_role(Role.LEVEL)
            value = twin.state.get(level.path) if level is not None else None
            if value is not None and value.quality.usable and isinstance(value.value, int | float):
                levels[buffer.asset.id] = int(value.value)
        states = []
        for station in info.stations:
            status = twin.state.stations[station.path]
            age = max(now - status.since, 0.0) if status.since is not None else 0.0
            states.append(StationStart(status.state, age))
        warm = warm_start(info, levels, states)
        last, live = info.stations[-1].path, twin.analytics
        if live.origin is not None and live.origin <= period.start:  # the twin saw the whole shift
            made = live.production.counts(last, period.start, now)[0]
        else:  # it started during the shift: what the historian holds since the shift began
            made = await good_parts(twin.historian, twin.index, last, period.start, now)
        target = info.line.target_rate * period.planned_seconds / 3600 if info.line.target_rate else None
        try:
            # a worker thread: the event loop (and a virtual plant on it) keeps going while it runs
            result = await asyncio.to_thread(
                forecast, info.line, warm, left, replications, seed, made=made, target=target
            )
        except SimulationError as exc:
            raise HTTPException(422, str(exc)) from None
        return {
            **result.as_dict(),
            "line": info.path,
            "shift": period.name,
            "shift_start": _iso(period.start),
            "shift_end": _iso(period.end),
            "start": {
                "buffers": list(warm.buffers),
                "stations": {
                    s.asset.id: {"state": w.state.value, "age_s": w.age, "holds_part": w.state in HOLDING}
                    for s, w in zip(info.stations, warm.stations, strict=True)
                },
            },
        }

    return router


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()

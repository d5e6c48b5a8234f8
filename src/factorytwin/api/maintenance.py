"""Maintenance and quality endpoints: health, remaining useful life, the maintenance plan, quality drivers."""

from __future__ import annotations

import asyncio
import math
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query

from ..errors import FactoryTwinError
from ..maintenance import Assessment, MaintenanceMonitor
from ..maintenance.advice import Advice, advise, outlooks
from ..maintenance.price import Priced
from ..maintenance.quality import binned, drivers, increments
from ..model import LineInfo, Role
from ..runtime import Twin
from .params import line_info, time_window

__all__ = ["advice_out", "maintenance_router", "quality_drivers"]

_MAX_QUALITY_WINDOW_S = 31 * 86400
_CONDITIONS = (
    Role.TEMPERATURE,
    Role.PRESSURE,
    Role.FLOW,
    Role.SPEED,
    Role.SETPOINT,
    Role.VIBRATION,
    Role.MOTOR_CURRENT,
)


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _assessment(a: Assessment) -> dict[str, Any]:
    h = a.health
    out: dict[str, Any] = {
        "station": h.station,
        "time": h.time,
        "age_s": h.age,
        "health_index": h.index,
        "degradation": h.degradation,
        "utilization": _num(a.utilization),
        "contributions": [asdict(c) for c in h.contributions],
        "rul": None,
    }
    if a.rul is not None:
        r = a.rul
        out["rul"] = {
            "median_s": r.median,
            "low_s": r.low,
            "high_s": r.high,
            "level": r.level,
            "p_failure_within": r.within,
        }
    return out


def _priced(p: Priced) -> dict[str, Any]:
    return {
        "name": p.plan.name,
        "output": {"mean": p.output.mean, "low": _num(p.output.low), "high": _num(p.output.high), "n": p.output.n},
        "wear_failures": p.failures,
        "planned_downtime_s": p.planned_s,
        "stops": [{"start_s": s.start, "duration_s": s.duration, "stations": list(s.stations)} for s in p.plan.stops],
    }


def advice_out(a: Advice) -> dict[str, Any]:
    """A priced plan and its references as JSON."""
    return {
        "recommended": _priced(a.best),
        "candidates": [_priced(p) for p in a.candidates],
        "run_to_failure": _priced(a.run_to_failure),
        "fixed_interval": _priced(a.fixed),
        "horizon_s": a.best.plan.horizon,
    }


def maintenance_router(twin: Twin) -> APIRouter:
    """The maintenance endpoints of a running twin."""
    router = APIRouter(prefix="/api/maintenance", tags=["maintenance"])

    def monitor() -> MaintenanceMonitor:
        found: MaintenanceMonitor | None = getattr(twin, "maintenance", None)
        if found is None:
            raise HTTPException(503, "this twin runs no maintenance monitor")
        return found

    def line_of(path: str | None) -> LineInfo:
        return line_info(twin.index, path)

    @router.get("/health")
    async def health() -> dict[str, Any]:
        """Each monitored station's latest health index (0-1) with the contributing signals, and its RUL."""
        m = monitor()
        return {
            "stations": [_assessment(a) for a in m.latest.values()],
            "learning": sorted(set(m.stations) - set(m.latest)),
            "learned_models": sorted(m.populations),
            "rejected_samples": m.rejected,
        }

    @router.get("/rul")
    async def rul() -> dict[str, Any]:
        """Remaining useful life with its interval and P(failure within a shift / day / week), per station."""
        m = monitor()
        return {"stations": [_assessment(a) for a in m.latest.values() if a.rul is not None]}

    @router.get("/plan")
    async def plan(
        line: Annotated[str | None, Query(description="Line path; default the first line")] = None,
        horizon_days: Annotated[float, Query(gt=0, le=28)] = 7.0,
        replications: Annotated[int, Query(ge=2, le=20)] = 4,
    ) -> dict[str, Any]:
        """The recommended maintenance plan, priced by the simulation against run to failure and a fixed interval."""
        info = line_of(line)
        looks = outlooks(monitor(), info)
        start = twin.clock.now().timestamp()
        try:
            advice = await asyncio.to_thread(advise, info, looks, horizon_days * 86400, replications, 0, start)
        except FactoryTwinError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"line": info.path, "start": start, **advice_out(advice)}

    @router.get("/quality")
    async def quality(
        line: Annotated[str | None, Query(description="Line path; default the first line")] = None,
        start: Annotated[datetime | None, Query(description="ISO 8601; default 8 hours before end")] = None,
        end: Annotated[datetime | None, Query(description="ISO 8601; default now")] = None,
        bin_s: Annotated[float, Query(ge=10, le=3600)] = 300.0,
    ) -> dict[str, Any]:
        """Process conditions that go with scrap and out-of-spec quality samples, strongest first."""
        info = line_of(line)
        t0, t1 = time_window(twin.clock, start, end, 8 * 3600.0, _MAX_QUALITY_WINDOW_S)
        found = await quality_drivers(twin, info, t0, t1, bin_s)
        return {"line": info.path, "start": t0, "end": t1, "bin_s": bin_s, "drivers": found}

    return router


async def _series(twin: Twin, path: str, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
    rows = await twin.historian.query(path, t0, t1, 1_000_000)
    ok = [(s.source_time, float(s.value)) for s in rows if isinstance(s.value, int | float) and s.quality.usable]
    if not ok:
        return np.empty(0), np.empty(0)
    t, v = zip(*ok, strict=True)
    return np.array(t), np.array(v)


async def quality_drivers(twin: Twin, line: LineInfo, t0: float, t1: float, width: float) -> list[dict[str, Any]]:
    """Drivers of each station's scrap and of each quality signal leaving its spec, from the historian."""
    conditions: dict[str, np.ndarray] = {}
    for asset in line.stations:
        for sig in asset.signals.values():
            if sig.role in _CONDITIONS:
                t, v = await _series(twin, sig.path, t0, t1)
                conditions[f"{asset.asset.id}.{sig.signal.id}"] = np.array(
                    [g.mean() if len(g) else np.nan for g in binned(t, v, t0, t1, width)]
                )
    out = []
    for asset in line.stations:
        outcomes = []
        good, scrap = asset.by_role(Role.GOOD_COUNT), asset.by_role(Role.SCRAP_COUNT)
        if good is not None and scrap is not None:
            made = increments(binned(*await _series(twin, good.path, t0, t1), t0, t1, width))
            bad = increments(binned(*await _series(twin, scrap.path, t0, t1), t0, t1, width))
            outcomes.append((f"{asset.asset.id} scrap", made + bad, bad))
        for sig in asset.signals.values():
            spec = sig.signal.spec
            if sig.role is Role.QUALITY and spec is not None:
                groups = binned(*await _series(twin, sig.path, t0, t1), t0, t1, width)
                lo, hi = spec.lsl if spec.lsl is not None else -np.inf, spec.usl if spec.usl is not None else np.inf
                n = np.array([len(g) for g in groups], dtype=float)
                off = np.array([np.sum((g < lo) | (g > hi)) for g in groups], dtype=float)
                outcomes.append((f"{asset.asset.id}.{sig.signal.id} out of spec", n, off))
        for name, n, bad in outcomes:
            for d in drivers(conditions, n, bad):
                out.append({"defect": name, "text": d.text, **asdict(d)})
    return out

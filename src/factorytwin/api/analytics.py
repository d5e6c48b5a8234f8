"""Analytics endpoints: KPIs, production, states, bottlenecks, alerts and shift reports.

Every endpoint takes a time window (``start``/``end``, ISO 8601; default the last hour). Windows the
running twin has seen in full come from its live analytics; older ones are recomputed from the
historian with the same code (`factorytwin.replay`).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from ..core.alerts import Alert
from ..core.analytics import Analytics
from ..core.detectors import AlertingSpc
from ..errors import FactoryTwinError
from ..replay import replay
from ..runtime import Twin
from ..security import Principal, Role
from .auth import require
from .params import End, Start, line_info, time_window

__all__ = ["alert_out", "analytics_router"]


def alert_out(alert: Alert) -> dict[str, Any]:
    """An alert as JSON."""
    return {**asdict(alert), "severity": alert.severity.name.lower(), "state": alert.state.value}


def analytics_router(twin: Twin) -> APIRouter:
    """The analytics endpoints of a running twin."""
    router = APIRouter(prefix="/api", tags=["analytics"])

    def window(start: datetime | None, end: datetime | None) -> tuple[float, float]:
        return time_window(twin.clock, start, end, 3600.0)

    async def analysis(start: float, end: float) -> Analytics:
        live = twin.analytics
        if live.origin is not None and start >= live.origin:
            return live
        return await replay(twin.index, twin.historian, start, end)

    def line_of(path: str | None) -> str:
        return line_info(twin.index, path).path

    @router.get("/kpis")
    async def kpis(
        asset: Annotated[str | None, Query(description="A station or line path; default the first line")] = None,
        start: Start = None,
        end: End = None,
    ) -> dict[str, Any]:
        """ISO 22400 KPIs (availability, effectiveness, quality rate, OEE, MTBF, MTTR) of a station or line."""
        t0, t1 = window(start, end)
        a = await analysis(t0, t1)
        if asset is not None and asset in twin.index.assets and twin.index.assets[asset].kind == "station":
            return {"asset": asset, "kind": "station", **a.station_kpis(asset, t0, t1).as_dict()}
        line = line_of(asset)
        return {"asset": line, "kind": "line", **a.line_kpis(line, t0, t1).as_dict()}

    @router.get("/production")
    async def production(line: str | None = None, start: Start = None, end: End = None) -> dict[str, Any]:
        """Parts made per station and by the line, throughput against the target, cycle times."""
        t0, t1 = window(start, end)
        a = await analysis(t0, t1)
        info = twin.index.lines[line_of(line)]
        hours = (t1 - t0) / 3600
        stations = []
        for st in info.stations:
            good, scrap = a.production.counts(st.path, t0, t1)
            stations.append(
                {
                    "station": st.path,
                    "good": good,
                    "scrap": scrap,
                    "throughput_per_h": good / hours,
                    "cycle_time": asdict(a.production.cycle_times(st.path, t0, t1)),
                }
            )
        good_out, _ = a.production.counts(info.stations[-1].path, t0, t1)
        output = good_out / hours
        target = info.line.target_rate
        return {
            "line": info.path,
            "start": t0,
            "end": t1,
            "stations": stations,
            "throughput_per_h": output,
            "target_per_h": target,
            "attainment": output / target if target else None,
        }

    @router.get("/states")
    async def states(station: str, start: Start = None, end: End = None) -> dict[str, Any]:
        """A station's state intervals in the window and its state now."""
        if station not in twin.index.assets or twin.index.assets[station].kind != "station":
            raise HTTPException(404, f"unknown station '{station}'; see /api/assets")
        t0, t1 = window(start, end)
        a = await analysis(t0, t1)
        intervals = [
            {"state": iv.state.value, "start": max(iv.start, t0), "end": min(iv.end or t1, t1)}
            for iv in a.station_intervals(station, t0, t1)
        ]
        current = twin.analytics.states.current(station)
        return {
            "station": station,
            "intervals": intervals,
            "now": {"state": current.state.value, "since": current.start} if current else None,
        }

    @router.get("/bottlenecks")
    async def bottlenecks(line: str | None = None, start: Start = None, end: End = None) -> dict[str, Any]:
        """Active-period bottleneck analysis: the main bottleneck, each station's sole/shifting share, the timeline."""
        t0, t1 = window(start, end)
        result = (await analysis(t0, t1)).bottlenecks(line_of(line), t0, t1)
        return {
            "line": line_of(line),
            "start": t0,
            "end": t1,
            "main": result.main,
            "momentary": result.timeline[-1][2] if result.timeline else None,
            "shares": [
                {"station": s.station, "sole": s.sole, "shifting": s.shifting, "total": s.total} for s in result.shares
            ],
            "timeline": [{"start": a, "end": b, "station": st} for a, b, st in result.timeline],
        }

    @router.get("/alerts")
    async def alerts(
        state: Annotated[Literal["open", "all"], Query(description="open: not cleared; all: in the window")] = "open",
        start: Start = None,
        end: End = None,
    ) -> list[dict[str, Any]]:
        """Alerts: the open ones (most severe first), or all raised or open in the window."""
        if state == "open":
            return [alert_out(a) for a in twin.analytics.alerts.active()]
        t0, t1 = window(start, end)
        return [alert_out(a) for a in await twin.historian.alerts(t0, t1)]

    @router.post("/alerts/{alert_id}/acknowledge")
    async def acknowledge(alert_id: int, who: Annotated[Principal, Depends(require(Role.OPERATOR))]) -> dict[str, Any]:
        """Acknowledge an open alert (operator); the token's name is recorded as who acknowledged it."""
        try:
            alert = await twin.acknowledge(alert_id, who)
        except FactoryTwinError as exc:
            status = 404 if "no alert" in str(exc) else 409
            raise HTTPException(status, str(exc)) from None
        return alert_out(alert)

    @router.get("/spc")
    async def spc(
        signal: Annotated[str | None, Query(description="A quality characteristic; omit to list them")] = None,
    ) -> dict[str, Any]:
        """A control chart (I-MR or X-bar R): points, limits, rule violations and capability (Cp, Cpk, Pp, Ppk)."""
        processor = next((d.spc for d in twin.analytics.detectors if isinstance(d, AlertingSpc)), None)
        charted = list(processor.characteristics) if processor is not None else []
        if signal is None:
            return {"characteristics": charted}
        if processor is None or signal not in charted:
            raise HTTPException(404, f"'{signal}' is not a charted quality characteristic; see /api/spc")
        return asdict(processor.chart(signal))

    @router.get("/report")
    async def report(line: str | None = None, start: Start = None, end: End = None) -> list[dict[str, Any]]:
        """Shift report: KPIs per shift of the window (at most 92 days), for each station and the line."""
        t0, t1 = window(start, end)
        if t1 - t0 > 92 * 86400:
            raise HTTPException(422, "a report covers at most 92 days")
        rows = (await analysis(t0, t1)).shift_report(line_of(line), t0, t1)
        return [{"shift": r.shift, "start": r.start, "end": r.end, "asset": r.asset, **r.kpis.as_dict()} for r in rows]

    return router

"""The HTTP API (FastAPI): health, asset tree, live state, history, sources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request

from .. import __version__
from ..runtime import Twin
from .analytics import analytics_router
from .auth import TokenGate, document_security
from .calibration import calibration_router
from .control import control_router
from .history import history_router
from .maintenance import maintenance_router
from .metrics import metrics_router
from .params import End, Start, time_window
from .schemas import AssetOut, AssetState, HistoryOut, LineOut, PointOut, SignalValue, StateOut, to_iso
from .stream import stream_router
from .tokens import tokens_router
from .whatif import whatif_router

__all__ = ["create_app"]


def create_app(twin: Twin) -> FastAPI:
    """Build the API of a running twin."""
    app = FastAPI(
        title="factorytwin",
        version=__version__,
        description="Live digital twin of a factory floor: asset model, live state and history.",
    )

    @app.get("/api/health", tags=["operations"])
    async def health(request: Request) -> dict[str, Any]:
        """Whether the twin runs (open, for probes); with a token also how its sources and stream are doing."""
        sources = [c.health.as_dict() for c in twin.connectors.values()]
        status = "ok" if all(s["connected"] for s in sources) else "degraded"
        if getattr(request.state, "principal", None) is None:  # no addresses or counts without a token
            return {"status": status, "version": __version__, "time": twin.clock.now()}
        return {
            "status": status,
            "version": __version__,
            "time": twin.clock.now(),
            "sources": {s["source"]: "connected" if s["connected"] else "disconnected" for s in sources},
            "stream": twin.stats(),
        }

    @app.get("/api/assets", tags=["model"])
    async def assets() -> list[LineOut]:
        """The plant's lines with their stations, buffers and signals (ISA-95 paths)."""
        return [
            LineOut(
                id=info.line.id,
                path=path,
                name=info.line.name,
                target_rate=info.line.target_rate,
                stations=[AssetOut.of(a) for a in info.stations],
                buffers=[AssetOut.of(a) for a in info.buffers],
            )
            for path, info in twin.index.lines.items()
        ]

    @app.get("/api/state", tags=["live"])
    async def state() -> StateOut:
        """Every station and buffer with its state and the latest value of each signal."""
        out = []
        for path, asset in twin.index.assets.items():
            status = twin.state.stations.get(path)
            out.append(
                AssetState(
                    id=asset.asset.id,
                    path=path,
                    kind=asset.kind,
                    name=asset.asset.name,
                    state=status.state.value if status else None,
                    state_since=to_iso(status.since) if status else None,
                    signals={
                        sid: SignalValue.of(twin.state.get(s.path), s.signal.unit) for sid, s in asset.signals.items()
                    },
                )
            )
        return StateOut(time=twin.clock.now(), assets=out)

    @app.get("/api/history", tags=["history"])
    async def history(
        signal: Annotated[str, Query(description="Signal path, e.g. acme/lyon/bottling/line1/filler/good_count")],
        start: Start = None,
        end: End = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> HistoryOut:
        """Stored samples of one signal, oldest first."""
        info = twin.index.signals.get(signal)
        if info is None:
            raise HTTPException(404, f"unknown signal '{signal}'; see /api/assets for signal paths")
        t0, t1 = time_window(twin.clock, start, end, 3600.0)
        rows = await twin.historian.query(signal, t0, t1, limit + 1)
        return HistoryOut(
            signal=signal,
            unit=info.signal.unit,
            start=datetime.fromtimestamp(t0, UTC),
            end=datetime.fromtimestamp(t1, UTC),
            points=[PointOut.of(s) for s in rows[:limit]],
            truncated=len(rows) > limit,
        )

    @app.get("/api/sources", tags=["operations"])
    async def sources() -> list[dict[str, Any]]:
        """Health of every source: connected, last seen, messages, samples, errors, reconnects."""
        return [c.health.as_dict() for c in twin.connectors.values()]

    app.include_router(analytics_router(twin))
    app.include_router(maintenance_router(twin))
    app.include_router(calibration_router(twin))
    app.include_router(whatif_router(twin))
    app.include_router(control_router(twin))
    app.include_router(tokens_router(twin))
    app.add_middleware(TokenGate, store=twin.security.tokens)  # every /api path but /api/health needs a token
    document_security(app)
    app.include_router(stream_router(twin))
    app.include_router(metrics_router(twin))
    app.include_router(history_router(twin))
    return app

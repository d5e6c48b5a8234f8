"""The WebSocket stream of live changes (``/api/stream``), filtered by a subtree of the plant.

Each client gets its own coalescing buffer (`factorytwin.core.changes.LatestValues`) filled by the
twin's change feed, which never waits on a client, and drained by the client's own sender task. A
client that reads slowly (or not at all) only holds up its own sender: while it is stalled its
buffer keeps the latest value of each signal, and it gets those when it reads again.

Each message is one JSON object: ``{"time": t, "samples": [...], "coalesced": n}`` where every
sample is ``{"signal", "value", "quality", "source_time", "receive_time"}`` (times in POSIX seconds)
plus ``"state"`` (e.g. ``"running"``) for a station's state signal, and ``coalesced`` counts the
samples this client did not get because a newer value of the same signal replaced them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, WebSocket

from ..core.changes import LatestValues, under
from ..events import Quality, Sample
from ..model import PlantIndex, Role, SignalInfo
from ..runtime import Twin

__all__ = ["UNKNOWN_PATH", "stream_router", "tree_paths"]

UNKNOWN_PATH = 4404  # WebSocket close code: the path names no part of the plant
_QUALITY = {q: q.name.lower() for q in Quality}


def tree_paths(index: PlantIndex) -> set[str]:
    """Every node of the ISA-95 tree: enterprise, site, area, line, asset and signal paths."""
    nodes: set[str] = set()
    for path in index.signals:
        parts = path.split("/")
        nodes.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    nodes.update(index.assets)
    nodes.update(index.lines)
    return nodes


def stream_router(twin: Twin) -> APIRouter:
    """The ``/api/stream`` WebSocket of a running twin."""
    router = APIRouter()
    nodes = tree_paths(twin.index)
    states = {path: info for path, info in twin.index.signals.items() if info.role is Role.STATE}

    @router.websocket("/api/stream")
    async def stream(
        ws: WebSocket,
        path: Annotated[str, Query(description="A subtree of the plant, e.g. acme/lyon/bottling/line1/filler")] = "",
        interval_ms: Annotated[int, Query(ge=0, le=60_000, description="At most one message per interval")] = 0,
    ) -> None:
        """Live samples under ``path``: the current values first, then every change (the latest, if behind)."""
        await ws.accept()
        prefix = path.strip("/")
        if prefix and prefix not in nodes:
            await ws.close(UNKNOWN_PATH, f"unknown path '{prefix}'; see /api/assets"[:120])
            return
        reader = twin.changes.open(prefix, _snapshot(twin, prefix))
        tasks = {
            asyncio.create_task(_send(ws, reader, states, twin, interval_ms / 1000)),
            asyncio.create_task(_until_closed(ws)),
        }
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            twin.changes.close(reader)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    return router


def _snapshot(twin: Twin, prefix: str) -> list[Sample]:
    """The live state under ``prefix`` as samples: what a new client sees first."""
    return [
        Sample(p, s.source_time, s.receive_time, s.value, s.quality)
        for p, s in twin.state.signals.items()
        if under(p, prefix)
    ]


async def _send(
    ws: WebSocket, reader: LatestValues, states: dict[str, SignalInfo], twin: Twin, interval_s: float
) -> None:
    """The client's sender: take what is pending, send it as one message, repeat."""
    while True:
        samples = await reader.take()
        await ws.send_text(_message(samples, states, reader.coalesced, twin.clock.now().timestamp()))
        if interval_s:
            await asyncio.sleep(interval_s)


async def _until_closed(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


def _message(samples: list[Sample], states: dict[str, SignalInfo], coalesced: int, now: float) -> str:
    items: list[dict[str, Any]] = []
    for s in samples:
        item: dict[str, Any] = {
            "signal": s.signal,
            "value": s.value,
            "quality": _QUALITY[s.quality],
            "source_time": s.source_time,
            "receive_time": s.receive_time,
        }
        info = states.get(s.signal)
        if info is not None and type(s.value) is int and s.quality.usable:
            item["state"] = info.state_of(s.value).value
        items.append(item)
    return orjson.dumps({"time": now, "samples": items, "coalesced": coalesced}).decode()

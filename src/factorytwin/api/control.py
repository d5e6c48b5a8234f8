"""Setpoint and audit endpoints: governed write-back (operator) and the audit log (engineer)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, StrictFloat, StrictInt

from ..clock import utc
from ..control import Preview, SetpointRefused, SetpointResult
from ..model.schema import WriteLimits
from ..runtime import Twin
from ..security import Principal, Role
from .auth import require

__all__ = ["REFUSAL_STATUS", "SetpointIn", "WritableOut", "control_router", "preview_out"]

# HTTP status of each refusal reason: the caller's mistake (4xx) or the plant's trouble (5xx)
REFUSAL_STATUS = {
    "forbidden": 403,
    "unknown": 404,
    "current_unknown": 409,
    "device": 409,
    "not_writable": 422,
    "type": 422,
    "limits": 422,
    "step": 422,
    "no_simulation": 422,
    "rate": 429,
    "disconnected": 503,
    "unconfirmed": 504,
}


class SetpointIn(BaseModel):
    """A setpoint to write (or only check, or try on the simulation first)."""

    signal: str = Field(description="Signal path, e.g. acme/lyon/bottling/line1/filler/speed")
    value: StrictFloat | StrictInt = Field(description="The new value, in the signal's unit")
    dry_run: bool = Field(False, description="Check limits (and simulate) but write nothing")
    simulate: bool = Field(False, description="Also try it on the simulation: throughput now vs after")


class WritableOut(BaseModel):
    """A writable signal with its limits and live value."""

    signal: str
    name: str | None
    unit: str | None
    source: str | None
    write: WriteLimits
    value: float | None
    simulate: bool


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def preview_out(p: Preview) -> dict[str, Any]:
    """A simulation preview as JSON: throughput now and after, the difference with its confidence interval."""
    c = p.comparison

    def est(e: Any) -> dict[str, Any]:
        return {"mean": _num(e.mean), "low": _num(e.low), "high": _num(e.high), "n": e.n, "level": e.level}

    return {
        "change": f"{p.change.target}.{p.change.param}={p.change.value:g}",
        "hours": p.hours,
        "replications": p.replications,
        "throughput_now": est(c.base.throughput),
        "throughput_after": est(c.other.throughput),
        "throughput_change": est(c.throughput),
        "bottleneck_now": c.base.bottleneck,
        "bottleneck_after": c.other.bottleneck,
    }


def _result_out(r: SetpointResult) -> dict[str, Any]:
    return {
        "signal": r.signal,
        "value": r.value,
        "old": r.old,
        "status": r.status,
        "confirmed_s": r.confirmed_s,
        "audit_id": r.audit_id,
        "simulation": preview_out(r.preview) if r.preview is not None else None,
    }


def control_router(twin: Twin) -> APIRouter:
    """Setpoints and the audit log of a running twin."""
    router = APIRouter(prefix="/api", tags=["control"])
    control = twin.control

    @router.get("/setpoints")
    async def setpoints() -> list[WritableOut]:
        """Every writable signal with its limits (min, max, max_step, max_rate) and live value."""
        out = []
        for s in control.writable():
            assert s.signal.write is not None
            out.append(
                WritableOut(
                    signal=s.path,
                    name=s.signal.name,
                    unit=s.signal.unit,
                    source=s.source,
                    write=s.signal.write,
                    value=control.current(s.path),
                    simulate=s.role.value == "speed",
                )
            )
        return out

    @router.post("/setpoints")
    async def submit(body: SetpointIn, who: Annotated[Principal, Depends(require(Role.VIEWER))]) -> dict[str, Any]:
        """Check a setpoint (operator) against the model's limits, write it through its source, confirm by reading back.

        Every attempt is audited, refused ones too (a viewer's is refused with 403 and recorded).

        With ``dry_run`` nothing is written; with ``simulate`` the answer includes what the simulation
        expects the change to do to the line's throughput. Refusals say why (``reason``) and which limit.
        """
        try:
            result = await control.submit(body.signal, body.value, who, dry_run=body.dry_run, simulate=body.simulate)
        except SetpointRefused as exc:
            headers = {"Retry-After": str(math.ceil(exc.retry_after_s))} if exc.retry_after_s else None
            status = REFUSAL_STATUS.get(exc.reason, 422)
            raise HTTPException(status, {"reason": exc.reason, "message": str(exc)}, headers=headers) from None
        return _result_out(result)

    @router.get("/audit")
    async def audit(
        who: Annotated[Principal, Depends(require(Role.ENGINEER))],
        start: Annotated[datetime | None, Query(description="ISO 8601; default everything")] = None,
        end: Annotated[datetime | None, Query(description="ISO 8601; default now")] = None,
        action: Annotated[
            str | None, Query(description="setpoint, token.create, token.revoke, alert.acknowledge")
        ] = None,
        target: Annotated[str | None, Query(description="A signal path, token id or alert id")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[dict[str, Any]]:
        """The audit log, newest first: who wrote what, the old and new value, and the result."""
        t0 = utc(start).timestamp() if start else 0.0
        t1 = utc(end).timestamp() if end else math.inf
        if t0 >= t1:
            raise HTTPException(422, "start must be before end")
        return [e.as_dict() for e in twin.security.audit.entries(t0, t1, action, target, limit)]

    return router

"""Simulation jobs over HTTP: what-if, commissioning, improvement ranking and buffer allocation.

``POST /api/whatif`` (and ``/api/commission``, ``/api/improve``, ``/api/buffers``) checks the
request, queues a job on the process's ``JobRunner`` and answers 202 with the job: its ``id``,
``status`` and ``progress``. ``GET /api/whatif/{id}`` (or ``/api/jobs/{id}`` for any kind) shows
how far it is and, once ``done``, its ``result``: the same document as the CLI's ``--json``. The
simulations run in worker processes, so the twin keeps serving live data meanwhile. Starting a
job needs the engineer role; reading jobs any valid token.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from ..errors import FactoryTwinError
from ..runtime import Twin
from ..security import Role
from ..sim.improve import DEFAULT_IMPROVEMENTS, Improvement
from ..sim.run import LineModel
from ..sim.trials import RunSettings
from ..whatif.jobs import JobRunner, JobsFull, Task, shared_runner
from ..whatif.tasks import allocation_task, commission_task, ranking_task, scenario_of, whatif_task
from .auth import require
from .params import line_info

__all__ = ["MAX_REPLICATION_HOURS", "BuffersIn", "CommissionIn", "ImproveIn", "RunIn", "WhatIfIn", "whatif_router"]

MAX_REPLICATION_HOURS = 2000.0  # hours x replications of one request: a sane bound on one job's size


class RunIn(BaseModel):
    """How long and how often to simulate, and which line (default: the first)."""

    model_config = ConfigDict(extra="forbid")

    line: str | None = Field(None, description="Line path, e.g. acme/lyon/bottling/line1")
    hours: float = Field(8.0, gt=0, le=168, description="Production hours per replication")
    replications: int = Field(10, ge=2, le=200)
    seed: int = Field(0, ge=0, le=2**31 - 1, description="The same seed gives the same random numbers")
    warmup_hours: float = Field(0.5, ge=0, description="Hours left out of the statistics at the start")


class WhatIfIn(RunIn):
    """A scenario: changes like ``filler.speed=1.1`` or ``b2.capacity=15``."""

    changes: list[str] = Field(min_length=1, max_length=20)


class CommissionIn(RunIn):
    """A line design against a target rate (default: the line's ``target_rate``)."""

    target: float | None = Field(None, gt=0, description="Good parts per hour")
    max_machines: int = Field(3, ge=0, le=10, description="Machines to try adding at the limiting station (0: skip)")


class ImproveIn(RunIn):
    """Standard improvements to rank at every station."""

    improvements: list[str] = Field(
        default_factory=lambda: [str(i) for i in DEFAULT_IMPROVEMENTS], min_length=1, max_length=10
    )


class BuffersIn(RunIn):
    """A budget of buffer places to share among the line's buffers."""

    budget: int = Field(ge=0, le=10_000)
    step: int | None = Field(None, ge=1, description="Places added per greedy step (default budget/16)")


Engineer = Depends(require(Role.ENGINEER))


def whatif_router(twin: Twin, runner: JobRunner | None = None) -> APIRouter:
    """The simulation job endpoints of a running twin (jobs on ``runner``, default the shared one)."""
    router = APIRouter(prefix="/api", tags=["simulation"])

    def jobs() -> JobRunner:
        return runner or shared_runner()

    def prepared(body: RunIn) -> tuple[LineModel, RunSettings]:
        info = line_info(twin.index, body.line)
        if body.hours * body.replications > MAX_REPLICATION_HOURS:
            raise HTTPException(422, f"hours x replications is at most {MAX_REPLICATION_HOURS:g} per job")
        try:
            settings = RunSettings(body.hours * 3600, body.replications, body.seed, body.warmup_hours * 3600)
        except FactoryTwinError as exc:
            raise HTTPException(422, str(exc)) from None
        return LineModel.of(info), settings

    def start(kind: str, body: RunIn, task: Task, unit: str = "runs") -> dict[str, Any]:
        try:
            job = jobs().submit(kind, task, body.model_dump(), unit)
        except JobsFull as exc:
            raise HTTPException(429, str(exc)) from None
        return job.as_dict()

    @router.post("/whatif", status_code=202, dependencies=[Engineer])
    async def whatif(body: WhatIfIn) -> dict[str, Any]:
        """Start a what-if: the scenario against the baseline on common random numbers."""
        model, settings = prepared(body)
        try:
            scenario = scenario_of(model, body.changes)
        except FactoryTwinError as exc:
            raise HTTPException(422, str(exc)) from None
        return start("whatif", body, partial(whatif_task, model, scenario, settings), "replications")

    @router.post("/commission", status_code=202, dependencies=[Engineer])
    async def commission(body: CommissionIn) -> dict[str, Any]:
        """Start a virtual commissioning of the line against a target rate."""
        model, settings = prepared(body)
        if body.target is None and model.line.target_rate is None:
            raise HTTPException(422, f"line '{model.line.id}' has no target_rate: give a target")
        return start("commission", body, partial(commission_task, model, body.target, body.max_machines, settings))

    @router.post("/improve", status_code=202, dependencies=[Engineer])
    async def improve(body: ImproveIn) -> dict[str, Any]:
        """Start a ranking of which station to improve first."""
        model, settings = prepared(body)
        try:
            chosen = tuple(Improvement.parse(text) for text in body.improvements)
        except FactoryTwinError as exc:
            raise HTTPException(422, str(exc)) from None
        return start("improve", body, partial(ranking_task, model, chosen, settings))

    @router.post("/buffers", status_code=202, dependencies=[Engineer])
    async def buffers(body: BuffersIn) -> dict[str, Any]:
        """Start a search for the best allocation of a budget of buffer places."""
        model, settings = prepared(body)
        if model.line.pallets is not None and body.budget + len(model.line.stations) <= model.line.pallets:
            raise HTTPException(422, f"{body.budget} places leave no room for the loop's {model.line.pallets} pallets")
        return start("buffers", body, partial(allocation_task, model, body.budget, body.step, settings))

    def one(job_id: str, kind: str | None) -> dict[str, Any]:
        job = jobs().get(job_id)
        if job is None or (kind is not None and job.kind != kind):
            raise HTTPException(404, f"no {kind or 'simulation'} job '{job_id}'")
        return job.as_dict()

    @router.get("/whatif")
    async def whatif_jobs() -> list[dict[str, Any]]:
        """The what-if jobs kept, newest first (without their results)."""
        return [j.as_dict(with_result=False) for j in jobs().jobs("whatif")]

    @router.get("/whatif/{job_id}")
    async def whatif_job(job_id: str) -> dict[str, Any]:
        """A what-if job: status, progress in replications, and the comparison once done."""
        return one(job_id, "whatif")

    @router.get("/jobs")
    async def all_jobs(
        kind: Annotated[str | None, Query(description="whatif, commission, improve or buffers")] = None,
    ) -> list[dict[str, Any]]:
        """Every simulation job kept, newest first (without results)."""
        return [j.as_dict(with_result=False) for j in jobs().jobs(kind)]

    @router.get("/jobs/{job_id}")
    async def job(job_id: str) -> dict[str, Any]:
        """A simulation job of any kind, with its result once done."""
        return one(job_id, None)

    @router.delete("/jobs/{job_id}", dependencies=[Engineer])
    async def cancel(job_id: str) -> dict[str, Any]:
        """Cancel a queued job (409 when it already runs or has finished)."""
        found = one(job_id, None)
        if not jobs().cancel(job_id):
            raise HTTPException(409, f"job '{job_id}' is {found['status']}: only a queued job can be cancelled")
        return one(job_id, None)

    return router

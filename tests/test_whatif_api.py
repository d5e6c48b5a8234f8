"""Simulation jobs over the HTTP API of a running twin: what-if, commissioning, ranking, buffers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from factorytwin.api import create_app
from factorytwin.model import PlantIndex
from factorytwin.runtime import Twin
from factorytwin.sim import Change, LineModel, Scenario, compare, run
from factorytwin.sim.trials import RunSettings
from factorytwin.whatif import JobRunner, JobsFull, shared_runner, whatif_task

from .conftest import LINE, ROOT, bearer

SHORT = {"hours": 0.5, "warmup_hours": 0.1, "replications": 3, "seed": 4}


@pytest.fixture
async def api(twin: Twin) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(twin))
    async with httpx.AsyncClient(transport=transport, base_url="http://twin", timeout=30) as client:
        yield client


async def finished(job: dict[str, Any]) -> None:
    """Wait for a job started through the API (same process: the shared runner) to finish."""
    done = await shared_runner().wait(job["id"], timeout=240)
    assert done.status == "done", done.error


async def test_whatif_job_runs_off_the_event_loop_and_matches_the_same_run_in_process(
    api: httpx.AsyncClient, tokens: dict[str, str], twin: Twin
) -> None:
    engineer = bearer(tokens["engineer"])
    body = {"changes": ["filler.speed=1.2"], "line": LINE, **SHORT}
    started = await api.post("/api/whatif", json=body, headers=engineer)
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["status"] in ("queued", "running")
    assert job["progress"]["unit"] == "replications"

    gaps: list[float] = []

    async def ticker() -> None:  # how late the event loop wakes while the job runs
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            gaps.append(time.perf_counter() - t)

    tick = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    await finished(job)
    elapsed = time.perf_counter() - t0
    tick.cancel()
    # the simulation ran in another process: the twin's loop kept ticking (at least half of its 10 ms ticks)
    # and never stalled, however long the job took (a warm pool finishes it in tens of milliseconds)
    assert len(gaps) >= int(0.5 * elapsed / 0.01), (elapsed, gaps)
    assert max(gaps, default=0.0) < 1.0

    doc = (await api.get(f"/api/whatif/{job['id']}", headers=bearer(tokens["viewer"]))).json()
    assert doc["status"] == "done"
    assert doc["progress"] == {"done": 6, "total": 6, "unit": "replications", "fraction": 1.0}
    result = doc["result"]
    assert result["changes"] == ["filler.speed=1.2"]
    model = LineModel.of(twin.index.lines[LINE])
    base = run(model, 1800, 3, 4, warmup=360)
    other = run(Scenario("s", (Change.parse("filler.speed=1.2"),)).apply(model), 1800, 3, 4, warmup=360)
    expected = compare(base, other)
    assert result["difference"]["throughput_per_h"]["mean"] == pytest.approx(expected.throughput.mean, rel=1e-12)
    assert result["bottleneck_moved"] == expected.bottleneck_moved
    assert result["baseline"]["bottleneck"] == "filler"

    listed = (await api.get("/api/whatif", headers=engineer)).json()
    assert job["id"] in [j["id"] for j in listed]
    assert all("result" not in j for j in listed)


async def test_commission_improve_and_buffers_run_as_jobs_and_bad_requests_get_clear_reasons(
    api: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    engineer = bearer(tokens["engineer"])
    requests = {
        "/api/commission": {"target": 600},
        "/api/improve": {"improvements": ["speed=1.2"]},
        "/api/buffers": {"budget": 40, "step": 10},
    }
    jobs = {}
    for path, body in requests.items():
        response = await api.post(path, json={**SHORT, **body}, headers=engineer)
        assert response.status_code == 202, response.text
        jobs[path] = response.json()

    async def post(path: str, body: dict[str, Any], who: dict[str, str] = engineer) -> httpx.Response:
        return await api.post(path, json={**SHORT, **body}, headers=who)

    bad = await post("/api/whatif", {"changes": ["filler.speed"]})
    assert bad.status_code == 422
    assert "expected target.param=number" in bad.json()["detail"]
    unknown = await post("/api/whatif", {"changes": ["welder.speed=2"]})
    assert unknown.status_code == 422
    assert "welder" in unknown.json()["detail"]
    invalid = await post("/api/whatif", {"changes": ["b1.capacity=-3"]})
    assert invalid.status_code == 422
    assert (
        await post("/api/whatif", {"changes": ["filler.speed=2"], "hours": 100, "replications": 100})
    ).status_code == 422
    assert (await post("/api/whatif", {"changes": ["filler.speed=2"], "replications": 1})).status_code == 422
    assert (await post("/api/whatif", {"changes": ["filler.speed=2"], "line": "x/y"})).status_code == 404
    assert (await post("/api/improve", {"improvements": ["wings=2"]})).status_code == 422
    assert (await post("/api/buffers", {"budget": -1})).status_code == 422
    viewer = await post("/api/whatif", {"changes": ["filler.speed=2"]}, bearer(tokens["viewer"]))
    assert viewer.status_code == 403  # starting simulations needs the engineer role
    assert (await api.get("/api/whatif/whatif-0-nope", headers=engineer)).status_code == 404

    for job in jobs.values():
        await finished(job)
    docs = {path: (await api.get(f"/api/jobs/{job['id']}", headers=engineer)).json() for path, job in jobs.items()}
    assert docs["/api/commission"]["result"]["verdict"] == "meets"
    assert docs["/api/commission"]["result"]["limiting"] == "filler"
    assert docs["/api/improve"]["result"]["gains"][0]["change"] == "filler.speed=1.2"
    assert docs["/api/buffers"]["result"]["best"]["total"] == 40
    assert all(d["progress"]["done"] == d["progress"]["total"] > 0 for d in docs.values())
    kinds = {j["kind"] for j in (await api.get("/api/jobs", headers=engineer)).json()}
    assert {"commission", "improve", "buffers"} <= kinds
    finished_job = jobs["/api/buffers"]["id"]
    assert (await api.delete(f"/api/jobs/{finished_job}", headers=engineer)).status_code == 409  # only queued ones


def crash(progress: object) -> dict[str, Any]:
    """A task whose worker process dies."""
    os._exit(3)


async def test_the_runner_bounds_its_jobs_and_cancels_queued_ones(index: PlantIndex) -> None:
    model = LineModel.of(index.lines[LINE])
    scenario = Scenario("s", (Change.parse("filler.speed=1.1"),))
    task = partial(whatif_task, model, scenario, RunSettings(1800, 2, 0, 300))
    runner = JobRunner(workers=1, max_pending=2)
    try:
        first = runner.submit("whatif", task, {}, "replications")
        second = runner.submit("whatif", task, {}, "replications")
        with pytest.raises(JobsFull, match="try again"):
            runner.submit("whatif", task, {}, "replications")
        assert runner.cancel(second.id)
        assert second.status == "cancelled"
        done = await runner.wait(first.id, timeout=240)
        assert done.status == "done", done.error
        assert done.result is not None
        assert done.result["scenario"]["throughput_per_h"]["mean"] > done.result["baseline"]["throughput_per_h"]["mean"]
        assert [j.id for j in runner.jobs()] == [second.id, first.id]
        died = await runner.wait(runner.submit("crash", crash, {}).id, timeout=60)
        assert died.status == "failed"
        assert "worker died" in (died.error or "")
        again = await runner.wait(runner.submit("whatif", task, {}, "replications").id, timeout=240)
        assert again.status == "done", again.error  # a fresh pool took over
    finally:
        runner.close()


def long_task(index: PlantIndex) -> partial[dict[str, Any]]:
    """A what-if that runs for minutes: 2000 simulated hours on the example line."""
    model = LineModel.of(index.lines[LINE])
    scenario = Scenario("s", (Change.parse("filler.speed=1.1"),))
    return partial(whatif_task, model, scenario, RunSettings(2000 * 3600, 2, 0, 300))


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting to be reaped counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def test_closing_the_runner_stops_a_running_job_at_once(index: PlantIndex) -> None:
    runner = JobRunner(workers=1, max_pending=2)
    job = runner.submit("whatif", long_task(index), {}, "replications")
    queued = runner.submit("whatif", long_task(index), {}, "replications")
    deadline = time.monotonic() + 60
    while job.status != "running":
        assert time.monotonic() < deadline, job.status
        await asyncio.sleep(0.05)
    t0 = time.monotonic()
    runner.close()  # what a twin shutting down does
    assert time.monotonic() - t0 < 5
    assert job.status == "failed"
    assert "stopped" in (job.error or "")
    assert queued.status == "cancelled"


def test_workers_end_when_their_twin_process_is_killed() -> None:
    """The twin's process dies by SIGKILL (no shutdown runs) while a job runs: its worker exits on its own."""
    script = """
import os, signal, time
from factorytwin.cli import example_path
from factorytwin.model import PlantIndex, load_model
from tests.test_whatif_api import long_task
from factorytwin.whatif import JobRunner
runner = JobRunner(workers=1, max_pending=1)
job = runner.submit("whatif", long_task(PlantIndex(load_model(example_path()))), {}, "replications")
while job.status != "running":
    time.sleep(0.05)
print(*[p.pid for p in runner._pool._processes.values()], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    workers = [int(pid) for pid in proc.stdout.split()]
    assert workers, proc.stderr
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} outlived their killed twin process"
        time.sleep(0.1)

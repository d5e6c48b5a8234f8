"""Simulation jobs off the event loop: a bounded process pool, live progress, results kept for reading.

A simulation holds the CPU (and the numba kernels hold the GIL) for seconds, so jobs run in worker
*processes*, never in the twin's process: its event loop keeps serving live data meanwhile. At most
``workers`` jobs run at once (the others wait, cancellable, in the runner's own queue) and at most
``max_pending`` are queued or running; one more is refused (``JobsFull``) instead of piling up. A
task reports progress through a callback, which the worker forwards over a queue to a listener
thread that updates the job; the API and the dashboard read jobs from the same ``JobRunner``
(``shared_runner()``) in the twin's process.

A task is a picklable callable taking the progress callback and returning a JSON-able dict (the
functions of ``tasks.py`` with their arguments bound by ``functools.partial``).
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import FactoryTwinError

__all__ = ["Job", "JobRunner", "JobsFull", "Status", "Task", "close_shared_runner", "shared_runner"]

Status = Literal["queued", "running", "done", "failed", "cancelled"]
ProgressCallback = Callable[[int, int], None]
Task = Callable[[ProgressCallback], dict[str, Any]]

_queue: Any = None  # in a worker process: where progress goes


class JobsFull(FactoryTwinError):
    """Too many jobs queued or running; try again when one has finished."""


@dataclass(slots=True)
class Job:
    """One simulation job: what it does, how far it is, and its result or error when finished."""

    id: str
    kind: str
    params: dict[str, Any]
    unit: str  # what progress counts: "replications" or "runs"
    created: float
    status: Status = "queued"
    done: int = 0
    total: int = 0
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    finished_event: threading.Event = field(default_factory=threading.Event, repr=False)
    future: Future[dict[str, Any]] | None = field(default=None, repr=False)

    def as_dict(self, with_result: bool = True) -> dict[str, Any]:
        """The job as JSON: status, progress and (when asked and finished) the result."""
        doc = {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "params": self.params,
            "progress": {
                "done": self.done,
                "total": self.total,
                "unit": self.unit,
                "fraction": min(self.done / self.total, 1.0) if self.total else 0.0,
            },
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "error": self.error,
        }
        if with_result:
            doc["result"] = self.result
        return doc


def _init_worker(queue: Any) -> None:
    global _queue
    _queue = queue
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose twin process is gone (killed: no shutdown reached it) ends too, instead of waiting forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _execute(job_id: str, task: Task) -> dict[str, Any]:
    """Run a task in a worker process, forwarding its progress."""
    _queue.put((job_id, 0, 0))

    def progress(done: int, total: int) -> None:
        _queue.put((job_id, done, total))

    return task(progress)


class JobRunner:
    """Runs tasks in a pool of worker processes; keeps the last ``keep`` jobs for reading."""

    def __init__(self, workers: int | None = None, max_pending: int = 8, keep: int = 100) -> None:
        self.workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self.max_pending, self.keep = max_pending, keep
        self._context = multiprocessing.get_context("spawn")  # a fork of a threaded process can deadlock
        self._queue = self._context.Queue()
        self._pool = self._new_pool()
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[tuple[Job, Task]] = deque()
        self._running = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._listener = threading.Thread(target=self._listen, name="whatif-progress", daemon=True)
        self._listener.start()
        self._closed = False

    def submit(self, kind: str, task: Task, params: dict[str, Any], unit: str = "runs") -> Job:
        """Queue a task; raises ``JobsFull`` when ``max_pending`` jobs are queued or running."""
        with self._lock:
            if self._closed:
                raise FactoryTwinError("the job runner is closed")
            pending = sum(1 for j in self._jobs.values() if j.status in ("queued", "running"))
            if pending >= self.max_pending:
                raise JobsFull(f"{pending} simulation jobs are queued or running; try again when one has finished")
            job = Job(f"{kind}-{next(self._ids)}-{os.urandom(3).hex()}", kind, params, unit, time.time())
            self._jobs[job.id] = job
            self._waiting.append((job, task))
            self._forget_old()
        self._dispatch()
        return job

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, self._context, initializer=_init_worker, initargs=(self._queue,))

    def _dispatch(self) -> None:
        """Hand queued jobs to the pool while fewer than ``workers`` run (the rest stay cancellable)."""
        with self._lock:
            while self._waiting and self._running < self.workers and not self._closed:
                job, task = self._waiting.popleft()
                self._running += 1
                job.future = self._pool.submit(_execute, job.id, task)
                job.future.add_done_callback(lambda f, job=job: self._finish(job, f))  # type: ignore[misc]

    def get(self, job_id: str) -> Job | None:
        """A job by id, or None (unknown, or forgotten among older finished jobs)."""
        return self._jobs.get(job_id)

    def jobs(self, kind: str | None = None) -> list[Job]:
        """The jobs kept, newest first (only those of ``kind`` when given)."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in reversed(jobs) if kind is None or j.kind == kind]

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job (a running one runs to its end); True when it was cancelled."""
        with self._lock:
            queued = [(j, t) for j, t in self._waiting if j.id == job_id]
            if not queued:
                return False
            self._waiting.remove(queued[0])
        self._settle(queued[0][0], "cancelled")
        return True

    async def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Wait (without blocking the event loop) until a job has finished; returns it."""
        job = self._jobs[job_id]
        await asyncio.to_thread(job.finished_event.wait, timeout)
        return job

    def close(self) -> None:
        """Stop the workers and the progress listener: queued jobs are cancelled, running ones stopped (failed)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiting, self._waiting = list(self._waiting), deque()
        for job, _ in waiting:
            self._settle(job, "cancelled")
        terminate = getattr(self._pool, "terminate_workers", None)  # Python 3.14 and later
        if terminate is not None:
            terminate()
        else:  # the pool's own process handles: a running simulation must not hold up the twin's shutdown
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._queue.put(None)
        self._listener.join(5)

    def _listen(self) -> None:
        while (message := self._queue.get()) is not None:
            job_id, done, total = message
            job = self._jobs.get(job_id)
            if job is None or job.status not in ("queued", "running"):
                continue
            if job.status == "queued":
                job.status, job.started = "running", time.time()
            job.done, job.total = done, max(total, job.total)

    def _finish(self, job: Job, future: Future[dict[str, Any]]) -> None:
        with self._lock:
            self._running -= 1
        if future.cancelled():
            self._settle(job, "cancelled")
        elif (exc := future.exception()) is not None:
            error = str(exc) if isinstance(exc, FactoryTwinError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, BrokenProcessPool) and self._closed:
                error = "stopped: the job runner was closed (the twin shut down)"
            elif isinstance(exc, BrokenProcessPool):  # a worker died (killed, out of memory): start afresh
                error = f"the simulation worker died ({exc})"
                with self._lock:
                    if not self._closed:
                        broken, self._pool = self._pool, self._new_pool()
                        broken.shutdown(wait=False)
            self._settle(job, "failed", error=error)
        else:
            job.done = job.total = max(job.total, job.done, 1)
            self._settle(job, "done", future.result())
        self._dispatch()

    @staticmethod
    def _settle(job: Job, status: Status, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        job.result, job.error, job.finished = result, error, time.time()
        job.status = status
        job.finished_event.set()

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.status not in ("queued", "running")]
        for job in finished[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[job.id]


_shared: JobRunner | None = None
_shared_lock = threading.Lock()


def close_shared_runner() -> None:
    """Close the process's job runner if one was made (a twin shutting down; atexit does it otherwise)."""
    global _shared
    with _shared_lock:
        runner, _shared = _shared, None
    if runner is not None:
        runner.close()


def shared_runner() -> JobRunner:
    """The process's job runner (created on first use, closed at exit): the API and dashboard share it."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = JobRunner()
            atexit.register(_shared.close)
        return _shared

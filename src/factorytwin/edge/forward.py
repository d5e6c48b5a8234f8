"""Store-and-forward: a connector hands batches to a Forwarder, which never makes it wait long.

While the downstream (the twin's ingest) keeps up, a batch goes straight through. When it fails,
takes longer than ``slow_after_s``, or says it is backlogged, batches go to the on-disk queue
(:class:`~factorytwin.edge.spool.SpoolStore`), behind whatever already waits there, and a
background task replays the queue in order, retrying with backoff while the downstream fails.
Up to ``capacity`` samples (queued plus the one batch in flight) nothing is lost; beyond it the
excess of each batch is counted as dropped and logged, never lost silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeVar

from ..events import Sample
from .pipeline import Sink
from .spool import SpoolError, SpoolStore

__all__ = ["Counters", "Forwarder", "SpoolStats"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Counters(Protocol):
    """Where a forwarder reports its depth and losses as they change (a connector's SourceHealth fits)."""

    queued: int
    dropped: int


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """Store-and-forward counts, in samples (``slow`` and ``errors`` in deliveries)."""

    queued: int
    dropped: int
    spilled: int
    replayed: int
    forwarded: int
    slow: int
    errors: int
    failing: bool
    last_error: str | None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return {f: getattr(self, f) for f in self.__slots__}


class Forwarder:
    """Sits between a connector and its downstream sink: pass through, or queue on disk and replay in order."""

    def __init__(
        self,
        downstream: Sink,
        directory: str | Path,
        capacity: int = 1_000_000,
        *,
        name: str = "spool",
        slow_after_s: float = 0.5,
        retry_min_s: float = 0.5,
        retry_max_s: float = 30.0,
        replay_samples: int = 10_000,
        backlogged: Callable[[], bool] | None = None,
        health: Counters | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1 sample")
        self.name = name
        self.directory = Path(directory)
        self.capacity = capacity
        self._downstream = downstream
        self._slow_after = slow_after_s
        self._retry = (retry_min_s, retry_max_s)
        self._delay = retry_min_s
        self._replay_samples = replay_samples
        self._backlogged = backlogged
        self.health = health
        self._store: SpoolStore | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: tuple[asyncio.Future[None], list[Sample]] | None = None
        self._depth = 0  # samples on disk, or on their way there
        self._reserved = 0  # samples of the batch in flight: they count against capacity until delivered
        self._failing = self._overflowing = self._stopping = False
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._idle = asyncio.Event()
        self._dropped = self._spilled = self._replayed = self._forwarded = self._slow = self._errors = 0
        self._last_error: str | None = None

    async def __aenter__(self) -> Forwarder:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def queued(self) -> int:
        """Samples waiting in the disk queue."""
        return self._depth

    async def open(self) -> None:
        """Open (or reopen) the disk queue and start replaying what it holds."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"spool-{self.name}")
        directory = self.directory
        try:
            self._store = store = await self._run(lambda: SpoolStore(directory))
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        self._depth = store.samples
        self._sync()
        if self._depth:
            _log.warning("spool %s: replaying %d samples queued before the restart", self.name, self._depth)
        self._update_idle()
        self._task = asyncio.create_task(self._drain(), name=f"spool-{self.name}")

    async def close(self, timeout: float = 5.0) -> None:
        """Stop replaying, settle the batch in flight (queued again if it fails), close the file."""
        if self._store is None:
            return
        self._stopping = True
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await _finish(self._task, timeout)
        if self._inflight is not None:
            future, batch = self._inflight
            await _finish(future, timeout)
            await self._settle(future, batch)  # cancelled counts as failed: it is queued, delivered at least once
        store, self._store = self._store, None
        await self._run(store.close)
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    async def put(self, batch: list[Sample]) -> None:
        """Hand a batch on: directly while the downstream keeps up, else to the disk queue behind what waits."""
        if not batch:
            return
        if self._store is None or self._stopping:
            raise SpoolError(f"spool {self.name} is not open")
        if self._inflight is None and not self._depth and not self._failing and not self._is_backlogged():
            await self._direct(batch)
        else:
            await self._spill(batch, front=False)

    async def drained(self) -> None:
        """Wait until the queue is empty and nothing is in flight."""
        await self._idle.wait()

    def stats(self) -> SpoolStats:
        """The counts so far (``queued`` is the current depth)."""
        return SpoolStats(
            queued=self._depth,
            dropped=self._dropped,
            spilled=self._spilled,
            replayed=self._replayed,
            forwarded=self._forwarded,
            slow=self._slow,
            errors=self._errors,
            failing=self._failing,
            last_error=self._last_error,
        )

    # ------------------------------------------------------------------ delivery

    async def _direct(self, batch: list[Sample]) -> None:
        try:
            future = asyncio.ensure_future(self._downstream(batch))
        except Exception as exc:  # the sink failed before it could even start
            self._failed(exc)
            await self._spill(batch, front=True)
            return
        self._inflight, self._reserved = (future, batch), len(batch)
        self._idle.clear()
        await asyncio.sleep(0)  # one loop step: a downstream that does not have to wait is done by now
        if not future.done():
            done, _ = await asyncio.wait({future}, timeout=self._slow_after)
            if not done:
                self._slow += 1  # the downstream is slow: this batch stays in flight, the next ones go to disk
                self._wake.set()
                return
        await self._settle(future, batch)

    async def _settle(self, future: asyncio.Future[None], batch: list[Sample]) -> None:
        if self._inflight is None or self._inflight[0] is not future:
            return  # settled already (by put or by the replay task)
        self._inflight, self._reserved = None, 0
        exc = ConnectionError("delivery cancelled") if future.cancelled() else future.exception()
        if exc is None:
            self._forwarded += len(batch)
            self._update_idle()
            return
        self._failed(exc)
        await self._spill(batch, front=True)

    async def _spill(self, batch: list[Sample], front: bool) -> None:
        room = max(0, self.capacity - self._depth - self._reserved)
        keep = batch if len(batch) <= room else batch[:room]
        if len(keep) < len(batch):
            self._drop(len(batch) - len(keep), f"the queue is full ({self.capacity} samples)")
        if not keep:
            return
        store = self._store
        assert store is not None
        self._depth += len(keep)
        self._spilled += len(keep)
        self._sync()
        self._idle.clear()
        write = self._run(lambda: store.push_front(keep) if front else store.append(keep))
        write.add_done_callback(lambda done: self._written(done, len(keep)))
        self._wake.set()
        await asyncio.wait({write})  # a cancelled put does not cancel the write

    def _written(self, write: asyncio.Future[None], count: int) -> None:
        exc = None if write.cancelled() else write.exception()
        if exc is None:
            return
        _log.error("spool %s: %s", self.name, exc)  # the disk refused: those samples are lost, and counted
        self._depth -= count
        self._spilled -= count
        self._drop(count, "the disk refused them")
        self._sync()
        self._update_idle()

    async def _drain(self) -> None:
        while not self._stopping:
            inflight = self._inflight
            if inflight is not None:
                await asyncio.wait({inflight[0]})
                await self._settle(*inflight)
                continue
            if not self._depth:
                self._update_idle()
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._replay()
            except SpoolError as exc:  # the disk failed: keep the queue, try again later
                self._failed(exc)
                await self._pause()

    async def _replay(self) -> None:
        store = self._store
        assert store is not None
        chunk = await self._run(lambda: store.peek(self._replay_samples))
        if chunk is None:  # a write is still on its way, or failed
            self._wake.clear()
            await self._wake.wait()
            return
        if chunk.samples:
            try:
                await self._downstream(chunk.samples)
            except Exception as exc:
                self._failed(exc)
                await self._pause()
                return
        await self._run(lambda: store.pop(chunk))
        self._depth -= len(chunk.samples) + chunk.lost
        self._replayed += len(chunk.samples)
        if chunk.lost:
            self._drop(chunk.lost, "they could not be read back")
        self._recovered()
        self._sync()
        self._update_idle()

    # ------------------------------------------------------------------ bookkeeping

    def _failed(self, exc: BaseException) -> None:
        self._errors += 1
        self._last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not self._failing:
            _log.warning("spool %s: downstream failed (%s); queueing on disk", self.name, self._last_error)
        self._failing = True

    def _recovered(self) -> None:
        self._delay = self._retry[0]
        if self._failing:
            _log.warning("spool %s: downstream recovered; %d samples still queued", self.name, self._depth)
        self._failing = False

    def _drop(self, count: int, reason: str) -> None:
        self._dropped += count
        if self.health is not None:
            self.health.dropped += count
        if not self._overflowing:
            _log.warning("spool %s: dropping %d samples: %s (counted as dropped)", self.name, count, reason)
            self._overflowing = True

    async def _pause(self) -> None:
        delay, self._delay = self._delay, min(self._delay * 2, self._retry[1])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)

    def _sync(self) -> None:
        if self.health is not None:
            self.health.queued = self._depth

    def _update_idle(self) -> None:
        if not self._depth and self._inflight is None:
            self._idle.set()
            if self._overflowing:
                _log.warning("spool %s: queue empty again; %d samples dropped so far", self.name, self._dropped)
                self._overflowing = False
        else:
            self._idle.clear()

    def _is_backlogged(self) -> bool:
        return self._backlogged is not None and self._backlogged()

    def _run(self, call: Callable[[], _T]) -> asyncio.Future[_T]:
        return asyncio.get_running_loop().run_in_executor(self._executor, call)


async def _finish(future: asyncio.Future[None], timeout: float) -> None:
    """Wait for a task or future up to ``timeout``, then cancel it and wait for the cancellation."""
    done, _ = await asyncio.wait({future}, timeout=timeout)
    if not done:
        future.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({future})
    if not future.cancelled() and (exc := future.exception()) is not None and isinstance(future, asyncio.Task):
        _log.error("%s ended with an error", future.get_name(), exc_info=exc)

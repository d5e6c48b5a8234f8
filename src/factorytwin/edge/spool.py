"""The on-disk queue of store-and-forward: a FIFO of sample batches in one SQLite file (WAL mode).

One row per batch (``seq`` orders them, ``count`` is its number of samples, ``data`` the batch in
the :mod:`~factorytwin.edge.codec` format). Appends take the next ``seq``; a batch whose delivery
failed goes back to the front with a ``seq`` below the first. Every change is one transaction, so a
crash leaves whole batches or none. The store is synchronous: the :class:`~factorytwin.edge.Forwarder`
calls it from one worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FactoryTwinError
from ..events import Sample
from .codec import decode_batch, encode_batch

__all__ = ["Chunk", "SpoolError", "SpoolStore"]

_log = logging.getLogger(__name__)

FORMAT = 1
ROW_SAMPLES = 50_000  # a larger batch is stored as several rows

_SCHEMA = "CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY, count INTEGER NOT NULL, data BLOB NOT NULL)"


class SpoolError(FactoryTwinError):
    """The store-and-forward queue could not be opened, read or written."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Batches read from the front of the queue: their samples, in order, and the rows they span."""

    first: int
    last: int
    samples: list[Sample] = field(default_factory=list)
    rows: int = 0
    lost: int = 0  # samples of rows that could not be decoded (counted, then removed with the chunk)


class SpoolStore:
    """A FIFO of sample batches in ``<directory>/spool.sqlite3``; ``samples`` and ``rows`` give its depth."""

    FILE = "spool.sqlite3"

    def __init__(self, directory: str | Path) -> None:
        folder = Path(directory)
        self.path = folder / self.FILE
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(f"cannot open the spool {self.path}: {exc}") from exc
        try:
            self._setup()
        except SpoolError:
            self._db.close()
            raise
        except sqlite3.Error as exc:
            self._db.close()
            raise SpoolError(f"cannot open the spool {self.path}: {exc}") from exc

    def _setup(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, FORMAT):
            raise SpoolError(f"{self.path} has spool format {version}; this version reads format {FORMAT}")
        db.execute(_SCHEMA)
        db.execute(f"PRAGMA user_version={FORMAT}")
        self.samples, self.rows = db.execute("SELECT COALESCE(SUM(count), 0), COUNT(*) FROM batches").fetchone()

    def append(self, batch: list[Sample]) -> None:
        """Add a batch at the back of the queue."""
        rows = [(len(part), encode_batch(part)) for part in _split(batch)]
        self._write("INSERT INTO batches (count, data) VALUES (?, ?)", rows)

    def push_front(self, batch: list[Sample]) -> None:
        """Put a batch back at the front of the queue (its delivery failed; it is older than what waits)."""
        rows = [(len(part), encode_batch(part)) for part in reversed(_split(batch))]
        sql = "INSERT INTO batches (seq, count, data) VALUES ((SELECT COALESCE(MIN(seq), 1) - 1 FROM batches), ?, ?)"
        self._write(sql, rows)

    def peek(self, max_samples: int) -> Chunk | None:
        """Read the oldest batches, at least one and up to about ``max_samples``; None when empty."""
        try:
            cursor = self._db.execute("SELECT seq, count, data FROM batches ORDER BY seq")
            first = last = None
            samples: list[Sample] = []
            rows = lost = 0
            for seq, count, data in cursor:
                if rows and len(samples) + count > max_samples:
                    break
                first = seq if first is None else first
                last, rows = seq, rows + 1
                try:
                    samples.extend(decode_batch(data))
                except ValueError as exc:
                    _log.error("spool %s: row %d (%d samples) is unreadable: %s", self.path, seq, count, exc)
                    lost += count
            cursor.close()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot read the spool {self.path}: {exc}") from exc
        if first is None or last is None:
            return None
        return Chunk(first, last, samples, rows, lost)

    def pop(self, chunk: Chunk) -> None:
        """Remove the rows of a chunk read with :meth:`peek` (it was delivered)."""
        self._execute("DELETE FROM batches WHERE seq BETWEEN ? AND ?", (chunk.first, chunk.last))
        self.samples -= len(chunk.samples) + chunk.lost
        self.rows -= chunk.rows

    def close(self) -> None:
        """Checkpoint the write-ahead log and close the file."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # closing anyway: the WAL is replayed on the next open
            _log.warning("spool %s: checkpoint failed: %s", self.path, exc)
        self._db.close()

    def _write(self, sql: str, rows: list[tuple[int, bytes]]) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    db.execute(sql, row)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot write to the spool {self.path}: {exc}") from exc
        self.samples += sum(count for count, _ in rows)
        self.rows += len(rows)

    def _execute(self, sql: str, params: tuple[int, int]) -> None:
        try:
            self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot write to the spool {self.path}: {exc}") from exc


def _split(batch: list[Sample]) -> list[list[Sample]]:
    if len(batch) <= ROW_SAMPLES:
        return [batch]
    return [batch[i : i + ROW_SAMPLES] for i in range(0, len(batch), ROW_SAMPLES)]

"""The security database: one SQLite file (or memory) holding the token hashes and the audit log.

SQLite, not the historian: ``factorytwin token create`` must work while the twin runs, and DuckDB
lets only one process open a file for writing. SQLite in WAL mode lets the CLI and the twin share it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..clock import Clock, SystemClock
from ..errors import FactoryTwinError
from .audit import AuditLog
from .tokens import TokenStore

__all__ = ["Security"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    revoked REAL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    who TEXT NOT NULL,
    role TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    old TEXT,
    new TEXT,
    result TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
"""


class Security:
    """The token store and the audit log over one database (``:memory:`` keeps nothing)."""

    def __init__(self, path: str | Path = ":memory:", clock: Clock | None = None) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # every call runs on the event loop's thread; the flag only lets tests and tools share it
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5.0)
            if self.path != ":memory:":
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")  # an audit entry survives a power cut
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise FactoryTwinError(f"cannot open the security database {self.path}: {exc}") from exc
        self.tokens = TokenStore(self.db, clock or SystemClock())
        self.audit = AuditLog(self.db, clock or SystemClock())

    def close(self) -> None:
        """Close the database."""
        self.db.close()

"""The audit log: every write (setpoint, token change, acknowledgement) with who, what, old/new value and result."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from ..clock import Clock

__all__ = ["AuditEntry", "AuditLog"]

_COLUMNS = "id, time, who, role, action, target, old, new, result, detail"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded write."""

    id: int
    time: float
    who: str
    role: str | None
    action: str  # setpoint, token.create, token.revoke, alert.acknowledge
    target: str  # a signal path, a token id, an alert id
    old: Any
    new: Any
    result: str  # ok, refused, failed, unconfirmed, dry_run
    detail: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


class AuditLog:
    """Appends audit entries to the security database (committed at once) and reads them back."""

    def __init__(self, db: sqlite3.Connection, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        who: str,
        role: str | None,
        action: str,
        target: str,
        old: Any,
        new: Any,
        result: str,
        detail: str | None = None,
    ) -> AuditEntry:
        """Store one entry; values are kept as JSON."""
        now = self._clock.now().timestamp()
        cur = self._db.execute(
            f"INSERT INTO audit ({_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now, who, role, action, target, _json(old), _json(new), result, detail),
        )
        assert cur.lastrowid is not None
        return AuditEntry(cur.lastrowid, now, who, role, action, target, old, new, result, detail)

    def entries(
        self, start: float, end: float, action: str | None = None, target: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Entries with start <= time < end, newest first, optionally of one action or target."""
        sql = f"SELECT {_COLUMNS} FROM audit WHERE time >= ? AND time < ?"
        params: list[Any] = [start, end]
        for column, value in (("action", action), ("target", target)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], _load(r[6]), _load(r[7]), r[8], r[9]) for r in rows]


def _json(value: Any) -> str | None:
    """JSON text; a non-finite number is kept as its name (JSON has no NaN)."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        value = str(value)
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)

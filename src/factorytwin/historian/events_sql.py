"""DuckDB tables and statements for what analytics derive: station state intervals and alerts."""

from __future__ import annotations

from typing import Any

import duckdb

from ..core.alerts import Alert, AlertState
from ..core.states import StateInterval
from ..events import Severity, StationState

__all__ = ["EVENT_SCHEMA", "insert_intervals", "max_alert_id", "select_alerts", "select_intervals", "upsert_alerts"]

EVENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS state_intervals (
    station VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    start_time DOUBLE NOT NULL,
    end_time DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id BIGINT PRIMARY KEY,
    key VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    severity UTINYINT NOT NULL,
    state VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    raised_at DOUBLE NOT NULL,
    last_seen DOUBLE NOT NULL,
    count INTEGER NOT NULL,
    signal VARCHAR,
    station VARCHAR,
    value DOUBLE,
    acknowledged_at DOUBLE,
    acknowledged_by VARCHAR,
    cleared_at DOUBLE
);
"""
_ALERT_COLUMNS = (
    "id, key, kind, severity, state, message, raised_at, last_seen, count, signal, station, value, "
    "acknowledged_at, acknowledged_by, cleared_at"
)


def insert_intervals(db: duckdb.DuckDBPyConnection, intervals: list[StateInterval]) -> None:
    """Store closed intervals."""
    rows = [(iv.station, iv.state.value, iv.start, iv.end) for iv in intervals if iv.end is not None]
    if rows:
        db.executemany("INSERT INTO state_intervals VALUES (?, ?, ?, ?)", rows)


def select_intervals(
    db: duckdb.DuckDBPyConnection, start: float, end: float, station: str | None
) -> list[StateInterval]:
    """Intervals overlapping [start, end), optionally of one station, in time order."""
    sql = "SELECT station, state, start_time, end_time FROM state_intervals WHERE end_time > ? AND start_time < ?"
    params: list[Any] = [start, end]
    if station is not None:
        sql += " AND station = ?"
        params.append(station)
    rows = db.execute(sql + " ORDER BY start_time, station", params).fetchall()
    return [StateInterval(st, StationState(state), s, e) for st, state, s, e in rows]


def upsert_alerts(db: duckdb.DuckDBPyConnection, alerts: list[Alert]) -> None:
    """Store alerts, replacing earlier versions of the same alert."""
    latest = {a.id: a for a in alerts}
    rows = [
        (
            a.id,
            a.key,
            a.kind,
            int(a.severity),
            a.state.value,
            a.message,
            a.raised_at,
            a.last_seen,
            a.count,
            a.signal,
            a.station,
            a.value,
            a.acknowledged_at,
            a.acknowledged_by,
            a.cleared_at,
        )
        for a in latest.values()
    ]
    if rows:
        db.executemany(f"INSERT OR REPLACE INTO alerts ({_ALERT_COLUMNS}) VALUES ({', '.join('?' * 15)})", rows)


def select_alerts(db: duckdb.DuckDBPyConnection, start: float, end: float) -> list[Alert]:
    """Alerts raised in [start, end) or still open then, newest first."""
    rows = db.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE raised_at < ? AND (cleared_at IS NULL OR cleared_at >= ?) "
        "ORDER BY raised_at DESC",
        [end, start],
    ).fetchall()
    return [_alert(r) for r in rows]


def max_alert_id(db: duckdb.DuckDBPyConnection) -> int:
    """The highest alert id stored so far (0 when none)."""
    ((value,),) = db.execute("SELECT coalesce(max(id), 0) FROM alerts").fetchall()
    return int(value)


def _alert(r: tuple[Any, ...]) -> Alert:
    return Alert(
        id=r[0],
        key=r[1],
        kind=r[2],
        severity=Severity(r[3]),
        state=AlertState(r[4]),
        message=r[5],
        raised_at=r[6],
        last_seen=r[7],
        count=r[8],
        signal=r[9],
        station=r[10],
        value=r[11],
        acknowledged_at=r[12],
        acknowledged_by=r[13],
        cleared_at=r[14],
    )

"""Log output for the long-running commands: readable text, or one JSON object per line.

``--log-format json`` makes every record one line such as
``{"time": "2026-11-22T01:02:03.456Z", "level": "INFO", "logger": "factorytwin.runtime",
"message": "source=plant connected=True ..."}``, plus ``exception`` (the formatted traceback) when one
is attached and any ``extra={...}`` fields given to the logging call: what log shippers
(Loki, Elasticsearch, journald with JSON parsing) index without a parser of their own.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["LogFormat", "JsonFormatter", "log_handler"]

LogFormat = Literal["text", "json"]

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line (UTC ISO 8601 time, level, logger, message)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line; values JSON cannot hold are written as their ``str``."""
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        doc.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_"))
        return json.dumps(doc, default=str, ensure_ascii=False)


def log_handler(fmt: LogFormat = "text") -> logging.Handler:
    """A handler writing to stderr in the given format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    return handler

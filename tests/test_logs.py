"""Structured logs: ``--log-format json`` writes one JSON object per line."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

from factorytwin.cli import example_path, free_port
from factorytwin.logs import JsonFormatter, log_handler

from .test_cli import CLI, ROOT


def test_run_with_json_logs_writes_one_object_per_line(tmp_path: Path) -> None:
    # nothing serves the model's OPC UA endpoint: the connector logs that it retries
    unreachable = f"opc.tcp://127.0.0.1:{free_port()}/factorytwin"
    model = tmp_path / "plant.yaml"
    model.write_text(example_path().read_text().replace("opc.tcp://127.0.0.1:48400/factorytwin", unreachable))
    port = str(free_port())
    args = ["run", str(model), "--port", port, "--duration", "1.5", "--db", ":memory:", "--log-format", "json"]
    result = subprocess.run(
        [*CLI, *args, "--auth-db", str(tmp_path / "auth.db")],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert records, "no log lines"
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert record["time"].endswith("Z")
    unavailable = [r for r in records if r["logger"].startswith("factorytwin.connect")]
    assert unavailable, records
    assert unavailable[0]["level"] == "WARNING"
    assert "unavailable" in unavailable[0]["message"]


def test_json_records_keep_the_traceback_and_extra_fields() -> None:
    logger = logging.getLogger("factorytwin.test_logs")
    handler = log_handler("json")
    lines: list[str] = []
    handler.emit = lambda record: lines.append(handler.format(record))  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            logger.exception("consumer %s failed", "historian", extra={"batch": 12, "path": Path("/x")})
    finally:
        logger.removeHandler(handler)
    (record,) = (json.loads(line) for line in lines)
    assert record["message"] == "consumer historian failed"
    assert record["level"] == "ERROR"
    assert "ZeroDivisionError" in record["exception"]
    assert record["batch"] == 12
    assert record["path"] == "/x"  # what JSON cannot hold is written as text
    assert isinstance(handler.formatter, JsonFormatter)

"""The command line, run as a user would: as a subprocess of the installed console script."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest
from asyncua import Client

from factorytwin.cli import example_path, free_port

from .conftest import ROOT

CLI = [str(Path(sys.executable).parent / "factorytwin")]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_check_prints_the_asset_tree() -> None:
    result = run("check", "examples/bottling.yaml")
    assert result.returncode == 0, result.stderr
    assert "line line1: Bottling line 1 (0.5 l PET), target 2600/h" in result.stdout
    assert "station filler:" in result.stdout
    assert "good_count [bottles]" in result.stdout
    assert "buffer b2 (filler -> capper, capacity 25)" in result.stdout
    assert "source plant: opcua opc.tcp://127.0.0.1:48400/factorytwin (48 signals)" in result.stdout
    assert "ok examples/bottling.yaml: 5 stations, 48 signals" in result.stdout


def test_check_reports_every_error_with_file_line_and_key_and_no_traceback(tmp_path: Path) -> None:
    text = example_path().read_text()
    text = text.replace("    mttr: 90\n", "    mttr: -5\n", 1).replace("  capacity: 25\n", "  capacity: lots\n", 1)
    broken = tmp_path / "broken.yaml"
    broken.write_text(text)
    result = run("check", str(broken))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [x for x in result.stderr.splitlines() if x.startswith("error ")]
    assert len(lines) == 2
    assert f"{broken}:28: enterprise.sites[lyon].areas[bottling].lines[line1].stations[rinser].sim.mttr:" in lines[0]
    assert "greater than 0" in lines[0]
    assert ".buffers[b2].capacity:" in lines[1]
    assert "valid integer" in lines[1]
    assert "2 problem(s)" in result.stderr


def test_check_of_a_missing_file_is_a_clear_error() -> None:
    result = run("check", "no/such/plant.yaml")
    assert result.returncode == 2
    assert "no/such/plant.yaml: cannot read the file" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_prints_the_json_schema() -> None:
    result = run("schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "factorytwin plant model"
    assert "Station" in schema["$defs"]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port, db = free_port(), tmp_path / "demo.duckdb"
    proc = subprocess.Popen(
        [*CLI, "demo", "--port", str(port), "--speed", "20", "--duration", "60", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        yield proc, port, db
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for_line(proc: subprocess.Popen[str], text: str) -> list[str]:
    """Read the process's output until a line containing ``text`` (it announces it is ready)."""
    seen: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"process ended before printing {text!r}: {''.join(seen)}")


def demo_tokens(lines: list[str]) -> dict[str, str]:
    """The role -> token lines the demo prints before it serves."""
    return {
        parts[0]: parts[1]
        for line in lines
        if len(parts := line.split()) == 2 and parts[0] in ("viewer", "operator", "engineer", "admin")
    }


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def test_demo_serves_live_state_and_history(demo: tuple[subprocess.Popen[str], int, Path]) -> None:
    proc, port, db = demo
    seen = wait_for_line(proc, "twin API on")
    tokens = demo_tokens(seen)
    assert set(tokens) == {"viewer", "operator", "engineer", "admin"}, seen
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert httpx.get(f"http://127.0.0.1:{port}/api/state", timeout=5).status_code == 401
    deadline = time.monotonic() + 30
    first = api.get("/api/state", timeout=5).json()
    while any(v["value"] is None for a in first["assets"] for v in a["signals"].values()):
        assert time.monotonic() < deadline, "demo never delivered every signal"
        time.sleep(0.2)
        first = api.get("/api/state", timeout=5).json()
    time.sleep(1.0)
    second = api.get("/api/state", timeout=5).json()
    counts = lambda doc: [a["signals"]["good_count"]["value"] for a in doc["assets"] if a["kind"] == "station"]  # noqa: E731
    assert len(counts(second)) == 5
    assert sum(counts(second)) > sum(counts(first))
    sources = {s["source"]: s for s in api.get("/api/sources", timeout=5).json()}
    assert set(sources) == {"plant", "capper-plc", "uns", "spb"}  # OPC UA, Modbus TCP, MQTT JSON, Sparkplug B
    assert all(s["connected"] and s["samples"] > 0 and s["errors"] == 0 for s in sources.values()), sources
    history = api.get("/api/history?signal=acme/lyon/bottling/line1/filler/good_count", timeout=5).json()
    assert len(history["points"]) >= 2
    # a what-if job leaves simulation workers behind it; SIGTERM (a service manager's stop) must end them
    # and still stop the twin cleanly: the historian flushes and closes its file
    engineer = {"Authorization": f"Bearer {tokens['engineer']}"}
    body = {"changes": ["filler.speed=1.1"], "hours": 0.5, "warmup_hours": 0.1, "replications": 2}
    assert api.post("/api/whatif", json=body, headers=engineer, timeout=10).status_code == 202
    while not (workers := children(proc.pid)):
        assert time.monotonic() < deadline + 30, "the what-if job started no worker"
        time.sleep(0.1)
    last = api.get("/api/state", timeout=5).json()
    proc.terminate()
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out  # shut down, not killed by the signal
    gone = time.monotonic() + 5  # the workers end with it (reaped by init once their parent is gone)
    while alive := [pid for pid in workers if Path(f"/proc/{pid}").exists()]:
        assert time.monotonic() < gone, f"simulation workers outlived the twin: {alive}"
        time.sleep(0.1)
    seen_count = next(a["signals"]["good_count"]["value"] for a in last["assets"] if a["id"] == "filler")
    with duckdb.connect(str(db), read_only=True) as stored:  # closed by the twin: it opens
        query = "SELECT max(value) FROM samples WHERE signal = 'acme/lyon/bottling/line1/filler/good_count'"
        row = stored.execute(query).fetchone()
    assert row is not None
    assert row[0] >= seen_count  # everything the API had shown was stored
    out = "".join(seen) + out
    assert "virtual plant: source plant on opc.tcp://127.0.0.1:" in out
    assert "virtual plant: source capper-plc on modbus://127.0.0.1:" in out
    assert "embedded MQTT broker on mqtt://127.0.0.1:" in out
    assert "Traceback" not in out


def test_plant_command_serves_the_model_over_opcua(tmp_path: Path) -> None:
    port = free_port()
    model = tmp_path / "plant.yaml"
    model.write_text(example_path().read_text().replace("127.0.0.1:48400", f"127.0.0.1:{port}"))
    proc = subprocess.Popen(
        [*CLI, "plant", str(model), "--speed", "10", "--duration", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    async def read_twice() -> tuple[int, int]:
        async with Client(f"opc.tcp://127.0.0.1:{port}/factorytwin") as client:
            node = client.get_node("ns=2;s=Line1.Filler.GoodCount")
            first = await node.read_value()
            await asyncio.sleep(1.0)
            return first, await node.read_value()

    try:
        wait_for_line(proc, "virtual plant serves source")
        first, second = asyncio.run(read_twice())
        assert second > first
    finally:
        proc.terminate()
        proc.wait(10)


def test_report_reads_a_running_twin_through_its_api_and_a_stopped_one_from_its_file(tmp_path: Path) -> None:
    port, db = free_port(), tmp_path / "plant.duckdb"
    proc = subprocess.Popen(
        [*CLI, "demo", "--port", str(port), "--speed", "20", "--duration", "60", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    now = datetime.now(UTC)
    window = ["--from", (now - timedelta(hours=1)).isoformat(), "--to", (now + timedelta(hours=1)).isoformat()]
    try:
        token = demo_tokens(wait_for_line(proc, "twin API on"))["viewer"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 30
        while httpx.get(f"http://127.0.0.1:{port}/api/kpis", headers=headers, timeout=5).json()["good"] < 20:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        locked = run("report", "examples/bottling.yaml", *window, "--db", str(db))
        assert locked.returncode == 1
        assert "--api http://host:port" in locked.stderr
        refused = run("report", "examples/bottling.yaml", *window, "--api", f"http://127.0.0.1:{port}")
        assert refused.returncode == 1
        assert "401" in refused.stderr
        live = run("report", "examples/bottling.yaml", *window, "--api", f"http://127.0.0.1:{port}", "--token", token)
        assert live.returncode == 0, live.stderr
        assert "Shift report" in live.stdout
        assert "line1" in live.stdout
    finally:
        proc.terminate()
        proc.wait(15)
    csv_path = tmp_path / "report.csv"
    stopped = run("report", "examples/bottling.yaml", *window, "--db", str(db), "--csv", str(csv_path))
    assert stopped.returncode == 0, stopped.stderr
    too_long = run("report", "examples/bottling.yaml", "--from", "2020-01-01", "--to", "2030-01-01", "--db", str(db))
    assert too_long.returncode == 2
    assert "at most 92 days" in too_long.stderr
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["asset"] for r in rows[:6]] == ["rinser", "filler", "capper", "labeler", "packer", "line1"]
    assert int(rows[5]["good"]) > 0
    assert 0 < float(rows[1]["availability"]) <= 1


def test_report_names_a_time_it_cannot_read() -> None:
    bad = run("report", "examples/bottling.yaml", "--from", "yesterday", "--to", "2026-11-24T06:00")
    assert bad.returncode == 2
    assert "'yesterday' is not an ISO 8601 time like 2026-11-24T06:00" in bad.stderr

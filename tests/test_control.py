"""Access control and governed write-back against a running demo (subprocess, HTTPS, every protocol).

One ``factorytwin demo`` process serves the mixed bottling line (OPC UA, Modbus TCP, MQTT, Sparkplug B)
over TLS with a certificate made here; the tests use the tokens it prints, check the plant's own
values over OPC UA and Modbus, and read the audit log back through the API.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from asyncua import Client
from pymodbus.client import AsyncModbusTcpClient
from typer.testing import CliRunner

from factorytwin.cli import app, example_path, free_port
from factorytwin.connect.modbus_codec import decode
from factorytwin.control import SetpointRefused, check_setpoint
from factorytwin.model import PlantIndex, PlantModel, load_model
from factorytwin.plant import VirtualPlant
from factorytwin.runtime import Twin
from factorytwin.security import Principal, Role

from .conftest import LINE
from .mqtt_fixtures import TlsFiles, make_tls_files

FILLER, CAPPER, LABELER, PACKER = (f"{LINE}/{s}/speed" for s in ("filler", "capper", "labeler", "packer"))


@dataclass
class Demo:
    """A running ``factorytwin demo`` and what it printed."""

    url: str
    tls: TlsFiles
    auth_db: Path
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None, token: str | None = None) -> httpx.Client:
        """An HTTPS client trusting the demo's CA, authenticated as ``role`` (or with ``token``)."""
        secret = token or (self.tokens[role] if role else None)
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.url, headers=headers, verify=self.trust(), timeout=60)

    def trust(self) -> ssl.SSLContext:
        """A TLS context that trusts the demo's CA."""
        return ssl.create_default_context(cafile=str(self.tls.ca))

    def setpoint(self, role: str, signal: str, value: Any, **options: Any) -> httpx.Response:
        """POST /api/setpoints as ``role``."""
        with self.client(role) as c:
            return c.post("/api/setpoints", json={"signal": signal, "value": value, **options})

    def current(self, signal: str) -> float:
        """The twin's live value of a writable signal."""
        with self.client("viewer") as c:
            return next(s["value"] for s in c.get("/api/setpoints").json() if s["signal"] == signal)  # type: ignore[no-any-return]


def _read(demo: Demo, ready: threading.Event) -> None:
    assert demo.process.stdout is not None
    for line in demo.process.stdout:
        demo.lines.append(line.rstrip())
        words = line.split()
        if len(words) == 2 and words[0] in ("viewer", "operator", "engineer", "admin"):
            demo.tokens[words[0]] = words[1]
        if line.startswith("virtual plant: source"):
            demo.sources[words[3]] = words[5]
        if line.startswith("twin API on"):
            ready.set()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    d = tmp_path_factory.mktemp("demo")
    tls = make_tls_files(d)
    port = free_port()
    args = ["demo", "--port", str(port), "--speed", "10", "--auth-db", str(d / "auth.sqlite")]
    args += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--duration", "600"]
    process = subprocess.Popen(
        [sys.executable, "-c", "from factorytwin.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "200", "FACTORYTWIN_DATA": str(d)},
    )
    demo = Demo(f"https://127.0.0.1:{port}", tls, d / "auth.sqlite", process)
    ready = threading.Event()
    threading.Thread(target=_read, args=(demo, ready), daemon=True).start()
    try:
        assert ready.wait(120), f"the demo never served its API: {demo.lines}"
        deadline = time.monotonic() + 60
        with demo.client("viewer") as c:  # the twin knows every setpoint's live value (max_step needs it)
            while any(s["value"] is None for s in c.get("/api/setpoints").json()):
                assert time.monotonic() < deadline, "the twin never saw every setpoint"
                time.sleep(0.2)
        yield demo
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_demo_prints_a_token_per_role_and_stores_only_their_hashes(demo: Demo) -> None:
    assert set(demo.tokens) == {"viewer", "operator", "engineer", "admin"}
    assert len(set(demo.tokens.values())) == 4
    stored = b"".join(p.read_bytes() for p in demo.auth_db.parent.glob("auth.sqlite*"))
    for token in demo.tokens.values():
        assert len(token) > 40
        assert token.encode() not in stored
        assert hashlib.sha256(token.encode()).hexdigest().encode() in stored


def test_requests_without_a_valid_token_are_refused(demo: Demo) -> None:
    with demo.client() as anonymous:
        refused = anonymous.get("/api/state")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "token" in refused.json()["detail"]
        assert anonymous.get("/api/state", params={"token": demo.tokens["admin"]}).status_code == 401  # not on http
        health = anonymous.get("/api/health").json()  # open for probes, but without addresses or counts
        assert set(health) == {"status", "version", "time"}
        post = anonymous.post("/api/setpoints", json={"signal": FILLER, "value": 90})
        assert post.status_code == 401
        anonymous.cookies.set("factorytwin_token", demo.tokens["operator"])
        assert anonymous.get("/api/sources").status_code == 200  # a browser's read
        assert anonymous.post("/api/setpoints", json={"signal": FILLER, "value": 90}).status_code == 401
    with demo.client(token="ft_" + "x" * 43) as forged:
        assert forged.get("/api/state").status_code == 401
    with httpx.Client(verify=demo.trust()) as plain:
        assert plain.get(demo.url + "/api/health").status_code == 200  # https with the CA verifies
        with pytest.raises(httpx.HTTPError):  # the server speaks TLS only
            plain.get(demo.url.replace("https", "http") + "/api/health")


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/api/forecast", "engineer"),
        ("/api/calibration", "engineer"),
        ("/api/audit", "engineer"),
        ("/api/tokens", "admin"),
    ],
)
def test_simulations_audit_and_tokens_need_their_role(demo: Demo, path: str, role: str) -> None:
    below = {"engineer": "operator", "admin": "engineer"}[role]
    with demo.client(below) as c:
        refused = c.get(path)
    assert refused.status_code == 403
    assert f"this needs the {role} role; token 'demo-{below}' is {below}" in refused.text


def test_a_viewers_setpoint_is_refused_and_audited(demo: Demo) -> None:
    before = demo.current(FILLER)
    refused = demo.setpoint("viewer", FILLER, before - 5)
    assert refused.status_code == 403
    assert refused.json()["detail"] == {
        "reason": "forbidden",
        "message": "demo-viewer (viewer) may not send setpoints: operator needed",
    }
    with demo.client("viewer") as viewer:
        assert viewer.get("/api/audit").status_code == 403  # the audit log needs engineer
    with demo.client("engineer") as engineer:
        entry = engineer.get("/api/audit", params={"target": FILLER, "limit": 1}).json()[0]
    assert (entry["who"], entry["role"], entry["result"], entry["new"]) == (
        "demo-viewer",
        "viewer",
        "refused",
        before - 5,
    )
    assert demo.current(FILLER) == before


@pytest.mark.parametrize(
    ("signal", "value", "status", "reason", "text"),
    [
        (CAPPER, 130, 422, "limits", "130 % is outside the limits of '" + CAPPER + "': min 20, max 120 %"),
        (CAPPER, 20, 422, "step", "allows at most 25 % per write"),
        (f"{LINE}/capper/good_count", 5, 422, "not_writable", "is not writable"),
        (f"{LINE}/nowhere/speed", 50, 404, "unknown", "unknown signal"),
        (CAPPER, "fast", 422, None, "valid number"),
        (CAPPER, True, 422, None, "valid number"),
    ],
)
def test_an_operators_setpoint_outside_the_model_is_refused_clearly(
    demo: Demo, signal: str, value: Any, status: int, reason: str | None, text: str
) -> None:
    response = demo.setpoint("operator", signal, value)
    assert response.status_code == status, response.text
    if reason is not None:
        assert response.json()["detail"]["reason"] == reason
    assert text in response.text


def test_a_value_that_is_not_a_finite_number_is_refused(demo: Demo) -> None:
    with demo.client("operator") as c:  # Python's JSON reader takes NaN; the check does not
        response = c.post(
            "/api/setpoints",
            content=b'{"signal": "%s", "value": NaN}' % CAPPER.encode(),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 422
    assert response.json()["detail"]["reason"] == "type"
    assert "finite" in response.json()["detail"]["message"]


async def test_an_operators_setpoint_reaches_the_opcua_plant_and_is_audited(demo: Demo) -> None:
    before = demo.current(FILLER)
    wanted = before - 10 if before > 60 else before + 10
    done = demo.setpoint("operator", FILLER, wanted)
    assert done.status_code == 200, done.text
    doc = done.json()
    assert (doc["status"], doc["old"], doc["value"]) == ("ok", before, wanted)
    assert 0 <= doc["confirmed_s"] < 5
    async with Client(demo.sources["plant"]) as opc:  # the plant's own value, read on its server
        assert await opc.get_node("ns=2;s=Line1.Filler.Speed").read_value() == wanted
    with demo.client("engineer") as engineer:
        (entry,) = engineer.get("/api/audit", params={"target": FILLER, "action": "setpoint", "limit": 1}).json()
    assert entry["id"] == doc["audit_id"]
    assert (entry["who"], entry["role"], entry["old"], entry["new"], entry["result"]) == (
        "demo-operator",
        "operator",
        before,
        wanted,
        "ok",
    )


async def test_a_modbus_setpoint_reaches_the_plants_register(demo: Demo) -> None:
    before = demo.current(CAPPER)
    wanted = before - 12.5 if before > 60 else before + 12.5
    assert demo.setpoint("operator", CAPPER, wanted).json()["status"] == "ok"
    binding = PlantIndex(load_model(example_path("bottling-mixed.yaml"))).signals[CAPPER].binding
    assert binding is not None
    assert binding.modbus is not None
    host, port = demo.sources["capper-plc"].removeprefix("modbus://").split("/")[0].split(":")
    client = AsyncModbusTcpClient(host, port=int(port))
    await client.connect()
    try:
        words = await client.read_holding_registers(binding.modbus.address, count=2, device_id=1)
    finally:
        client.close()
    assert decode(binding.modbus, words.registers) == wanted


def test_mqtt_and_sparkplug_setpoints_are_written_and_read_back(demo: Demo) -> None:
    for signal in (LABELER, PACKER):  # MQTT <topic>/set, Sparkplug DCMD; confirmed from the plant's publications
        before = demo.current(signal)
        wanted = before + 5 if before < 100 else before - 5
        doc = demo.setpoint("operator", signal, wanted).json()
        assert (doc["status"], doc["value"]) == ("ok", wanted), doc
        assert demo.current(signal) == wanted


async def test_a_setpoint_is_tried_on_the_simulation_before_it_is_applied(demo: Demo) -> None:
    before = demo.current(FILLER)
    faster = min(before + 20, 120)
    doc = demo.setpoint("operator", FILLER, faster, dry_run=True, simulate=True).json()
    assert doc["status"] == "dry_run"
    sim = doc["simulation"]
    assert sim["change"] == f"filler.speed={faster / 100:g}"
    assert sim["bottleneck_now"] == "filler"  # the designed bottleneck: a faster filler makes more bottles
    assert sim["throughput_change"]["low"] > 0
    assert sim["throughput_after"]["mean"] > sim["throughput_now"]["mean"]
    async with Client(demo.sources["plant"]) as opc:  # a dry run writes nothing
        assert await opc.get_node("ns=2;s=Line1.Filler.Speed").read_value() == before
    glue = demo.setpoint("operator", f"{LINE}/labeler/glue_temp_sp", 160, dry_run=True, simulate=True)
    assert glue.status_code == 422
    assert glue.json()["detail"]["reason"] == "no_simulation"


def test_an_admin_manages_tokens_and_every_change_is_audited(demo: Demo) -> None:
    with demo.client("operator") as operator:
        assert operator.get("/api/tokens").status_code == 403
    with demo.client("admin") as admin:
        created = admin.post("/api/tokens", json={"name": "mes-gateway", "role": "viewer"})
        assert created.status_code == 201
        token, tid = created.json()["token"], created.json()["id"]
        assert "token" not in admin.get("/api/tokens").json()[0]
        assert admin.post("/api/tokens", json={"name": "x", "role": "root"}).status_code == 422
        with demo.client(token=token) as gateway:
            assert gateway.get("/api/state").status_code == 200
            assert admin.delete(f"/api/tokens/{tid}").json()["revoked"] is not None
            assert gateway.get("/api/state").status_code == 401
        assert admin.delete("/api/tokens/999999").status_code == 404
        audit = admin.get("/api/audit", params={"target": str(tid)}).json()
    assert [(e["action"], e["who"], e["result"]) for e in audit] == [
        ("token.revoke", "demo-admin", "ok"),
        ("token.create", "demo-admin", "ok"),
    ]
    assert token not in str(audit)


def test_factorytwin_set_sends_a_setpoint_through_the_api(demo: Demo) -> None:
    before = demo.current(CAPPER)
    wanted = before + 5 if before < 100 else before - 5
    runner = CliRunner()
    common = ["--api", demo.url, "--cafile", str(demo.tls.ca)]
    done = runner.invoke(app, ["set", CAPPER, str(wanted), *common, "--token", demo.tokens["operator"]])
    assert done.exit_code == 0, done.output
    assert f"ok: {CAPPER} {before} -> {wanted}" in done.output
    refused = runner.invoke(app, ["set", CAPPER, "500", *common, "--token", demo.tokens["operator"]])
    assert refused.exit_code == 2
    assert "422: 500 % is outside the limits" in refused.output


def test_tokens_from_the_command_line_are_hashed_and_revocable(tmp_path: Path) -> None:
    db = tmp_path / "security.sqlite"
    runner = CliRunner()
    made = runner.invoke(app, ["token", "create", "--role", "engineer", "--name", "ines", "--db", str(db)])
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert token.startswith("ft_")
    assert token.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("security.sqlite*"))
    listing = runner.invoke(app, ["token", "list", "--db", str(db)])
    assert "ines" in listing.output
    assert "engineer" in listing.output
    assert runner.invoke(app, ["token", "revoke", "1", "--db", str(db)]).exit_code == 0
    assert "ines" not in runner.invoke(app, ["token", "list", "--db", str(db)]).output
    bad = runner.invoke(app, ["token", "create", "--role", "root", "--db", str(db)])
    assert bad.exit_code == 2
    assert "unknown role 'root' (one of viewer, operator, engineer, admin)" in bad.output


def test_the_rate_limit_spaces_writes_by_the_size_of_the_change() -> None:
    model = load_model(example_path("bottling-mixed.yaml"))
    info = PlantIndex(model).signals[FILLER]
    limits = info.signal.write
    assert limits is not None
    limited = info.signal.model_copy(update={"write": limits.model_copy(update={"max_rate": 2.0})})
    info = type(info)(info.path, limited, info.asset_path, info.line_path, info.source)
    assert check_setpoint(info, 90, 100.0, None, 0.0) == 90.0  # no earlier write through the twin
    assert check_setpoint(info, 90, 100.0, (0.0, 100.0), 5.0) == 90.0  # 10 % in 5 s at 2 %/s
    with pytest.raises(SetpointRefused, match="at most 2 % per second") as refused:
        check_setpoint(info, 80, 90.0, (5.0, 90.0), 7.0)  # 10 % needs 5 s, only 2 s passed
    assert refused.value.reason == "rate"
    assert refused.value.retry_after_s == pytest.approx(3.0)
    with pytest.raises(SetpointRefused, match=r"current value .* is unknown"):
        check_setpoint(info, 90, None, None, 0.0)


def test_schemathesis_finds_no_server_error(demo: Demo, tmp_path: Path) -> None:
    """Property-based requests from the OpenAPI document, with an admin token: no 5xx anywhere.

    /api/calibration and /api/forecast are left out: with the replications a fuzzer picks (up to 2000)
    one request simulates for longer than the whole time budget; tests/test_forecast.py covers them.
    """
    with demo.client("admin") as admin:  # its own token: the fuzzer may revoke tokens
        token = admin.post("/api/tokens", json={"name": "schemathesis", "role": "admin"}).json()["token"]
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{demo.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {token}",
            "--tls-verify",
            str(demo.tls.ca),
            "--max-examples",
            "8",
            "--max-time",
            "45",
            "--workers",
            "1",
            "--seed",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--request-timeout",
            "30",
            "--exclude-path-regex",
            "^/api/(calibration|forecast)$",
        ],
        cwd=tmp_path,  # schemathesis keeps its example database in the working directory
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    selected, tested = re.search(r"Selected: (\d+)/", result.stdout), re.search(r"Tested: (\d+)", result.stdout)
    assert selected is not None, result.stdout
    assert tested is not None, result.stdout
    assert int(tested[1]) == int(selected[1]) >= 15, result.stdout[-3000:]  # every operation was exercised


async def test_a_device_refusal_and_a_lost_source_fail_clearly_and_are_audited(
    model: PlantModel, endpoints: dict[str, str], plant: VirtualPlant
) -> None:
    """The twin's model allows more than the machine (max 200, no max_step): the machine has the last word."""
    data = model.model_dump(exclude_none=True)
    filler = next(
        st for st in data["enterprise"]["sites"][0]["areas"][0]["lines"][0]["stations"] if st["id"] == "filler"
    )
    next(s for s in filler["signals"] if s["id"] == "speed")["write"] = {"min": 20, "max": 200}
    path = f"{LINE}/filler/speed"
    who = Principal("olga", Role.OPERATOR)
    async with Twin(PlantModel.model_validate(data), endpoints=endpoints) as twin:
        assert await twin.wait_for(lambda: twin.control.current(path) is not None, 15)
        with pytest.raises(SetpointRefused, match="the source refused the write") as refused:
            await twin.control.submit(path, 150, who)
        assert refused.value.reason == "device"
        assert plant.engine.values[path] == 100.0
        await plant.stop_server("plant")
        assert await twin.wait_for(lambda: not twin.connectors["plant"].health.connected, 15)
        with pytest.raises(SetpointRefused, match="did not reach the source") as lost:
            await twin.control.submit(path, 110, who)
        assert lost.value.reason == "disconnected"
        entries = twin.security.audit.entries(0, math.inf, action="setpoint")
    assert [(e.who, e.new, e.result) for e in entries] == [("olga", 110, "failed"), ("olga", 150, "failed")]
    assert entries[1].detail is not None
    assert entries[1].detail.startswith("device: the source refused the write")


def test_run_says_how_to_make_the_first_token_and_checks_its_tls_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORYTWIN_DATA", str(tmp_path))
    runner = CliRunner()
    plant = str(example_path())
    half = runner.invoke(app, ["run", plant, "--tls-cert", str(tmp_path / "cert.pem")])
    assert half.exit_code == 2
    assert "--tls-cert and --tls-key go together" in half.output
    missing = runner.invoke(app, ["run", plant, "--tls-cert", "nope.pem", "--tls-key", "nope.key"])
    assert missing.exit_code == 2
    assert "nope.pem: no such file" in missing.output
    # a real run serves the dashboard, which NiceGUI allows once per process: run it in its own
    args = ["run", plant, "--db", ":memory:", "--port", str(free_port()), "--duration", "0.5"]
    factorytwin = str(Path(sys.executable).parent / "factorytwin")
    env = {**os.environ, "FACTORYTWIN_DATA": str(tmp_path), "COLUMNS": "200"}
    ran = subprocess.run([factorytwin, *args], capture_output=True, text=True, timeout=90, env=env, check=False)
    assert ran.returncode == 0, ran.stderr
    output = " ".join((ran.stdout + ran.stderr).split())
    assert "no API tokens in" in output
    assert "create one with: factorytwin token create --role admin" in output
    assert (tmp_path / "security.sqlite").exists()

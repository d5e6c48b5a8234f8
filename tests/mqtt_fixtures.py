"""Private Mosquitto brokers for the tests: own config file and directory, free loopback port, never 1883.

Each test that asks for ``mosquitto`` gets a fresh broker (it starts in well under a second), so
persistent sessions and retained messages never leak from one test into another. ``Mosquitto`` can
be stopped and restarted on the same port (with persistence, queued messages survive), and can add a
TLS listener with certificates made here by ``cryptography``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from factorytwin.cli import free_port
from factorytwin.model import PlantModel, parse_model

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
LINE = "acme/lyon/bottling/line1"


@dataclass(frozen=True)
class TlsFiles:
    """A CA, and a server certificate for 127.0.0.1/localhost signed by it."""

    ca: Path
    cert: Path
    key: Path


def make_ca(directory: Path, name: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA certificate (PEM file) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def make_tls_files(directory: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1 and localhost."""
    ca_path, ca_key, ca_cert = make_ca(directory, "test-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return TlsFiles(ca_path, cert_path, key_path)


class Mosquitto:
    """A private Mosquitto process on free loopback ports, with its own config, data and log."""

    def __init__(self, directory: Path, persistence: bool = False, tls: TlsFiles | None = None) -> None:
        self.directory = directory
        self.persistence = persistence
        self.tls = tls
        self.port = 0
        self.tls_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The plain listener, e.g. ``mqtt://127.0.0.1:40123``."""
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        """The TLS listener."""
        return f"mqtts://127.0.0.1:{self.tls_port}"

    def start(self) -> None:
        """Start (on the same ports after a stop; on free ports the first time, retrying on a port race)."""
        for _attempt in range(5):
            if not self.port:
                self.port, self.tls_port = free_port(), free_port() if self.tls else 0
            conf = self.directory / "mosquitto.conf"
            conf.write_text(self._config())
            self._proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            if self._wait_listening():
                return
            self.port = 0
        raise RuntimeError(f"mosquitto did not start: {self.log()[-2000:]}")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM: with persistence, the session store is written)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(10)

    def restart(self) -> None:
        """Stop and start again on the same ports."""
        self.stop()
        self.start()

    def log(self) -> str:
        """The broker's log so far."""
        path = self.directory / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _config(self) -> str:
        lines = [
            "user root",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.directory}/",
            f"log_dest file {self.directory / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "max_queued_messages 100000",
        ]
        if self.tls is not None:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {self.tls.ca}",
                f"certfile {self.tls.cert}",
                f"keyfile {self.tls.key}",
            ]
        return "\n".join(lines) + "\n"

    def _wait_listening(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        self.stop()
        return False


class Listener:
    """A plain paho client recording what arrives on a topic filter."""

    def __init__(self, url_port: int, topic: str) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", url_port)
        self.client.subscribe(topic, 1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Wait for something outside the twin (a broker, a plant) with a deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@pytest.fixture(name="mosquitto")
def mosquitto_fixture(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh private Mosquitto for one test."""
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(name="persistent_mosquitto")
def persistent_mosquitto_fixture(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto that keeps sessions and queued messages across restarts."""
    broker = Mosquitto(tmp_path, persistence=True)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(name="tls_mosquitto")
def tls_mosquitto_fixture(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto with a TLS listener (certificates in ``broker.tls``)."""
    broker = Mosquitto(tmp_path, tls=make_tls_files(tmp_path))
    broker.start()
    yield broker
    broker.stop()


def _signal(sid: str, role: str, binding: dict[str, object], **extra: object) -> dict[str, object]:
    return {"id": sid, "role": role, "binding": binding, **extra}


def line_model(mqtt_url: str, sparkplug_url: str | None = None, **mqtt_source: object) -> PlantModel:
    """A two-station line: the filler published as JSON topics (unified namespace), the capper over Sparkplug B."""
    speed = {"write": {"min": 20, "max": 120, "max_step": 25}, "sim": {"base": 100}}
    uns = f"{LINE}/filler"
    filler = {
        "id": "filler",
        "sim": {"processing_time": {"dist": "normal", "mean": 1.0, "cv": 0.05}},
        "signals": [
            _signal("state", "state", {"mqtt": {"topic": f"{uns}/state", "timestamp": "timestamp"}}),
            _signal("good_count", "good_count", {"mqtt": {"topic": f"{uns}/good_count", "timestamp": "timestamp"}}),
            _signal("speed", "speed", {"mqtt": {"topic": f"{uns}/speed", "timestamp": "timestamp"}}, **speed),
            _signal(
                "temperature",
                "temperature",
                {"mqtt": {"topic": f"{uns}/temperature", "timestamp": "timestamp", "quality": "quality"}},
                sim={"base": 60, "noise": 0.2, "tau": 5},
            ),
        ],
    }
    stations = [filler]
    sources: dict[str, object] = {"uns": {"kind": "mqtt", "broker": mqtt_url, **mqtt_source}}
    if sparkplug_url is not None:
        sp = {"edge_node": "line1", "device": "capper"}
        stations.append(
            {
                "id": "capper",
                "sim": {"processing_time": {"dist": "normal", "mean": 0.8, "cv": 0.05}},
                "signals": [
                    _signal("state", "state", {"source": "edge", "sparkplug": {**sp, "metric": "State"}}),
                    _signal("good_count", "good_count", {"source": "edge", "sparkplug": {**sp, "metric": "GoodCount"}}),
                    _signal("speed", "speed", {"source": "edge", "sparkplug": {**sp, "metric": "Speed"}}, **speed),
                    _signal(
                        "line_speed", "other", {"source": "edge", "sparkplug": {"edge_node": "line1", "metric": "Rate"}}
                    ),
                ],
            }
        )
        sources["edge"] = {"kind": "sparkplug", "broker": sparkplug_url, "group_id": "acme", "host_id": "twin"}
    line = {"id": "line1", "source": "uns", "stations": stations}
    model = {
        "factorytwin": 1,
        "enterprise": {
            "id": "acme",
            "sites": [{"id": "lyon", "areas": [{"id": "bottling", "lines": [line]}]}],
        },
        "sources": sources,
        "virtual_plant": {"seed": 7, "serves": list(sources), "tick_s": 0.05},
    }
    return parse_model(json.dumps(model, indent=1), "mqtt-test.yaml")

"""MQTT ingest benchmark: the twin's end-to-end samples/s against a plain paho client on the same messages.

Method
------
* **Broker** - a private Mosquitto on a free loopback port (own config: no persistence, unbounded
  per-client queues so a slow subscriber makes the broker queue, never drop).
* **Publisher** - a separate process (its own core and GIL): a single-threaded paho client that
  publishes ``--messages`` QoS 1 messages as fast as the broker acknowledges them (up to 5000 in
  flight), round-robin over the topics. One sample per message: ``{"value": n, "timestamp": t}`` on
  ``bench/sNNNNN``. ``--batched``: a JSON array of ``--batch`` samples ``{"id": "sNNNNN", "v": n,
  "t": t}`` per message on ``bench/batch/NNN``, each sample bound by ``match`` to its own signal.
  Values are sequence numbers, so loss is counted exactly.
* **Raw phase** - what a plain paho user writes: a subscriber (QoS 1) on its own network thread
  (``loop_forever``) counting messages in ``on_message``; its samples are messages x samples per message,
  received but not decoded.
* **Twin phase** - a generated plant model (one line, stations of 100 signals) bound to those
  topics, run by ``Twin`` with a ``DuckDBHistorian`` in a temporary file. A sample counts once it is in
  both the live state and the historian (``min(state.applied, historian.stored)``, historian flushed).
  After the twin stops: rows in the DuckDB file are compared with what was published (``lost``).
* Each phase subscribes first, then starts the publisher, and times from the first sample received
  to the last one; rounds alternate raw and twin, rates are means.

The last line printed is ``ratio=<twin/raw> samples_per_s=<n> raw_per_s=<n> lost=<n>`` (lost: samples the
twin did not store, over all its rounds).

    .venv/bin/python bench/ingest_mqtt.py --quick
    .venv/bin/python bench/ingest_mqtt.py --quick --batched
    .venv/bin/python bench/ingest_mqtt.py --messages 200000 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

import duckdb
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from factorytwin.columns import SampleColumns
from factorytwin.connect.mqtt import MqttConnector
from factorytwin.core import Intake, LiveState
from factorytwin.core.analytics import Analytics
from factorytwin.core.detectors import detectors
from factorytwin.historian import DuckDBHistorian
from factorytwin.historian.duckdb import _SCHEMA, _insert, _to_arrow
from factorytwin.maintenance import MaintenanceMonitor
from factorytwin.model import PlantIndex, parse_model
from factorytwin.runtime import Twin

IDLE_S = 10.0  # a phase gives up after this long without progress


@dataclass(frozen=True)
class Settings:
    messages: int
    batch: int  # samples per message (1: one sample per message)
    signals: int
    rounds: int
    infer_states: bool = False
    preload: bool = False
    station_size: int = 100

    @property
    def samples(self) -> int:
        return self.messages * self.batch


@dataclass(frozen=True)
class Phase:
    name: str
    samples: int
    seconds: float
    published_per_s: float
    cpu_s: float = 0.0  # CPU time of this (client) process over the phase, all threads
    note: str = ""
    loop_cpu_s: float = 0.0  # CPU time of the event loop's thread alone (the twin: all but DuckDB's own threads)

    @property
    def rate(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    @property
    def us_per_sample(self) -> float:
        return self.cpu_s / self.samples * 1e6 if self.samples else 0.0

    @property
    def loop_us_per_sample(self) -> float:
        return self.loop_cpu_s / self.samples * 1e6 if self.samples else 0.0


# --- broker and publisher ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    def __init__(self, directory: Path, extra: str = "") -> None:
        self.port = free_port()
        conf = directory / "mosquitto.conf"
        conf.write_text(
            f"user root\nlistener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"max_queued_messages 0\nlog_dest none\n{extra}"
        )
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def topic_of(settings: Settings, n: int) -> str:
    if settings.batch == 1:
        return f"bench/s{n % settings.signals:05d}"
    return f"bench/batch/{n % max(1, settings.signals // settings.batch):03d}"


def payload_of(settings: Settings, n: int) -> bytes:
    now = time.time()
    if settings.batch == 1:
        return json.dumps({"value": n, "timestamp": now}).encode()
    first = n * settings.batch
    per_topic = settings.signals // max(1, settings.signals // settings.batch)
    base = (n % max(1, settings.signals // settings.batch)) * per_topic
    return json.dumps(
        [{"id": f"s{base + j % per_topic:05d}", "v": first + j, "t": now} for j in range(settings.batch)],
        separators=(",", ":"),
    ).encode()


def publish(port: int, settings: Settings, ready: MpEvent, go: MpEvent, done: Synchronized[float]) -> None:
    """Process entry point: say ``ready``, wait for ``go``, publish every message at QoS 1, record the publish rate."""
    payloads = [(topic_of(settings, n), payload_of(settings, n)) for n in range(settings.messages)]
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}")
    client.max_inflight_messages_set(5000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    while not client.is_connected():
        client.loop(0.1)
    ready.set()
    while True:
        go.wait()
        go.clear()
        start = time.time()
        for i, (topic, payload) in enumerate(payloads):
            client.publish(topic, payload, 1)
            if i % 50 == 49:
                client.loop(0)
                while len(client._out_messages) > 5000:  # bounded in-flight window
                    client.loop(0.01)
        while client._out_messages:
            client.loop(0.01)
        done.value = settings.messages / (time.time() - start)


class Publisher:
    def __init__(self, port: int, settings: Settings) -> None:
        ctx = mp.get_context("spawn")
        self.ready, self.go = ctx.Event(), ctx.Event()
        self.done: Synchronized[float] = ctx.Value("d", 0.0)
        self.proc = ctx.Process(target=publish, args=(port, settings, self.ready, self.go, self.done), daemon=True)
        self.proc.start()
        # a loaded machine can take many seconds to start a Python process: no phase starts before it is connected
        if not self.ready.wait(300) or not self.proc.is_alive():
            self.stop()
            raise RuntimeError("the publisher process did not start")

    def start(self) -> None:
        self.done.value = 0.0
        self.go.set()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(5)


async def wait_counted(
    progress: Callable[[], int], complete: Callable[[], Awaitable[int]], expected: int, started: float
) -> tuple[int, float, float]:
    """Wait until ``complete`` reaches ``expected`` (or ``progress`` stalls); return (count, first, last) times.

    ``progress`` is cheap (polled every few ms: it times the first sample); ``complete`` is the end-to-end
    count, asked for once ``progress`` says everything arrived.
    """
    first = 0.0
    seen = 0
    progress_t = time.time()
    while True:
        n = progress()
        now = time.time()
        if n and not first:
            first = now
        if n > seen:
            seen, progress_t = n, now
        if n >= expected:
            done = await complete()
            if done >= expected:
                return done, first or started, time.time()
        if now - progress_t > IDLE_S:
            return await complete(), first or started, progress_t
        await asyncio.sleep(0.002)


# --- phases --------------------------------------------------------------------------------------


async def raw_phase(port: int, pub: Publisher, settings: Settings) -> Phase:
    received = 0

    def on_message(_c: object, _u: object, _m: paho.MQTTMessage) -> None:
        nonlocal received
        received += 1

    client_id = f"bench-raw-{time.monotonic_ns()}"
    if settings.preload:
        await preload(port, client_id, pub)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not settings.preload)
    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect("127.0.0.1", port)
    client.subscribe("bench/#", 1)
    thread = threading.Thread(target=client.loop_forever, daemon=True)
    start, cpu0 = time.time(), time.process_time()
    thread.start()
    subscribed.wait(10)

    def count() -> int:
        return received * settings.batch

    async def complete() -> int:
        return count()

    if not settings.preload:
        pub.start()
    n, first, last = await wait_counted(count, complete, settings.samples, start)
    for _ in range(100):  # the publisher reports its rate once its last message is acknowledged
        if pub.done.value:
            break
        await asyncio.sleep(0.01)
    cpu = time.process_time() - cpu0
    client.disconnect()
    thread.join(5)
    return Phase("raw", n, last - first, pub.done.value, cpu, f"lost {settings.samples - n}")


async def preload(port: int, client_id: str, pub: Publisher) -> None:
    """Create the persistent session (subscribed to bench/#), then publish everything into its queue."""
    setup = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    subscribed = threading.Event()
    setup.on_subscribe = lambda *_a: subscribed.set()
    setup.connect("127.0.0.1", port)
    setup.subscribe("bench/#", 1)
    setup.loop_start()
    subscribed.wait(10)
    setup.disconnect()
    setup.loop_stop()
    pub.start()
    while pub.done.value == 0.0:
        await asyncio.sleep(0.05)


async def twin_phase(url: str, pub: Publisher, settings: Settings, db_path: Path) -> tuple[Phase, int]:
    client_id = f"bench-twin-{time.monotonic_ns()}"
    model = parse_model(model_yaml(settings, url, client_id), "bench.yaml")
    if settings.preload:
        await preload(int(url.rsplit(":", 1)[1]), client_id, pub)
    historian = DuckDBHistorian(db_path)
    twin = Twin(model, historian=historian)

    def applied() -> int:
        return int(twin.state.applied)

    async def complete() -> int:
        await historian.flush()
        return min(twin.state.applied, historian.stored)

    cpu0, loop0 = time.process_time(), time.thread_time()  # preloaded: the twin drains as soon as it connects
    async with twin:
        connector = twin.connectors["bench"]
        deadline = time.monotonic() + 10
        while not connector.health.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        start = time.time()
        if not settings.preload:
            cpu0, loop0 = time.process_time(), time.thread_time()
            pub.start()
        n, first, last = await wait_counted(applied, complete, settings.samples, start)
        cpu, loop_cpu = time.process_time() - cpu0, time.thread_time() - loop0
    with duckdb.connect(str(db_path), read_only=True) as db:
        row = db.execute(
            "SELECT count(DISTINCT value), min(epoch_us(receive_time)) / 1e6 FROM samples WHERE quality = 0"
        ).fetchone()
    stored = int(row[0]) if row else 0
    first = min(first, float(row[1])) if row and row[1] is not None else first  # decoded before the poll saw it
    lost = settings.samples - stored
    note = (
        f"end-to-end: accepted {twin.intake.stats()['accepted']}, applied {twin.state.applied}, "
        f"stored {historian.stored}, distinct values in the file {stored}, errors {connector.health.errors}"
        + (f" ({connector.health.last_error})" if connector.health.last_error else "")
    )
    return Phase("twin", n, last - first, pub.done.value, cpu, note, loop_cpu), lost


def model_yaml(settings: Settings, url: str, client_id: str = "bench-twin") -> str:
    """A one-line plant whose stations hold the bench signals (JSON is YAML)."""

    def binding(i: int) -> dict[str, object]:
        if settings.batch == 1:
            return {"mqtt": {"topic": f"bench/s{i:05d}", "timestamp": "timestamp"}}
        per_topic = settings.signals // max(1, settings.signals // settings.batch)
        topic = f"bench/batch/{i // per_topic:03d}"
        return {"mqtt": {"topic": topic, "value": "v", "timestamp": "t", "match": {"id": f"s{i:05d}"}}}

    def state(first: int) -> list[dict[str, object]]:
        """A state signal per station (as the example plant has): the analytics decode it, not infer it."""
        if settings.infer_states:
            return []
        return [{"id": "state", "role": "state", "binding": {"mqtt": {"topic": f"bench/state/{first:05d}"}}}]

    stations = [
        {
            "id": f"st{first // settings.station_size:04d}",
            "sim": {"processing_time": {"mean": 1}},
            "signals": [
                *state(first),
                *(
                    {"id": f"s{i:05d}", "binding": binding(i)}
                    for i in range(first, min(first + settings.station_size, settings.signals))
                ),
            ],
        }
        for first in range(0, settings.signals, settings.station_size)
    ]
    line = {"id": "line", "source": "bench", "stations": stations}
    model = {
        "factorytwin": 1,
        "enterprise": {"id": "bench", "sites": [{"id": "site", "areas": [{"id": "area", "lines": [line]}]}]},
        "sources": {
            "bench": {
                "kind": "mqtt",
                "broker": url,
                "client_id": client_id,
                "clean_session": not settings.preload,
                "subscribe": ["bench/#"],
                "qos": 1,
            }
        },
    }
    return json.dumps(model, indent=1)


# --- where the time goes ------------------------------------------------------------------------


def stage_costs(settings: Settings) -> None:
    """CPU per sample of each stage the twin runs on the event loop, on the bench's own payloads, in process.

    The same code as the twin phase without the broker and asyncio: the MQTT connector's decoding, intake,
    live state, analytics (each processor), the historian's Arrow conversion and the DuckDB insert. Best of
    three runs of each stage (CPU time of this thread), so other processes on the machine barely move it.
    """
    model = parse_model(model_yaml(settings, "mqtt://127.0.0.1:1"), "bench.yaml")
    index = PlantIndex(model)

    async def nowhere(_batch: object) -> None:
        return None

    connector = MqttConnector("bench", model.sources["bench"], index.bound_to("bench"), nowhere)  # type: ignore[arg-type]
    messages = [(topic_of(settings, n), payload_of(settings, n)) for n in range(settings.messages)]
    burst = 20_000  # the connector hands over at most about this many samples per batch

    def best(run: Callable[[], object]) -> tuple[float, object]:
        times, result = [], None
        for _ in range(3):
            t0 = time.thread_time()
            result = run()
            times.append(time.thread_time() - t0)
        return min(times) / settings.samples * 1e6, result

    def decode() -> SampleColumns:
        connector._pending = SampleColumns()
        for topic, payload in messages:
            connector._on_message(topic, payload)
        return connector._pending

    rows: list[tuple[str, float]] = []
    cost, cols = best(decode)
    assert isinstance(cols, SampleColumns)
    assert len(cols) == settings.samples, "the bench payloads must decode"
    rows.append(("MQTT decode (orjson, whole-array path)", cost))
    rows.append(("intake", best(lambda: Intake(index).admit(cols))[0]))
    rows.append(("live state", best(lambda: LiveState(index).apply(cols))[0]))
    chunks = [cols.take(range(i, min(i + burst, len(cols)))) for i in range(0, len(cols), burst)]
    analytics = Analytics(index, detectors(index))
    rows.append(("analytics: station states", best(lambda: [analytics.states.apply(c) for c in chunks])[0]))
    rows.append(("analytics: production", best(lambda: [analytics.production.apply(c) for c in chunks])[0]))
    for detector in [*detectors(index), MaintenanceMonitor(index)]:  # the twin's detectors, fresh
        name = type(detector).__name__
        rows.append((f"analytics: {name}", best(lambda d=detector: [d.apply(c) for c in chunks])[0]))  # type: ignore[misc]
    rows.append(("historian: Arrow conversion", best(lambda: [_to_arrow(c) for c in chunks])[0]))
    db = duckdb.connect(":memory:")
    db.execute(_SCHEMA)
    tables = [_to_arrow(c) for c in chunks]
    rows.append(("historian: DuckDB insert (its own thread)", best(lambda: [_insert(db, t) for t in tables])[0]))
    print("stage costs, CPU us/sample (in process, best of 3):")
    for name, us in rows:
        print(f"  {name:45} {us:6.2f}")
    print(f"  {'sum':45} {sum(us for _, us in rows):6.2f}", flush=True)


# --- running and reporting -----------------------------------------------------------------------


async def run(settings: Settings, workdir: Path) -> tuple[list[Phase], int]:
    broker = Mosquitto(workdir)
    try:
        pub = Publisher(broker.port, settings)
    except BaseException:
        broker.stop()
        raise
    phases: list[Phase] = []
    lost = 0
    try:
        for rnd in range(1, settings.rounds + 1):
            raw = await raw_phase(broker.port, pub, settings)
            print(f"  round {rnd} {describe(raw)}", flush=True)
            twin, twin_lost = await twin_phase(
                f"mqtt://127.0.0.1:{broker.port}", pub, settings, workdir / f"h{rnd}.duckdb"
            )
            print(f"  round {rnd} {describe(twin)}", flush=True)
            phases += [raw, twin]
            lost += twin_lost
    finally:
        pub.stop()
        broker.stop()
    return phases, lost


def describe(phase: Phase) -> str:
    return (
        f"{phase.name:4}: {phase.rate:9.0f} samples/s ({phase.samples} in {phase.seconds:.2f} s) | "
        f"client CPU {phase.us_per_sample:5.1f} us/sample"
        + (f" (event loop {phase.loop_us_per_sample:.1f})" if phase.loop_cpu_s else "")
        + f" | publisher {phase.published_per_s:7.0f} msg/s | {phase.note}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="MQTT ingest: the twin end to end against a plain paho client.")
    add = parser.add_argument
    add("--quick", action="store_true", help="a short run (under 30 s)")
    add("--batched", action="store_true", help="many samples per message (a JSON array)")
    add("--batch", type=int, default=1000, help="samples per message with --batched (default 1000)")
    add("--messages", type=int, default=None, help="messages per phase (default 100000, quick 30000; batched 1000/300)")
    add("--signals", type=int, default=1000, help="signals in the model (default 1000)")
    add("--rounds", type=int, default=None, help="raw/twin alternations (default 2, quick 1)")
    add("--station-size", type=int, default=100, help="signals per generated station (default 100)")
    add("--preload", action="store_true", help="queue everything in the broker first, then drain (consumer-bound)")
    add("--infer-states", action="store_true", help="stations without a state signal (the analytics infer states)")
    add("--stages", action="store_true", help="first, CPU per sample of each stage in process (no broker)")
    args = parser.parse_args(argv)
    batch = args.batch if args.batched else 1
    default = (300 if args.quick else 1000) if args.batched else (30_000 if args.quick else 100_000)
    rounds = args.rounds or (1 if args.quick else 2)
    settings = Settings(
        args.messages or default, batch, args.signals, rounds, args.infer_states, args.preload, args.station_size
    )
    logging.basicConfig(level=logging.ERROR)
    print(
        f"messages={settings.messages} samples/message={settings.batch} signals={settings.signals} "
        f"rounds={settings.rounds} (client pid {os.getpid()}, {os.cpu_count()} cores)",
        flush=True,
    )
    started, load = time.time(), os.getloadavg()[0]
    if args.stages:
        stage_costs(settings)
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        phases, lost = asyncio.run(run(settings, Path(tmp)))
    raw = statistics.fmean(p.rate for p in phases if p.name == "raw")
    twin = statistics.fmean(p.rate for p in phases if p.name == "twin")
    for name in ("raw", "twin"):
        cpu = statistics.fmean(p.us_per_sample for p in phases if p.name == name)
        print(f"{name}: client CPU {cpu:.1f} us/sample (mean over rounds)")
    loop = statistics.fmean(p.loop_us_per_sample for p in phases if p.name == "twin")
    print(f"twin: event-loop CPU {loop:.2f} us/sample, so at most {1e6 / loop:.0f} samples/s on one free core")
    print(f"wall {time.time() - started:.1f}s, load average {os.getloadavg()[0]:.1f} (at the start {load:.1f})")
    print(f"ratio={twin / raw if raw else 0.0:.3f} samples_per_s={twin:.0f} raw_per_s={raw:.0f} lost={lost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

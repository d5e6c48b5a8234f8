"""WebSocket latency: from a value change at the device to its message on ``/api/stream``, at a steady ingest rate.

Method
------
* **Value change.** A device (the publisher) sets a new value of a signal and stamps it with its source
  timestamp ``t = time.time()`` just before it publishes it. Latency is the wall-clock time at which a
  client holds the message that carries that value, minus ``t`` (one host, one clock).
* **Broker** - a private Mosquitto on a free loopback port (the one of ``ingest_mqtt.py``).
* **Publisher** - a separate process publishing ``--rate`` samples/s (default 10,000), paced against
  the wall clock, as JSON arrays of ``--batch`` (20) samples ``{"id": "sNNNNN", "v": n, "t": t}`` per
  MQTT message (QoS 0) round-robin over ``--signals`` (1000) signals on ``bench/batch/NNN``.
* **Twin** - this process: ``Twin`` with a DuckDB historian in a temporary file, every live-analytics
  processor on, and its API served by uvicorn on a free port, as ``factorytwin run`` does.
* **Stream client** - a separate process: a ``websockets`` client of ``/api/stream`` on the whole line;
  for each sample in each message, receive time minus ``source_time``.
* **Baseline** - a separate process: a plain paho subscriber of the same topics on the same broker; for
  each sample in each message, receive time minus ``t``. It is the part of the latency that is not the
  twin's (publisher, broker, loopback, a Python client), measured in the same run.
* Samples whose source time falls in the measurement window (after ``--warmup`` s) count.

The last line printed is ``p50_ms=<n> p99_ms=<n> rate=<samples/s>`` (the stream's latency percentiles
and the twin's measured ingest rate over the window).

    .venv/bin/python bench/ws_latency.py --quick
    .venv/bin/python bench/ws_latency.py --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion
from websockets.sync.client import connect

from factorytwin.api import create_app
from factorytwin.historian import DuckDBHistorian
from factorytwin.loopback import free_port
from factorytwin.model import PlantModel
from factorytwin.model.checks import check_model
from factorytwin.runtime import Twin
from factorytwin.security import Role
from ingest_mqtt import Mosquitto, Settings, model_yaml, payload_of, topic_of

LINE = "bench/site/area/line"


def publish(port: int, settings: Settings, rate: float, go: MpEvent, stop: MpEvent) -> None:
    """Process entry point: after ``go``, publish ``rate`` samples/s in messages of ``settings.batch``."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}")
    client.connect("127.0.0.1", port)
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    # paho leaves Nagle on: each message would wait for the broker's (delayed) ACK of the one before, 0-40 ms
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.loop_start()
    go.wait()
    interval = settings.batch / rate
    start = time.time()
    n = 0
    while not stop.is_set():
        delay = start + n * interval - time.time()
        if delay > 0:
            time.sleep(delay)
        client.publish(topic_of(settings, n), payload_of(settings, n), 0)
        n += 1
    client.loop_stop()
    client.disconnect()


def listen_stream(inbox: Connection, ready: MpEvent, stop: MpEvent, out: Connection) -> None:
    """Process entry point: a WebSocket client (of the URL it is sent) recording, per sample, its source time,
    latency, and the legs of it: to the twin's connector, inside the twin, from the twin's send to here."""
    rows: list[tuple[float, float, float, float, float]] = []
    with connect(inbox.recv(), max_size=None) as ws:
        ready.set()
        while not stop.is_set():
            try:
                text = ws.recv(timeout=0.2)
            except TimeoutError:
                continue
            now = time.time()
            msg = json.loads(text)
            sent = msg["time"]
            rows.extend(
                (
                    s["source_time"],
                    now - s["source_time"],
                    s["receive_time"] - s["source_time"],
                    sent - s["receive_time"],
                    now - sent,
                )
                for s in msg["samples"]
            )
    out.send(np.array(rows).reshape(-1, 5))


def listen_mqtt(inbox: Connection, ready: MpEvent, stop: MpEvent, out: Connection) -> None:
    """Process entry point: a plain paho subscriber (of the broker port it is sent) recording source time and
    latency of every sample."""
    rows: list[tuple[float, float]] = []

    def on_message(_c: object, _u: object, m: paho.MQTTMessage) -> None:
        now = time.time()
        rows.extend((s["t"], now - s["t"]) for s in json.loads(m.payload))

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-base-{os.getpid()}")
    client.on_message = on_message
    client.on_subscribe = lambda *_a: ready.set()
    client.connect("127.0.0.1", inbox.recv())
    client.subscribe("bench/#", 0)
    client.loop_start()
    stop.wait()
    client.loop_stop()
    out.send(np.array(rows).reshape(-1, 2))


class Worker:
    """A client process, forked before the twin starts any thread: told where to connect, it reports one result."""

    def __init__(self, target: object) -> None:
        ctx = mp.get_context("fork")
        self.ready = ctx.Event()
        self.stop = ctx.Event()
        inbox, self._send = ctx.Pipe(duplex=False)
        self._recv, out = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=target, args=(inbox, self.ready, self.stop, out), daemon=True)
        self.proc.start()

    async def connect(self, where: object) -> None:
        """Tell the client where to connect; wait until it is connected."""
        self._send.send(where)
        deadline = time.monotonic() + 30
        while not self.ready.is_set():
            if time.monotonic() > deadline or not self.proc.is_alive():
                raise RuntimeError(f"{self.proc.name} did not connect to {where}")
            await asyncio.sleep(0.02)

    def result(self) -> np.ndarray:
        self.stop.set()
        if not self._recv.poll(30):
            raise RuntimeError("a client process reported nothing")
        value: np.ndarray = self._recv.recv()
        self.proc.join(5)
        return value

    def close(self) -> None:
        self.proc.terminate()
        self.proc.join(5)


async def serve(twin: Twin, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(create_app(twin), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.02)
    return server, task


def bench_model(settings: Settings, broker_port: int) -> PlantModel:
    """The generated one-line plant of ingest_mqtt.py (validated without the YAML round trip: 1000 signals)."""
    model = PlantModel.model_validate(json.loads(model_yaml(settings, f"mqtt://127.0.0.1:{broker_port}", "bench")))
    problems = check_model(model)
    if problems:
        raise RuntimeError(f"bench model: {problems}")
    return model


async def run(args: argparse.Namespace, settings: Settings, broker: Mosquitto, clients: dict[str, Worker]) -> Report:
    go, stop_pub = mp.Event(), mp.Event()
    publisher = mp.get_context("fork").Process(
        target=publish, args=(broker.port, settings, args.rate, go, stop_pub), daemon=True
    )
    publisher.start()
    twin = Twin(bench_model(settings, broker.port), historian=DuckDBHistorian(args.workdir / "history.duckdb"))
    _, token = twin.security.tokens.create(Role.VIEWER, "bench")
    port = free_port()
    try:
        async with twin:
            server, task = await serve(twin, port)
            await clients["stream"].connect(f"ws://127.0.0.1:{port}/api/stream?path={LINE}&token={token}")
            await clients["baseline"].connect(broker.port)
            while not twin.connectors["bench"].health.connected:
                await asyncio.sleep(0.02)
            go.set()
            await asyncio.sleep(args.warmup)
            started, admitted0, cpu0 = time.time(), twin.intake.stats()["accepted"], time.process_time()
            await asyncio.sleep(args.seconds)
            window = (started, time.time())
            admitted = twin.intake.stats()["accepted"] - admitted0
            cpu = time.process_time() - cpu0
            await asyncio.sleep(0.5)  # the last changes of the window reach both clients
            stop_pub.set()
            results = {name: client.result() for name, client in clients.items()}
            report = Report(
                window,
                admitted / (window[1] - window[0]),
                cpu / (window[1] - window[0]),
                results,
                twin.changes.stats(),
                {str(s["name"]): int(s["dropped"]) for s in twin.bus.stats()},
            )
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        stop_pub.set()
        publisher.join(5)
    return report


@dataclass
class Report:
    window: tuple[float, float]
    rate: float
    cpu: float
    results: dict[str, np.ndarray]
    changes: dict[str, int]
    dropped: dict[str, int]


def summary(name: str, rows: np.ndarray, window: tuple[float, float]) -> tuple[float, float]:
    """Print and return p50/p99 (ms) of the samples whose source time is in the window; legs if recorded."""
    rows = rows[(rows[:, 0] >= window[0]) & (rows[:, 0] < window[1])]
    if not len(rows):
        raise RuntimeError(f"{name}: no samples in the measurement window")
    p50, p90, p99, top = np.percentile(rows[:, 1] * 1000, [50, 90, 99, 100])
    print(
        f"{name:9}: {len(rows):7d} samples  p50 {p50:6.2f} ms  p90 {p90:6.2f} ms  p99 {p99:6.2f} ms  max {top:.2f} ms"
    )
    for col, leg in enumerate(("device -> twin connector", "inside the twin", "twin send -> client"), start=2):
        if rows.shape[1] > col:
            q50, q99 = np.percentile(rows[:, col] * 1000, [50, 99])
            print(f"           {leg:25}: p50 {q50:6.2f} ms  p99 {q99:6.2f} ms")
    return float(p50), float(p99)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Latency from a value change at the device to its WebSocket message.")
    add = parser.add_argument
    add("--quick", action="store_true", help="a short run (under 30 s)")
    add("--rate", type=float, default=10_000, help="samples/s published (default 10000)")
    add("--signals", type=int, default=1000, help="signals (default 1000)")
    add("--batch", type=int, default=20, help="samples per MQTT message (default 20)")
    add("--seconds", type=float, default=None, help="measurement window (default 30, quick 8)")
    add("--warmup", type=float, default=None, help="seconds before the window (default 3, quick 2)")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (8.0 if args.quick else 30.0)
    args.warmup = args.warmup or (2.0 if args.quick else 3.0)
    settings = Settings(messages=0, batch=args.batch, signals=args.signals, rounds=1)
    logging.basicConfig(level=logging.ERROR)
    started = time.time()
    print(
        f"rate={args.rate:.0f}/s signals={args.signals} samples/message={args.batch} "
        f"window={args.seconds:g}s warmup={args.warmup:g}s ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    clients = {"stream": Worker(listen_stream), "baseline": Worker(listen_mqtt)}  # forked before any thread
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp:
            args.workdir = Path(tmp)
            # Nagle off on the broker's sockets, as a latency-sensitive deployment sets it (default: on)
            broker = Mosquitto(args.workdir, "set_tcp_nodelay true\n")
            try:
                out = asyncio.run(run(args, settings, broker, clients))
            finally:
                broker.stop()
    finally:
        for client in clients.values():
            client.close()
    base = summary("baseline", out.results["baseline"], out.window)
    p50, p99 = summary("stream", out.results["stream"], out.window)
    print(f"twin ingest {out.rate:.0f} samples/s, twin process CPU {out.cpu:.0%} of a core")
    print(f"change feed {out.changes}; bus drops per subscriber {out.dropped}")
    print(f"stream p99 / baseline p99 = {p99 / base[1]:.1f}; stream p99 - baseline p99 = {p99 - base[1]:.2f} ms")
    print(f"goal p99 < 50 ms at 10000 samples/s: {'met' if p99 < 50 and out.rate >= 9500 else 'NOT met'}")
    print(f"wall {time.time() - started:.1f}s")
    print(f"p50_ms={p50:.2f} p99_ms={p99:.2f} rate={out.rate:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""OPC UA ingest benchmark: the twin's sustained end-to-end rate against a raw asyncua subscription.

Method
------
* **Load generator** - a separate process (so it has its own core and GIL) runs an asyncua
  ``Server`` on a free loopback port with ``--signals`` Double variables ``ns=2;s=Bench.Sxxxxx`` and
  rewrites them round-robin with ``server.write_attribute_value`` (a new value and source/server
  timestamps each time), yielding to its event loop every ``--batch`` writes so the server can answer
  publish requests. ``--rate 0`` writes as fast as it can; otherwise it paces to that many writes/s.
  The same server serves every phase; the generator counts its writes in shared memory, so each
  phase also reports the generator's own write rate over its window (when that equals the receive
  rate, the generator, not the client, is the limit).
* **Raw phase** - what a plain asyncua user writes: ``client.create_subscription(period, None)``
  (iterator mode, an unbounded event queue so nothing is dropped client-side),
  ``sub.subscribe_data_change(nodes, queuesize=1000, sampling_interval=0)`` (the monitored-item
  parameters the twin's connector uses) and ``async for ev in sub`` counting events.
* **Twin phase** - a generated plant model (one line, stations of 100 signals) binding the same
  node ids, run by ``Twin`` with a ``DuckDBHistorian`` in a temporary file. A sample counts once it
  has reached both the live state and the historian: at each window edge the historian is flushed and
  ``min(state.applied, historian.stored)`` is read. After the twin stops (bus drained, historian
  closed) the end-to-end counts are checked: intake accepted == live state applied == historian
  stored == rows in the DuckDB file.
* **Sustained** - each phase subscribes, waits ``--warmup`` seconds, then measures over ``--seconds``.
  Phases alternate raw, twin (``--rounds`` times) against the same load; rates are averaged.

The last line printed is ``ratio=<twin/raw> samples_per_s=<n> raw_per_s=<n>``.

    .venv/bin/python bench/ingest_opcua.py --quick
    .venv/bin/python bench/ingest_opcua.py --signals 1000 --seconds 20 --rounds 2
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
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

import duckdb
from asyncua import Client, Server, ua
from asyncua.server.monitored_item_service import MonitoredItemValues

from factorytwin.historian import DuckDBHistorian
from factorytwin.model import parse_model
from factorytwin.runtime import Twin

NAMESPACE_URI = "urn:factorytwin:bench"
STATION_SIZE = 100  # signals per generated station
QUEUE_SIZE = 1000  # monitored-item queue, as in OpcUaConnector
PUBLISH_MS = 100.0  # publishing interval, the model's default


@dataclass(frozen=True)
class Settings:
    signals: int
    rate: float
    batch: int
    lean: bool
    warmup: float
    seconds: float
    rounds: int
    publish_ms: float


@dataclass(frozen=True)
class Window:
    """What happened over one phase's measuring window."""

    seconds: float
    received: int
    written: int
    generator_cpu: float  # CPU seconds per second (1.0 = one core busy)
    client_cpu: float
    other_cpu: float  # every other process on the machine

    @property
    def received_per_s(self) -> float:
        return self.received / self.seconds

    @property
    def written_per_s(self) -> float:
        return self.written / self.seconds


@dataclass(frozen=True)
class Phase:
    name: str
    window: Window
    note: str = ""


# --- load generator (runs in its own process) -------------------------------------------------


def node_id(i: int) -> str:
    return f"ns=2;s=Bench.S{i:05d}"


def generate(
    port: int, signals: int, rate: float, batch: int, lean: bool, written: Synchronized[int], ready: MpEvent
) -> None:
    """Process entry point: serve the variables and keep rewriting them until terminated."""
    logging.basicConfig(level=logging.CRITICAL)  # e.g. BadNoSubscription when a client leaves
    if lean:
        MonitoredItemValues.set_current_datavalue = _keep_datavalue  # type: ignore[method-assign]
    asyncio.run(_generate(port, signals, rate, batch, written, ready))


def _keep_datavalue(self: MonitoredItemValues, value: ua.DataValue) -> None:
    """MonitoredItemValues.set_current_datavalue without its ``copy.deepcopy``.

    The stock server deep-copies every written DataValue once per monitored item, which costs more
    than the write and the encoding together. The generator never mutates a DataValue after writing
    it, so keeping a reference is equivalent, and the server can then produce about twice as many
    changes per second.
    """
    self.old_dvalue = self.current_dvalue
    self.current_dvalue = value


async def _generate(
    port: int, signals: int, rate: float, batch: int, written: Synchronized[int], ready: MpEvent
) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench")
    ns = await server.register_namespace(NAMESPACE_URI)
    assert ns == 2, f"namespace index {ns}"
    folder = await server.nodes.objects.add_folder(ua.NodeId("Bench", ns), "Bench")
    nodes = [ua.NodeId.from_string(node_id(i)) for i in range(signals)]
    for i, nid in enumerate(nodes):
        await folder.add_variable(nid, f"S{i:05d}", 0.0, varianttype=ua.VariantType.Double)
    async with server:
        ready.set()
        await _write_forever(server, nodes, rate, batch, written)


async def _write_forever(
    server: Server, nodes: list[ua.NodeId], rate: float, batch: int, written: Synchronized[int]
) -> None:
    count = 0
    start = time.perf_counter()
    value = 0.0
    while True:
        for nid in nodes:
            value += 1.0
            now = datetime.now(UTC)
            dv = ua.DataValue(ua.Variant(value, ua.VariantType.Double), SourceTimestamp=now, ServerTimestamp=now)
            await server.write_attribute_value(nid, dv)
            count += 1
            if count % batch == 0:
                written.value = count
                await _pace(start, count, rate)


async def _pace(start: float, count: int, rate: float) -> None:
    """Yield to the server's event loop; when a rate is set, also sleep until the schedule allows."""
    delay = count / rate - (time.perf_counter() - start) if rate > 0 else 0.0
    await asyncio.sleep(max(delay, 0.0))


class Generator:
    """The load generator process and its shared write counter."""

    def __init__(self, signals: int, rate: float, batch: int, lean: bool) -> None:
        ctx = mp.get_context("spawn")
        self.port = _free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/bench"
        self._written: Synchronized[int] = ctx.Value("Q", 0)  # type: ignore[assignment]
        self._ready = ctx.Event()
        self._proc = ctx.Process(
            target=generate, args=(self.port, signals, rate, batch, lean, self._written, self._ready), daemon=True
        )

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    @property
    def written(self) -> int:
        return int(self._written.value)

    def start(self, timeout: float = 60.0) -> None:
        self._proc.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.2):
            if not self._proc.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the load generator did not start (exit code {self._proc.exitcode})")

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.join(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- measuring ----------------------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and all its threads (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU time spent by the whole machine outside idle and iowait (Linux /proc/stat; 0.0 elsewhere)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(gen: Generator) -> tuple[float, float, float]:
    return cpu_seconds(gen.pid), cpu_seconds(os.getpid()), busy_cpu_seconds()


async def measure(gen: Generator, settings: Settings, count: Callable[[], Awaitable[int]]) -> Window:
    """Warm up, then count what was received and written over the window, and who used the CPU."""
    await asyncio.sleep(settings.warmup)
    r0, w0, t0, cpu0 = await count(), gen.written, time.perf_counter(), cpu_snapshot(gen)
    await asyncio.sleep(settings.seconds)
    r1, w1, t1, cpu1 = await count(), gen.written, time.perf_counter(), cpu_snapshot(gen)
    elapsed = t1 - t0
    g, c, busy = ((after - before) / elapsed for before, after in zip(cpu0, cpu1, strict=True))
    return Window(elapsed, r1 - r0, w1 - w0, g, c, max(busy - g - c, 0.0))


async def raw_phase(gen: Generator, settings: Settings) -> Phase:
    """A plain asyncua subscription (iterator mode) on every node, counting events."""
    received = 0

    async def consume(sub: object) -> None:
        nonlocal received
        async for _event in sub:  # type: ignore[attr-defined]
            received += 1

    async def count() -> int:
        return received

    async with Client(gen.url, timeout=30) as client:
        sub = await client.create_subscription(settings.publish_ms, None, queue_maxsize=0)
        nodes = [client.get_node(node_id(i)) for i in range(settings.signals)]
        await sub.subscribe_data_change(nodes, queuesize=QUEUE_SIZE, sampling_interval=0)
        consumer = asyncio.create_task(consume(sub))
        window = await measure(gen, settings, count)
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        await sub.delete()
    return Phase("raw", window)


async def twin_phase(gen: Generator, settings: Settings, db_path: Path) -> Phase:
    """The twin on the same nodes: samples that reached live state and historian, then a drain check."""
    model = parse_model(model_yaml(settings.signals, gen.url, settings.publish_ms), "bench.yaml")
    historian = DuckDBHistorian(db_path)
    twin = Twin(model, historian=historian, endpoints={"bench": gen.url})

    async def count() -> int:
        await historian.flush()
        return min(twin.state.applied, historian.stored)

    async with twin:
        window = await measure(gen, settings, count)
    return Phase("twin", window, end_to_end(twin, db_path))


def end_to_end(twin: Twin, db_path: Path) -> str:
    """After the twin stopped: every accepted sample must be in live state and in the DuckDB file."""
    accepted = twin.intake.stats()["accepted"]
    received = sum(s.health.samples for s in twin.connectors.values())
    with duckdb.connect(str(db_path), read_only=True) as db:
        row = db.execute("SELECT count(*) FROM samples").fetchone()
    rows = int(row[0]) if row else -1
    stored = getattr(twin.historian, "stored", -1)
    ok = received == accepted == twin.state.applied == stored == rows
    verdict = "OK" if ok else "MISMATCH"
    return (
        f"end-to-end {verdict}: received {received}, accepted {accepted}, "
        f"applied {twin.state.applied}, stored {stored}, rows {rows}"
    )


def model_yaml(signals: int, url: str, publish_ms: float) -> str:
    """A one-line plant whose stations hold ``signals`` signals bound to the generator's nodes (JSON is YAML)."""
    stations = [
        {
            "id": f"st{first // STATION_SIZE:03d}",
            "sim": {"processing_time": {"mean": 1}},
            "signals": [
                {"id": f"s{i:05d}", "binding": {"opcua": {"node": node_id(i)}}}
                for i in range(first, min(first + STATION_SIZE, signals))
            ],
        }
        for first in range(0, signals, STATION_SIZE)
    ]
    line = {"id": "line", "source": "bench", "stations": stations}
    model = {
        "factorytwin": 1,
        "enterprise": {"id": "bench", "sites": [{"id": "site", "areas": [{"id": "area", "lines": [line]}]}]},
        "sources": {"bench": {"kind": "opcua", "endpoint": url, "publishing_interval_ms": publish_ms}},
    }
    return json.dumps(model, indent=1)


# --- running --------------------------------------------------------------------------------------


async def run_phases(gen: Generator, settings: Settings, workdir: Path) -> list[Phase]:
    """Alternate raw and twin phases against the same running generator."""
    phases: list[Phase] = []
    for rnd in range(1, settings.rounds + 1):
        for phase in (raw_phase(gen, settings), twin_phase(gen, settings, workdir / f"history-{rnd}.duckdb")):
            result = await phase
            print(f"  round {rnd} {describe(result)}", flush=True)
            phases.append(result)
    return phases


def describe(phase: Phase) -> str:
    w = phase.window
    unit = "events/s " if phase.name == "raw" else "samples/s"
    line = (
        f"{phase.name:4}: {w.received_per_s:8.0f} {unit} | generator {w.written_per_s:8.0f} writes/s "
        f"({w.received / w.written if w.written else 0:.0%} delivered) | CPU: generator {w.generator_cpu:4.0%}, "
        f"client {w.client_cpu:4.0%}, others {w.other_cpu:4.0%}"
    )
    return f"{line}\n    {phase.note}" if phase.note else line


def mean_rate(phases: list[Phase], name: str, written: bool = False) -> float:
    return statistics.fmean(
        p.window.written_per_s if written else p.window.received_per_s for p in phases if p.name == name
    )


def report(settings: Settings, phases: list[Phase], wall: float) -> None:
    """The human summary, then the machine-readable last line."""
    raw, twin = mean_rate(phases, "raw"), mean_rate(phases, "twin")
    rate = "max" if settings.rate <= 0 else f"{settings.rate:.0f}/s"
    server = "lean (no per-item deepcopy)" if settings.lean else "stock asyncua"
    print(
        f"signals={settings.signals} rate={rate} batch={settings.batch} publish={settings.publish_ms:.0f} ms "
        f"server={server} window={settings.seconds:.0f} s after {settings.warmup:.0f} s warm-up "
        f"rounds={settings.rounds} wall={wall:.1f} s"
    )
    print(f"raw asyncua subscription: {raw:8.0f} events/s  (generator {mean_rate(phases, 'raw', True):8.0f} writes/s)")
    print(
        f"twin end to end:          {twin:8.0f} samples/s (generator {mean_rate(phases, 'twin', True):8.0f} writes/s)"
    )
    if not all(p.note.startswith("end-to-end OK") for p in phases if p.name == "twin"):
        print("WARNING: the twin's end-to-end counts do not match (see above)")
    print(f"ratio={twin / raw if raw else 0.0:.3f} samples_per_s={twin:.0f} raw_per_s={raw:.0f}")


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description="OPC UA ingest: the twin end to end against raw asyncua.")
    add = parser.add_argument
    add("--quick", action="store_true", help="a short run (under 30 s)")
    add("--signals", type=int, default=1000, help="variables on the server (default 1000)")
    add("--rate", type=float, default=0.0, help="target writes/s in total; 0 = as fast as possible (default)")
    add("--batch", type=int, default=200, help="generator writes between event-loop yields (default 200)")
    add("--stock-server", action="store_true", help="keep asyncua's deepcopy of every monitored value")
    add("--seconds", type=float, default=None, help="measuring window per phase (default 15, quick 4)")
    add("--warmup", type=float, default=None, help="seconds before each window (default 3, quick 2)")
    add("--rounds", type=int, default=None, help="raw/twin alternations (default 2, quick 1)")
    add("--publish-ms", type=float, default=PUBLISH_MS, help="publishing interval in ms (default 100)")
    args = parser.parse_args(argv)
    return Settings(
        signals=args.signals,
        rate=args.rate,
        batch=args.batch,
        lean=not args.stock_server,
        warmup=args.warmup if args.warmup is not None else (2.0 if args.quick else 3.0),
        seconds=args.seconds if args.seconds is not None else (4.0 if args.quick else 15.0),
        rounds=args.rounds if args.rounds is not None else (1 if args.quick else 2),
        publish_ms=args.publish_ms,
    )


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    start = time.perf_counter()
    gen = Generator(settings.signals, settings.rate, settings.batch, settings.lean)
    gen.start()
    print(f"generator pid {gen.pid}: {settings.signals} signals at {gen.url}; client pid {os.getpid()}", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            phases = asyncio.run(run_phases(gen, settings, Path(tmp)))
    finally:
        gen.stop()
    report(settings, phases, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())

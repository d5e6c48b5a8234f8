"""OPC UA ingest benchmark: the twin's sustained end-to-end rate against a raw asyncua subscription.

Method
------
* **Load generator** - a separate process (its own core and GIL) runs an asyncua ``Server`` on a
  free loopback port with ``--signals`` Double variables ``ns=2;s=Bench.Sxxxxx`` and rewrites them
  round-robin with ``server.write_attribute_value`` (a new value, source and server timestamps each
  time), yielding to its event loop every ``--batch`` writes so the server can answer publish
  requests. ``--rate 0`` writes as fast as it can, otherwise it paces itself to that many writes/s.
  It counts its writes in shared memory, so every phase also reports the generator's own write rate.
  ``--lean-server`` replaces asyncua's per-change monitored-item callback with an equivalent one
  without a deepcopy and a throwaway default notification (same bytes on the wire, ~2-3x the
  changes/s): the stock server cannot outrun one client core, the lean one can.
* **Raw phase** - what a plain asyncua user writes: ``client.create_subscription(period, None)``
  (iterator mode, unbounded event queue so nothing is dropped client-side),
  ``sub.subscribe_data_change(nodes, queuesize=1000, sampling_interval=0)`` (the monitored-item
  parameters of the twin's connector) and ``async for ev in sub`` counting the events.
* **Twin phase** - a generated plant model (one line, stations of ``--station-size`` signals) bound
  to the same nodes, run by ``Twin`` with a ``DuckDBHistorian`` in a temporary file. A sample counts
  once it is in both the live state and the historian: at each window edge the historian is flushed
  and ``min(state.applied, historian.stored)`` is read. After the twin stops (bus drained, historian
  closed): intake accepted == live state applied == historian stored == rows in the DuckDB file.
* **Sustained** - each phase subscribes, waits ``--warmup`` s, then measures over ``--seconds`` s.
  Phases alternate raw, twin (``--rounds`` times) against the same server and load; rates are means.
  Each phase also reports the CPU used over its window by the generator, by this (client) process -
  as microseconds per received sample - and by the rest of the machine, which is shared.

The last line printed is ``ratio=<twin/raw> samples_per_s=<n> raw_per_s=<n>``.

    .venv/bin/python bench/ingest_opcua.py --quick
    .venv/bin/python bench/ingest_opcua.py --signals 1000 --seconds 15 --rounds 3
    .venv/bin/python bench/ingest_opcua.py --signals 20 --lean-server --rounds 3   # client-bound
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
from typing import Any

import duckdb
from asyncua import Client, Server, ua
from asyncua.server.monitored_item_service import MonitoredItemService

from factorytwin.historian import DuckDBHistorian
from factorytwin.model import PlantModel, parse_model
from factorytwin.runtime import Twin

NAMESPACE_URI = "urn:factorytwin:bench"
QUEUE_SIZE = 1000  # monitored-item queue size, as in OpcUaConnector
PUBLISH_MS = 100.0  # publishing interval, the model's default
STOP_TIMEOUT_S = 15.0  # Twin.stop() takes a few seconds at most when it works
BUSY_MACHINE = 0.5  # other processes' mean CPU use above which the rates are flagged as perturbed
KEPT_UP = 0.95  # a phase that received this share of the writes kept up with the generator


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
    station_size: int


@dataclass(frozen=True)
class Window:
    """What happened over one phase's measuring window."""

    seconds: float
    received: int
    written: int
    generator_cpu: float  # CPU seconds per second (1.0 = one core busy)
    client_cpu: float
    other_cpu: float  # everything else on the machine

    @property
    def received_per_s(self) -> float:
        return self.received / self.seconds

    @property
    def written_per_s(self) -> float:
        return self.written / self.seconds

    @property
    def delivered(self) -> float:
        return self.received / self.written if self.written else 0.0

    @property
    def client_us_per_sample(self) -> float:
        return self.client_cpu * self.seconds / self.received * 1e6 if self.received else 0.0


@dataclass(frozen=True)
class Phase:
    name: str
    window: Window
    losses: int  # connection losses during the phase
    note: str = ""


# --- load generator (its own process) ------------------------------------------------------------


def node_id(i: int) -> str:
    return f"ns=2;s=Bench.S{i:05d}"


def generate(
    port: int, signals: int, rate: float, batch: int, lean: bool, written: Synchronized[int], ready: MpEvent
) -> None:
    """Process entry point: serve the variables and keep rewriting them until terminated."""
    logging.basicConfig()
    logging.getLogger().setLevel(logging.CRITICAL)  # e.g. BadNoSubscription when a client leaves
    if lean:
        MonitoredItemService.datachange_callback = _lean_datachange_callback
    asyncio.run(_generate(port, signals, rate, batch, written, ready))


_stock_datachange_callback = MonitoredItemService.datachange_callback


async def _lean_datachange_callback(
    self: MonitoredItemService, handle: int, value: ua.DataValue, error: ua.StatusCode | None = None
) -> None:
    """asyncua 2.1's ``MonitoredItemService.datachange_callback`` without two per-change wastes.

    The stock callback deep-copies the written DataValue (``MonitoredItemValues.set_current_datavalue``)
    and builds a default ``MonitoredItemNotification()`` - a default DataValue and Variant - only to
    overwrite both fields: most of the server's CPU per change. The generator never mutates a DataValue
    after writing it, so keeping a reference is equivalent and the same notifications go on the wire.
    """
    if error:
        await _stock_datachange_callback(self, handle, value, error)
        return
    mid = self._monitored_datachange[handle]
    mdata = self._monitored_items[mid]
    if mdata.mode == ua.MonitoringMode.Disabled:
        return
    mdata.mvalue.old_dvalue, mdata.mvalue.current_dvalue = mdata.mvalue.current_dvalue, value
    if mdata.filter:
        passed = self._is_data_changed(mdata.mvalue, mdata.filter.Trigger) and self._is_deadband_exceeded(
            mdata.mvalue, mdata.filter
        )
    else:
        passed = self._is_data_changed(mdata.mvalue, ua.DataChangeTrigger.StatusValue)
    if passed:
        event = ua.MonitoredItemNotification(ClientHandle=mdata.client_handle, Value=value)
        await self.isub.enqueue_datachange_event(mid, event, mdata.queue_size)


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
        # the platform's default: fork on Linux (no event loop or thread exists yet), which skips
        # re-importing this module's dependencies in the child
        ctx = mp.get_context()
        self.port = _free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/bench"
        self._written: Synchronized[int] = ctx.Value("Q", 0)
        self._ready = ctx.Event()
        args = (self.port, signals, rate, batch, lean, self._written, self._ready)
        self._proc = ctx.Process(target=generate, args=args, daemon=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    @property
    def written(self) -> int:
        return int(self._written.value)

    def start(self) -> None:
        self._proc.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
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


# --- measuring -----------------------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and all its threads (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU time the whole machine spent outside idle and iowait (Linux /proc/stat; 0.0 elsewhere)."""
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
    lost = 0

    async def consume(sub: Any) -> None:
        nonlocal received
        async for _event in sub:
            received += 1

    async def count() -> int:
        return received

    async def on_lost(exc: Exception) -> None:  # only counted, for the report
        nonlocal lost
        lost += 1

    async with Client(gen.url) as client:
        client.connection_lost_callback = on_lost
        sub = await client.create_subscription(settings.publish_ms, None, queue_maxsize=0)
        nodes = [client.get_node(node_id(i)) for i in range(settings.signals)]
        await sub.subscribe_data_change(nodes, queuesize=QUEUE_SIZE, sampling_interval=0)
        consumer = asyncio.create_task(consume(sub))
        window = await measure(gen, settings, count)
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        await sub.delete()
    return Phase("raw", window, lost, f"connection losses {lost}" if lost else "")


async def twin_phase(gen: Generator, settings: Settings, model: PlantModel, db_path: Path) -> Phase:
    """The twin on the same nodes: samples that reached live state and historian, then a drain check."""
    historian = DuckDBHistorian(db_path)
    twin = Twin(model, historian=historian, endpoints={"bench": gen.url})

    async def count() -> int:
        await historian.flush()
        return min(twin.state.applied, historian.stored)

    await twin.start()
    try:
        window = await measure(gen, settings, count)
    finally:
        survivors = await stop_twin(twin)
    note = end_to_end(twin, db_path)
    if survivors:
        note += f"\n    BUG: {', '.join(survivors)} ignored Twin.stop()'s cancellation and had to be cancelled again"
    return Phase("twin", window, sum(c.health.errors for c in twin.connectors.values()), note)


async def stop_twin(twin: Twin, timeout: float = STOP_TIMEOUT_S) -> list[str]:
    """``Twin.stop()``, guarded: connector tasks that survive its cancellation are cancelled again.

    Returns the names of the tasks that had to be cancelled twice (Twin names them ``source-<id>``).
    """
    stopper = asyncio.create_task(twin.stop())
    await asyncio.wait({stopper}, timeout=timeout)
    survivors = [t for t in asyncio.all_tasks() if t.get_name().startswith("source-") and not t.done()]
    for task in survivors:
        task.cancel()
    await asyncio.wait_for(stopper, timeout)
    return sorted(t.get_name() for t in survivors)


def end_to_end(twin: Twin, db_path: Path) -> str:
    """After the twin stopped: every accepted sample must be in live state and in the DuckDB file."""
    accepted = twin.intake.stats()["accepted"]
    health = [c.health for c in twin.connectors.values()]
    with duckdb.connect(str(db_path), read_only=True) as db:
        row = db.execute("SELECT count(*) FROM samples").fetchone()
    rows = int(row[0]) if row else -1
    stored = getattr(twin.historian, "stored", -1)
    verdict = "OK" if accepted == twin.state.applied == stored == rows else "MISMATCH"
    return (
        f"end-to-end {verdict}: accepted {accepted}, applied {twin.state.applied}, stored {stored}, rows {rows} "
        f"(from {sum(h.samples for h in health)} samples in {sum(h.messages for h in health)} publish responses; "
        f"connection losses {sum(h.errors for h in health)})"
    )


def model_yaml(settings: Settings, url: str) -> str:
    """A one-line plant whose stations hold the generator's signals, ``station_size`` each (JSON is YAML)."""
    size = settings.station_size
    stations = [
        {
            "id": f"st{first // size:04d}",
            "sim": {"processing_time": {"mean": 1}},
            "signals": [
                {"id": f"s{i:05d}", "binding": {"opcua": {"node": node_id(i)}}}
                for i in range(first, min(first + size, settings.signals))
            ],
        }
        for first in range(0, settings.signals, size)
    ]
    line = {"id": "line", "source": "bench", "stations": stations}
    model = {
        "factorytwin": 1,
        "enterprise": {"id": "bench", "sites": [{"id": "site", "areas": [{"id": "area", "lines": [line]}]}]},
        "sources": {"bench": {"kind": "opcua", "endpoint": url, "publishing_interval_ms": settings.publish_ms}},
    }
    return json.dumps(model, indent=1)


# --- running and reporting -----------------------------------------------------------------------


async def run_phases(gen: Generator, settings: Settings, model: PlantModel, workdir: Path) -> list[Phase]:
    """Alternate raw and twin phases against the same running generator."""
    phases: list[Phase] = []
    for rnd in range(1, settings.rounds + 1):
        history = workdir / f"history-{rnd}.duckdb"
        for phase in (raw_phase(gen, settings), twin_phase(gen, settings, model, history)):
            result = await phase
            print(f"  round {rnd} {describe(result)}", flush=True)
            phases.append(result)
    return phases


def describe(phase: Phase) -> str:
    w = phase.window
    unit = "events/s " if phase.name == "raw" else "samples/s"
    line = (
        f"{phase.name:4}: {w.received_per_s:7.0f} {unit} | generator {w.written_per_s:7.0f} writes/s "
        f"({w.delivered:4.0%} delivered) | CPU: generator {w.generator_cpu:4.0%}, client {w.client_cpu:4.0%} "
        f"({w.client_us_per_sample:4.1f} us/sample), rest of machine {w.other_cpu:4.0%}"
    )
    return f"{line}\n    {phase.note}" if phase.note else line


def mean(phases: list[Phase], name: str, metric: Callable[[Window], float]) -> float:
    return statistics.fmean(metric(p.window) for p in phases if p.name == name)


def rate(w: Window) -> float:
    return w.received_per_s


def cpu_cost(w: Window) -> float:
    return w.client_us_per_sample


def report(settings: Settings, phases: list[Phase], wall: float) -> None:
    """The human summary, then the machine-readable last line."""
    load = "max" if settings.rate <= 0 else f"{settings.rate:.0f}/s"
    print(
        f"signals={settings.signals} rate={load} batch={settings.batch} publish={settings.publish_ms:.0f}ms "
        f"server={'lean' if settings.lean else 'stock'} window={settings.seconds:g}s warmup={settings.warmup:g}s "
        f"rounds={settings.rounds} station_size={settings.station_size} wall={wall:.1f}s"
    )
    for name, label in (("raw", "raw asyncua subscription:"), ("twin", "twin end to end:")):
        print(
            f"{label:25} {mean(phases, name, rate):7.0f}/s of {mean(phases, name, lambda w: w.written_per_s):7.0f} "
            f"writes/s, client CPU {mean(phases, name, cpu_cost):4.1f} us/sample"
        )
    raw_us, twin_us = mean(phases, "raw", cpu_cost), mean(phases, "twin", cpu_cost)
    print(f"client CPU per sample raw/twin = {raw_us / twin_us if twin_us else 0.0:.3f} (the ratio if it alone set it)")
    for line in verdict(phases):
        print(line)
    raw, twin = mean(phases, "raw", rate), mean(phases, "twin", rate)
    print(f"ratio={twin / raw if raw else 0.0:.3f} samples_per_s={twin:.0f} raw_per_s={raw:.0f}")


def verdict(phases: list[Phase]) -> list[str]:
    """What limited the rates, and anything that makes them suspect."""
    lines = []
    others = statistics.fmean(p.window.other_cpu for p in phases)
    if others > BUSY_MACHINE:
        lines.append(
            f"WARNING: other processes used {others:.0%} CPU on average (of {os.cpu_count()} CPUs): the rates "
            "depend on what they left; the client CPU per sample is the steadier figure"
        )
    if any(p.losses for p in phases):
        lines.append(
            "WARNING: sessions were lost and rebuilt (see above): those rates measure recovery, not throughput"
        )
    if not all(p.note.startswith("end-to-end OK") for p in phases if p.name == "twin"):
        lines.append("WARNING: the twin's end-to-end counts do not match (see above)")
    if all(p.window.delivered >= KEPT_UP for p in phases):
        lines.append("limit: the load generator - both clients kept up, so the ratio is ~1 by construction")
    else:
        lines.append("limit: the client side - the server dropped queued changes (monitored-item queues full)")
    return lines


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description="OPC UA ingest: the twin end to end against raw asyncua.")
    add = parser.add_argument
    add("--quick", action="store_true", help="a short run (under 30 s)")
    add("--signals", type=int, default=1000, help="variables on the server (default 1000)")
    add("--rate", type=float, default=0.0, help="target writes/s in total; 0 = as fast as possible (default)")
    add("--batch", type=int, default=200, help="generator writes between event-loop yields (default 200)")
    add("--lean-server", action="store_true", help="drop asyncua's per-change deepcopy in the generator")
    add("--seconds", type=float, default=None, help="measuring window per phase (default 15, quick 3.5)")
    add("--warmup", type=float, default=None, help="seconds before each window (default 3, quick 1.5)")
    add("--rounds", type=int, default=None, help="raw/twin alternations (default 2, quick 1)")
    add("--publish-ms", type=float, default=PUBLISH_MS, help="publishing interval in ms (default 100)")
    add("--station-size", type=int, default=100, help="signals per station of the twin's model (default 100)")
    args = parser.parse_args(argv)
    return Settings(
        signals=args.signals,
        rate=args.rate,
        batch=args.batch,
        lean=args.lean_server,
        warmup=args.warmup if args.warmup is not None else (1.5 if args.quick else 3.0),
        seconds=args.seconds if args.seconds is not None else (3.5 if args.quick else 15.0),
        rounds=args.rounds if args.rounds is not None else (1 if args.quick else 2),
        publish_ms=args.publish_ms,
        station_size=args.station_size,
    )


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)  # connection losses are counted instead
    start = time.perf_counter()
    gen = Generator(settings.signals, settings.rate, settings.batch, settings.lean)
    gen.start()
    try:
        model = parse_model(model_yaml(settings, gen.url), "bench.yaml")  # while the generator starts
        gen.wait_ready()
        ready = time.perf_counter() - start
        print(
            f"generator pid {gen.pid}: {settings.signals} signals at {gen.url}, ready after {ready:.1f} s", flush=True
        )
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            phases = asyncio.run(run_phases(gen, settings, model, Path(tmp)))
    finally:
        gen.stop()
    report(settings, phases, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())

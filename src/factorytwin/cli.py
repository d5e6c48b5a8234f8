"""The command line: ``factorytwin schema | check | plant | run | demo``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from .api import create_app
from .auth_cli import AuthDb, TlsCert, TlsKey, open_security, print_demo_tokens, register, tls_options
from .broker import EmbeddedBroker
from .calib_cli import register as register_calibration
from .client import ApiToken, bearer
from .clock import ScaledClock, SystemClock
from .connect.mqtt_browse import browse_mqtt
from .connect.opcua_browse import browse_opcua
from .dashboard import mount_dashboard
from .errors import FactoryTwinError, ModelError
from .historian import DuckDBHistorian
from .logs import LogFormat, log_handler
from .loopback import free_port, local_sources
from .maint_cli import register as register_maintenance
from .model import PlantIndex, PlantModel, json_schema, load_model, parse_model, relocate
from .model.calendar import site_time
from .model.skeleton import skeleton_yaml
from .plan_cli import register as register_planning
from .plant import VirtualPlant
from .reports import MAX_REPORT_DAYS, report_from_api, report_from_file, report_table, write_csv
from .runtime import Twin
from .security import Security
from .sim_cli import register as register_simulation
from .whatif import close_shared_runner

__all__ = ["app", "example_path", "free_port", "local_sources", "main"]

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="factorytwin: a live digital twin of a factory floor."
)
out = Console()
err = Console(stderr=True)

FileArg = Annotated[Path, typer.Argument(help="Plant model file (YAML)")]
Duration = Annotated[float | None, typer.Option(help="Stop after this many seconds (default: run until Ctrl-C)")]
Speed = Annotated[float, typer.Option(help="Simulated seconds per wall-clock second")]
Port = Annotated[int, typer.Option(help="HTTP port of the API")]
Host = Annotated[str, typer.Option(help="HTTP address to listen on")]
Db = Annotated[str, typer.Option(help="Historian DuckDB file (':memory:' keeps nothing)")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log protocol libraries too")]
LogFormatOpt = Annotated[LogFormat, typer.Option("--log-format", help="text, or json: one JSON object per line")]


def example_path(name: str = "bottling.yaml") -> Path:
    """An example plant model shipped with the package."""
    return Path(str(resources.files("factorytwin") / "examples" / name))


def _setup_logging(verbose: bool, log_format: LogFormat = "text") -> None:
    logging.basicConfig(level=logging.INFO, handlers=[log_handler(log_format)])
    # protocol libraries log every retry; our connectors log the first failure and the recovery.
    for library in ("asyncua", "pymodbus", "amqtt", "transitions", "paho"):
        logging.getLogger(library).setLevel(logging.INFO if verbose else logging.CRITICAL)
    logging.getLogger("uvicorn.access").setLevel(logging.INFO if verbose else logging.WARNING)


def _fail(message: str, code: int = 2) -> NoReturn:
    """Print one error line (markup in ``message`` is escaped) and leave with ``code``."""
    err.print(f"[red]error[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _load(path: Path) -> PlantModel:
    try:
        return load_model(path)
    except ModelError as exc:
        for issue in exc.issues:
            err.print(f"[red]error[/red] {escape(str(issue))}", highlight=False, soft_wrap=True)
        err.print(f"{len(exc.issues)} problem(s) in {path}")
        raise typer.Exit(2) from None


def _run(main: Callable[[], Coroutine[None, None, None]]) -> None:
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except FactoryTwinError as exc:
        _fail(str(exc), 1)


@app.command("schema")
def _schema_command() -> None:
    """Print the JSON Schema of the plant model file."""
    print(json_schema())


@app.command("check")
def _check_command(file: FileArg) -> None:
    """Validate a plant model file and print its asset tree."""
    model = _load(file)
    index = PlantIndex(model)
    ent = model.enterprise
    tree = Tree(f"[bold]{ent.name or ent.id}[/bold] ({ent.id})")
    for site in ent.sites:
        t_site = tree.add(f"site {site.id}: {site.name or ''}")
        for area in site.areas:
            t_area = t_site.add(f"area {area.id}: {area.name or ''}")
            for line in area.lines:
                rate = f", target {line.target_rate:g}/h" if line.target_rate else ""
                t_line = t_area.add(f"line {line.id}: {line.name or ''}{rate}")
                for asset in index.lines[f"{ent.id}/{site.id}/{area.id}/{line.id}"].stations:
                    t_line.add(_asset_label(index, asset.path))
                for asset in index.lines[f"{ent.id}/{site.id}/{area.id}/{line.id}"].buffers:
                    t_line.add(_asset_label(index, asset.path))
    out.print(tree)
    for sid, src in model.sources.items():
        out.print(f"source [bold]{sid}[/bold]: {src.kind} {src.address} ({len(index.bound_to(sid))} signals)")
    out.print(f"[green]ok[/green] {file}: {len(index.stations)} stations, {len(index.signals)} signals")


def _asset_label(index: PlantIndex, path: str) -> str:
    asset = index.assets[path]
    signals = escape(
        ", ".join(s.signal.id + (f" [{s.signal.unit}]" if s.signal.unit else "") for s in asset.signals.values())
    )
    if asset.kind == "buffer":
        b = asset.asset
        return f"buffer {b.id} ({b.upstream} -> {b.downstream}, capacity {b.capacity}): {signals}"  # type: ignore[union-attr]
    return f"station {asset.asset.id}: {signals}"


@app.command("plant")
def _plant_command(file: FileArg, speed: Speed = 1.0, duration: Duration = None, verbose: Verbose = False) -> None:
    """Run only the virtual plant, serving the model's sources (a twin can connect from elsewhere)."""
    _setup_logging(verbose)
    model = _load(file)

    async def main() -> None:
        async with VirtualPlant(model, speed=speed) as vp:
            for sid, server in vp.servers.items():
                out.print(f"virtual plant serves source [bold]{sid}[/bold] on {server.address}")
            await _wait(duration)

    _run(main)


@app.command("run")
def _run_command(
    file: FileArg,
    port: Port = 8000,
    host: Host = "127.0.0.1",
    db: Db = "factorytwin.duckdb",
    duration: Duration = None,
    verbose: Verbose = False,
    log_format: LogFormatOpt = "text",
    auth_db: AuthDb = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
) -> None:
    """Run the twin against the sources named in the file, with its API (tokens: factorytwin token create)."""
    _setup_logging(verbose, log_format)
    model, tls = _load(file), tls_options(tls_cert, tls_key, _fail)

    async def main() -> None:
        security = open_security(auth_db, out)
        async with Twin(model, historian=DuckDBHistorian(db), security=security) as twin:
            await _serve(twin, host, port, duration, tls)

    _run(main)


@app.command("demo")
def _demo_command(
    file: Annotated[
        Path | None, typer.Argument(help="Plant model (default: the bundled bottling line on OPC UA, Modbus, MQTT)")
    ] = None,
    port: Port = 8000,
    host: Host = "127.0.0.1",
    speed: Speed = 1.0,
    duration: Duration = None,
    db: Db = ":memory:",
    verbose: Verbose = False,
    log_format: LogFormatOpt = "text",
    auth_db: AuthDb = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
) -> None:
    """Run a virtual plant, the twin and the API in one process; nothing else to install."""
    _setup_logging(verbose, log_format)
    model, tls = _load(file or example_path("bottling-mixed.yaml")), tls_options(tls_cert, tls_key, _fail)

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            broker = None
            if any(model.sources[sid].kind in ("mqtt", "sparkplug") for sid in model.virtual_plant.serves):
                broker = await stack.enter_async_context(EmbeddedBroker(port=0))
                out.print(f"embedded MQTT broker on {broker.url}")
            local = relocate(model, local_sources(model, broker.url if broker else None))
            # plant and twin share one clock, so at --speed 10 a plant hour reads as an hour, not ten
            clock = ScaledClock(speed) if speed != 1 else SystemClock()
            vp = await stack.enter_async_context(VirtualPlant(local, speed=speed, clock=clock))
            security = Security(auth_db or ":memory:", clock)
            twin = await stack.enter_async_context(
                Twin(local, historian=DuckDBHistorian(db), security=security, clock=clock)
            )
            for sid, server in vp.servers.items():
                out.print(f"virtual plant: source [bold]{sid}[/bold] on {server.address} (speed x{speed:g})")
            print_demo_tokens(twin.security, out)
            await _serve(twin, host, port, duration, tls)

    _run(main)


@app.command("browse")
def _browse_command(
    url: Annotated[str, typer.Argument(help="opc.tcp://host:port/path to walk, or mqtt://host:port to listen to")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the skeleton here (default: stdout)")
    ] = None,
    source_id: Annotated[str, typer.Option("--source-id", help="Id of the source in the skeleton")] = "plc",
    seconds: Annotated[float, typer.Option(help="How long to listen on MQTT")] = 10.0,
    verbose: Verbose = False,
) -> None:
    """Discover a source's tags and write a model-file skeleton with their bindings."""
    _setup_logging(verbose)
    if not url.startswith(("opc.tcp://", "mqtt://", "mqtts://")):
        _fail(f"cannot browse {url}: give an opc.tcp:// or mqtt:// address")

    async def main() -> None:
        extra: dict[str, str] = {}
        try:
            if url.startswith("opc.tcp://"):
                tags = await browse_opcua(url)
                source = f"kind: opcua\nendpoint: {url}"
            else:
                tags, groups = await browse_mqtt(url, seconds)
                source = f"kind: mqtt\nbroker: {url}"
                if groups:
                    extra["spb"] = f"kind: sparkplug\nbroker: {url}\ngroup_id: {sorted(groups)[0]}"
        except (OSError, TimeoutError) as exc:
            raise FactoryTwinError(f"cannot reach {url}: {exc or type(exc).__name__}") from exc
        text = skeleton_yaml(tags, source_id, source, extra)
        parse_model(text, "<skeleton>")  # what we write must be a valid model
        if output is None:
            print(text)
        else:
            output.write_text(text, encoding="utf-8")
        err.print(f"found {len(tags)} variables on {escape(url)}" + (f"; wrote {output}" if output else ""))

    _run(main)


@app.command("report")
def _report_command(
    file: FileArg,
    start: Annotated[str, typer.Option("--from", help="Start, ISO 8601 (site time if no offset)")],
    end: Annotated[str, typer.Option("--to", help="End, ISO 8601 (site time if no offset)")],
    db: Db = "factorytwin.duckdb",
    api: Annotated[
        str | None, typer.Option(help="Ask a running twin (http://host:port) instead of reading --db")
    ] = None,
    line: Annotated[str | None, typer.Option(help="Line path (default: the first line)")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write the rows as CSV here")] = None,
    token: ApiToken = None,
) -> None:
    """Print a shift report (KPIs per shift, station and line) and optionally write it as CSV."""
    model = _load(file)
    zone = ZoneInfo(model.enterprise.sites[0].timezone)
    try:
        t0, t1 = (site_time(text, zone) for text in (start, end))
    except ValueError as exc:
        _fail(str(exc))
    if not 0 < t1 - t0 <= MAX_REPORT_DAYS * 86400:
        _fail(f"--from must be before --to, at most {MAX_REPORT_DAYS} days apart")

    async def main() -> None:
        if api:
            rows = await report_from_api(api, t0, t1, line, bearer(token))
        else:
            rows = await report_from_file(model, Path(db), t0, t1, line)
        out.print(report_table(rows, model.enterprise.sites[0].timezone))
        if csv_out is not None:
            write_csv(rows, csv_out)
            out.print(f"wrote {len(rows)} rows to {csv_out}")

    _run(main)


register_simulation(app, _load, _fail)  # simulate, whatif (sim_cli.py)
register_planning(app, _load, _fail)  # commission, buffers, improve (plan_cli.py)
register_calibration(app, _load, _fail)  # calibrate, forecast (calib_cli.py)
register_maintenance(app, _load, _fail)  # maintenance (maint_cli.py)
register(app, _fail)  # token create/list/revoke, set (auth_cli.py)


async def _serve(twin: Twin, host: str, port: int, duration: float | None, tls: tuple[str, str] | None) -> None:
    cert, key = tls or (None, None)
    api = create_app(twin)
    mount_dashboard(api, twin)  # same app and port; NiceGUI starts in the app's lifespan
    config = uvicorn.Config(
        api,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,
        lifespan="on",
        ssl_certfile=cert,
        ssl_keyfile=key,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise FactoryTwinError(f"the API could not listen on {host}:{port}")
        await asyncio.sleep(0.05)
    url = f"{'https' if tls else 'http'}://{host}:{port}"
    out.print(f"twin API on {url}/api/state  (docs: {url}/docs, dashboard: {url}/)", soft_wrap=True)
    try:
        await _wait(duration, task)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        close_shared_runner()  # what-if jobs the API or the dashboard started: their workers end with the server


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def _wait(duration: float | None, task: asyncio.Task[None] | None = None) -> None:
    """Until ``duration`` has passed, ``task`` has ended, or SIGTERM (a service manager's stop) or SIGINT came.

    The signals go through the event loop, so the caller's shutdown runs: the twin stops, the historian
    flushes and closes, simulation workers end. (Left to uvicorn, which takes them while it serves, they
    would be raised again once it has shut down, and SIGTERM would then kill the process on the spot.)
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        waiting: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
        if duration is not None:
            waiting.add(asyncio.ensure_future(asyncio.sleep(duration)))
        await asyncio.wait(waiting | ({task} if task else set()), return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiting:
            waiter.cancel()
    finally:
        for sig in _STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def main() -> None:
    """Console-script entry point."""
    app()

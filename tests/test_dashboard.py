"""The dashboard in a real browser (Debian's Chromium via Playwright) against a twin on the virtual plant.

One server for the module: the virtual plant, the twin, and the API with the dashboard mounted, on
uvicorn on a free port in a thread of its own (NiceGUI is a process-wide singleton: one mount per
process). Each test opens a fresh browser context and signs in with a token of the role it needs.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from factorytwin.api import create_app
from factorytwin.cli import example_path
from factorytwin.dashboard import mount_dashboard
from factorytwin.loopback import free_port
from factorytwin.maintenance import MonitorSettings
from factorytwin.model import load_model
from factorytwin.plant import VirtualPlant
from factorytwin.runtime import Twin
from factorytwin.security import Role

from .conftest import LINE, ROOT

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The screenshots refresh the docs' images only when asked (FACTORYTWIN_DOC_IMAGES=1): a test run leaves the tree clean
IMG = ROOT / "docs" / "img" if os.environ.get("FACTORYTWIN_DOC_IMAGES") else Path(tempfile.mkdtemp(prefix="ft-shots-"))
SPEED = 1.0  # real time, so throughput and OEE read like a real line's


class Served:
    """The virtual plant, the twin and the API + dashboard, on an event loop in a thread."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = data
        self.tokens: dict[Role, str] = {}
        self.loop = asyncio.new_event_loop()
        self.ready: Future[None] = Future()
        self.server: uvicorn.Server | None = None
        self.twin: Twin | None = None
        self.plant: VirtualPlant | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        try:
            model = load_model(example_path())
            endpoints = {"plant": f"opc.tcp://127.0.0.1:{free_port()}/factorytwin"}
            twin = Twin(model, endpoints=endpoints)
            # health windows of 5 s instead of 15 min, so the station page has an assessment within the test
            twin.maintenance.settings = MonitorSettings(window_s=5.0, min_samples=3)
            async with VirtualPlant(model, speed=SPEED, endpoints=endpoints) as plant, twin:
                self.plant, self.twin = plant, twin
                for role in (Role.VIEWER, Role.OPERATOR, Role.ENGINEER):
                    _, self.tokens[role] = twin.security.tokens.create(role, f"test {role.label}")
                app = create_app(twin)
                mount_dashboard(app, twin)
                config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
                self.server = uvicorn.Server(config)
                serving = asyncio.create_task(self.server.serve())
                while not self.server.started:
                    await asyncio.sleep(0.05)
                await twin.wait_for(lambda: len(twin.state.signals) == len(twin.index.signals), 15)
                self.ready.set_result(None)
                await serving
        except BaseException as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
            raise

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop (the twin is not thread-safe) and return its result."""

        async def run() -> Any:
            result = fn()
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as mp:
        data = tmp_path_factory.mktemp("dashboard")
        mp.setenv("FACTORYTWIN_DATA", str(data))
        s = Served(data)
        s.thread.start()
        s.ready.result(40)
        yield s
        s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_sign_in_refuses_an_unknown_token_and_pages_need_it(served: Served, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{served.base}/station/{LINE}/filler")
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    page.get_by_test_id("token").fill("ft_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Unknown or revoked token.")).to_be_visible()
    page.get_by_test_id("token").fill(served.tokens[Role.VIEWER])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{served.base}/station/{LINE}/filler")  # back to the page asked for
    context.close()


@pytest.fixture
def open_as(served: Served, browser: Browser) -> Iterator[Callable[[Role, str], Page]]:
    """Open a page signed in with a token of a role; every request it makes is checked to stay local."""
    contexts = []
    requests: list[str] = []

    def open_page(role: Role, path: str = "/") -> Page:
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{served.base}{path}")
        page.get_by_test_id("token").fill(served.tokens[role])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{served.base}{path}")
        return page

    yield open_page
    for context in contexts:
        context.close()
    outside = [u for u in requests if not re.match(rf"(http|ws)://127\.0\.0\.1:{served.port}/", u)]
    assert requests
    assert not outside, f"requests left the server: {outside[:5]}"


def test_overview_draws_the_line_and_updates_live(open_as: Callable[[Role, str], Page]) -> None:
    page = open_as(Role.VIEWER, "/")
    line = page.get_by_test_id("line")
    for station in ("rinser", "filler", "capper", "labeler", "packer"):
        expect(line.locator(f'[data-station="{station}"]')).to_have_count(1)
    expect(line.locator("[data-buffer]")).to_have_count(4)
    throughput = page.get_by_test_id("throughput")
    expect(throughput).to_have_text(re.compile(r"[\d,]+ /h"))
    first = throughput.inner_text()
    expect(throughput).not_to_have_text(first, timeout=15_000)  # live: no reload
    expect(page.get_by_test_id("line-oee")).to_have_text(re.compile(r"\d+ %"))
    expect(page.get_by_test_id("rate").locator("canvas")).to_be_attached()


def test_station_page_shows_trends_timeline_oee_and_spc(open_as: Callable[[Role, str], Page]) -> None:
    page = open_as(Role.VIEWER, "/")
    page.get_by_test_id("line").locator('[data-station="filler"]').click()
    page.wait_for_url(re.compile(rf".*/station/{LINE}/filler$"))
    expect(page.get_by_test_id("station-state")).to_have_text(re.compile(r"running|starved|blocked|down|idle"))
    expect(page.get_by_test_id("kpi-oee")).to_have_text(re.compile(r"\d+ %"))
    expect(page.get_by_test_id("timeline").locator("rect[data-state]").first).to_be_attached()
    expect(page.locator('[data-signal="fill_volume"] canvas')).to_be_attached()
    expect(page.locator('[data-spc="fill_volume"] canvas')).to_be_attached()
    expect(page.get_by_test_id("health-index")).to_have_text(re.compile(r"^\d+ %$"), timeout=20_000)
    driver = re.compile(r"driven by [A-Z][\w ]+ [-\d.e]+ \S+ \(new [-\d.e]+\)")  # a named signal, now and new
    expect(page.get_by_test_id("health")).to_contain_text(driver)
    expect(page.get_by_test_id("rul")).to_contain_text("remaining useful life")
    expect(page.get_by_test_id("setpoints")).to_have_count(0)  # a viewer sees no setpoint controls
    # the trends span the chosen window: 10 minutes, then an hour (their time axis, read from the chart itself)
    chart = int((page.locator('[data-signal="fill_volume"]').get_attribute("id") or "c0")[1:])
    span_is = "([id, ms]) => { const x = getElement(id).chart.getOption().xAxis[0]; return x.max - x.min === ms; }"
    page.wait_for_function(span_is, arg=[chart, 600_000])
    page.get_by_test_id("trend-span").get_by_text("1 h").click()
    page.wait_for_function(span_is, arg=[chart, 3_600_000])
    page.goto(page.url.replace("/filler", "/nowhere"))
    expect(page.get_by_text(f"There is no station '{LINE}/nowhere' in the plant model.")).to_be_visible()


def test_operator_acknowledges_an_alert_a_viewer_cannot(served: Served, open_as: Callable[[Role, str], Page]) -> None:
    viewer = open_as(Role.VIEWER, "/alerts")
    expect(viewer.locator("[data-alert]").first).to_be_visible()
    expect(viewer.get_by_role("button", name="Acknowledge")).to_have_count(0)
    page = open_as(Role.OPERATOR, "/alerts")
    row = page.locator('[data-alert][data-state="active"]').first
    alert_id = int(row.get_attribute("data-alert") or 0)
    row.get_by_role("button", name="Acknowledge").click()
    acknowledged = page.locator(f'[data-alert="{alert_id}"]')
    expect(acknowledged).to_have_attribute("data-state", "acknowledged")
    expect(acknowledged).to_contain_text("acknowledged by test operator")
    history = page.locator("tbody tr", has_text="test operator")  # the 24-hour table reads the historian
    expect(history.first).to_contain_text("acknowledged")
    alert = served.call(lambda: served.twin.analytics.alerts.alerts[alert_id])  # type: ignore[union-attr]
    assert alert.state.value == "acknowledged"
    assert alert.acknowledged_by == "test operator"
    entries = served.call(lambda: served.twin.security.audit.entries(0, float("inf"), action="alert.acknowledge"))  # type: ignore[union-attr]
    assert [(e.who, e.target, e.result) for e in entries] == [("test operator", str(alert_id), "ok")]


def test_engineer_runs_a_whatif_and_sees_the_comparison(served: Served, open_as: Callable[[Role, str], Page]) -> None:
    viewer = open_as(Role.VIEWER, "/whatif")
    expect(viewer.get_by_test_id("forbidden")).to_contain_text("engineer")
    page = open_as(Role.ENGINEER, "/whatif")
    page.get_by_label("station / buffer").click()
    page.get_by_role("option", name="filler", exact=True).click()
    page.get_by_label("value").fill("0")  # bad input: a clear message, nothing runs
    page.get_by_role("button", name="Run what-if").click()
    expect(page.get_by_text("a speed or time must be positive")).to_be_visible()
    page.get_by_label("value").fill("1.25")
    page.get_by_role("button", name="Run what-if").click()
    comparison = page.get_by_test_id("comparison")
    expect(comparison).to_be_visible(timeout=60_000)
    expect(comparison).to_contain_text("What if filler.speed = 1.25?")
    expect(page.get_by_test_id("verdict")).to_contain_text("Throughput rises by")
    expect(comparison.locator("tbody tr")).to_have_count(4)
    expect(comparison).to_contain_text(re.compile(r"\[[\d,]+ … [\d,]+\]"))  # confidence intervals
    expect(page.get_by_test_id("bottleneck")).to_contain_text(re.compile(r"filler → \w+ \((moved|did not move)\)"))
    page.screenshot(path=str(IMG / "whatif.png"), full_page=True)
    # the job ran on the shared what-if runner: the API lists it with the same changes
    headers = {"Authorization": f"Bearer {served.tokens[Role.VIEWER]}"}
    jobs = httpx.get(f"{served.base}/api/whatif", headers=headers, timeout=10).json()
    assert [(j["status"], j["params"]["changes"]) for j in jobs] == [("done", ["filler.speed=1.25"])]


def test_operator_changes_a_setpoint_and_the_plant_follows(
    served: Served, open_as: Callable[[Role, str], Page]
) -> None:
    signal = f"{LINE}/labeler/glue_temp_sp"
    viewer = open_as(Role.VIEWER, f"/station/{LINE}/labeler")
    expect(viewer.get_by_test_id("station-state")).to_be_visible()
    expect(viewer.get_by_test_id("setpoints")).to_have_count(0)
    page = open_as(Role.OPERATOR, f"/station/{LINE}/labeler")
    row = page.locator('[data-setpoint="glue_temp_sp"]')
    expect(row).to_contain_text("limits 140 to 180 degC · at most 10 degC per change")
    expect(row.get_by_test_id("current")).to_have_text("160 degC")
    # a change larger than the step allowed is refused in the confirmation step, with the reason
    row.get_by_label("new value").fill("180")
    row.get_by_role("button", name="Review…").click()
    dialog = page.get_by_test_id("confirm")
    expect(dialog).to_contain_text("160 degC  →  180 degC")
    dialog.get_by_role("button", name="Apply").click()
    expect(dialog.get_by_test_id("outcome")).to_contain_text("Refused")
    expect(dialog.get_by_test_id("outcome")).to_contain_text("allows at most 10 degC per write")
    dialog.get_by_role("button", name="Cancel").click()
    assert served.call(lambda: served.plant.engine.values[signal]) == 160  # type: ignore[union-attr]
    # one inside the limits is written through OPC UA, read back, and the plant takes it
    row.get_by_label("new value").fill("168")
    row.get_by_role("button", name="Review…").click()
    dialog.get_by_role("button", name="Apply").click()
    expect(page.get_by_text(re.compile(r"168 written and read back after"))).to_be_visible()
    expect(row.get_by_test_id("current")).to_have_text("168 degC")
    assert served.call(lambda: served.plant.engine.values[signal]) == 168  # type: ignore[union-attr]
    # a speed setpoint can be tried on the simulation first: nothing is written
    speed = page.locator('[data-setpoint="speed"]')
    speed.get_by_label("new value").fill("110")
    speed.get_by_role("button", name="Review…").click()
    dialog.get_by_role("button", name="Try on simulation").click()
    expect(dialog.get_by_test_id("outcome")).to_contain_text(
        re.compile(r"On the simulation: throughput [-+][\d,]+ /h \(95 % CI [-+][\d,]+ to [-+][\d,]+\); the bottleneck"),
        timeout=30_000,
    )
    dialog.get_by_role("button", name="Cancel").click()
    expect(speed.get_by_test_id("current")).to_have_text("100 %")
    entries = served.call(lambda: served.twin.security.audit.entries(0, float("inf"), action="setpoint"))  # type: ignore[union-attr]
    outcomes = [(e.target.rsplit("/", 1)[-1], e.result) for e in entries[:3]]
    assert outcomes == [("speed", "dry_run"), ("glue_temp_sp", "ok"), ("glue_temp_sp", "refused")]


def test_screenshots_for_the_docs(open_as: Callable[[Role, str], Page]) -> None:
    """Last, so the twin has a minute of history: SPC limits fixed, trends and timelines filled."""
    page = open_as(Role.OPERATOR, "/")
    expect(page.get_by_test_id("throughput")).to_have_text(re.compile(r"[\d,]+ /h"))
    page.screenshot(path=str(IMG / "overview.png"), full_page=True)
    page.goto(page.url + f"station/{LINE}/filler")
    expect(page.locator('[data-spc="fill_volume"] canvas')).to_be_attached()
    page.wait_for_timeout(4500)  # the trends refresh every 4 s
    page.screenshot(path=str(IMG / "station.png"), full_page=True)


def test_a_lost_source_shows_on_the_overview(served: Served, open_as: Callable[[Role, str], Page]) -> None:
    page = open_as(Role.VIEWER, "/")
    expect(page.get_by_test_id("sources")).to_have_text("● live")
    served.call(lambda: served.plant.stop_server("plant"))  # type: ignore[union-attr]
    try:
        expect(page.get_by_test_id("sources")).to_have_text("● plant disconnected", timeout=20_000)
        stations = page.get_by_test_id("line").locator("[data-station]")
        expect(stations.first).to_have_attribute("data-state", "unknown", timeout=10_000)  # never a stale "running"
        expect(stations).to_have_count(5)
    finally:
        served.call(lambda: served.plant.start_server("plant"))  # type: ignore[union-attr]
    expect(page.get_by_test_id("sources")).to_have_text("● live", timeout=30_000)

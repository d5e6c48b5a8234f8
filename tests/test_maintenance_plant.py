"""Wear in the virtual plant, the monitor watching it (alerts ahead of failures), plans priced by simulation,
the API and the CLI."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from factorytwin.api import create_app
from factorytwin.cli import app, example_path
from factorytwin.core.analytics import Analytics
from factorytwin.errors import WriteRejected
from factorytwin.events import DEFAULT_STATE_CODES, StationState
from factorytwin.maintenance import MaintenanceMonitor, MonitorSettings
from factorytwin.maintenance.advice import advise
from factorytwin.maintenance.plan import Outlook
from factorytwin.model import PlantIndex, load_model, parse_model
from factorytwin.plant import PlantEngine
from factorytwin.plant.unpaced import samples
from factorytwin.runtime import Twin
from factorytwin.security import Role
from tests.conftest import bearer

from .models import one_line

SIGNALS = """
                  signals:
                    - {id: state, role: state}
                    - {id: good_count, role: good_count}
                    - {id: scrap_count, role: scrap_count}
                    - id: vibration
                      role: vibration
                      normal: {low: 0, high: 5}
                      sim: {base: 0.5, noise: 0.05, tau: 5, load_gain: 1, wear_gain: 2}
                    - id: current
                      role: motor_current
                      normal: {low: 0, high: 20}
                      sim: {base: 1, noise: 0.1, tau: 2, load_gain: 5, wear_gain: 1.5}
"""
WORN = one_line(
    f"""
                - id: press
                  sim:
                    processing_time: {{dist: normal, mean: 120, cv: 0.05}}
                    wear: {{life: 43200, spread: 0.2, repair: 3600, service: 900}}
{SIGNALS}
                - id: trim
                  sim:
                    processing_time: {{dist: normal, mean: 100, cv: 0.05}}
                    wear: {{life: 43200, spread: 0.2, repair: 3600, service: 900}}
{SIGNALS}""",
    buffers="- {id: b, upstream: press, downstream: trim, capacity: 3}",
)
SETTINGS = MonitorSettings(window_s=600, renewal_s=1800, horizon="shift", warn_p=0.3, clear_p=0.1)
PRESS, TRIM = "e/s/a/l/press", "e/s/a/l/trim"


def _watched(days: float, seed: int = 3) -> tuple[PlantEngine, MaintenanceMonitor, Analytics, list]:  # type: ignore[type-arg]
    engine = PlantEngine(parse_model(WORN), seed=seed, physics_dt=30)
    monitor = MaintenanceMonitor(engine.index, SETTINGS)
    analytics = Analytics(engine.index, [monitor], clear_after_s=600)
    alerts = []
    for batch in samples(engine, days * 86400, 30.0):
        alerts += analytics.apply(batch).alerts
    return engine, monitor, analytics, alerts


def test_wear_fails_stations_repairs_renew_them_and_states_show_it() -> None:
    """Seeded failures from wear: vibration is high before each, low after the repair; the state shows down."""
    engine = PlantEngine(parse_model(WORN), seed=5, physics_dt=30)
    vib, state = f"{PRESS}/vibration", f"{PRESS}/state"
    seen: list[tuple[float, float, StationState]] = []
    while engine.now < 2 * 86400:
        engine.advance(engine.now + 60)
        seen.append((engine.now, float(engine.values[vib]), DEFAULT_STATE_CODES[int(engine.values[state])]))  # type: ignore[arg-type]
    failures = [e.time for e in engine.wear_events if e.station == PRESS]
    assert len(failures) >= 3
    assert all(e.kind == "failure" and e.wear == 1.0 for e in engine.wear_events)
    for t in failures:
        before = [v for when, v, st in seen if t - 900 <= when < t and st is StationState.RUNNING]
        during = {st for when, _, st in seen if t + 60 <= when < t + 3500}
        after = [v for when, v, st in seen if t + 5400 <= when < t + 7200 and st is StationState.RUNNING]
        assert max(before) > 2.8  # base 0.5 + load 1 + wear 2 * (0.05 .. 1)
        assert during == {StationState.DOWN}  # its repair takes 3600 s
        assert not after or max(after) < 2.2
    again = PlantEngine(parse_model(WORN), seed=5, physics_dt=30)
    again.advance(engine.now)
    assert [e.time for e in again.wear_events] == [e.time for e in engine.wear_events]  # seeded


def test_service_is_a_planned_stop_that_renews_the_wear() -> None:
    """A planned maintenance stops the station in planned_stop for its duration and resets its wear."""
    engine = PlantEngine(parse_model(WORN), seed=1, physics_dt=30)
    engine.advance(8 * 3600)
    worn = engine.wear[PRESS].level
    engine.service(PRESS)  # taken before its next part (cycles of 120 s), for 900 s
    engine.advance(engine.now + 300)
    assert DEFAULT_STATE_CODES[int(engine.values[f"{PRESS}/state"])] is StationState.PLANNED_STOP  # type: ignore[arg-type]
    assert engine.wear_events[-1].kind == "service"
    assert engine.wear_events[-1].wear == pytest.approx(worn, rel=0.1)  # its last part wore it a bit more
    assert engine.wear[PRESS].level < worn
    with pytest.raises(WriteRejected):
        engine.service("e/s/a/l/nope")


def test_plants_without_wear_have_none() -> None:
    """The example plant has no wear block: no wear paths, its stations' wear is the old busy-time ratio."""
    engine = PlantEngine(load_model(example_path()), physics_dt=30)
    assert engine.wear == {}
    engine.advance(600)
    assert engine.wear_events == []


def test_monitor_learns_from_failures_and_warns_ahead_of_later_ones() -> None:
    """After two failures per station the model exists; every later failure is warned at least an hour ahead,
    through the AlertManager."""
    engine, monitor, analytics, _alerts = _watched(days=4)
    assert set(monitor.populations) == {PRESS, TRIM}
    raised = [a for a in analytics.alerts.alerts.values() if a.kind == "failure_risk"]
    assert raised
    for station in (PRESS, TRIM):
        times = [e.time for e in engine.wear_events if e.station == station]
        assert len(times) >= 5
        learned = sorted(times)[2]  # two failures teach it, the third unit starts with a model
        scored = 0
        for prev, fail in itertools.pairwise(times):
            if prev < learned:
                continue
            warned = [a.raised_at for a in raised if a.station == station and prev < a.raised_at <= fail]
            assert warned, f"{station}: failure at {fail / 3600:.1f} h not warned"
            assert fail - warned[0] >= 3600
            scored += 1
        assert scored >= 2
    health = monitor.latest[PRESS].health
    assert 0.0 <= health.index <= 1.0
    assert health.contributions[0].signal in ("vibration", "current")


def test_the_plan_loses_less_output_than_run_to_failure_and_fixed_intervals_on_the_example_line() -> None:
    """The twin's simulation prices the grouped, condition-based plan above both references on the bottling line."""
    info = next(iter(PlantIndex(load_model(example_path())).lines.values()))
    rng = np.random.default_rng(0)
    looks = []
    for k, st in enumerate(info.stations):  # stations 0.3 days apart in age, lives of 2 running days
        life = rng.normal(2 * 86400, 0.3 * 86400, 2000).clip(3600)
        looks.append(Outlook(st.asset.id, (life - k * 0.3 * 86400).clip(600), life, 0.9, 1800, 7200))
    advice = advise(info, looks, 2 * 86400, replications=2, seed=1)
    best = advice.best.output.mean
    assert best > advice.run_to_failure.output.mean
    assert best > advice.fixed.output.mean
    assert advice.best.failures < advice.run_to_failure.failures
    assert all(s.start < 2 * 86400 for s in advice.best.plan.stops)


async def test_api_serves_health_rul_plan_and_quality(tmp_path: Path) -> None:
    """The endpoints of a twin whose monitor watched two days of the worn line."""
    model = parse_model(WORN)
    async with Twin(model) as twin:
        engine = PlantEngine(model, seed=3, physics_dt=30)
        epoch = twin.clock.now().timestamp() - 2 * 86400
        for batch in samples(engine, 2 * 86400, 30.0, epoch=epoch):
            twin.maintenance.apply(batch)
            await twin.historian.append(batch)
        headers = bearer(twin.security.tokens.create(Role.ADMIN, "test")[1])
        transport = httpx.ASGITransport(app=create_app(twin))
        async with httpx.AsyncClient(transport=transport, base_url="http://twin", headers=headers) as client:
            health = (await client.get("/api/maintenance/health")).json()
            assessed = {s["station"] for s in health["stations"]}
            assert assessed
            assert assessed | set(health["learning"]) == {PRESS, TRIM}  # one just repaired is learning again
            assert health["learned_models"] == [PRESS, TRIM]
            assert all(0 <= s["health_index"] <= 1 and s["contributions"] for s in health["stations"])
            rul = (await client.get("/api/maintenance/rul")).json()
            assert all(r["rul"]["low_s"] <= r["rul"]["median_s"] <= r["rul"]["high_s"] for r in rul["stations"])
            plan = await client.get("/api/maintenance/plan", params={"horizon_days": 1, "replications": 2})
            assert plan.status_code == 200, plan.text
            body = plan.json()
            assert body["recommended"]["output"]["mean"] >= body["run_to_failure"]["output"]["mean"]
            bad = await client.get("/api/maintenance/plan", params={"line": "e/s/a/nope"})
            assert bad.status_code == 404
            quality = await client.get("/api/maintenance/quality", params={"bin_s": 600})
            assert quality.status_code == 200
            assert isinstance(quality.json()["drivers"], list)


def test_cli_prints_the_plan_and_writes_it_into_the_calendar(tmp_path: Path) -> None:
    """`factorytwin maintenance FILE` learns from the virtual plant, prints health and the priced plan."""
    file = tmp_path / "worn.yaml"
    file.write_text(WORN)
    out = tmp_path / "planned.yaml"
    result = CliRunner().invoke(
        app,
        [
            "maintenance",
            str(file),
            "--days",
            "2",
            "--horizon-days",
            "1",
            "--replications",
            "2",
            "--write-model",
            str(out),
        ],
        env={"COLUMNS": "240"},
    )
    assert result.exit_code == 0, result.output
    assert "recommended" in result.output
    assert "run to failure" in result.output
    assert "press" in result.output
    planned = load_model(out)
    stops = planned.enterprise.sites[0].areas[0].lines[0].calendar.planned  # type: ignore[union-attr]
    assert stops
    assert all(s.reason.startswith("maintenance: ") for s in stops)
    plain = CliRunner().invoke(app, ["maintenance", str(example_path()), "--days", "1"])
    assert plain.exit_code == 2
    assert "wear block" in plain.output

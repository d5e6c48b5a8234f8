"""Calibration round trip: the virtual plant runs a line with known parameters, the twin records it over
OPC UA into a DuckDB historian, calibration reads that history back and must recover the parameters
(tolerances in docs/calibration.md) and reproduce the observed throughput within 3 %.

The plant runs 200 times faster than real time and stamps its values with simulated time
(``SimulatedTime``), so the history reads as if the line had run for real.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import simpy
from typer.testing import CliRunner

from factorytwin.calibrate import (
    Calibration,
    LineHistory,
    StationHistory,
    calibrate,
    calibrate_station,
    fit,
    read_history,
)
from factorytwin.calibrate.yaml_out import calibrated_yaml
from factorytwin.cli import app
from factorytwin.core.states import StateInterval
from factorytwin.events import StationState
from factorytwin.historian import DuckDBHistorian
from factorytwin.loopback import free_port
from factorytwin.model import load_model, parse_model
from factorytwin.model.schema import Buffer, Distribution, Line, Station, StationSim
from factorytwin.plant import VirtualPlant
from factorytwin.plant.engine import PlantEngine
from factorytwin.runtime import Twin
from factorytwin.sim import LineSim

ROOT = Path(__file__).resolve().parent
MODEL = ROOT / "data" / "calibration_line.yaml"
LINE = "acme/test/hall/line"
SPEED = 200.0  # simulated seconds per wall-clock second
RECORD_S = 24.0  # wall-clock seconds of recording


class SimulatedTime:
    """A clock that reads the plant engine's simulated time, from an origin in the past."""

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.engine: PlantEngine | None = None

    def now(self) -> datetime:
        assert self.engine is not None
        return datetime.fromtimestamp(self.origin + self.engine.now, UTC)


@dataclass
class Recorded:
    db: Path
    history: LineHistory
    calibration: Calibration


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    db = tmp_path_factory.mktemp("calibration") / "history.duckdb"
    history = asyncio.run(record(db))
    return Recorded(db, history, calibrate(history, replications=40, seed=3, level=0.99))


async def record(db: Path) -> LineHistory:
    """Run the plant, let the twin record it, read the line's history of the recorded window."""
    model = load_model(MODEL)
    endpoints = {"plant": f"opc.tcp://127.0.0.1:{free_port()}/factorytwin"}
    clock = SimulatedTime(time.time() - 3 * 86400)
    plant = VirtualPlant(model, speed=SPEED, clock=clock, endpoints=endpoints)
    clock.engine = plant.engine
    async with plant, Twin(model, DuckDBHistorian(db), endpoints=endpoints) as twin:
        assert await twin.wait_for(lambda: len(twin.state.signals) == len(twin.index.signals), 15)
        start = clock.origin + plant.engine.now + 60.0  # a minute in: the line has filled
        await asyncio.sleep(RECORD_S)
        await plant.pause()
        end = clock.origin + plant.engine.now - 30.0  # state intervals still open at the end are not stored
        await asyncio.sleep(0.5)
        await twin.bus.drain()
        return await read_history(twin.historian, twin.index, LINE, start, end)


def station(c: Calibration, sid: str):  # type: ignore[no-untyped-def]
    return next(s for s in c.stations if s.id == sid)


def test_the_history_holds_enough_to_calibrate(recorded: Recorded) -> None:
    h = recorded.history
    hours = (h.end - h.start) / 3600
    assert hours > 1.0, f"only {hours:.2f} simulated hours recorded"
    assert h.output > 3000
    cut, fill, pack = h.stations
    assert len(cut.cycles) > 500
    assert len(fill.cycles) > 500
    assert pack.cycles == []  # a deterministic station's cycle time never changes, so it is never published again


def test_processing_times_come_back(recorded: Recorded) -> None:
    c = recorded.calibration
    cut, fill, pack = (station(c, s) for s in ("cut", "fill", "pack"))
    assert cut.processing.dist.mean == pytest.approx(0.8, rel=0.02)
    assert cut.processing.dist.cv == pytest.approx(0.1, abs=0.02)
    assert cut.processing.family in ("normal", "lognormal")
    assert fill.processing.dist.mean == pytest.approx(1.0, rel=0.02)
    assert fill.processing.dist.cv == pytest.approx(0.2, abs=0.03)
    assert fill.processing.family == "lognormal"
    assert fill.processing.p_value > 0.01
    assert pack.processing_source == "counters"
    assert pack.processing.family == "deterministic"
    assert pack.processing.dist.mean == pytest.approx(0.7, rel=0.05)


def test_failures_and_scrap_come_back(recorded: Recorded) -> None:
    c = recorded.calibration
    for sid, mtbf, scrap in (("cut", 60.0, 0.03), ("fill", 100.0, 0.02)):
        s = station(c, sid)
        assert s.failures >= 30, f"{sid}: {s.failures} failures"
        assert s.mtbf.low <= mtbf <= s.mtbf.high, f"{sid}: MTBF {s.mtbf}"
        assert s.mtbf.value == pytest.approx(mtbf, rel=0.35)
        assert s.mttr.value == pytest.approx(10.0, rel=0.15)
        assert s.scrap_rate.low <= scrap <= s.scrap_rate.high, f"{sid}: scrap {s.scrap_rate}"
        law = s.sim.failure_law()
        assert law is not None
        assert law[0].dist == "exponential"
    pack = station(c, "pack")
    assert pack.failures == 0
    assert pack.sim.failure_law() is None
    assert pack.scrap_rate.value == 0.0


def test_the_calibrated_line_reproduces_the_observed_throughput(recorded: Recorded) -> None:
    v = recorded.calibration.validation
    assert v is not None
    assert abs(v.relative_difference) < 0.03, v
    assert v.plausible


def test_the_calibrated_model_file_is_valid_and_keeps_the_rest(recorded: Recorded) -> None:
    source = MODEL.read_text()
    text = calibrated_yaml(source, recorded.calibration)
    model = parse_model(text)
    line = model.enterprise.sites[0].areas[0].lines[0]
    assert [s.sim for s in line.stations] == [s.sim for s in recorded.calibration.line.stations]
    assert "# A small line with known parameters" in text  # comments stay
    calibrated = ("sim:", "processing_time:", "time_to_failure:", "time_to_repair:", "scrap_rate:")
    rest = [[x for x in t.splitlines() if not x.strip().startswith(calibrated)] for t in (source, text)]
    assert rest[0] == rest[1]  # everything but the sim blocks is as it was, layout included
    assert "calibrated from" in text
    assert model.sources == load_model(MODEL).sources


def test_fit_picks_the_family_that_made_the_data() -> None:
    rng = np.random.default_rng(1)
    assert fit(rng.exponential(5.0, 400)).family == "exponential"  # type: ignore[union-attr]
    assert fit(rng.lognormal(0.0, 0.5, 400)).family == "lognormal"  # type: ignore[union-attr]
    assert fit(rng.normal(10.0, 1.0, 400)).family == "normal"  # type: ignore[union-attr]
    assert fit([2.0, 2.0, 2.0]).family == "deterministic"  # type: ignore[union-attr]
    bimodal = np.concatenate([rng.normal(1.0, 0.05, 300), rng.normal(3.0, 0.05, 300)])
    empirical = fit(bimodal)
    assert empirical is not None
    assert empirical.family == "empirical"
    assert empirical.p_value is not None
    assert empirical.p_value < 0.01
    assert fit([]) is None
    assert fit([float("nan"), -1.0]) is None  # no usable duration


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def test_the_cli_calibrates_from_the_historian_file(recorded: Recorded, tmp_path: Path) -> None:
    h, out = recorded.history, tmp_path / "calibrated.yaml"
    window = ["--db", str(recorded.db), "--from", iso(h.start), "--to", iso(h.end)]
    result = CliRunner().invoke(app, ["calibrate", str(MODEL), *window, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [s["id"] for s in doc["stations"]] == ["cut", "fill", "pack"]
    fill = doc["stations"][1]
    assert fill["failures"] == station(recorded.calibration, "fill").failures
    assert fill["processing_time"]["family"] == "lognormal"
    assert abs(doc["validation"]["relative_difference"]) < 0.03
    assert load_model(out).enterprise.sites[0].areas[0].lines[0].stations[1].sim.time_to_repair is not None
    simulated = CliRunner().invoke(app, ["simulate", str(out), "--hours", "1", "--replications", "2", "--json"])
    assert simulated.exit_code == 0, simulated.output
    assert json.loads(simulated.output)["throughput_per_h"]["mean"] > 0
    table = CliRunner().invoke(app, ["calibrate", str(MODEL), *window, "--replications", "5"])
    assert table.exit_code == 0, table.output
    assert "plausible" in table.output or "NOT reproduced" in table.output
    bad = CliRunner().invoke(
        app, ["calibrate", str(MODEL), "--db", str(recorded.db), "--from", iso(h.end), "--to", iso(h.start)]
    )
    assert bad.exit_code == 2
    assert "--from must be before --to" in bad.output
    missing = CliRunner().invoke(app, ["calibrate", str(MODEL), *window[2:], "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2
    assert "no historian file" in missing.output


def logged_history(line: Line, sid: str, until: float) -> StationHistory:
    """A station's history straight from the SimPy engine's event log (no plant, no historian)."""
    env = simpy.Environment()
    sim = LineSim(env, line, seed=3, record=True)
    env.run(until=until)
    assert sim.log is not None
    states = {e.value for e in StationState}
    entries = [(t, StationState(e)) for t, s, e in sim.log if s == sid and e in states]
    intervals = [
        StateInterval(sid, state, t, nxt)
        for (t, state), (nxt, _) in zip(entries, [*entries[1:], (until, StationState.UNKNOWN)], strict=True)
    ]
    run = next(r for r in sim.stations if r.station.id == sid)
    return StationHistory(sid, intervals, [], run.good, run.scrap)


def test_time_dependent_failures_are_at_risk_whenever_the_station_is_not_down() -> None:
    """b (1 s) behind a (2 s) is starved half of the time but fails in elapsed time."""
    a = Station(id="a", sim=StationSim(processing_time=Distribution(mean=2.0)))
    b_sim = {"processing_time": Distribution(mean=1.0), "mtbf": 50.0, "mttr": 5.0, "failure_mode": "time"}
    b = Station(id="b", sim=StationSim.model_validate(b_sim))
    line = Line(id="l", stations=[a, b], buffers=[Buffer(id="ab", upstream="a", downstream="b", capacity=5)])
    until = 15_000.0
    history = logged_history(line, "b", until)
    timed = calibrate_station(b, history, 0.0, until, 0.99)
    assert timed.failures > 200
    assert timed.mtbf is not None
    assert timed.mtbf.low <= 50.0 <= timed.mtbf.high
    assert timed.mttr is not None
    assert timed.mttr.value == pytest.approx(5.0, rel=0.1)
    assert timed.sim.failure_mode == "time"
    assert timed.processing_source == "counters"
    assert timed.processing is not None
    assert timed.processing.dist.mean == pytest.approx(1.0, rel=0.02)
    # Read as operation-dependent, the same history gives an MTBF near half the true one (b runs half the time).
    as_operation = b.model_copy(update={"sim": b.sim.model_copy(update={"failure_mode": "operation"})})
    wrong = calibrate_station(as_operation, history, 0.0, until, 0.99)
    assert wrong.mtbf is not None
    assert wrong.mtbf.high < 0.7 * 50.0
    assert timed.as_dict()["mttr"]["low"] is not None


def test_a_station_that_never_ran_keeps_the_models_failure_law() -> None:
    b = Station(id="b", sim=StationSim(processing_time=Distribution(mean=1.0), mtbf=50.0, mttr=5.0))
    idle = StationHistory("b", [StateInterval("b", StationState.STARVED, 0.0, 3600.0)], [], 0, 0)
    fitted = calibrate_station(b, idle, 0.0, 3600.0)
    assert fitted.sim == b.sim
    assert fitted.processing_source == "model"
    assert fitted.notes == [
        "neither cycle times nor parts: processing time kept from the model",
        "no time at risk of failure: failure law kept from the model",
        "no parts counted: scrap rate kept from the model",
    ]

"""Virtual commissioning: verdicts, the limiting station and the smallest fix, against lines with known answers."""

from __future__ import annotations

import json

import pytest
from click.testing import Result
from typer.testing import CliRunner

from factorytwin.cli import app
from factorytwin.model.schema import Line
from factorytwin.sim import LineModel, SimulationError
from factorytwin.sim.commission import commission
from factorytwin.sim.trials import RunSettings

from .test_sim_theory import line_of, station

# Deterministic stations, no failures: the line makes exactly its slowest station's rate.
# s0 3600/h, s1 2400/h (the bottleneck), s2 3000/h.
SHORT = RunSettings(horizon=3600, replications=2, seed=1, warmup=300)


def invoke(*args: str) -> Result:
    """The CLI run in this process (the installed script's start-up is slow on a busy machine)."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def deterministic_line() -> Line:
    stations = [station(0, "deterministic", 1.0), station(1, "deterministic", 1.5), station(2, "deterministic", 1.2)]
    return line_of(stations, [10, 10])


def test_a_design_below_target_fails_names_its_bottleneck_and_the_speedup_that_reaches_the_target() -> None:
    c = commission(LineModel(deterministic_line()), 2700, SHORT)
    assert c.verdict == "fails"
    assert c.probability == 0.0
    assert c.confidence == 0.0
    assert c.results.throughput.mean == pytest.approx(2400, abs=3)
    assert c.limiting == "s1"
    s1 = next(e for e in c.stations if e.static.id == "s1")
    assert s1.static.capacity == pytest.approx(2400)
    assert s1.static.availability == 1.0
    assert s1.simulated.starved.mean < 0.01  # it never waits: the bottleneck's evidence
    assert s1.simulated.blocked.mean < 0.01
    s0 = next(e for e in c.stations if e.static.id == "s0")
    assert s0.simulated.blocked.mean > 0.25  # upstream of the bottleneck: blocked a third of the time
    speed, machines = c.remedies
    assert speed.reached
    assert [(ch.target, ch.param) for ch in speed.changes] == [("s1", "speed")]
    assert 2700 / 2400 <= speed.changes[0].value <= 1.14  # the required speed-up, found to 1 %
    assert speed.results.throughput.low >= 2700
    assert machines.reached
    assert [(ch.target, ch.param, ch.value) for ch in machines.changes] == [("s1", "machines", 2)]
    assert machines.results.engine == "simpy"  # parallel machines run on the event-driven engine
    assert machines.results.throughput.mean == pytest.approx(3000, abs=5)  # now s2 limits


def test_a_target_beyond_the_second_station_needs_a_plan_of_two_speedups() -> None:
    c = commission(LineModel(deterministic_line()), 3300, SHORT, max_machines=1)
    speed, machines = c.remedies
    assert speed.reached
    assert [ch.target for ch in speed.changes] == ["s1", "s2"]
    assert 3300 / 3000 <= speed.changes[1].value <= 1.12
    assert not machines.reached  # a second machine at s1 leaves s2's 3000/h
    assert "s2" in machines.note


def test_a_design_that_meets_its_target_needs_no_remedy() -> None:
    c = commission(LineModel(deterministic_line()), 2000, SHORT)
    assert (c.verdict, c.probability, c.confidence, c.remedies) == ("meets", 1.0, 1.0, ())


def test_a_line_without_target_is_a_clear_error() -> None:
    with pytest.raises(SimulationError, match="target"):
        commission(LineModel(deterministic_line()), None, SHORT)
    with pytest.raises(SimulationError, match="2 replications"):
        RunSettings(3600, 1)


def test_commission_cli_checks_the_example_line_against_its_target_rate() -> None:
    short = ["--hours", "0.5", "--warmup-hours", "0.1", "--replications", "3"]
    result = invoke("commission", "examples/bottling.yaml", *short, "--max-machines", "0", "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == {"meets": 0, "fails": 1, "uncertain": 3}[doc["verdict"]], result.stderr
    assert doc["target_per_h"] == 2600  # the line's target_rate
    assert doc["limiting"] == "filler"
    tp = doc["throughput_per_h"]
    expected = "meets" if tp["low"] >= 2600 else "fails" if tp["high"] < 2600 else "uncertain"
    assert doc["verdict"] == expected
    assert 0 <= doc["probability"] <= 1
    filler = next(s for s in doc["stations"] if s["id"] == "filler")
    assert filler["capacity_per_h"] == pytest.approx(2880)  # 1.25 s per bottle
    assert filler["availability"] == pytest.approx(1800 / 1950)
    if doc["verdict"] != "meets":
        assert [r["kind"] for r in doc["remedies"]] == ["speed"]  # --max-machines 0: no machine search
        assert doc["remedies"][0]["changes"][0].startswith("filler.speed=")
    table = invoke("commission", "examples/bottling.yaml", *short, "--target", "600")
    assert table.exit_code == 0, table.stderr
    assert "MEETS target 600/h" in table.stdout
    short_of = invoke("commission", "examples/bottling.yaml", *short, "--target", "10000", "--max-machines", "0")
    assert short_of.exit_code == 1, short_of.stderr  # a pipeline can gate on the verdict
    assert "FAILS target 10000/h" in short_of.stdout
    bad = invoke("commission", "examples/bottling.yaml", "--replications", "1")
    assert bad.exit_code == 2
    assert "at least 2 replications" in bad.stderr


def test_a_pallet_loop_below_target_is_told_how_many_pallets_it_needs() -> None:
    # 3 deterministic 1 s stations in a loop: n pallets make n parts per 3 s while n <= 3.
    loop = line_of([station(i, "deterministic", 1.0) for i in range(3)], [2, 2, 2], pallets=1)
    c = commission(LineModel(loop), 2000, SHORT, max_machines=0)
    assert c.verdict == "fails"
    assert c.results.throughput.mean == pytest.approx(1200, abs=3)
    assert [r.kind for r in c.remedies] == ["speed", "pallets"]
    pallets = c.remedies[1]
    assert pallets.reached
    assert [(ch.target, ch.param, ch.value) for ch in pallets.changes] == [("line", "pallets", 2)]
    assert pallets.results.throughput.mean == pytest.approx(2400, abs=3)

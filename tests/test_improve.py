"""Improvement ranking: paired gains of standard improvements, against a line whose answer is known."""

from __future__ import annotations

import json

import pytest

from factorytwin.sim import LineModel, SimulationError
from factorytwin.sim.improve import Improvement, rank
from factorytwin.sim.trials import RunSettings

from .test_commission import invoke
from .test_sim_theory import line_of, station


def test_speeding_up_the_bottleneck_ranks_first_with_the_gain_theory_gives() -> None:
    # s1 (1.5 s, 2400/h) limits; 10 % faster it makes 2640/h while s2 (1.2 s, at ~98 % availability) keeps up.
    stations = [station(0, "deterministic", 1.0), station(1, "deterministic", 1.5)]
    stations.append(station(2, "deterministic", 1.2, mtbf=1000.0, mttr=20.0))
    line = line_of(stations, [50, 50])
    ranking = rank(LineModel(line), RunSettings(horizon=7200, replications=4, seed=2, warmup=600))
    first = ranking.gains[0]
    assert (first.station, str(first.improvement)) == ("s1", "speed=1.1")
    assert first.comparison.throughput.mean == pytest.approx(240, abs=15)
    assert first.comparison.throughput.low > 0
    assert [g.station for g in ranking.gains if g.improvement.param == "mttr"] == ["s2"]  # only s2 fails
    others = [g for g in ranking.gains if g.station == "s0"]
    assert all(abs(g.comparison.throughput.mean) < 5 for g in others)  # upstream of the bottleneck: no gain
    assert ranking.best_per_station()[0].station == "s1"


def test_improvements_parse_with_clear_errors() -> None:
    assert Improvement.parse("machines=1").label == "+1 machine"
    assert Improvement.parse("mttr=0.8").label == "MTTR -20 %"
    for bad in ("speed", "colour=2", "speed=-1", "machines=1.5", "speed=nan"):
        with pytest.raises(SimulationError, match=r"expected|positive"):
            Improvement.parse(bad)


def test_improve_cli_ranks_the_example_line() -> None:
    args = ["--hours", "0.5", "--warmup-hours", "0.1", "--replications", "3"]
    result = invoke("improve", "examples/bottling.yaml", *args, "--improvement", "speed=1.2", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["order"][0] == "filler"
    assert len(doc["gains"]) == 5
    assert doc["gains"][0]["change"] == "filler.speed=1.2"
    gain = doc["gains"][0]["gain_per_h"]
    assert gain["low"] < gain["mean"] < gain["high"]
    assert gain["mean"] > 0
    bad = invoke("improve", "examples/bottling.yaml", "--improvement", "wings=2")
    assert bad.exit_code == 2
    assert "expected one of" in bad.stderr

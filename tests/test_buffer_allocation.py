"""Buffer allocation under a budget, against exhaustive enumeration and lines whose answer is known."""

from __future__ import annotations

import itertools
import json

import pytest

from factorytwin.sim import LineModel, SimulationError, run
from factorytwin.sim.allocation import allocate, with_capacities
from factorytwin.sim.trials import RunSettings

from .test_commission import invoke
from .test_sim_theory import line_of, station


def test_the_search_finds_the_exhaustive_optimum_on_a_tiny_line() -> None:
    means = (1.0, 1.3, 0.9, 1.1)
    line = line_of([station(i, "exponential", m) for i, m in enumerate(means)], [1, 1, 1])
    settings = RunSettings(horizon=4000, replications=4, seed=3, warmup=400)
    found = allocate(LineModel(line), 6, settings)
    every = {
        caps: run(with_capacities(line, caps), 4000, 4, 3, warmup=400).throughput.mean
        for caps in itertools.product(range(7), repeat=3)
        if sum(caps) == 6
    }
    assert len(every) == 28
    best = max(every.values())
    assert found.search_throughput == pytest.approx(best, rel=1e-12)  # same draws: the same number exactly
    assert every[found.best] == pytest.approx(best, rel=1e-12)
    assert found.evaluations < len(every)  # it did not just enumerate
    assert sum(found.best) == 6
    assert found.results.seed == 4  # checked on fresh random numbers
    assert found.gain_vs_current.mean == pytest.approx(
        found.results.throughput.mean - found.current_results.throughput.mean
    )


def test_a_symmetric_line_gets_a_symmetric_allocation() -> None:
    line = line_of([station(i, "exponential", 1.0) for i in range(5)], [1] * 4)
    found = allocate(LineModel(line), 16, RunSettings(horizon=6000, replications=6, seed=0, warmup=600))
    assert sum(found.best) == 16
    assert abs(found.best[0] - found.best[3]) <= 1
    assert abs(found.best[1] - found.best[2]) <= 1


def test_the_buffers_go_next_to_a_much_slower_station() -> None:
    line = line_of([station(i, "exponential", 1.6 if i == 2 else 1.0) for i in range(5)], [1] * 4)
    found = allocate(LineModel(line), 20, RunSettings(horizon=10_000, replications=6, seed=0, warmup=1000))
    assert found.best[1] + found.best[2] >= 14  # the buffers before and after the slow station s2
    assert found.gain_vs_even.low > 0  # better than sharing evenly, on fresh random numbers


def test_bad_budgets_are_clear_errors() -> None:
    line = line_of([station(i, "exponential", 1.0) for i in range(3)], [1, 1])
    with pytest.raises(SimulationError, match="at least 0"):
        allocate(LineModel(line), -1)
    loop = line_of([station(i, "exponential", 1.0) for i in range(3)], [2, 2, 2], pallets=5)
    with pytest.raises(SimulationError, match="pallets"):
        allocate(LineModel(loop), 2)


def test_buffers_cli_reports_best_current_and_even_allocations() -> None:
    args = ["--hours", "0.5", "--warmup-hours", "0.1", "--replications", "3", "--budget", "40"]
    result = invoke("buffers", "examples/bottling.yaml", *args, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["buffers"] == ["b1", "b2", "b3", "b4"]
    assert doc["best"]["total"] == doc["even"]["total"] == 40
    assert doc["current"]["capacities"] == {"b1": 40, "b2": 25, "b3": 25, "b4": 30}
    assert sum(doc["best"]["capacities"].values()) == 40
    gain = doc["gain_vs_even_per_h"]
    assert gain["low"] <= gain["mean"] <= gain["high"]
    table = invoke("buffers", "examples/bottling.yaml", *args, "--step", "10")
    assert table.exit_code == 0, table.stderr
    assert "buffer allocation of 40 places" in table.stdout
    assert invoke("buffers", "examples/bottling.yaml", "--budget", "4", "--step", "0").exit_code == 2

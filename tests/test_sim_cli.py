"""`factorytwin simulate` and `factorytwin whatif`, run as a user would."""

from __future__ import annotations

import json

from .test_cli import run

ARGS = ["--hours", "2", "--replications", "6", "--json"]


def test_simulate_reports_the_designed_bottleneck_with_confidence_intervals() -> None:
    result = run("simulate", "examples/bottling.yaml", *ARGS)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["bottleneck"] == "filler"
    assert doc["replications"] == 6
    throughput = doc["throughput_per_h"]
    assert throughput["low"] < throughput["mean"] < throughput["high"]
    assert 2000 < throughput["mean"] < 3000  # the filler's 1.25 s cycle and ~92 % availability: ~2650/h
    assert [s["id"] for s in doc["stations"]] == ["rinser", "filler", "capper", "labeler", "packer"]


def test_whatif_compares_on_common_random_numbers_and_says_whether_the_bottleneck_moves() -> None:
    faster = json.loads(run("whatif", "examples/bottling.yaml", "--set", "filler.speed=1.2", *ARGS).stdout)
    gain = faster["difference"]["throughput_per_h"]
    assert gain["low"] > 0  # a faster bottleneck helps, and the paired interval says so
    assert faster["scenario"]["throughput_per_h"]["mean"] > faster["baseline"]["throughput_per_h"]["mean"]
    assert faster["changes"] == ["filler.speed=1.2"]
    slower = json.loads(run("whatif", "examples/bottling.yaml", "--set", "capper.speed=0.5", *ARGS).stdout)
    assert slower["bottleneck_moved"] is True
    assert slower["scenario"]["bottleneck"] == "capper"
    assert slower["difference"]["throughput_per_h"]["high"] < 0


def test_bad_changes_are_clear_errors() -> None:
    bad = run("whatif", "examples/bottling.yaml", "--set", "filler.speed", *ARGS)
    assert bad.returncode == 2
    assert "expected target.param=number" in bad.stderr
    unknown = run("whatif", "examples/bottling.yaml", "--set", "welder.speed=2", *ARGS)
    assert unknown.returncode == 2
    assert "welder" in unknown.stderr
    assert "Traceback" not in unknown.stderr

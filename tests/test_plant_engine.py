"""The virtual plant's engine (factorytwin.plant.engine) on the bottling example and small models."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from factorytwin.errors import WriteRejected
from factorytwin.events import StationState
from factorytwin.model import PlantModel, Role, load_model, parse_model
from factorytwin.plant import PlantEngine

from .models import one_line

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bottling.yaml"
LINE = "acme/lyon/bottling/line1"
STATIONS = ["rinser", "filler", "capper", "labeler", "packer"]
CAPACITY = {"b1": 40, "b2": 25, "b3": 25, "b4": 30}


@pytest.fixture(scope="module")
def model() -> PlantModel:
    return load_model(EXAMPLE)


def running_time(engine: PlantEngine, station: str) -> float:
    """Simulated seconds a station has spent running (processing), including the open interval."""
    run = engine.line_sim(LINE).stations[STATIONS.index(station)]
    total = run.time_in_state.get(StationState.RUNNING, 0.0)
    if run.state is StationState.RUNNING:
        total += engine.now - run.since
    return total


def parts(engine: PlantEngine, station: str) -> int:
    """Parts a station has completed (good + scrap), read from its counter signals."""
    v = engine.values
    return int(v[f"{LINE}/{station}/good_count"]) + int(v[f"{LINE}/{station}/scrap_count"])  # type: ignore[arg-type]


# --------------------------------------------------------------------- four hours of the example


@pytest.fixture(scope="module")
def four_hours(model: PlantModel) -> tuple[PlantEngine, list[dict[str, object]]]:
    """The example run for 4 simulated hours, values sampled every minute.

    The physics step is 10 s here: it only moves the continuous signals, not the line.
    """
    engine = PlantEngine(model, physics_dt=10.0)
    samples = [dict(engine.values)]
    for minute in range(1, 4 * 60 + 1):
        engine.advance(minute * 60.0)
        samples.append(dict(engine.values))
    return engine, samples


def test_counters_never_decrease(four_hours: tuple[PlantEngine, list[dict[str, object]]]) -> None:
    engine, samples = four_hours
    counters = [p for p, s in engine.index.signals.items() if s.role in (Role.GOOD_COUNT, Role.SCRAP_COUNT)]
    assert len(counters) == 10
    for path in counters:
        series = [int(s[path]) for s in samples]  # type: ignore[call-overload]
        assert series[0] == 0
        assert all(b >= a for a, b in itertools.pairwise(series)), path
        assert series[-1] > 0 or path.endswith("scrap_count")
    # Flow is conserved: a station never completes more than its upstream neighbour delivered.
    for up, down in itertools.pairwise(STATIONS):
        assert parts(engine, down) <= int(engine.values[f"{LINE}/{up}/good_count"])  # type: ignore[arg-type]


def test_buffer_levels_stay_within_capacity(four_hours: tuple[PlantEngine, list[dict[str, object]]]) -> None:
    _, samples = four_hours
    for buf, cap in CAPACITY.items():
        levels = [s[f"{LINE}/{buf}/level"] for s in samples]
        assert all(isinstance(x, int) and 0 <= x <= cap for x in levels), buf
        assert max(levels) > 0  # type: ignore[type-var]


def test_filler_is_the_busiest_station(four_hours: tuple[PlantEngine, list[dict[str, object]]]) -> None:
    """The filler (1.25 s cycle vs <= 1.0 s elsewhere) is the designed bottleneck.

    All stations carry about the same flow, so busy fraction ~ flow x cycle: the filler's should be
    ~1.25x the others'. Its busy fraction is also bounded by its availability mtbf/(mtbf + mttr).
    """
    engine, _ = four_hours
    assert engine.now == 4 * 3600.0
    busy = {s: running_time(engine, s) / engine.now for s in STATIONS}
    assert max(busy, key=busy.__getitem__) == "filler"
    others = max(v for s, v in busy.items() if s != "filler")
    assert busy["filler"] > 1.1 * others
    assert busy["filler"] < 1.0


def test_state_codes_are_the_default_vocabulary(four_hours: tuple[PlantEngine, list[dict[str, object]]]) -> None:
    engine, samples = four_hours
    codes = {s[f"{LINE}/{st}/state"] for s in samples for st in STATIONS}
    assert codes <= {0, 1, 2, 3, 4}
    assert 1 in codes
    line = engine.line_sim(LINE)
    for pos, st in enumerate(STATIONS):
        expected = {
            StationState.IDLE: 0,
            StationState.RUNNING: 1,
            StationState.STARVED: 2,
            StationState.BLOCKED: 3,
            StationState.DOWN: 4,
        }[line.stations[pos].state]
        assert engine.values[f"{LINE}/{st}/state"] == expected


# ------------------------------------------------------------------------------ changes / seeds


def test_changes_returns_each_change_once(model: PlantModel) -> None:
    engine = PlantEngine(model)
    first = engine.changes()
    assert set(first) <= set(engine.index.signals)
    assert all(engine.values[p] == v for p, v in first.items())
    assert set(engine.values) == set(engine.index.signals)  # every signal has a value from the start
    assert engine.changes() == {}
    engine.advance(30.0)
    moved = engine.changes()
    assert f"{LINE}/filler/good_count" in moved
    assert all(engine.values[p] == v for p, v in moved.items())
    assert engine.changes() == {}


def test_same_seed_same_values_different_seed_different(model: PlantModel) -> None:
    a, b, c = PlantEngine(model), PlantEngine(model), PlantEngine(model, seed=7)
    for e in (a, b, c):
        e.advance(900.0)
    assert a.values == b.values
    assert a.values != c.values


# ---------------------------------------------------------------------------------- physics lags


def test_temperature_follows_written_setpoint_with_first_order_lag(model: PlantModel) -> None:
    """glue_temp follows glue_temp_sp (tau 90 s, noise sd 0.3) as x(n) = sp - (sp - x0)·exp(-n·dt/tau)."""
    sp_path, pv_path = f"{LINE}/labeler/glue_temp_sp", f"{LINE}/labeler/glue_temp"
    tau, noise = 90.0, 0.3
    engine = PlantEngine(model, physics_dt=1.0)
    engine.advance(10 * tau)  # from 25 degC towards 160: residual 135·e^-10 < 0.01
    assert engine.values[sp_path] == 160.0
    assert abs(engine.values[pv_path] - 160.0) <= 4 * noise + 135 * math.exp(-10)  # type: ignore[operator]

    t0 = engine.now
    assert engine.write(sp_path, 170.0) == 170.0
    assert engine.values[sp_path] == 170.0
    residuals = []
    for n in range(1, int(5 * tau) + 1):
        engine.advance(t0 + n)  # n physics steps since the write
        expected = 170.0 - 10.0 * math.exp(-n / tau)
        residuals.append(engine.values[pv_path] - expected)  # type: ignore[operator]
    r = np.array(residuals)
    # Residuals are the measurement noise alone: zero mean, sd 0.3 (x0 is within 0.01 of 160).
    assert abs(r.mean()) <= 4 * noise / math.sqrt(len(r)) + 0.01
    assert np.abs(r).max() <= 5 * noise
    assert r.std() == pytest.approx(noise, rel=4 / math.sqrt(2 * len(r)))
    # After 5·tau the temperature is within noise of the new setpoint (lag residual 10·e^-5 = 0.07).
    assert abs(engine.values[pv_path] - 170.0) <= 4 * noise + 10 * math.exp(-5)  # type: ignore[operator]
    # ...and it was a lag, not a step: one tau after the write it had covered ~63 % of the way.
    at_tau = residuals[int(tau) - 1] + 170.0 - 10.0 * math.exp(-1)
    assert 170.0 - at_tau > 10 * math.exp(-1) - 4 * noise


WEAR_MODEL = one_line("""
                - id: m
                  sim:
                    processing_time: {mean: 1.0}
                    mtbf: 600
                    mttr: 60
                  signals:
                    - {id: state, role: state}
                    - id: vibration
                      role: vibration
                      sim: {base: 0.5, noise: 0, tau: 2, load_gain: 0, wear_gain: 2.0}
""")


def test_vibration_grows_with_wear_and_drops_after_repair() -> None:
    """Noise-free vibration = base + wear_gain·wear, lagged; wear = busy time since repair / mtbf."""
    base, gain, mtbf, tau = 0.5, 2.0, 600.0, 2.0
    engine = PlantEngine(parse_model(WEAR_MODEL), seed=1, physics_dt=1.0)
    run = engine.line_sim("e/s/a/l").stations[0]
    vib, state = "e/s/a/l/m/vibration", "e/s/a/l/m/state"
    # Failure-free running stretches: consecutive seconds running with no failure in between.
    segments: list[list[float]] = [[]]
    failures = 0
    for t in range(1, 3 * 3600 + 1):
        engine.advance(float(t))
        if engine.values[state] != 1 or run.failures != failures:
            failures = run.failures
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(float(engine.values[vib]))  # type: ignore[arg-type]
    assert failures >= 5
    settle = int(10 * tau)  # after a repair the lag decays from the worn value (e^-10 of it remains)
    long = [s[settle:] for s in segments if len(s) >= 200]
    assert len(long) >= 3
    for seg in long:
        assert all(b >= a - 1e-9 for a, b in itertools.pairwise(seg))  # monotone, no noise
        third = len(seg) // 3
        early, late = np.mean(seg[:third]), np.mean(seg[-third:])
        # Wear grows by 1/mtbf per busy second; the two windows are len - third seconds apart.
        assert late - early == pytest.approx(gain * (len(seg) - third) / mtbf, rel=0.02)
    # Every repair resets wear: a stretch after a repair starts near base again.
    for seg in segments[1:]:
        if len(seg) > settle:
            assert seg[settle] <= base + gain * (settle + 2) / mtbf + 0.01


# ------------------------------------------------------------------------------------- writes


def test_write_rejections_carry_a_reason(model: PlantModel) -> None:
    engine = PlantEngine(model)
    speed = f"{LINE}/filler/speed"
    cases = [
        (speed, 121.0, "limits"),
        (speed, 19.9, "limits"),
        (f"{LINE}/labeler/glue_temp_sp", 200.0, "limits"),
        (f"{LINE}/filler/no_such_signal", 1.0, "unknown"),
        ("nowhere", 1.0, "unknown"),
        (f"{LINE}/filler/good_count", 0.0, "read_only"),
        (f"{LINE}/filler/product_temp", 5.0, "read_only"),
        (f"{LINE}/b1/level", 1.0, "read_only"),
        (speed, float("nan"), "type"),
    ]
    for path, value, reason in cases:
        with pytest.raises(WriteRejected) as exc:
            engine.write(path, value)
        assert exc.value.reason == reason, (path, value)
    # Nothing was applied.
    assert engine.values[speed] == 100.0
    assert engine.line_sim(LINE).stations[1].speed == 1.0
    assert engine.values[f"{LINE}/labeler/glue_temp_sp"] == 160.0
    # The limits themselves are accepted.
    assert engine.write(f"{LINE}/labeler/glue_temp_sp", 150.0) == 150.0


def test_write_larger_than_max_step_is_rejected(model: PlantModel) -> None:
    engine = PlantEngine(model)
    with pytest.raises(WriteRejected) as exc:
        engine.write(f"{LINE}/filler/speed", 50.0)  # 100 -> 50 with max_step 25
    assert exc.value.reason == "limits"


def test_speed_write_changes_the_station_throughput(model: PlantModel) -> None:
    """Filler speed 100 % -> 50 % (in two steps of max_step 25) at t = 600 s, measured for an hour.

    While running, the filler completes one part per 1.25/s seconds (lognormal, cv 0.08), so over
    the window parts·1.25/s equals its running time within 4·sd of the sum of the draws plus two
    partial parts at the window's edges. Being the bottleneck, its throughput drops to about half
    of the same-seed run at 100 %: expected ratio 0.5, with failure noise (about one failure of
    Exp(150 s) per 30 busy minutes, sd ~8 % of an hour) well inside the 0.75 bound.
    """
    start, end, mean, cv = 600.0, 600.0 + 3600.0, 1.25, 0.08
    base, slow = PlantEngine(model, physics_dt=60.0), PlantEngine(model, physics_dt=60.0)
    for e in (base, slow):
        e.advance(start)
    assert base.values == slow.values
    slow.write(f"{LINE}/filler/speed", 75.0)
    slow.write(f"{LINE}/filler/speed", 50.0)
    assert slow.values[f"{LINE}/filler/speed"] == 50.0
    assert slow.line_sim(LINE).stations[1].speed == 0.5

    measured = {}
    for e, speed in ((base, 1.0), (slow, 0.5)):
        n0, r0 = parts(e, "filler"), running_time(e, "filler")
        e.advance(end)
        n, busy = parts(e, "filler") - n0, running_time(e, "filler") - r0
        cycle = mean / speed
        assert abs(n * cycle - busy) <= 4 * cv * cycle * math.sqrt(n) + 2 * 2 * cycle
        measured[speed] = n
    assert measured[0.5] < 0.75 * measured[1.0]
    assert measured[0.5] > 0.25 * measured[1.0]
    # The cycle time signal reports the slowed cycle.
    assert float(slow.values[f"{LINE}/filler/cycle_time"]) == pytest.approx(2 * mean, rel=5 * cv)  # type: ignore[arg-type]
    assert float(base.values[f"{LINE}/filler/cycle_time"]) == pytest.approx(mean, rel=5 * cv)  # type: ignore[arg-type]

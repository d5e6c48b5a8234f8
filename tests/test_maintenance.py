"""Predictive maintenance: health index, RUL on known degradation paths, grouping, plans, quality drivers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from factorytwin.errors import FactoryTwinError
from factorytwin.events import Quality, Sample
from factorytwin.maintenance import HealthModel, History, MaintenanceMonitor, learn, predict
from factorytwin.maintenance.plan import Outlook, best_age, grouped, to_calendar
from factorytwin.maintenance.quality import binned, drivers, increments
from factorytwin.model import PlantIndex, Role, parse_model
from factorytwin.model.calendar import Calendar

from .models import one_line

ONE = one_line("""
                - id: m
                  sim: {processing_time: {mean: 10}}
                  signals:
                    - {id: state, role: state}
                    - {id: vibration, role: vibration, normal: {low: 0, high: 5}}
                    - {id: current, role: motor_current, normal: {low: 0, high: 20}}
""")


def _health() -> HealthModel:
    info = PlantIndex(parse_model(ONE)).assets["e/s/a/l/m"]
    signals = [s for s in info.signals.values() if s.role in (Role.VIBRATION, Role.MOTOR_CURRENT)]
    return HealthModel("e/s/a/l/m", signals, fresh=4)


VIB, CUR = "e/s/a/l/m/vibration", "e/s/a/l/m/current"


def test_health_index_falls_with_the_signal_that_degrades_and_names_it() -> None:
    """Fresh windows set the baseline; a rising vibration lowers the index, and vibration leads the contributions."""
    model = _health()
    rng = np.random.default_rng(1)
    for w in range(4):
        h = model.assess(w * 900.0, w * 900.0, w, {VIB: 1.5 + 0.01 * rng.standard_normal(), CUR: 9.5})
    assert h is not None
    assert h.index == pytest.approx(1.0, abs=0.02)
    # before any failure: degradation against the normal range's edge (5 - 1.5 = 3.5 mm/s)
    h = model.assess(9000.0, 9000.0, 10, {VIB: 1.5 + 1.75, CUR: 9.5})
    assert h is not None
    assert h.contributions[0].signal == "vibration"
    assert h.index == pytest.approx(0.5, abs=0.02)
    # a failure teaches the excess at failure (vibration +2, current unchanged): the current gets no weight
    model.failed({VIB: 3.5, CUR: 9.5})
    h = model.assess(9900.0, 9900.0, 11, {VIB: 2.5, CUR: 9.5})
    assert h is not None
    weights = {c.signal: c.weight for c in h.contributions}
    assert weights["vibration"] > 0
    assert weights.get("current", 0.0) == 0
    assert h.index == pytest.approx(0.5, abs=0.03)
    assert h.contributions[0].signal == "vibration"


def test_monitor_counts_bad_samples_and_ignores_other_signals() -> None:
    """NaN, text and bad-quality values of a condition signal are rejected and counted; unknown signals skipped."""
    monitor = MaintenanceMonitor(PlantIndex(parse_model(ONE)))
    bad = [
        Sample(VIB, 1.0, 1.0, math.nan),
        Sample(VIB, 2.0, 2.0, "loud"),
        Sample(VIB, 3.0, 3.0, 1.0, Quality.BAD),
        Sample("e/s/a/l/m/other", 4.0, 4.0, 1.0),
        Sample(VIB, 5.0, 5.0, 1.0),
    ]
    assert monitor.apply(bad) == []
    assert monitor.rejected == 3
    with pytest.raises(FactoryTwinError):
        monitor.renewed("e/s/a/l/nope", 6.0, True)


def _paths(n: int, c: float, beta: float, sd_beta: float, sigma: float, z_f: float, seed: int) -> list[History]:
    """Exact paths of the model: z = log(c) + b t + sigma W, d = exp(z) - c, cut where z reaches z_f."""
    rng = np.random.default_rng(seed)
    out = []
    dt = 900.0
    for _ in range(n):
        b = max(rng.normal(beta, sd_beta), beta / 5)
        z, t, ages, ds = math.log(c), 0.0, [], []
        while z < z_f:
            ages.append(t)
            ds.append(math.exp(z) - c)
            z += b * dt + sigma * math.sqrt(dt) * rng.standard_normal()
            t += dt
        out.append(History(tuple(ages), tuple(ds), True))
    return out


def test_rul_learns_the_population_of_synthetic_paths() -> None:
    """Offset, drift and threshold of exactly exponential paths are recovered from 40 histories."""
    c, beta, z_f = 0.05, 3.0 / 86400, math.log(1.05)
    pop = learn(_paths(40, c, beta, 0.2 * beta, 0.0, z_f, seed=2))
    assert pop.offset == pytest.approx(c, rel=0.5)
    assert pop.drift == pytest.approx(beta, rel=0.15)
    assert pop.threshold == pytest.approx(z_f, abs=0.1)
    with pytest.raises(FactoryTwinError):
        learn(_paths(1, c, beta, 0.0, 0.0, z_f, seed=3))


def test_rul_of_a_noise_free_path_is_its_known_remaining_time() -> None:
    """A unit with the population's drift, no noise: the median RUL is the time left to the threshold."""
    c, beta, z_f = 0.05, 3.0 / 86400, math.log(1.05)
    pop = learn(_paths(30, c, beta, 0.02 * beta, 1e-7, z_f, seed=4))
    ages = [900.0 * k for k in range(40)]
    d = [math.exp(math.log(c) + beta * t) - c for t in ages]
    truth = (z_f - math.log(c)) / beta - ages[-1]
    rul = predict(pop, ages, d, utilization=1.0)
    # the threshold is learned as the last level seen before each failure: exact to within one window (900 s)
    assert abs(rul.median - truth) <= 900
    assert rul.low - 900 <= truth <= rul.high + 900
    half = predict(pop, ages, d, utilization=0.5)  # half the running time per calendar hour: twice as long
    assert half.median == pytest.approx(2 * truth, rel=0.05)


def test_rul_interval_covers_the_truth_at_about_its_level() -> None:
    """On noisy synthetic units, the 90 % interval holds the true remaining time in roughly 90 % of cases."""
    c, beta, z_f, sigma = 0.05, 3.0 / 86400, math.log(1.05), 0.003
    pop = learn(_paths(40, c, beta, 0.25 * beta, sigma, z_f, seed=5))
    hits, errors = [], []
    for unit in _paths(60, c, beta, 0.25 * beta, sigma, z_f, seed=6):
        life = unit.ages[-1] + 900.0
        k = len(unit.ages) // 2
        rul = predict(pop, unit.ages[:k], unit.degradation[:k], 1.0, seed=k)
        truth = life - unit.ages[k - 1]
        hits.append(rul.low <= truth <= rul.high)
        errors.append((rul.median - truth) / truth)
    assert 0.75 <= np.mean(hits) <= 1.0
    assert abs(float(np.median(errors))) < 0.2


def _outlook(station: str, left: float, life: float, spread: float = 0.05) -> Outlook:
    rng = np.random.default_rng(len(station))
    return Outlook(
        station,
        rng.normal(left, spread * left, 2000).clip(1.0),
        rng.normal(life, spread * life, 2000).clip(1.0),
        utilization=1.0,
        service=1800.0,
        repair=7200.0,
    )


def test_best_age_intervenes_before_a_sharp_life_and_never_for_a_memoryless_one() -> None:
    """A narrow life distribution: service just before it; exponential lives: servicing never pays."""
    life = np.random.default_rng(0).normal(86400, 2000, 4000)
    age = best_age(life, service=1800, repair=7200, limit=10 * 86400)
    assert 80000 < age < 86400
    exponential = np.random.default_rng(1).exponential(86400, 4000)
    assert best_age(exponential, 1800, 7200, 10 * 86400) == math.inf


def test_interventions_due_close_together_share_one_stop() -> None:
    """Three stations due at about 10 h, 14 h and 30 h: grouped within a shift, the first two share a stop."""
    looks = [
        _outlook("a", 10 * 3600, 5 * 86400),
        _outlook("b", 14 * 3600, 5 * 86400),
        _outlook("c", 30 * 3600, 5 * 86400),
    ]
    alone = grouped(looks, 2 * 86400, window=0.0)
    assert [s.stations for s in alone.stops] == [("a",), ("b",), ("c",)]
    shift = grouped(looks, 2 * 86400, window=8 * 3600)
    assert [s.stations for s in shift.stops] == [("a", "b"), ("c",)]
    assert shift.stops[0].start < 10 * 3600
    assert shift.stops[0].duration == 1800
    day = grouped(looks, 2 * 86400, window=86400)
    assert [s.stations for s in day.stops] == [("a", "b", "c")]
    calendar = to_calendar(shift, Calendar(), 1_700_000_000.0, "l")
    assert [p.reason for p in calendar.planned] == ["maintenance: a, b", "maintenance: c"]
    assert calendar.planned_seconds(1_700_000_000.0, 1_700_000_000.0 + 2 * 86400) == 2 * 86400 - 2 * 1800


def test_quality_drivers_name_the_condition_that_raises_scrap() -> None:
    """Scrap is 5 % when the oven runs above 185 degC, 0.5 % otherwise; the pressure is unrelated."""
    rng = np.random.default_rng(7)
    periods = 400
    oven = rng.normal(180, 4, periods)
    pressure = rng.normal(6, 0.2, periods)
    parts = np.full(periods, 200.0)
    scrap = rng.binomial(200, np.where(oven > 185, 0.05, 0.005)).astype(float)
    found = drivers({"oven.temperature": oven, "packer.pressure": pressure}, parts, scrap)
    assert [d.condition for d in found] == ["oven.temperature"]
    top = found[0]
    assert top.side == "above"
    assert 182 <= top.threshold <= 188
    assert top.rate_inside > 4 * top.rate_outside
    assert "oven.temperature above" in top.text
    with pytest.raises(FactoryTwinError):
        drivers({"x": oven}, parts, parts + 1)


def test_binned_counters_and_means() -> None:
    """Counter increments per bin survive a reset; readings fall in their bins."""
    t = np.array([0.0, 50.0, 110.0, 150.0, 250.0])
    v = np.array([10.0, 12.0, 15.0, 3.0, 7.0])  # reset to 0 before 150 s
    groups = binned(t, v, 0.0, 300.0, 100.0)
    assert [len(g) for g in groups] == [2, 2, 1]
    assert list(increments(groups)) == [2.0, 6.0, 4.0]


def test_a_signal_that_does_not_change_keeps_its_latest_value() -> None:
    """Report by exception: a constant current sent once still counts in every window the station runs."""
    monitor = MaintenanceMonitor(PlantIndex(parse_model(ONE)))
    state = "e/s/a/l/m/state"
    batch = [Sample(state, 0.0, 0.0, 1), Sample(CUR, 0.0, 0.0, 9.5)]
    batch += [Sample(VIB, float(t), float(t), 1.5) for t in range(10, 6 * 900, 10)]
    monitor.apply(batch)
    assessed = monitor.latest["e/s/a/l/m"].health
    assert {c.signal for c in assessed.contributions} == {"vibration", "current"}
    assert assessed.index == pytest.approx(1.0)

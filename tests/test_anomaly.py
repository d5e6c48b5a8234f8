"""Anomaly detection against ground truth: faults injected into plant-like signals, false alarms on clean runs.

The synthetic station looks like the virtual plant's (src/factorytwin/plant/physics.py): every signal
is a first-order lag towards ``base + load_gain·load`` plus Gaussian noise, sampled once a second
(vibration every 2 s, pressure every 3 s). The load (speed) wanders as an Ornstein-Uhlenbeck process
(mean 1, sd 0.1, time constant 60 s), so current, vibration and pressure move together with it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from scipy.signal import lfilter

from factorytwin.core.anomaly import AnomalyProcessor
from factorytwin.core.anomaly_detectors import AnomalyConfig, EwmaDetector, RangeCheck, chi2_quantile, chi2_survival
from factorytwin.events import Finding, Quality, Sample, StationState
from factorytwin.model import PlantIndex, parse_model

from .models import one_line

MODEL = one_line("""
                - id: m
                  sim: {processing_time: {mean: 1.0}}
                  signals:
                    - {id: state, role: state}
                    - {id: current, name: Drive current, role: motor_current, unit: A, normal: {low: 1, high: 14}}
                    - {id: vibration, role: vibration, unit: mm/s, normal: {low: 0.2, high: 4.5}}
                    - {id: temp, role: temperature, unit: degC, normal: {low: 55, high: 65}}
                    - {id: pressure, role: pressure, unit: bar, normal: {low: 1.5, high: 4.5}}
""")
STATION = "e/s/a/l/m"
START = 1_700_000_000.0
T0 = 1200  # faults start here: every detector is warm by then (the multivariate one after ~880 s)
# signal: (tau s, base, load gain, noise sd, sampling period s)
SIGNALS = {
    "current": (2.0, 1.5, 8.0, 0.1, 1),
    "vibration": (5.0, 0.4, 1.1, 0.08, 2),
    "temp": (120.0, 60.0, 0.5, 0.2, 1),
    "pressure": (3.0, 0.4, 2.6, 0.03, 3),
}
Values = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def index() -> PlantIndex:
    return PlantIndex(parse_model(MODEL))


def _lag(target: np.ndarray, tau: float) -> np.ndarray:
    a = math.exp(-1.0 / tau)
    return np.asarray(lfilter([1 - a], [1, -a], target, zi=[a * target[0]])[0])


def station(seconds: int, seed: int, load: Callable[[np.ndarray], np.ndarray] | None = None) -> Values:
    """One value per second of every signal (the true lagged value plus measurement noise)."""
    rng = np.random.default_rng(seed)
    a = math.exp(-1.0 / 60.0)
    shocks = rng.standard_normal(seconds) * 0.1 * math.sqrt(1 - a * a)
    speed = 1.0 + np.asarray(lfilter([1.0], [1, -a], shocks, zi=[a * 0.1 * rng.standard_normal()])[0])
    if load is not None:
        speed = load(speed)
    return {
        name: _lag(base + gain * speed, tau) + noise * rng.standard_normal(seconds)
        for name, (tau, base, gain, noise, _) in SIGNALS.items()
    }


def stream(values: Values, states: tuple[tuple[int, int], ...] = ((0, 1),), silent: int | None = None) -> list[Sample]:
    """Samples in source-time order; ``states`` are (second, code) changes; current goes silent from ``silent``."""
    rows = [Sample(f"{STATION}/state", START + t, START + t, code) for t, code in states]
    for k, (name, spec) in enumerate(SIGNALS.items()):
        x = values[name]
        stop = silent if name == "current" and silent is not None else len(x)
        for i in range(0, stop, spec[4]):
            t = START + i + 0.1 * k
            rows.append(Sample(f"{STATION}/{name}", t, t, round(float(x[i]), 4)))
    rows.sort(key=lambda s: s.source_time)
    return rows


def run(index: PlantIndex, samples: list[Sample], config: AnomalyConfig | None = None) -> list[Finding]:
    return AnomalyProcessor(index, config).apply(samples)


def delay(findings: list[Finding], kind: str, signal: str | None = None) -> float | None:
    """Seconds from the fault's start to the first finding of a kind (on a signal), or None."""
    for f in findings:
        if f.active and f.kind == kind and (signal is None or f.signal == f"{STATION}/{signal}"):
            return f.time - START - T0
    return None


def test_thresholds_follow_alpha() -> None:
    cfg = AnomalyConfig(alpha=1e-4)
    assert cfg.z_threshold == pytest.approx(3.890592, abs=1e-6)  # P(|Z| > 3.8906) = 1e-4
    assert cfg.chi2_threshold(4) == pytest.approx(23.51274, abs=1e-5)  # chi-square 4 d.o.f., upper 1e-4
    assert chi2_quantile(1, 0.05) == pytest.approx(1.959964**2, rel=1e-6)
    for x in (0.5, 3.0, 17.0):
        assert chi2_survival(x, 2) == pytest.approx(math.exp(-x / 2))
        assert chi2_survival(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2))
    with pytest.raises(ValueError, match="alpha in"):
        AnomalyConfig(alpha=0.0)


def test_ewma_score_is_calibrated_on_white_noise() -> None:
    """Fault-free N(0,1) noise, alpha = 0.01 and no persistence: the score crosses the threshold on ~1 % of samples.

    5 seeds x 20,000 samples (19,400 scored each): expected 970 crossings. Crossings come in clusters
    (the EWMA remembers ~10 samples), so the count varies by about ±15 %; we accept 0.6..1.4 x alpha.
    """
    cfg = AnomalyConfig(alpha=0.01, persistence=10**9)
    crossings = scored = 0
    for seed in range(5):
        d = EwmaDetector(cfg)
        for x in np.random.default_rng(seed).standard_normal(20_000).tolist():
            d.update(x)
            if d.ready:
                scored += 1
                crossings += abs(d.score) > d.threshold
    assert 0.6 * cfg.alpha < crossings / scored < 1.4 * cfg.alpha


def test_fault_free_runs_raise_few_false_alarms(index: PlantIndex) -> None:
    """5 seeds x 2 h of the clean station at alpha = 1e-4 with persistence 3.

    Univariate: each run scores about 6,570 current + 6,570 temp + 2,985 vibration + 1,790 pressure
    samples (after the 30 s settle and the 600-sample warm-up), ~89,600 in all, so a score crosses
    its threshold on about alpha·N = 9 samples, and findings, which need 3 crossings in a row, are
    fewer. Multivariate: ~17,900 scored updates per run (2,400 warm-up), alpha·N = 9 as well. We
    accept at most alpha·N findings of each; no range or stuck finding may appear (the clean values
    stay inside their normal ranges and keep moving).
    """
    alpha, counts = 1e-4, Counter[str]()
    for seed in range(5):
        for f in run(index, stream(station(7200, seed)), AnomalyConfig(alpha=alpha)):
            counts[f.kind] += f.active
    assert counts["anomaly:ewma"] <= alpha * 89_600
    assert counts["anomaly:multivariate"] <= alpha * 89_500
    assert counts["anomaly:range"] == counts["anomaly:stuck"] == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drifting_sensor_is_flagged_long_before_it_leaves_its_range(index: PlantIndex, seed: int) -> None:
    """Temperature drifts +0.005 °C/s (a fortieth of its noise sd per sample) from T0.

    The EWMA detector flags it within 120 s (about 0.6 °C, three noise sds); the range check would
    wait for 65 °C, over 900 s away: it has said nothing after 600 s.
    """
    values = station(T0 + 600, seed)
    values["temp"][T0:] += 0.005 * np.arange(600)
    findings = run(index, stream(values))
    found = delay(findings, "anomaly:ewma", "temp")
    assert found is not None
    assert 0 <= found <= 120
    assert delay(findings, "anomaly:range", "temp") is None
    f = next(f for f in findings if f.kind == "anomaly:ewma" and f.signal == f"{STATION}/temp")
    assert f.station == STATION
    assert f.context["state"] == "running"
    assert f.context["expected"] == pytest.approx(60.5, abs=0.3)
    assert f.value is not None
    assert f.score is not None
    assert f.score > f.context["threshold"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vibration_step_is_flagged_by_the_station_detector(index: PlantIndex, seed: int) -> None:
    """Vibration steps up 0.5 mm/s (about 4.5 x its load-driven spread) at T0.

    The multivariate detector, which knows vibration moves with current and pressure, flags the
    station within 15 s (over 20 seeds: 4 to 8 s) and names vibration as the main contributor. The
    univariate detector sees the load's own swings as normal spread: it is slower, and over 20 seeds
    found 17 steps (12 to 50 s); on these seeds it finds all three within 90 s.
    """
    values = station(T0 + 600, seed)
    values["vibration"][T0:] += 0.5
    findings = run(index, stream(values))
    found = delay(findings, "anomaly:multivariate")
    assert found is not None
    assert 0 <= found <= 15
    f = next(f for f in findings if f.kind == "anomaly:multivariate")
    assert f.station == STATION
    assert f.signal is None
    assert f.key == f"anomaly:multivariate:{STATION}"
    assert f.context["top"] == "vibration"
    assert f.context["signals"] == "current,vibration,temp,pressure"
    univariate = delay(findings, "anomaly:ewma", "vibration")
    assert univariate is not None
    assert 0 <= univariate <= 90


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_broken_relation_is_flagged_by_the_station_detector_first(index: PlantIndex, seed: int) -> None:
    """Motor current rises 3 A (friction) while the load, vibration and pressure stay as they were.

    3 A is within the current's load-driven swings, so its own detector is slow or silent (over 20
    seeds it found 10, after 16 to 62 s), but current no longer matches vibration and pressure: the
    multivariate detector flags it within 20 s (over 20 seeds: 8 to 15 s), before the univariate one.
    """
    values = station(T0 + 600, seed)
    values["current"][T0:] += 3.0 * (1 - np.exp(-np.arange(600) / 2.0))
    findings = run(index, stream(values))
    found = delay(findings, "anomaly:multivariate")
    assert found is not None
    assert 0 <= found <= 20
    assert next(f for f in findings if f.kind == "anomaly:multivariate").context["top"] == "current"
    univariate = delay(findings, "anomaly:ewma", "current")
    assert univariate is None or univariate > found


@pytest.mark.parametrize("silent", [False, True], ids=["repeated", "silent"])
def test_stuck_value_is_flagged_after_its_limit_and_clears_when_it_moves(index: PlantIndex, silent: bool) -> None:
    """Current freezes at T0 for 300 s: polled (the same value keeps coming) or silent (no more samples).

    Sampled every second and never repeating, its limit is max(10 s, 20 x 1 s, 2 x longest gap 1 s) =
    20 s: the finding is dated exactly T0 + 20 s. It ends when the value moves again at T0 + 300 s.
    """
    values = station(T0 + 400, 0)
    values["current"][T0 : T0 + 300] = values["current"][T0]
    samples = stream(values)
    if silent:
        current = f"{STATION}/current"
        samples = [s for s in samples if s.signal != current or not START + T0 < s.source_time < START + T0 + 300]
    stuck = [f for f in run(index, samples) if f.kind == "anomaly:stuck"]
    assert [(f.time - START, f.active) for f in stuck] == [(T0 + 20.0, True), (T0 + 300.0, False)]
    assert stuck[0].value == pytest.approx(values["current"][T0], abs=1e-4)
    assert stuck[0].context["unchanged_s"] == 20.0


def test_station_stop_is_not_an_anomaly(index: PlantIndex) -> None:
    """The station is down for 300 s: load 0, so current, vibration and pressure drop (pressure below its range).

    Detectors sleep while it is down and for settle_s after it restarts. Here settle_s = 300 s: the
    slowest load-driven signal (temperature, tau 120 s) needs ~2.5 tau to come back within its noise.
    The current is silent while down, which is not a stuck value either.
    """

    def stop(speed: np.ndarray) -> np.ndarray:
        speed[T0 : T0 + 300] = 0.0
        return speed

    values = station(T0 + 900, 3, load=stop)
    samples = stream(values, states=((0, 1), (T0, 4), (T0 + 300, 1)))
    samples = [
        s for s in samples if not (s.signal.endswith("current") and START + T0 < s.source_time < START + T0 + 300)
    ]
    processor = AnomalyProcessor(index, AnomalyConfig(settle_s=300.0))
    assert processor.apply(samples) == []
    running = AnomalyProcessor(index, station_state=lambda _: StationState.RUNNING)  # told it never stops
    assert {f.kind for f in running.apply(samples) if f.active} >= {"anomaly:range", "anomaly:stuck"}


def test_step_is_not_learned_away_until_relearned(index: PlantIndex) -> None:
    """A lasting +1 °C step (5 noise sds) stays flagged for the 600 s it lasts; relearn() ends it.

    Relearning the temperature also restarts the station's multivariate detector, which flagged it too.
    """
    values = station(T0 + 600, 4)
    values["temp"][T0:] += 1.0
    processor = AnomalyProcessor(index)
    findings = [f for f in processor.apply(stream(values)) if f.kind == "anomaly:ewma"]
    assert [f.active for f in findings] == [True]
    key = f"anomaly:ewma:{STATION}/temp"
    assert key in processor.active
    ended = processor.relearn(f"{STATION}/temp", START + T0 + 600)
    group = f"anomaly:multivariate:{STATION}"
    assert [(f.key, f.active) for f in ended] == [(key, False), (group, False)]
    assert key not in processor.active
    assert group not in processor.active
    with pytest.raises(KeyError, match="neither a station"):
        processor.relearn(f"{STATION}/state", START)


def test_range_check_has_hysteresis() -> None:
    """Range 0..10 with a 2 % margin: a violation ends after 3 values in a row inside 0.2..9.8."""
    check = RangeCheck(0.0, 10.0, AnomalyConfig(range_clear=3))
    series = [5.0, 10.5, 9.9, 9.7, 9.6, 10.1, 9.5, 9.5, 9.5, 5.0]
    changes = {i: c for i, x in enumerate(series) if (c := check.update(x)) is not None}
    assert changes == {1: True, 8: False}


def test_unusable_samples_are_skipped_and_stale_is_not_stuck(index: PlantIndex) -> None:
    """The current's source goes stale for 120 s: no value, no stuck finding, no crash on bad values."""
    values = station(T0 + 300, 5)
    current = f"{STATION}/current"
    samples = []
    for s in stream(values):
        if s.signal == current and START + T0 <= s.source_time < START + T0 + 120:
            quality = Quality.STALE if s.source_time < START + T0 + 60 else Quality.BAD
            samples.append(Sample(s.signal, s.source_time, s.receive_time, None, quality))
        else:
            samples.append(s)
    samples.append(Sample(current, START + T0 + 300, START + T0 + 300, "not a number"))
    assert [f for f in run(index, samples) if f.active] == []


def test_same_findings_whatever_the_batches(index: PlantIndex) -> None:
    """One code path, live and historical: the same samples cut into any batches give the same findings."""
    values = station(T0 + 300, 6)
    values["vibration"][T0:] += 0.5
    values["current"][T0 + 100 :] = values["current"][T0 + 100]
    samples = stream(values)
    whole = run(index, samples)
    assert {f.kind for f in whole} >= {"anomaly:multivariate", "anomaly:stuck"}
    live = AnomalyProcessor(index)
    sizes = np.random.default_rng(0).integers(1, 500, len(samples)).tolist()
    out: list[Finding] = []
    i = 0
    for size in sizes:
        if i >= len(samples):
            break
        out += live.apply(samples[i : i + size])
        i += size
    assert out == whole

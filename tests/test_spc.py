"""SPC: limits and capability against hand-computed values, run rules on constructed series, the processor."""

from __future__ import annotations

import numpy as np
import pytest

from factorytwin.cli import example_path
from factorytwin.core.spc import CONSTANTS, SpcProcessor, capability, imr_limits, xbar_r_limits
from factorytwin.core.spc_rules import RULES, Limits, RuleSet, fires, nelson2, we1
from factorytwin.events import Quality, Sample, Severity
from factorytwin.model import PlantIndex, load_model

from .conftest import LINE

FILL = f"{LINE}/filler/fill_volume"
TORQUE = f"{LINE}/capper/cap_torque"
UNIT = Limits(centre=0.0, lcl=-3.0, ucl=3.0)  # one sigma = 1: the series below are in sigmas
# A background no rule fires on: runs of at most 2 on a side, steps up and down mixed, no 2-sigma point.
BACKGROUND = [0.5, 1.5, -0.5, -1.5, 0.3, -0.3] * 10


@pytest.fixture(scope="module")
def index() -> PlantIndex:
    return PlantIndex(load_model(example_path()))


def test_imr_limits_match_hand_computation() -> None:
    """X = 10 12 11 13 12: X̄ = 11.6, MR = 2 1 2 1, MR̄ = 1.5, limits 11.6 ± 2.66·1.5, MR UCL 3.267·1.5."""
    lim = imr_limits([10, 12, 11, 13, 12])
    assert lim.kind == "I-MR"
    assert lim.x.centre == pytest.approx(11.6)
    assert (lim.x.lcl, lim.x.ucl) == pytest.approx((11.6 - 3.99, 11.6 + 3.99))
    assert (lim.spread.centre, lim.spread.lcl, lim.spread.ucl) == pytest.approx((1.5, 0.0, 4.9005))
    assert lim.sigma_within == pytest.approx(1.5 / 1.128)
    assert lim.x.sigma == pytest.approx(1.33, abs=1e-9)  # 2.66 · MR̄ / 3


def test_xbar_r_limits_match_hand_computation() -> None:
    """Subgroups of 3: means 2 3 5, ranges 2 2 5; X̄̄ = 10/3, R̄ = 3, A2 = 1.023, D4 = 2.574, d2 = 1.693."""
    lim = xbar_r_limits([[1, 2, 3], [2, 3, 4], [3, 4, 8]])
    assert (lim.kind, lim.subgroup) == ("Xbar-R", 3)
    assert (lim.x.centre, lim.x.lcl, lim.x.ucl) == pytest.approx((10 / 3, 10 / 3 - 3.069, 10 / 3 + 3.069))
    assert (lim.spread.centre, lim.spread.lcl, lim.spread.ucl) == pytest.approx((3.0, 0.0, 7.722))
    assert lim.sigma_within == pytest.approx(3 / 1.693)
    assert xbar_r_limits([[0, 1, 2, 3, 4, 5, 6, 7]]).spread.lcl == pytest.approx(0.136 * 7)  # D3 > 0 from n = 7


def test_constants_are_consistent() -> None:
    """A2 = 3/(d2·√n); D3 = max(0, 1 - 3·d3/d2) and D4 = 1 + 3·d3/d2, so D3 + D4 = 2 whenever D3 > 0."""
    for n, c in CONSTANTS.items():
        assert c.a2 == pytest.approx(3 / (c.d2 * n**0.5), abs=2e-3)
        assert c.d3 + c.d4 == pytest.approx(2.0) if c.d3 else c.d4 >= 2.0
    assert sorted(CONSTANTS) == list(range(2, 11))


def test_bad_chart_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        imr_limits([1.0])
    with pytest.raises(ValueError, match="one size"):
        xbar_r_limits([[1, 2], [1, 2, 3]])
    with pytest.raises(ValueError, match=r"outside 2\.\.10"):
        xbar_r_limits([[float(i) for i in range(11)]])


def test_capability_matches_hand_computation() -> None:
    """X = 9 11 10 12 8, spec 4..18: mean 10, MR̄ = 9/4, sigma within w = 2.25/1.128, overall s = √2.5.

    Cp = 14/(6w), Cpk = min(18-10, 10-4)/(3w) = 6/(3w); Pp = 14/(6s), Ppk = 6/(3s).
    """
    values = [9.0, 11.0, 10.0, 12.0, 8.0]
    sw, s = 2.25 / 1.128, 2.5**0.5
    cap = capability(values, 4.0, 18.0, imr_limits(values).sigma_within)
    assert (cap.n, cap.mean, cap.sigma_within, cap.sigma_overall) == pytest.approx((5, 10.0, sw, s))
    assert (cap.cp, cap.cpk, cap.pp, cap.ppk) == pytest.approx((14 / (6 * sw), 6 / (3 * sw), 14 / (6 * s), 6 / (3 * s)))
    one_sided = capability(values, None, 18.0, sw)
    assert one_sided.cp is None
    assert one_sided.pp is None
    assert one_sided.cpk == pytest.approx(8 / (3 * sw))
    assert capability([5.0, 5.0], 4.0, 6.0, 0.0).cpk is None  # no spread: no index


# rule -> (series in sigmas, indices where it must fire and nowhere else)
CASES: dict[str, tuple[list[float], list[int]]] = {
    "we1": ([0.5, 3.2, -0.4, -3.5, 2.9, 3.0, -3.01], [1, 3, 6]),
    "we2": ([0.1, 2.5, 0.3, 2.1, -2.2, 2.6, -2.5, -0.2, -2.3, 0.0, 0.0, 2.2], [3, 5, 6, 8]),
    "we3": ([1.5, 1.2, 0.5, 1.1, 1.3, 0.2, 1.4, -1.5, 1.6, 1.2, 1.1], [4, 10]),
    "we4": ([0.5] * 10 + [0.0] + [-0.1] * 8 + [0.2], [7, 8, 9, 18]),
    "nelson2": ([0.5] * 10 + [0.0] + [-0.1] * 8 + [0.2], [8, 9]),
    "nelson3": ([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], [5, 6, 12, 13]),
    "nelson4": ([float(i % 2) for i in range(15)] + [0.0] + [float(i % 2 == 0) for i in range(12)], [13, 14]),
    "nelson7": ([0.5, -0.5] * 8 + [1.5] + [0.2] * 14, [14, 15]),
    "nelson8": ([1.5] * 8 + [0.0] + [1.5, -1.5] * 4 + [0.5] + [1.2] * 7 + [-1.2], [16, 25]),
}
CASES["nelson1"] = CASES["we1"]
CASES["nelson5"] = CASES["we2"]
CASES["nelson6"] = CASES["we3"]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_fires_exactly_at_known_points(rule: str) -> None:
    series, expected = CASES[rule]
    assert fires(rule, series, UNIT) == expected
    scaled = [10 + 2 * x for x in series]  # the same pattern on a chart with centre 10 and sigma 2
    assert fires(rule, scaled, Limits(10.0, 4.0, 16.0)) == expected


def test_named_rule_functions_and_background() -> None:
    assert we1(CASES["we1"][0], UNIT) == [1, 3, 6]
    assert nelson2.__doc__ == "Indices where rule nelson2 fires: 9 points in a row on the same side of the centre."
    for rule in RULES:
        assert fires(rule, BACKGROUND, UNIT) == [], rule


def test_rule_set_is_the_series_rules_one_point_at_a_time() -> None:
    rng = np.random.default_rng(7)
    series = list(rng.normal(0.3, 1.2, 400))
    rules = RuleSet(sorted(RULES))
    fired = [rules.push(x, UNIT) for x in series]
    for rule in RULES:
        assert [i for i, names in enumerate(fired) if rule in names] == fires(rule, series, UNIT)
    with pytest.raises(ValueError, match="unknown SPC rules"):
        RuleSet(["we9"])


def test_flat_chart_does_not_divide_by_zero() -> None:
    flat = imr_limits([5.0, 5.0, 5.0]).x
    assert fires("we1", [5.0, 5.0, 5.1], flat) == [2]


def _samples(signal: str, values: list[float], start: float = 1000.0) -> list[Sample]:
    return [Sample(signal, start + i, start + i, v) for i, v in enumerate(values)]


def test_processor_fixes_limits_from_phase1_then_reports_rules(index: PlantIndex) -> None:
    """Phase I = the background around 500 ml (no rule fires); then one point at +4 sigma and back to background.

    The +4 sigma point (index 50) fires we1; the drop from it to the next point (-0.5, about 4.7 sigma)
    exceeds the MR chart's limit (3.267·MR̄ ≈ 3.7 sigma) at point 51. Each finding ends after
    clear_after = 5 points without its rule.
    """
    spc = SpcProcessor(index, phase1=50, clear_after=5)
    assert set(spc.characteristics) == {FILL, TORQUE}
    phase1 = [500 + x for x in BACKGROUND[:50]]
    assert spc.apply(_samples(FILL, phase1)) == []
    chart = spc.chart(FILL)
    assert chart.limits == imr_limits(phase1)
    assert chart.violations == ()
    assert (chart.lsl, chart.usl, chart.target) == (495, 505, 500)
    x = chart.limits.x
    tail = [x.centre + 4 * x.sigma, *(500 + v for v in BACKGROUND[2:12])]
    findings = spc.apply(_samples(FILL, tail, start=1050.0))
    got = [(f.kind, f.time, f.active) for f in findings]
    assert got == [
        ("spc:we1", 1050.0, True),
        ("spc:spread", 1051.0, True),
        ("spc:we1", 1055.0, False),
        ("spc:spread", 1056.0, False),
    ]
    first = findings[0]
    assert first.key == f"spc:we1:{FILL}"
    assert first.station == f"{LINE}/filler"
    assert first.severity is Severity.WARNING
    assert first.score == pytest.approx(4.0)
    assert first.context["ucl"] == x.ucl
    chart = spc.chart(FILL)
    assert [(v.rule, v.index) for v in chart.violations] == [("we1", 50), ("spread", 51)]
    assert [p.phase for p in chart.points][49:51] == [1, 2]
    assert chart.capability is not None
    assert chart.capability.n == 61


def test_processor_subgroups_give_xbar_r_charts(index: PlantIndex) -> None:
    """Subgroups of 5: the chart's limits are those of xbar_r_limits over the first 20 subgroups."""
    rng = np.random.default_rng(3)
    values = list(np.round(rng.normal(170, 6, 100 + 5), 3))
    spc = SpcProcessor(index, phase1=20, subgroups={TORQUE: 5})
    spc.apply(_samples(TORQUE, values[:100]))
    chart = spc.chart(TORQUE)
    groups = [values[i : i + 5] for i in range(0, 100, 5)]
    assert chart.kind == "Xbar-R"
    assert chart.limits == xbar_r_limits(groups)
    assert [p.time for p in chart.points][:2] == [1004.0, 1009.0]  # a subgroup's time is its last sample's
    high = chart.limits.x.ucl + 1.0
    findings = spc.apply(_samples(TORQUE, [high] * 5, start=1100.0))
    assert [(f.kind, f.time, f.value) for f in findings if f.active][:1] == [("spc:we1", 1104.0, pytest.approx(high))]
    cap = spc.chart(TORQUE).capability
    assert cap is not None
    assert cap.n == 105
    assert cap.sigma_within == pytest.approx(np.mean([p.spread for p in spc.chart(TORQUE).points]) / 2.326)


def test_processor_ignores_unusable_and_foreign_samples(index: PlantIndex) -> None:
    spc = SpcProcessor(index, phase1=2)
    spc.apply(
        [
            Sample(FILL, 1.0, 1.0, None, Quality.BAD),
            Sample(FILL, 2.0, 2.0, 499.0, Quality.STALE),
            Sample(FILL, 3.0, 3.0, "oops"),
            Sample(FILL, 4.0, 4.0, True),
            Sample(f"{LINE}/filler/vibration", 5.0, 5.0, 1.0),
            Sample(FILL, 6.0, 6.0, 500.0, Quality.UNCERTAIN),
        ]
    )
    assert [p.value for p in spc.chart(FILL).points] == [500.0]
    with pytest.raises(ValueError, match="subgroup sizes"):
        SpcProcessor(index, subgroups={FILL: 11})
    with pytest.raises(ValueError, match="not quality characteristics"):
        SpcProcessor(index, subgroups={f"{LINE}/filler/vibration": 5})


def test_processor_gives_the_same_findings_whatever_the_batches(index: PlantIndex) -> None:
    """One code path: the stream cut into batches of any size gives the same findings as one replay."""
    rng = np.random.default_rng(11)
    values = list(rng.normal(500, 1, 400)) + list(rng.normal(501.5, 1, 200))
    samples = _samples(FILL, values)
    whole = SpcProcessor(index, rules=sorted(RULES)).apply(samples)
    live = SpcProcessor(index, rules=sorted(RULES))
    pieces = [live.apply(samples[i : i + 7]) for i in range(0, len(samples), 7)]
    assert [f for piece in pieces for f in piece] == whole
    assert any(f.kind == "spc:nelson2" for f in whole)

"""Statistical process control: I-MR and X̄-R charts, capability, and a processor that runs them on the stream.

Pure functions compute limits and capability from data; ``SpcProcessor`` keeps one chart per quality
characteristic (signals with role ``quality`` or with spec limits), fixes its limits from a phase-I
baseline and then checks the run rules of spc_rules.py on every new point, reporting ``Finding``s.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..columns import Batch, select
from ..events import Finding, Severity, StationState
from ..model import PlantIndex, Role, SignalInfo
from .spc_rules import DEFAULT_RULES, RULES, Limits, RuleSet

__all__ = [
    "CONSTANTS",
    "Capability",
    "Chart",
    "ChartLimits",
    "ChartPoint",
    "SpcProcessor",
    "SubgroupConstants",
    "Violation",
    "capability",
    "imr_limits",
    "xbar_r_limits",
]


@dataclass(frozen=True, slots=True)
class SubgroupConstants:
    """Control chart constants for subgroups of size n (ASTM STP 15D / Montgomery, appendix VI)."""

    n: int
    a2: float
    d2: float
    d3: float
    d4: float


CONSTANTS: dict[int, SubgroupConstants] = {
    c.n: c
    for c in (
        SubgroupConstants(2, 1.880, 1.128, 0.0, 3.267),
        SubgroupConstants(3, 1.023, 1.693, 0.0, 2.574),
        SubgroupConstants(4, 0.729, 2.059, 0.0, 2.282),
        SubgroupConstants(5, 0.577, 2.326, 0.0, 2.114),
        SubgroupConstants(6, 0.483, 2.534, 0.0, 2.004),
        SubgroupConstants(7, 0.419, 2.704, 0.076, 1.924),
        SubgroupConstants(8, 0.373, 2.847, 0.136, 1.864),
        SubgroupConstants(9, 0.337, 2.970, 0.184, 1.816),
        SubgroupConstants(10, 0.308, 3.078, 0.223, 1.777),
    )
}
_E2 = 2.66  # 3 / d2(2): individuals limits are X̄ ± 2.66·MR̄
_SPREAD = "spread"  # the check of the MR / R chart: a spread beyond its upper control limit


@dataclass(frozen=True, slots=True)
class ChartLimits:
    """The limits of a two-part chart: the plotted values (X or X̄) and their spread (MR or R)."""

    kind: str  # "I-MR" or "Xbar-R"
    subgroup: int
    x: Limits
    spread: Limits
    sigma_within: float


@dataclass(frozen=True, slots=True)
class Capability:
    """Process capability against spec limits; an index is None when its spec limit is missing."""

    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float | None


@dataclass(frozen=True, slots=True)
class ChartPoint:
    """One plotted point: an individual value or a subgroup mean, with its moving range or range."""

    index: int
    time: float
    value: float
    spread: float | None
    phase: int  # 1 while the baseline is collected, 2 once limits are fixed
    values: tuple[float, ...] = ()  # the subgroup's measurements (empty for individuals)


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule that fired at a chart point."""

    rule: str
    index: int
    time: float


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything needed to draw a characteristic's control chart."""

    signal: str
    kind: str
    subgroup: int
    points: tuple[ChartPoint, ...]
    limits: ChartLimits | None
    violations: tuple[Violation, ...]
    capability: Capability | None
    lsl: float | None
    usl: float | None
    target: float | None


def imr_limits(values: Sequence[float]) -> ChartLimits:
    """Individuals and moving-range limits: X̄ ± 2.66·MR̄, MR UCL = 3.267·MR̄, sigma within = MR̄/1.128."""
    if len(values) < 2:
        raise ValueError("an I-MR chart needs at least 2 values")
    mr_bar = statistics.fmean(abs(b - a) for a, b in itertools.pairwise(values))
    centre = statistics.fmean(values)
    x = Limits(centre, centre - _E2 * mr_bar, centre + _E2 * mr_bar)
    c = CONSTANTS[2]
    return ChartLimits("I-MR", 1, x, Limits(mr_bar, c.d3 * mr_bar, c.d4 * mr_bar), mr_bar / c.d2)


def xbar_r_limits(subgroups: Sequence[Sequence[float]]) -> ChartLimits:
    """X̄-R limits for equal subgroups of 2..10: X̄̄ ± A2·R̄, R in [D3·R̄, D4·R̄], sigma within = R̄/d2."""
    sizes = {len(g) for g in subgroups}
    if len(sizes) != 1 or not subgroups:
        raise ValueError("X̄-R limits need subgroups of one size")
    means = [statistics.fmean(g) for g in subgroups]
    return _xbar_r(means, [max(g) - min(g) for g in subgroups], sizes.pop())


def _xbar_r(means: Sequence[float], ranges: Sequence[float], n: int) -> ChartLimits:
    if n not in CONSTANTS:
        raise ValueError(f"subgroup size {n} outside 2..10")
    c = CONSTANTS[n]
    grand, r_bar = statistics.fmean(means), statistics.fmean(ranges)
    x = Limits(grand, grand - c.a2 * r_bar, grand + c.a2 * r_bar)
    return ChartLimits("Xbar-R", n, x, Limits(r_bar, c.d3 * r_bar, c.d4 * r_bar), r_bar / c.d2)


def capability(values: Sequence[float], lsl: float | None, usl: float | None, sigma_within: float) -> Capability:
    """Cp, Cpk from the within sigma and Pp, Ppk from the overall sample sigma of the values."""
    if len(values) < 2:
        raise ValueError("capability needs at least 2 values")
    mean, overall = statistics.fmean(values), statistics.stdev(values)

    def indices(sigma: float) -> tuple[float | None, float | None]:
        if sigma <= 0:
            return None, None
        sides = [(usl - mean) / (3 * sigma)] if usl is not None else []
        sides += [(mean - lsl) / (3 * sigma)] if lsl is not None else []
        spread = (usl - lsl) / (6 * sigma) if usl is not None and lsl is not None else None
        return spread, min(sides) if sides else None

    cp, cpk = indices(sigma_within)
    pp, ppk = indices(overall)
    return Capability(len(values), mean, sigma_within, overall, cp, cpk, pp, ppk)


@dataclass(slots=True)
class _Characteristic:
    """The running chart of one quality characteristic."""

    info: SignalInfo
    n: int
    rules: RuleSet
    points: deque[ChartPoint]
    pending: list[float] = field(default_factory=list)
    limits: ChartLimits | None = None
    violations: deque[Violation] = field(default_factory=deque)
    count: int = 0
    last: float | None = None
    quiet: dict[str, int] = field(default_factory=dict)  # active rule -> points since it last fired

    def point(self, t: float, x: float) -> ChartPoint | None:
        """Turn the next measurement into a chart point (None while a subgroup fills up)."""
        if self.n == 1:
            spread = abs(x - self.last) if self.last is not None else None
            self.last = x
            return ChartPoint(self.count, t, x, spread, 2 if self.limits else 1)
        self.pending.append(x)
        if len(self.pending) < self.n:
            return None
        values, self.pending = tuple(self.pending), []
        mean = math.fsum(values) / self.n
        return ChartPoint(self.count, t, mean, max(values) - min(values), 2 if self.limits else 1, values)


class SpcProcessor:
    """Control charts for every quality characteristic of a plant, updated sample by sample.

    The first ``phase1`` points of a characteristic (individual values, or subgroup means when
    ``subgroups`` maps its signal to a size of 2..10) fix the chart's limits; every later point is
    checked against ``rules``. A rule's finding starts at the point it fires and ends after
    ``clear_after`` points in a row without it firing. Only usable numeric samples count.
    """

    def __init__(
        self,
        index: PlantIndex,
        phase1: int = 50,
        subgroups: Mapping[str, int] | None = None,
        rules: Sequence[str] = DEFAULT_RULES,
        keep: int = 500,
        clear_after: int = 5,
        station_state: Callable[[str], StationState] | None = None,
    ) -> None:
        if phase1 < 2 or keep < phase1 or clear_after < 1:
            raise ValueError("phase1 must be at least 2, keep at least phase1, clear_after at least 1")
        sizes = dict(subgroups or {})
        bad = {s: n for s, n in sizes.items() if n != 1 and n not in CONSTANTS}
        if bad:
            raise ValueError(f"subgroup sizes must be 1..10: {bad}")
        self.phase1, self.keep, self.clear_after = phase1, keep, clear_after
        self._station_state = station_state
        self._chars = {
            path: _Characteristic(info, sizes.get(path, 1), RuleSet(rules), deque(maxlen=keep))
            for path, info in index.signals.items()
            if info.role is Role.QUALITY or info.signal.spec is not None
        }
        stray = sorted(set(sizes) - set(self._chars))
        if stray:
            raise ValueError(f"subgroups given for signals that are not quality characteristics: {stray}")

    @property
    def characteristics(self) -> tuple[str, ...]:
        """The signal paths charted."""
        return tuple(self._chars)

    def apply(self, batch: Batch) -> list[Finding]:
        """Fold samples into the charts; return the findings that started or ended."""
        out: list[Finding] = []
        for s in select(batch, self._chars.keys()):
            c = self._chars.get(s.signal)
            v = s.value
            if c is None or not s.quality.usable or not isinstance(v, int | float) or isinstance(v, bool):
                continue
            p = c.point(s.source_time, float(v))
            if p is not None:
                self._add(c, p, out)
        return out

    def _add(self, c: _Characteristic, p: ChartPoint, out: list[Finding]) -> None:
        c.points.append(p)
        c.count += 1
        if c.limits is None:
            if c.count == self.phase1:
                self._fix_limits(c)
            return
        self._check(c, p, out)

    def _fix_limits(self, c: _Characteristic) -> None:
        pts = list(c.points)[-self.phase1 :]
        if c.n == 1:
            c.limits = imr_limits([p.value for p in pts])
        else:
            c.limits = _xbar_r([p.value for p in pts], [p.spread or 0.0 for p in pts], c.n)
        for p in pts:  # the baseline's own violations are drawn, not reported
            self._check(c, p, None)

    def _check(self, c: _Characteristic, p: ChartPoint, out: list[Finding] | None) -> None:
        assert c.limits is not None
        fired = c.rules.push(p.value, c.limits.x)
        if p.spread is not None and p.spread > c.limits.spread.ucl:
            fired.append(_SPREAD)
        for rule in fired:
            c.violations.append(Violation(rule, p.index, p.time))
        while c.violations and c.violations[0].index <= p.index - self.keep:
            c.violations.popleft()
        if out is None:
            return
        for rule in fired:
            if rule not in c.quiet:
                out.append(self._finding(c, p, rule, True))
            c.quiet[rule] = 0
        for rule in [r for r in c.quiet if r not in fired]:
            c.quiet[rule] += 1
            if c.quiet[rule] >= self.clear_after:
                del c.quiet[rule]
                out.append(self._finding(c, p, rule, False))

    def _finding(self, c: _Characteristic, p: ChartPoint, rule: str, active: bool) -> Finding:
        assert c.limits is not None
        info, x = c.info, c.limits.x
        what = RULES[rule].description if rule in RULES else "moving range or range beyond its upper control limit"
        name = info.signal.name or info.signal.id
        message = f"{name}: {what}" if active else f"{name}: back in control ({rule})"
        severe = rule in ("we1", "nelson1", _SPREAD)
        context: dict[str, float | str] = {"rule": rule, "point": p.index, "centre": x.centre, "lcl": x.lcl}
        context["ucl"] = x.ucl
        if self._station_state is not None:
            context["state"] = self._station_state(info.asset_path).value
        return Finding(
            key=f"spc:{rule}:{info.path}",
            kind=f"spc:{rule}",
            time=p.time,
            active=active,
            severity=Severity.WARNING if severe else Severity.INFO,
            message=message,
            signal=info.path,
            station=info.asset_path,
            value=p.value,
            score=x.z(p.value),
            context=context,
        )

    def chart(self, signal: str) -> Chart:
        """The chart of one characteristic: retained points, limits, violations and capability."""
        c = self._chars[signal]
        points = tuple(c.points)
        spec = c.info.signal.spec
        lsl, usl, target = (spec.lsl, spec.usl, spec.target) if spec is not None else (None, None, None)
        return Chart(
            signal=signal,
            kind="I-MR" if c.n == 1 else "Xbar-R",
            subgroup=c.n,
            points=points,
            limits=c.limits,
            violations=tuple(c.violations),
            capability=self._capability(c, points, lsl, usl),
            lsl=lsl,
            usl=usl,
            target=target,
        )

    @staticmethod
    def _capability(
        c: _Characteristic, points: tuple[ChartPoint, ...], lsl: float | None, usl: float | None
    ) -> Capability | None:
        """Capability over the retained points (sigma within from their MR̄ or R̄)."""
        if c.n == 1:
            values = [p.value for p in points]
            if len(values) < 2:
                return None
            return capability(values, lsl, usl, imr_limits(values).sigma_within)
        if not points:
            return None
        values = [v for p in points for v in p.values]
        r_bar = statistics.fmean(p.spread or 0.0 for p in points)
        return capability(values, lsl, usl, r_bar / CONSTANTS[c.n].d2)

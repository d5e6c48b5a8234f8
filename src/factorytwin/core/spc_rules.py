"""Run rules for control charts (Western Electric 1-4, Nelson 1-8), incremental and over whole series.

Every rule is a small state machine fed one point at a time (O(1) per point), so the live stream and
a whole series go through the same code: ``fires(rule, series, limits)`` just replays the series.
A rule fires at the point that completes its pattern, and at every later point that still completes
one (a run of 11 points on one side fires rule ``nelson2`` at its 9th, 10th and 11th point). For the
"m of n" rules the firing point must itself be one of the m points beyond the zone.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

__all__ = [
    "DEFAULT_RULES",
    "Limits",
    "RULES",
    "Rule",
    "RuleCheck",
    "RuleSet",
    "fires",
    "nelson1",
    "nelson2",
    "nelson3",
    "nelson4",
    "nelson5",
    "nelson6",
    "nelson7",
    "nelson8",
    "we1",
    "we2",
    "we3",
    "we4",
]

_FAR = -(10**9)  # "never" for point positions


@dataclass(frozen=True, slots=True)
class Limits:
    """A chart's centre line and control limits; one sigma is a third of the way to the upper limit."""

    centre: float
    lcl: float
    ucl: float

    @property
    def sigma(self) -> float:
        """The width of one zone (the standard error of a plotted point)."""
        return (self.ucl - self.centre) / 3.0

    def z(self, x: float) -> float:
        """Distance of x from the centre line in sigmas (±inf off a zero-width chart)."""
        sigma, d = self.sigma, x - self.centre
        if sigma > 0:
            return d / sigma
        return 0.0 if d == 0 else math.copysign(math.inf, d)


class RuleCheck(Protocol):
    """One rule's incremental state: push a point, learn whether the rule fires at it."""

    def push(self, x: float, z: float) -> bool:
        """Take the next point (value and distance in sigmas); True when the rule fires at it."""
        ...


def _side(z: float, k: float = 0.0) -> int:
    return 1 if z > k else -1 if z < -k else 0


class _Beyond:
    """One point more than k sigma from the centre."""

    __slots__ = ("k",)

    def __init__(self, k: float) -> None:
        self.k = k

    def push(self, x: float, z: float) -> bool:
        return abs(z) > self.k


class _SameSide:
    """n points in a row on the same side of the centre (a point on the centre breaks the run)."""

    __slots__ = ("count", "n", "side")

    def __init__(self, n: int) -> None:
        self.n, self.side, self.count = n, 0, 0

    def push(self, x: float, z: float) -> bool:
        side = _side(z)
        self.count = self.count + 1 if side != 0 and side == self.side else (1 if side else 0)
        self.side = side
        return self.count >= self.n


class _Steps:
    """n points in a row whose steps all go the same way (trend) or alternate (saw-tooth); a flat step breaks."""

    __slots__ = ("alternate", "count", "last", "n", "step")

    def __init__(self, n: int, alternate: bool) -> None:
        self.n, self.alternate = n, alternate
        self.last: float | None = None
        self.step, self.count = 0, 0

    def push(self, x: float, z: float) -> bool:
        if self.last is None:
            self.count = 1
        else:
            step = _side(x - self.last)
            wanted = -self.step if self.alternate else self.step
            self.count = self.count + 1 if step != 0 and step == wanted else (2 if step else 1)
            self.step = step
        self.last = x
        return self.count >= self.n


class _MofN:
    """m of the last n points more than k sigma from the centre on the same side, the latest among them."""

    __slots__ = ("down", "k", "m", "n", "sides", "up")

    def __init__(self, m: int, n: int, k: float) -> None:
        self.m, self.n, self.k = m, n, k
        self.sides: deque[int] = deque()
        self.up = self.down = 0

    def push(self, x: float, z: float) -> bool:
        sides = self.sides
        if len(sides) == self.n:
            old = sides.popleft()
            self.up -= old > 0
            self.down -= old < 0
        side = _side(z, self.k)
        sides.append(side)
        self.up += side > 0
        self.down += side < 0
        return (side > 0 and self.up >= self.m) or (side < 0 and self.down >= self.m)


class _Zone:
    """n points in a row within k sigma (stratification), or beyond it on both sides (mixture)."""

    __slots__ = ("count", "inside", "k", "last_down", "last_up", "n")

    def __init__(self, n: int, k: float, inside: bool) -> None:
        self.n, self.k, self.inside = n, k, inside
        self.count, self.last_up, self.last_down = 0, _FAR, _FAR

    def push(self, x: float, z: float) -> bool:
        if self.inside:
            self.count = self.count + 1 if abs(z) < self.k else 0
            return self.count >= self.n
        side = _side(z, self.k)
        if side == 0:
            self.count, self.last_up, self.last_down = 0, _FAR, _FAR
            return False
        self.count += 1
        if side > 0:
            self.last_up = self.count
        else:
            self.last_down = self.count
        both = self.count - self.last_up < self.n and self.count - self.last_down < self.n
        return self.count >= self.n and both


@dataclass(frozen=True, slots=True)
class Rule:
    """A run rule: its name, what its pattern is, how many points the pattern spans and its state machine."""

    name: str
    description: str
    window: int
    make: Callable[[], RuleCheck]


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("we1", "1 point beyond 3 sigma", 1, partial(_Beyond, 3.0)),
        Rule("we2", "2 of 3 points beyond 2 sigma on the same side", 3, partial(_MofN, 2, 3, 2.0)),
        Rule("we3", "4 of 5 points beyond 1 sigma on the same side", 5, partial(_MofN, 4, 5, 1.0)),
        Rule("we4", "8 points in a row on the same side of the centre", 8, partial(_SameSide, 8)),
        Rule("nelson1", "1 point beyond 3 sigma", 1, partial(_Beyond, 3.0)),
        Rule("nelson2", "9 points in a row on the same side of the centre", 9, partial(_SameSide, 9)),
        Rule("nelson3", "6 points in a row steadily increasing or decreasing", 6, partial(_Steps, 6, False)),
        Rule("nelson4", "14 points in a row alternating up and down", 14, partial(_Steps, 14, True)),
        Rule("nelson5", "2 of 3 points beyond 2 sigma on the same side", 3, partial(_MofN, 2, 3, 2.0)),
        Rule("nelson6", "4 of 5 points beyond 1 sigma on the same side", 5, partial(_MofN, 4, 5, 1.0)),
        Rule("nelson7", "15 points in a row within 1 sigma of the centre", 15, partial(_Zone, 15, 1.0, True)),
        Rule("nelson8", "8 points in a row beyond 1 sigma, on both sides", 8, partial(_Zone, 8, 1.0, False)),
    )
}

DEFAULT_RULES: tuple[str, ...] = ("we1", "we2", "we3", "we4")


def fires(rule: str, series: Sequence[float], limits: Limits) -> list[int]:
    """Indices of the points of a series at which a rule fires."""
    check = RULES[rule].make()
    return [i for i, x in enumerate(series) if check.push(x, limits.z(x))]


class RuleSet:
    """Several rules evaluated together over one chart's points, one point at a time."""

    def __init__(self, names: Sequence[str]) -> None:
        unknown = [n for n in names if n not in RULES]
        if unknown:
            raise ValueError(f"unknown SPC rules {unknown}; known: {sorted(RULES)}")
        self.names = tuple(names)
        self._checks = [(n, RULES[n].make()) for n in self.names]

    def push(self, x: float, limits: Limits) -> list[str]:
        """Take the next point; return the names of the rules that fire at it."""
        z = limits.z(x)
        return [name for name, check in self._checks if check.push(x, z)]


def _series_rule(name: str) -> Callable[[Sequence[float], Limits], list[int]]:
    def rule(series: Sequence[float], limits: Limits) -> list[int]:
        return fires(name, series, limits)

    rule.__name__ = rule.__qualname__ = name
    rule.__doc__ = f"Indices where rule {name} fires: {RULES[name].description}."
    return rule


we1 = _series_rule("we1")
we2 = _series_rule("we2")
we3 = _series_rule("we3")
we4 = _series_rule("we4")
nelson1 = _series_rule("nelson1")
nelson2 = _series_rule("nelson2")
nelson3 = _series_rule("nelson3")
nelson4 = _series_rule("nelson4")
nelson5 = _series_rule("nelson5")
nelson6 = _series_rule("nelson6")
nelson7 = _series_rule("nelson7")
nelson8 = _series_rule("nelson8")

"""Simple physics for the virtual plant's continuous signals.

Every continuous signal is a first-order lag towards a target::

    target = reference + load_gain * load + wear_gain * wear
    x(t + dt) = x(t) + (target - x(t)) * (1 - exp(-dt / tau))
    measured = x + noise * N(0, 1)

``reference`` is the value of the setpoint the signal follows (``sim.follows``) or ``sim.base``;
``load`` is the station's speed factor while it processes a part and 0 otherwise; ``wear`` grows
with busy time since the last repair, or follows the station's ``WearPath`` when it has a ``wear``
block. A temperature thus follows its setpoint with a lag, a motor
current follows the load, and a vibration grows with wear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model.schema import SignalSim, Wear

__all__ = ["W0", "LagSignal", "WearPath"]

W0 = 0.05  # wear of a new unit; it fails at 1


@dataclass(slots=True)
class LagSignal:
    """The hidden true value of one continuous signal and how it moves."""

    sim: SignalSim
    x: float

    def step(self, dt: float, reference: float, load: float, wear: float, rng: np.random.Generator) -> float:
        """Advance by dt seconds and return a noisy measurement."""
        target = reference + self.sim.load_gain * load + self.sim.wear_gain * wear
        self.x += (target - self.x) * (1.0 - math.exp(-dt / self.sim.tau))
        if self.sim.noise > 0:
            return self.x + self.sim.noise * float(rng.standard_normal())
        return self.x


@dataclass(slots=True)
class WearPath:
    """The hidden wear of one station: a noisy, accelerating path from new (``W0``) to failure (1).

    Log-wear is a Wiener process in effective operating time ``u`` (busy seconds times
    ``speed ** speed_exponent``, in units of ``life``)::

        log(wear) = log(W0) + r * u + noise * B(u),   failure when wear >= 1

    The drift ``r`` of each unit is drawn so that its mean life is ``life`` times a factor with mean 1
    and coefficient of variation ``spread``: wear grows exponentially, faster the harder it runs.
    """

    wear: Wear
    rng: np.random.Generator
    log_w: float = 0.0
    drift: float = 0.0
    pending: float = 0.0  # effective operating time not yet applied

    def __post_init__(self) -> None:
        self.renew()

    @property
    def level(self) -> float:
        """Wear from about ``W0`` (new) to 1 (failed)."""
        return math.exp(self.log_w)

    def renew(self) -> None:
        """A repair or a planned maintenance: a new unit with its own rate of wear."""
        spread = self.wear.spread
        sigma = math.sqrt(math.log1p(spread * spread))
        factor = float(self.rng.lognormal(-sigma * sigma / 2, sigma)) if spread > 0 else 1.0
        self.log_w, self.drift, self.pending = math.log(W0), -math.log(W0) / factor, 0.0

    def grow(self, busy_s: float, speed: float) -> bool:
        """Add ``busy_s`` operating seconds at a speed factor; True when the station fails.

        Steps shorter than ``1e-4`` of a life are gathered into one (the path is the same in law).
        """
        if busy_s <= 0:
            return False
        self.pending += busy_s * speed**self.wear.speed_exponent / self.wear.life
        if self.pending < 1e-4:
            return False
        du, self.pending = self.pending, 0.0
        step = self.drift * du
        if self.wear.noise > 0:
            step += self.wear.noise * math.sqrt(du) * float(self.rng.standard_normal())
        self.log_w = min(self.log_w + step, 0.0)
        return self.log_w >= 0.0

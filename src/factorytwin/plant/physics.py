"""Simple physics for the virtual plant's continuous signals.

Every continuous signal is a first-order lag towards a target::

    target = reference + load_gain * load + wear_gain * wear
    x(t + dt) = x(t) + (target - x(t)) * (1 - exp(-dt / tau))
    measured = x + noise * N(0, 1)

``reference`` is the value of the setpoint the signal follows (``sim.follows``) or ``sim.base``;
``load`` is the station's speed factor while it processes a part and 0 otherwise; ``wear`` grows
with busy time since the last repair. A temperature thus follows its setpoint with a lag, a motor
current follows the load, and a vibration grows with wear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model.schema import SignalSim

__all__ = ["LagSignal"]


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

"""Simulation engines for lines described by the plant model.

``run(model, horizon, replications, seed)`` simulates a line on the fast exact engine when it
supports the line and on the SimPy engine otherwise; ``Scenario`` and ``compare`` answer what-if
questions on common random numbers. ``LineSim`` is the SimPy engine the virtual plant runs on.
"""

from .distributions import draw
from .draws import Draws, ReplicationDraws
from .engines import Engine
from .errors import SimulationError
from .fast import FastRun, simulate, unsupported
from .line import LineSim
from .results import Estimate, Results, Samples, StationResult
from .run import LineModel, run
from .scenario import Change, Comparison, Scenario, compare
from .station import MachineRun, StationRun
from .trace import Trace

__all__ = [
    "Change",
    "Comparison",
    "Draws",
    "Engine",
    "Estimate",
    "FastRun",
    "LineModel",
    "LineSim",
    "MachineRun",
    "ReplicationDraws",
    "Results",
    "Samples",
    "Scenario",
    "SimulationError",
    "StationResult",
    "StationRun",
    "Trace",
    "compare",
    "draw",
    "run",
    "simulate",
    "unsupported",
]

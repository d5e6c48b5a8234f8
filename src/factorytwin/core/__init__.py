"""The stream's in-memory processors: the intake gate and the live state."""

from .intake import DeadLetter, Intake
from .state import LiveState, SignalState, StationStatus

__all__ = ["DeadLetter", "Intake", "LiveState", "SignalState", "StationStatus"]

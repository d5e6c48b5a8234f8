"""Calibration of the simulation model from the historian, validation, and forecasts from the live state.

``read_history`` reads a line's window from a historian, ``calibrate`` fits each station's
processing time, failures and scrap and validates the calibrated line on the window, and
``write_calibrated`` writes it into a copy of the plant-model file.
"""

from .fit import Fit, fit
from .history import LineHistory, StationHistory, good_parts, read_history, warm_start
from .line import Calibration, Validation, calibrate
from .station import Interval, StationFit, calibrate_station
from .yaml_out import write_calibrated

__all__ = [
    "Calibration",
    "Fit",
    "Interval",
    "LineHistory",
    "StationFit",
    "StationHistory",
    "Validation",
    "calibrate",
    "calibrate_station",
    "fit",
    "good_parts",
    "read_history",
    "warm_start",
    "write_calibrated",
]

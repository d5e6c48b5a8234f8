"""Governed write-back: setpoints checked against the model's limits, written, confirmed, audited."""

from .limits import SetpointRefused, check_setpoint
from .preview import Preview, preview
from .service import Control, SetpointResult

__all__ = ["Control", "Preview", "SetpointRefused", "SetpointResult", "check_setpoint", "preview"]

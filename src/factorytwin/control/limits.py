"""The checks a setpoint passes before any connector writes: writable, a finite number, limits, step and rate."""

from __future__ import annotations

import math

from ..errors import FactoryTwinError
from ..model import SignalInfo

__all__ = ["SetpointRefused", "check_setpoint"]


class SetpointRefused(FactoryTwinError):
    """A setpoint was not written; ``reason`` says why.

    Reasons: unknown, forbidden, not_writable, type, limits, step, rate, current_unknown (checks before
    the write); disconnected, device (the source refused or could not be reached); unconfirmed (written,
    but the read-back never showed the value).
    """

    def __init__(self, message: str, reason: str, retry_after_s: float | None = None) -> None:
        self.reason = reason
        self.retry_after_s = retry_after_s
        super().__init__(message)


def check_setpoint(
    info: SignalInfo,
    value: object,
    current: float | None,
    last_write: tuple[float, float] | None,
    now: float,
) -> float:
    """The value to write, or SetpointRefused naming the limit it breaks.

    ``current`` is the live value (None when unknown or not good); ``last_write`` is (time, value) of the
    last write through the twin, for the rate limit.
    """
    limits = info.signal.write
    if limits is None:
        raise SetpointRefused(f"'{info.path}' is not writable: the model gives it no write limits", "not_writable")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SetpointRefused(f"'{info.path}' needs a number, got {type(value).__name__} {value!r}", "type")
    number = float(value)
    if not math.isfinite(number):
        raise SetpointRefused(f"'{info.path}' needs a finite number, got {value!r}", "type")
    if info.integer and not number.is_integer():
        raise SetpointRefused(f"'{info.path}' takes whole numbers, got {value!r}", "type")
    unit = f" {info.signal.unit}" if info.signal.unit else ""
    if not limits.min <= number <= limits.max:
        raise SetpointRefused(
            f"{number:g}{unit} is outside the limits of '{info.path}': min {limits.min:g}, max {limits.max:g}{unit}",
            "limits",
        )
    if limits.max_step is not None:
        if current is None:
            raise SetpointRefused(
                f"the current value of '{info.path}' is unknown, so its max_step of {limits.max_step:g}{unit} "
                "cannot be checked; wait until the source is connected",
                "current_unknown",
            )
        if abs(number - current) > limits.max_step:
            raise SetpointRefused(
                f"{number:g}{unit} is a step of {abs(number - current):g}{unit} from the current {current:g}{unit}; "
                f"'{info.path}' allows at most {limits.max_step:g}{unit} per write",
                "step",
            )
    if limits.max_rate is not None and last_write is not None:
        then, before = last_write
        wait = abs(number - before) / limits.max_rate - (now - then)
        if wait > 0:
            raise SetpointRefused(
                f"'{info.path}' may change by at most {limits.max_rate:g}{unit} per second: moving from {before:g} "
                f"to {number:g}{unit} is allowed in {wait:.1f} s",
                "rate",
                retry_after_s=wait,
            )
    return number

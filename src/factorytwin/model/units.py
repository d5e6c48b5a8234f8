"""Unit conversion for edge processing (pint), checked when the model loads."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pint

__all__ = ["converter", "unit_problem"]


@functools.cache
def _registry() -> pint.UnitRegistry[float]:
    registry: pint.UnitRegistry[float] = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    registry.define("percent = 0.01 = %")
    return registry


def unit_problem(source_unit: str, unit: str | None) -> str | None:
    """Why values in ``source_unit`` cannot be converted to ``unit``, or None when they can."""
    if unit is None:
        return "converting needs the signal's unit"
    try:
        converter(source_unit, unit)
    except pint.errors.UndefinedUnitError as exc:
        return f"unknown unit '{', '.join(exc.unit_names)}'"
    except pint.errors.DimensionalityError:
        return f"cannot convert {source_unit} to {unit}"
    return None


@functools.cache
def converter(source_unit: str, unit: str) -> Callable[[float], float]:
    """A function converting a number from ``source_unit`` to ``unit`` (affine units such as degF work)."""
    registry = _registry()
    source, target = registry.Quantity(1.0, source_unit), registry.Unit(unit)
    source.to(target)  # raises when the units do not convert
    q = registry.Quantity
    zero = q(0.0, source_unit).to(target).magnitude
    slope = q(1.0, source_unit).to(target).magnitude - zero
    return lambda value: value * slope + zero

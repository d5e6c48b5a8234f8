"""Move sources to other addresses (free test ports, the demo's embedded services) without editing the file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .schema import PlantModel

__all__ = ["relocate"]


def relocate(model: PlantModel, updates: Mapping[str, Mapping[str, Any]]) -> PlantModel:
    """A copy of the model with source fields replaced, e.g. ``{"plant": {"endpoint": url}}``."""
    unknown = set(updates) - set(model.sources)
    if unknown:
        raise KeyError(f"no source {sorted(unknown)} in the model")
    sources = {sid: src.model_copy(update=dict(updates.get(sid, {}))) for sid, src in model.sources.items()}
    return model.model_copy(update={"sources": sources})

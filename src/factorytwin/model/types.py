"""Base types shared by the model file's schema modules."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Id", "Seconds", "Strict"]

Id = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        max_length=64,
        description="Identifier: a letter, then letters, digits, _ or -",
    ),
]
Seconds = Annotated[float, Field(gt=0, description="A duration in seconds")]


class Strict(BaseModel):
    """A model-file block: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

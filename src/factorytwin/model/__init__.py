"""The plant model: one declarative file, validated, resolved into an index."""

from .index import AssetInfo, LineInfo, PlantIndex, SignalInfo
from .loader import json_schema, load_model, parse_model
from .relocate import relocate
from .schema import PlantModel, Role

__all__ = [
    "AssetInfo",
    "LineInfo",
    "PlantIndex",
    "PlantModel",
    "Role",
    "SignalInfo",
    "json_schema",
    "load_model",
    "parse_model",
    "relocate",
]

"""Historians: where samples are stored and read back."""

from .base import Historian
from .duckdb import DuckDBHistorian

__all__ = ["DuckDBHistorian", "Historian"]

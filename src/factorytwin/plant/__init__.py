"""The virtual plant: a seeded simulation of the model served over real protocol servers."""

from .engine import PlantEngine
from .runner import VirtualPlant

__all__ = ["PlantEngine", "VirtualPlant"]

"""factorytwin: a live digital twin of a factory floor."""

__version__ = "0.1.0"

__all__ = ["__version__"]

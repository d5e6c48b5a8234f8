"""The HTTP API of a running twin."""

from .app import create_app

__all__ = ["create_app"]

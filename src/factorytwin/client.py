"""Commands that talk to a running twin's API: the ``--token`` option and its Authorization header."""

from __future__ import annotations

import os
from typing import Annotated

import typer

__all__ = ["ApiToken", "bearer"]

ApiToken = Annotated[
    str | None, typer.Option("--token", help="API token of the running twin (default: $FACTORYTWIN_TOKEN)")
]


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header for ``token`` or ``$FACTORYTWIN_TOKEN``; empty when neither is set."""
    secret = token or os.environ.get("FACTORYTWIN_TOKEN")
    return {"Authorization": f"Bearer {secret}"} if secret else {}

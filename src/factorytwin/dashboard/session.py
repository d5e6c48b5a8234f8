"""Who uses the dashboard in this browser: signed in with an API token, holding that token's role.

The token itself is never kept: the session stores the token's id, name and role in NiceGUI's
server-side user storage (keyed by a signed session cookie). Every page checks the token id again,
so a revoked token loses the dashboard at the next page load.
"""

from __future__ import annotations

from dataclasses import dataclass

from nicegui import app, ui

from ..runtime import Twin
from ..security import Principal, Role

__all__ = ["Session"]

_KEY = "principal"


@dataclass(frozen=True, slots=True)
class Session:
    """The signed-in principal of this browser, if any."""

    principal: Principal | None

    @classmethod
    def current(cls, twin: Twin) -> Session:
        """The session of the browser making the page request (signed out if its token was revoked)."""
        stored = app.storage.user.get(_KEY)
        if not isinstance(stored, dict):
            return cls(None)
        token_id = stored.get("token_id")
        info = twin.security.tokens.get(token_id) if isinstance(token_id, int) else None
        if info is None or info.revoked is not None:
            app.storage.user.pop(_KEY, None)
            return cls(None)
        return cls(Principal(info.name, info.role, info.id))

    @staticmethod
    def sign_in(twin: Twin, token: str) -> Principal | None:
        """Check a token and remember who it belongs to; None when it is unknown or revoked."""
        principal = twin.security.tokens.verify(token.strip()) if token.strip() else None
        if principal is not None:
            app.storage.user[_KEY] = {"token_id": principal.token_id}
        return principal

    @staticmethod
    def sign_out() -> None:
        """Forget who is signed in and go to the sign-in page."""
        app.storage.user.pop(_KEY, None)
        ui.navigate.to("/login")

    @property
    def signed_in(self) -> bool:
        """True when a valid token signed this browser in."""
        return self.principal is not None

    @property
    def name(self) -> str:
        """The token's name."""
        return self.principal.name if self.principal else "guest"

    @property
    def role_label(self) -> str:
        """The role's name."""
        return self.principal.role.label if self.principal else "signed out"

    def may(self, role: Role) -> bool:
        """True when the signed-in principal has at least ``role``."""
        return self.principal is not None and self.principal.may(role)

"""Token administration (admin): list, create (the secret is shown once) and revoke API tokens."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from ..errors import FactoryTwinError
from ..runtime import Twin
from ..security import Principal, Role
from .auth import require

__all__ = ["Admin", "TokenIn", "tokens_router"]

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


class TokenIn(BaseModel):
    """A token to create."""

    name: str = Field(min_length=1, max_length=100, description="Who or what uses it, e.g. anna or mes-gateway")
    role: Literal["viewer", "operator", "engineer", "admin"]


def tokens_router(twin: Twin) -> APIRouter:
    """Token administration of a running twin; every change is audited."""
    router = APIRouter(prefix="/api/tokens", tags=["access"])
    store, audit = twin.security.tokens, twin.security.audit

    @router.get("")
    async def listing(who: Admin, revoked: bool = False) -> list[dict[str, Any]]:
        """Tokens (never their secrets), optionally with the revoked ones."""
        return [t.as_dict() for t in store.list(include_revoked=revoked)]

    @router.post("", status_code=201)
    async def create(body: TokenIn, who: Admin) -> dict[str, Any]:
        """Create a token; the answer holds its secret, which is not stored and cannot be shown again."""
        try:
            info, secret = store.create(Role.parse(body.role), body.name)
        except FactoryTwinError as exc:
            audit.record(who.name, who.role.label, "token.create", body.name, None, body.role, "refused", str(exc))
            raise HTTPException(422, str(exc)) from None
        audit.record(who.name, who.role.label, "token.create", str(info.id), None, info.as_dict(), "ok")
        return {**info.as_dict(), "token": secret}

    @router.delete("/{token_id}")
    async def revoke(token_id: Annotated[int, Path(ge=1, le=2**62)], who: Admin) -> dict[str, Any]:
        """Revoke a token: requests with it fail from now on."""
        before = store.get(token_id)
        if before is None:
            audit.record(
                who.name, who.role.label, "token.revoke", str(token_id), None, None, "refused", "no such token"
            )
            raise HTTPException(404, f"no token with id {token_id}")
        info = store.revoke(token_id)
        audit.record(who.name, who.role.label, "token.revoke", str(token_id), before.as_dict(), info.as_dict(), "ok")
        return info.as_dict()

    return router

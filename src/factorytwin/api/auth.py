"""Access control for the HTTP API: bearer tokens, roles, and the gate in front of ``/api``.

* ``TokenGate`` (ASGI middleware) lets no request or WebSocket under ``/api/`` through without a
  valid token, except the open paths (``/api/health``, for load balancers and probes). It keeps the
  principal on the request for the routes.
* ``require(role)`` is the dependency a route uses for more than viewer rights, e.g.
  ``who: Annotated[Principal, Depends(require(Role.OPERATOR))]``.

A token comes in the ``Authorization: Bearer`` header. Browsers cannot set headers on a WebSocket or
on a page load, so the ``factorytwin_token`` cookie and (WebSockets only) the ``token`` query
parameter are accepted too, but only for reads: a write always needs the header, so a cross-site
form cannot ride on the cookie.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.openapi.utils import get_openapi
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from ..security import Principal, Role, TokenStore

__all__ = ["COOKIE", "OPEN_PATHS", "TokenGate", "authenticate", "document_security", "require", "token_of"]

COOKIE = "factorytwin_token"
OPEN_PATHS = frozenset({"/api/health"})
_SAFE = frozenset({"GET", "HEAD"})


def token_of(scope: Scope) -> str | None:
    """The token a request or WebSocket carries: bearer header, or (reads only) cookie or ``?token=``."""
    conn = HTTPConnection(scope)
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    websocket = scope["type"] == "websocket"
    if websocket or scope.get("method") in _SAFE:
        cookie = conn.cookies.get(COOKIE)
        if cookie:
            return cookie
    return conn.query_params.get("token") if websocket else None


def authenticate(store: TokenStore, token: str | None) -> Principal | None:
    """The principal behind a token, or None when it is missing, unknown or revoked."""
    return store.verify(token) if token else None


class TokenGate:
    """ASGI middleware: every ``/api/`` path but the open ones needs a valid token (any role)."""

    def __init__(self, app: ASGIApp, store: TokenStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = token_of(scope)
        principal = authenticate(self.store, token)
        scope.setdefault("state", {})["principal"] = principal
        path: str = scope["path"]
        if principal is None and path.startswith("/api/") and path not in OPEN_PATHS:
            await _deny(scope, send, "a token is needed" if token is None else "invalid or revoked token")
            return
        await self.app(scope, receive, send)


async def _deny(scope: Scope, send: Send, message: str) -> None:
    if scope["type"] == "websocket":  # closing before accepting answers the handshake with 403
        await send({"type": "websocket.close", "code": 1008, "reason": message})
        return
    body = json.dumps({"detail": f"{message}: send 'Authorization: Bearer <token>' (factorytwin token create)"})
    headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


def require(role: Role) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A dependency that returns the caller's principal, or answers 401/403 when it falls short of ``role``."""

    async def dependency(conn: HTTPConnection) -> Principal:
        principal: Principal | None = getattr(conn.state, "principal", None)
        if principal is None:
            raise HTTPException(401, "a valid token is needed", headers={"WWW-Authenticate": "Bearer"})
        if not principal.may(role):
            raise HTTPException(
                403, f"this needs the {role.label} role; token '{principal.name}' is {principal.role.label}"
            )
        return principal

    return dependency


def document_security(app: FastAPI) -> None:
    """Publish the bearer scheme in the OpenAPI document: every path needs it but the open ones."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            doc.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            doc["security"] = [{"bearer": []}]
            for path, item in doc.get("paths", {}).items():
                if path in OPEN_PATHS:
                    for operation in item.values():
                        operation["security"] = []
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

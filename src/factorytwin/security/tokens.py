"""API tokens and roles: a token is shown once at creation, only its SHA-256 hash is stored.

Tokens carry 256 random bits, so a plain hash (no salt, no slow KDF) is enough: there is nothing to
guess from the hash, and lookups by hash are a single indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from enum import IntEnum

from ..clock import Clock
from ..errors import FactoryTwinError

__all__ = ["PREFIX", "Principal", "Role", "TokenInfo", "TokenStore", "token_hash"]

PREFIX = "ft_"


class Role(IntEnum):
    """What a token may do; each role includes the ones below it."""

    VIEWER = 1  # read the model, live state, history, analytics
    OPERATOR = 2  # + send setpoints, acknowledge alerts
    ENGINEER = 3  # + what-if simulations, read the audit log
    ADMIN = 4  # + manage tokens and configuration

    @classmethod
    def parse(cls, text: str) -> Role:
        """A role from its name; a clear error names the valid ones."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise FactoryTwinError(f"unknown role '{text}' (one of {names})") from None

    @property
    def label(self) -> str:
        """The role's lower-case name."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: the token's name and role."""

    name: str
    role: Role
    token_id: int | None = None

    def may(self, role: Role) -> bool:
        """True when this principal has at least ``role``."""
        return self.role >= role


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token, without its secret."""

    id: int
    name: str
    role: Role
    created: float
    revoked: float | None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.label,
            "created": self.created,
            "revoked": self.revoked,
        }


def token_hash(token: str) -> str:
    """The stored form of a token: hex SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Creates, lists, revokes and checks tokens in the security database."""

    def __init__(self, db: sqlite3.Connection, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def create(self, role: Role, name: str) -> tuple[TokenInfo, str]:
        """A new token; the secret is returned once and never stored."""
        name = name.strip()
        if not name or len(name) > 100:
            raise FactoryTwinError("a token needs a name of 1 to 100 characters")
        secret = PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now().timestamp()
        cur = self._db.execute(
            "INSERT INTO tokens (name, role, hash, created) VALUES (?, ?, ?, ?)",
            (name, role.label, token_hash(secret), now),
        )
        assert cur.lastrowid is not None
        return TokenInfo(cur.lastrowid, name, role, now, None), secret

    def list(self, include_revoked: bool = False) -> list[TokenInfo]:
        """Stored tokens, oldest first."""
        sql = "SELECT id, name, role, created, revoked FROM tokens"
        sql += "" if include_revoked else " WHERE revoked IS NULL"
        return [_info(row) for row in self._db.execute(sql + " ORDER BY id")]

    def get(self, token_id: int) -> TokenInfo | None:
        """One token by id."""
        row = self._db.execute(
            "SELECT id, name, role, created, revoked FROM tokens WHERE id = ?", (token_id,)
        ).fetchone()
        return _info(row) if row else None

    def revoke(self, token_id: int) -> TokenInfo:
        """Revoke a token: it stops working at once."""
        info = self.get(token_id)
        if info is None:
            raise FactoryTwinError(f"no token with id {token_id}")
        if info.revoked is None:
            now = self._clock.now().timestamp()
            self._db.execute("UPDATE tokens SET revoked = ? WHERE id = ?", (now, token_id))
            info = TokenInfo(info.id, info.name, info.role, info.created, now)
        return info

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token; None otherwise."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        row = self._db.execute(
            "SELECT id, name, role FROM tokens WHERE hash = ? AND revoked IS NULL", (token_hash(token),)
        ).fetchone()
        return Principal(row[1], Role[row[2].upper()], row[0]) if row else None


def _info(row: tuple[int, str, str, float, float | None]) -> TokenInfo:
    return TokenInfo(row[0], row[1], Role[row[2].upper()], row[3], row[4])

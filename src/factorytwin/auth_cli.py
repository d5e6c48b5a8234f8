"""`factorytwin token create | list | revoke` and `factorytwin set`: access tokens and setpoints from the shell.

Token commands work on the security database directly (SQLite: they work while the twin runs);
``set`` is a client of a running twin's API, so a setpoint goes through the same checks, read-back
and audit as from the dashboard.
"""

from __future__ import annotations

import getpass
import json
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .client import ApiToken, bearer
from .errors import FactoryTwinError
from .runtime import data_dir
from .security import Role, Security

__all__ = [
    "AuthDb",
    "TlsCert",
    "TlsKey",
    "TokenDb",
    "default_auth_db",
    "open_security",
    "print_demo_tokens",
    "register",
    "tls_options",
]

Fail = Callable[[str], NoReturn]
out = Console()

AuthDb = Annotated[
    Path | None,
    typer.Option(
        "--auth-db", help="Token and audit database (run: $FACTORYTWIN_DATA/security.sqlite; demo: in memory)"
    ),
]
TokenDb = Annotated[
    Path | None, typer.Option("--db", help="Token database (default: $FACTORYTWIN_DATA/security.sqlite)")
]
TlsCert = Annotated[Path | None, typer.Option("--tls-cert", help="Serve HTTPS with this PEM certificate (chain)")]
TlsKey = Annotated[Path | None, typer.Option("--tls-key", help="Private key (PEM) of --tls-cert")]


def default_auth_db() -> Path:
    """Where tokens and the audit log live unless told otherwise."""
    return data_dir() / "security.sqlite"


def tls_options(cert: Path | None, key: Path | None, fail: Fail) -> tuple[str, str] | None:
    """Certificate and key files for --tls-cert/--tls-key (both or neither; the files must exist)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        fail("--tls-cert and --tls-key go together")
    for path in (cert, key):
        if not path.is_file():
            fail(f"{path}: no such file")
    return str(cert), str(key)


def open_security(path: Path | None, console: Console) -> Security:
    """The security database of ``factorytwin run``; says how to make the first token when it has none."""
    security = Security(path or default_auth_db())
    if not security.tokens.list():
        console.print(
            f"no API tokens in {security.path} yet: every /api request will get 401; "
            "create one with: factorytwin token create --role admin",
            highlight=False,
        )
    return security


def print_demo_tokens(security: Security, console: Console) -> None:
    """Create one token per role and print them (the demo's way in)."""
    console.print("API tokens for this demo (shown once; send as 'Authorization: Bearer <token>'):")
    for role in Role:
        _, secret = security.tokens.create(role, f"demo-{role.label}")
        console.print(f"  {role.label:<8} {secret}", highlight=False)


def _local_user() -> str:
    return f"cli:{getpass.getuser()}"


def register(app: typer.Typer, fail: Fail) -> None:
    """Add the ``token`` command group and the ``set`` command to the CLI."""
    tokens = typer.Typer(no_args_is_help=True, help="API tokens: create (shown once), list, revoke.")
    app.add_typer(tokens, name="token")

    def store(db: Path | None) -> Security:
        try:
            return Security(db or default_auth_db())
        except FactoryTwinError as exc:
            fail(str(exc))

    @tokens.command("create")
    def _create(
        role: Annotated[str, typer.Option(help="viewer, operator, engineer or admin")],
        name: Annotated[str | None, typer.Option(help="Who or what uses it (default: the role)")] = None,
        db: TokenDb = None,
    ) -> None:
        """Create a token and print it once; only its hash is stored."""
        security = store(db)
        try:
            info, secret = security.tokens.create(Role.parse(role), name or role)
        except FactoryTwinError as exc:
            fail(str(exc))
        security.audit.record(_local_user(), None, "token.create", str(info.id), None, info.as_dict(), "ok")
        security.close()
        out.print(f"token {info.id} '{escape(info.name)}' ({info.role.label}), shown only now:", highlight=False)
        print(secret)

    @tokens.command("list")
    def _list(
        db: TokenDb = None, revoked: Annotated[bool, typer.Option("--all", help="Include revoked tokens")] = False
    ) -> None:
        """List tokens (never their secrets)."""
        security = store(db)
        table = Table("id", "name", "role", "created", "revoked")
        for t in security.tokens.list(include_revoked=revoked):
            table.add_row(str(t.id), escape(t.name), t.role.label, _when(t.created), _when(t.revoked))
        security.close()
        out.print(table)

    @tokens.command("revoke")
    def _revoke(
        token_id: Annotated[int, typer.Argument(help="The token's id (see token list)")], db: TokenDb = None
    ) -> None:
        """Revoke a token: it stops working at once, also in a running twin."""
        security = store(db)
        before = security.tokens.get(token_id)
        try:
            info = security.tokens.revoke(token_id)
        except FactoryTwinError as exc:
            fail(str(exc))
        old = before.as_dict() if before else None
        security.audit.record(_local_user(), None, "token.revoke", str(token_id), old, info.as_dict(), "ok")
        security.close()
        out.print(f"revoked token {token_id} '{escape(info.name)}'")

    @app.command("set")
    def _set(
        signal: Annotated[str, typer.Argument(help="Signal path, e.g. acme/lyon/bottling/line1/filler/speed")],
        value: Annotated[float, typer.Argument(help="The new value in the signal's unit")],
        api: Annotated[
            str, typer.Option(help="The running twin, e.g. http://127.0.0.1:8000")
        ] = "http://127.0.0.1:8000",
        token: ApiToken = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only check the limits")] = False,
        simulate: Annotated[bool, typer.Option("--simulate", help="Also show the simulated effect")] = False,
        cafile: Annotated[Path | None, typer.Option(help="CA certificate to trust for https")] = None,
    ) -> None:
        """Send a setpoint through a running twin: checked, written, read back and audited."""
        headers = bearer(token)
        if not headers:
            fail("give --token or set FACTORYTWIN_TOKEN (factorytwin token create --role operator)")
        number: float | int = int(value) if value.is_integer() else value
        body = {"signal": signal, "value": number, "dry_run": dry_run, "simulate": simulate}
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(cafile)) if cafile else True
        try:
            response = httpx.post(
                f"{api.rstrip('/')}/api/setpoints",
                json=body,
                headers=headers,
                timeout=120.0,
                verify=verify,
            )
        except httpx.HTTPError as exc:
            fail(f"cannot reach {api}: {exc}")
        if response.status_code != 200:
            fail(f"{response.status_code}: {_message(response)}")
        doc = response.json()
        confirmed = f", read back after {doc['confirmed_s']:.2f} s" if doc["confirmed_s"] is not None else ""
        out.print(f"{doc['status']}: {escape(signal)} {doc['old']} -> {doc['value']}{confirmed}", highlight=False)
        if doc["simulation"]:
            out.print_json(json.dumps(doc["simulation"]))


def _message(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text
    if isinstance(detail, dict):
        return str(detail.get("message", detail))
    return str(detail)


def _when(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")

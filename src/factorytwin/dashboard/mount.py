"""Mounting the dashboard's pages on the API's FastAPI app (once per process: NiceGUI is a singleton)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from nicegui import ui
from nicegui.storage import Storage

from ..errors import FactoryTwinError
from ..runtime import Twin, data_dir
from ..security import Role
from .alerts import alerts_page
from .login import login_page
from .overview import overview
from .session import Session
from .shell import frame
from .station import station_page
from .whatif import whatif_page

__all__ = ["mount_dashboard"]

_FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" '
    'fill="#1f4e79"/><rect x="5" y="13" width="6" height="8" fill="#fff"/><rect x="13" y="13" width="6" '
    'height="8" fill="#8fd19e"/><rect x="21" y="13" width="6" height="8" fill="#fff"/></svg>'
)
_mounted: list[FastAPI] = []


def _guarded(
    twin: Twin, path: str, title: str, role: Role, build: Callable[[Session], None]
) -> RedirectResponse | None:
    """Sign-in first, then the frame, then the page if the role allows it."""
    session = Session.current(twin)
    if not session.signed_in:
        return RedirectResponse(f"/login?next={quote(path)}")
    with frame(title, session, twin):
        if session.may(role):
            build(session)
        else:
            ui.label(f"This page needs the {role.label} role; you are signed in as {session.role_label}.").classes(
                "text-slate-600"
            ).props('data-testid="forbidden"')
    return None


def mount_dashboard(app: FastAPI, twin: Twin, storage_secret: str | None = None) -> None:
    """Serve the dashboard from ``app`` (run it with lifespan on: NiceGUI starts in the app's lifespan)."""
    if _mounted:
        raise FactoryTwinError("the dashboard is already mounted in this process (NiceGUI is a process-wide singleton)")
    _mounted.append(app)
    Storage.path = data_dir() / "dashboard"  # sessions: who is signed in (token ids, never tokens)

    @ui.page("/login")
    def _login(next: str | None = None) -> None:
        login_page(twin, next)

    @ui.page("/")
    def _overview() -> RedirectResponse | None:
        return _guarded(twin, "/", "Plant overview", Role.VIEWER, lambda _: overview(twin))

    @ui.page("/alerts")
    def _alerts() -> RedirectResponse | None:
        return _guarded(twin, "/alerts", "Alerts", Role.VIEWER, lambda s: alerts_page(twin, s))

    @ui.page("/whatif")
    def _whatif() -> RedirectResponse | None:
        return _guarded(twin, "/whatif", "What-if", Role.ENGINEER, lambda s: whatif_page(twin, s))

    @ui.page("/station/{path:path}")
    def _station(path: str) -> RedirectResponse | None:
        asset = twin.index.assets.get(path)
        if asset is None or asset.kind != "station":
            return _guarded(twin, f"/station/{path}", "Unknown station", Role.VIEWER, lambda _: _unknown(path))
        title = asset.asset.name or asset.asset.id
        return _guarded(twin, f"/station/{path}", title, Role.VIEWER, lambda s: station_page(twin, asset, s))

    ui.run_with(
        app,
        title="factorytwin",
        favicon=_FAVICON,
        dark=False,
        show_welcome_message=False,
        storage_secret=storage_secret or secrets.token_urlsafe(32),
    )


def _unknown(path: str) -> None:
    ui.label(f"There is no station '{path}' in the plant model.").classes("text-slate-600")
    ui.link("Back to the overview", "/")

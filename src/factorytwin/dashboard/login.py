"""Sign in with an API token (``factorytwin token create --role …``); the token's role decides what is shown."""

from __future__ import annotations

from nicegui import ui

from ..runtime import Twin
from .session import Session

__all__ = ["login_page", "safe_next"]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a local path only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def login_page(twin: Twin, next_path: str | None) -> None:
    """A centred card asking for a token."""
    ui.page_title("Sign in · factorytwin")
    ui.query("body").style("background-color: #f4f6f8")
    with ui.card().classes("mx-auto mt-24 w-[420px] p-8 shadow-none border border-slate-200"):
        ui.label("factorytwin").classes("text-2xl font-semibold text-[#1f4e79]")
        ui.label("Sign in with an API token").classes("text-slate-600")
        token = ui.input("API token", password=True, password_toggle_button=True).classes("w-full")
        token.props('data-testid="token" autofocus')
        problem = ui.label().classes("text-sm text-red-700")

        def sign_in() -> None:
            principal = Session.sign_in(twin, token.value or "")
            if principal is None:
                problem.set_text("Unknown or revoked token.")
                return
            ui.navigate.to(safe_next(next_path))

        token.on("keydown.enter", sign_in)
        ui.button("Sign in", on_click=sign_in).props("unelevated no-caps").classes("w-full mt-2")
        ui.label("Create one with: factorytwin token create --role viewer").classes("text-xs text-slate-500 mt-2")

"""The frame every dashboard page shares: header with navigation, who is signed in, and the content column."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import ui

from ..runtime import Twin
from .session import Session

__all__ = ["REFRESH_S", "frame", "station_href", "tile"]

REFRESH_S = 2.0  # how often live pages re-read the twin

_NAV = (("Overview", "/"), ("Alerts", "/alerts"), ("What-if", "/whatif"))


def station_href(path: str) -> str:
    """The link to a station's page."""
    return f"/station/{path}"


@contextmanager
def frame(title: str, session: Session, twin: Twin) -> Iterator[None]:
    """Header, navigation and a centred content column; the page body goes inside."""
    ui.page_title(f"{title} · factorytwin")
    ui.query("body").style("background-color: #f4f6f8")
    ui.colors(primary="#1f4e79", secondary="#546e7a", accent="#4f83cc", positive="#2e7d32", negative="#c62828")
    with ui.header(elevated=False).classes("items-center px-6 py-2 bg-white text-slate-800 border-b border-slate-200"):
        ui.label("factorytwin").classes("text-lg font-semibold text-[#1f4e79] mr-6")
        for label, href in _NAV:
            ui.link(label, href).classes("mx-2 text-slate-600 no-underline hover:text-slate-900")
        ui.space()
        sources = ui.label().classes("text-sm mr-4").props('data-testid="sources"')
        clock = ui.label().classes("text-slate-500 text-sm mr-4 tabular-nums")

        def tick() -> None:
            clock.set_text(twin.clock.now().astimezone().strftime("%H:%M:%S"))
            down = [c.health.source for c in twin.connectors.values() if not c.health.connected]
            sources.set_text(f"● {', '.join(down)} disconnected" if down else "● live")
            sources.classes(replace="text-sm mr-4 " + ("text-red-700" if down else "text-green-700"))

        tick()
        ui.timer(1.0, tick)
        if session.signed_in:
            ui.label(f"{session.name} · {session.role_label}").classes("text-sm text-slate-600 mr-2").props(
                'data-testid="whoami"'
            )
            ui.button("Sign out", on_click=session.sign_out).props("flat dense no-caps")
        else:
            ui.link("Sign in", "/login").classes("text-sm")
    with ui.column().classes("w-full max-w-[1320px] mx-auto p-6 gap-5"):
        ui.label(title).classes("text-2xl font-semibold text-slate-800")
        yield


def tile(label: str, value: str, caption: str = "", test_id: str = "") -> tuple[ui.label, ui.label]:
    """A KPI tile: a small label, a big value and a caption; returns (value, caption) labels to update."""
    with ui.card().classes("min-w-[160px] flex-1 shadow-none border border-slate-200"):
        ui.label(label).classes("text-xs uppercase tracking-wide text-slate-500")
        big = ui.label(value).classes("text-3xl font-semibold text-slate-800 tabular-nums")
        if test_id:
            big.props(f'data-testid="{test_id}"')
        small = ui.label(caption).classes("text-sm text-slate-500")
    return big, small

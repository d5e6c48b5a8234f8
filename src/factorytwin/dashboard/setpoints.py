"""Setpoint control for operators: writable signals with their limits, a review dialog, then the write.

Every write goes through the twin's governed control service (``twin.control.submit``): role, model
limits, step and rate are checked there, the value is confirmed by reading it back, and every outcome
is audited. Viewers and engineers below operator do not see the controls at all.
"""

from __future__ import annotations

from nicegui import ui

from ..control import SetpointRefused, SetpointResult
from ..model import AssetInfo, Role, SignalInfo
from ..runtime import Twin
from ..security import Role as Access
from .session import Session
from .shell import REFRESH_S

__all__ = ["setpoint_panel"]


def _fmt(value: float | None, unit: str | None) -> str:
    return "—" if value is None else f"{value:g}{f' {unit}' if unit else ''}"


def _limits(info: SignalInfo) -> str:
    w = info.signal.write
    assert w is not None
    unit = f" {info.signal.unit}" if info.signal.unit else ""
    step = f" · at most {w.max_step:g}{unit} per change" if w.max_step is not None else ""
    return f"limits {w.min:g} to {w.max:g}{unit}{step}"


def setpoint_panel(twin: Twin, station: AssetInfo, session: Session) -> None:
    """The station's writable signals with their limits, for operators and above; nothing for others."""
    writable = [s for s in station.signals.values() if s.signal.write is not None]
    if not writable or not session.may(Access.OPERATOR):
        return
    with ui.card().classes("w-full shadow-none border border-slate-200").props('data-testid="setpoints"'):
        ui.label("Setpoints").classes("text-base font-medium text-slate-700")
        current = {s.path: _row(twin, s, session) for s in writable}

    def refresh() -> None:
        for path, label in current.items():
            label.set_text(_fmt(twin.control.current(path), twin.index.signals[path].signal.unit))

    refresh()
    ui.timer(REFRESH_S, refresh)


def _row(twin: Twin, info: SignalInfo, session: Session) -> ui.label:
    """One writable signal: name, live value, limits, a new value and a Review button; returns the value label."""
    w = info.signal.write
    assert w is not None
    with ui.row().classes("w-full items-center gap-4 no-wrap").props(f'data-setpoint="{info.signal.id}"'):
        with ui.column().classes("gap-0 w-64"):
            ui.label(info.signal.name or info.signal.id).classes("font-medium text-slate-800")
            ui.label(_limits(info)).classes("text-xs text-slate-500")
        live = ui.label().classes("w-28 tabular-nums text-slate-800").props('data-testid="current"')
        entry = ui.number("new value", min=w.min, max=w.max, format="%g").classes("w-36").props("dense outlined")
        ui.button("Review…", on_click=lambda: _review(twin, info, session, entry.value)).props("outline no-caps")
    return live


def _review(twin: Twin, info: SignalInfo, session: Session, value: float | None) -> None:
    """The confirmation step: old and new value, the limits, an optional trial on the simulation, then Apply."""
    if value is None:
        ui.notify("Enter a new value first", type="warning")
        return
    old = twin.control.current(info.path)
    unit = info.signal.unit
    with ui.dialog() as dialog, ui.card().classes("min-w-[440px]").props('data-testid="confirm"'):
        ui.label(f"Change {info.signal.name or info.signal.id}?").classes("text-lg font-medium")
        ui.label(f"{_fmt(old, unit)}  →  {_fmt(float(value), unit)}").classes("text-2xl tabular-nums")
        ui.label(_limits(info)).classes("text-sm text-slate-500")
        outcome = ui.label().classes("text-sm").props('data-testid="outcome"')
        with ui.row().classes("w-full justify-end gap-2 mt-2"):
            ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
            if info.role is Role.SPEED:
                ui.button(
                    "Try on simulation", on_click=lambda: _submit(twin, info, session, value, outcome, None)
                ).props("outline no-caps")
            ui.button("Apply", on_click=lambda: _submit(twin, info, session, value, outcome, dialog)).props(
                "unelevated no-caps color=primary"
            )
    dialog.open()


async def _submit(
    twin: Twin, info: SignalInfo, session: Session, value: float, outcome: ui.label, dialog: ui.dialog | None
) -> None:
    """Apply (dialog given) or only try on the simulation (dialog None), and say what happened."""
    assert session.principal is not None
    trial = dialog is None
    outcome.set_text("trying on the simulation…" if trial else "writing and waiting for the read-back…")
    outcome.classes(replace="text-sm text-slate-500")
    try:
        result = await twin.control.submit(info.path, value, session.principal, dry_run=trial, simulate=trial)
    except SetpointRefused as exc:
        outcome.set_text(f"Refused: {exc}")
        outcome.classes(replace="text-sm text-red-700")
        return
    outcome.classes(replace="text-sm text-slate-700")
    outcome.set_text(_result_text(result))
    if dialog is not None:
        ui.notify(_result_text(result), type="positive")
        dialog.close()


def _result_text(result: SetpointResult) -> str:
    if result.preview is not None:
        c = result.preview.comparison
        t = c.throughput
        moved = "the bottleneck moves" if c.bottleneck_moved else "the bottleneck stays"
        return f"On the simulation: throughput {t.mean:+,.0f} /h (95 % CI {t.low:+,.0f} to {t.high:+,.0f}); {moved}."
    return f"{result.value:g} written and read back after {result.confirmed_s or 0:.2f} s (audit #{result.audit_id})."

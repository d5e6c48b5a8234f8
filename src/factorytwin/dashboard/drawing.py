"""SVG drawings of the dashboard: the line as stations and buffers in flow order, and a state timeline.

Pure functions from view values to SVG text, so they are tested without a browser; the pages put
them in ``ui.html`` and replace them on every refresh.
"""

from __future__ import annotations

from html import escape

from ..core.states import StateInterval
from ..events import StationState
from .view import LineView, StationView

__all__ = ["STATE_COLOURS", "line_svg", "percent", "timeline_svg"]

# Calm, colour-blind-aware palette: green runs, amber/orange wait, red is down.
STATE_COLOURS: dict[StationState, str] = {
    StationState.RUNNING: "#2e7d32",
    StationState.IDLE: "#78909c",
    StationState.STARVED: "#f2a900",
    StationState.BLOCKED: "#e65100",
    StationState.DOWN: "#c62828",
    StationState.PLANNED_STOP: "#5c6bc0",
    StationState.CHANGEOVER: "#8e24aa",
    StationState.UNKNOWN: "#9e9e9e",
}

_W, _H, _GAP = 150, 104, 96  # station box width and height, space for a buffer between two boxes
_TOP = 30  # room above the boxes for the bottleneck tag


def percent(x: float | None) -> str:
    """A ratio as a percentage, or an em dash when it is undefined."""
    return "—" if x is None else f"{100 * x:.0f} %"


def _station(st: StationView, x: float, bottleneck: bool, href: str) -> str:
    colour = STATE_COLOURS[st.state]
    label = st.state.value.replace("_", " ")
    tag = (
        f'<rect x="{x + 20}" y="4" width="{_W - 40}" height="20" rx="10" fill="#263238"/>'
        f'<text x="{x + _W / 2}" y="18" text-anchor="middle" font-size="11" fill="#fff" '
        f'letter-spacing="1">BOTTLENECK</text>'
        if bottleneck
        else ""
    )
    outline = 'stroke="#263238" stroke-width="3"' if bottleneck else 'stroke="#cfd8dc" stroke-width="1"'
    return (
        f'<a href="{escape(href)}" data-station="{escape(st.id)}" data-state="{st.state.value}">{tag}'
        f'<rect x="{x}" y="{_TOP}" width="{_W}" height="{_H}" rx="10" fill="#fff" {outline}/>'
        f'<rect x="{x}" y="{_TOP}" width="{_W}" height="8" rx="4" fill="{colour}"/>'
        f'<text x="{x + _W / 2}" y="{_TOP + 32}" text-anchor="middle" font-size="15" font-weight="600" '
        f'fill="#263238">{escape(st.name)}</text>'
        f'<rect x="{x + 18}" y="{_TOP + 44}" width="{_W - 36}" height="24" rx="12" fill="{colour}"/>'
        f'<text x="{x + _W / 2}" y="{_TOP + 61}" text-anchor="middle" font-size="13" fill="#fff" '
        f'font-weight="600">{escape(label)}</text>'
        f'<text x="{x + _W / 2}" y="{_TOP + 90}" text-anchor="middle" font-size="12" fill="#546e7a">'
        f"OEE {percent(st.kpis.oee)}</text></a>"
    )


def _buffer(level: float | None, capacity: int, name: str, x: float) -> str:
    y, h, w = _TOP + _H / 2 - 14, 28, _GAP - 28
    fill = 0.0 if level is None or capacity <= 0 else min(1.0, max(0.0, level / capacity))
    colour = "#e65100" if fill >= 0.95 else "#f2a900" if fill <= 0.05 else "#4f83cc"
    text = "—" if level is None else f"{level:.0f}/{capacity}"
    return (
        f'<g data-buffer="{escape(name)}">'
        f'<line x1="{x}" y1="{_TOP + _H / 2}" x2="{x + _GAP}" y2="{_TOP + _H / 2}" stroke="#b0bec5" '
        f'stroke-width="2" marker-end="url(#arrow)"/>'
        f'<rect x="{x + 14}" y="{y}" width="{w}" height="{h}" rx="4" fill="#eceff1" stroke="#b0bec5"/>'
        f'<rect x="{x + 14}" y="{y}" width="{w * fill:.1f}" height="{h}" rx="4" fill="{colour}"/>'
        f'<text x="{x + _GAP / 2}" y="{y + h + 16}" text-anchor="middle" font-size="12" fill="#37474f">'
        f"{escape(text)}</text>"
        f'<text x="{x + _GAP / 2}" y="{y - 8}" text-anchor="middle" font-size="11" fill="#78909c">'
        f"{escape(name)}</text></g>"
    )


def line_svg(view: LineView, href: dict[str, str]) -> str:
    """The line drawn left to right; ``href`` maps station paths to the links of their pages."""
    parts = []
    x = 8.0
    for n, st in enumerate(view.stations):
        parts.append(_station(st, x, st.path == view.bottleneck, href[st.path]))
        x += _W
        if n < len(view.stations) - 1:
            buf = view.buffer_after(st)
            if buf is not None:
                parts.append(_buffer(buf.level, buf.capacity, buf.id, x))
            else:
                parts.append(_buffer(None, 0, "", x))
            x += _GAP
    width = x + 8
    height = _TOP + _H + 10
    return (
        f'<svg viewBox="0 0 {width:.0f} {height}" width="100%" role="img" aria-label="{escape(view.name)}" '
        f'font-family="Inter, Roboto, sans-serif" style="max-height:190px">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#b0bec5"/></marker></defs>' + "".join(parts) + "</svg>"
    )


def timeline_svg(intervals: list[StateInterval], start: float, end: float, width: int = 1000) -> str:
    """A station's states over [start, end) as one coloured band, with a legend of the states seen."""
    span = max(end - start, 1e-9)
    rects = []
    seen: dict[StationState, float] = {}
    for iv in intervals:
        a, b = iv.clipped(start, end)
        if b <= a:
            continue
        seen[iv.state] = seen.get(iv.state, 0.0) + (b - a)
        x0, x1 = (a - start) / span * width, (b - start) / span * width
        rects.append(
            f'<rect x="{x0:.2f}" y="0" width="{max(x1 - x0, 0.5):.2f}" height="34" '
            f'fill="{STATE_COLOURS[iv.state]}" data-state="{iv.state.value}"><title>{iv.state.value} '
            f"{b - a:.0f} s</title></rect>"
        )
    legend = []
    lx = 0.0
    for state, seconds in sorted(seen.items(), key=lambda kv: -kv[1]):
        label = f"{state.value.replace('_', ' ')} {100 * seconds / span:.0f} %"
        legend.append(
            f'<rect x="{lx}" y="46" width="12" height="12" rx="2" fill="{STATE_COLOURS[state]}"/>'
            f'<text x="{lx + 17}" y="57" font-size="12" fill="#37474f">{escape(label)}</text>'
        )
        lx += 30 + 7.2 * len(label)
    return (
        f'<svg viewBox="0 0 {width} 64" width="100%" '
        f'font-family="Inter, Roboto, sans-serif"><rect x="0" y="0" width="{width}" height="34" fill="#eceff1"/>'
        + "".join(rects)
        + "".join(legend)
        + "</svg>"
    )

"""ECharts options for the station page: signal trends with their normal band and spec limits, I-MR charts.

Pure functions from values to option dictionaries (``ui.echart`` ships ECharts with NiceGUI, no CDN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.spc import Chart
from ..model import SignalInfo

__all__ = ["Point", "rate_options", "spc_options", "trend_options"]

Point = tuple[float, float]  # (POSIX seconds, value)

_AXIS = {
    "axisLine": {"lineStyle": {"color": "#b0bec5"}},
    "axisLabel": {"color": "#607d8b", "hideOverlap": True, "showMinLabel": False, "showMaxLabel": False},
    "splitNumber": 4,
}
_SPLIT = {"splitLine": {"lineStyle": {"color": "#eceff1"}}}
_LIMIT = {"color": "#c62828", "type": "dashed", "width": 1}
_CONTROL = {"color": "#546e7a", "type": "dashed", "width": 1}


def _bounds(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 1.0)
    return lo - pad, hi + pad


def trend_options(info: SignalInfo, points: Sequence[Point], span: tuple[float, float] | None = None) -> dict[str, Any]:
    """A signal's trend: the line, its normal range as a shaded band, spec limits as dashed red lines.

    ``span`` (start, end) fixes the time axis to that window, so a short history shows as such.
    """
    sig = info.signal
    window: dict[str, int] = {}
    if span is not None:  # whole milliseconds, so max - min is exactly the span
        window = {"min": round(span[1] * 1000) - round((span[1] - span[0]) * 1000), "max": round(span[1] * 1000)}
    data = [[round(t * 1000), v] for t, v in points]
    extent = [v for _, v in points]
    area: list[Any] = []
    if sig.normal is not None:
        area = [[{"yAxis": sig.normal.low}, {"yAxis": sig.normal.high}]]
        extent += [sig.normal.low, sig.normal.high]
    limits = []
    if sig.spec is not None:
        for name, value in (("LSL", sig.spec.lsl), ("USL", sig.spec.usl)):
            if value is not None:
                limits.append({"yAxis": value, "name": name, "lineStyle": _LIMIT, "label": {"formatter": name}})
                extent.append(value)
    lo, hi = _bounds(extent) if extent else (0.0, 1.0)
    unit = f" ({sig.unit})" if sig.unit else ""
    return {
        "animation": False,
        "title": {"text": f"{sig.name or sig.id}{unit}", "textStyle": {"fontSize": 13, "fontWeight": 500}},
        "grid": {"left": 52, "right": 40, "top": 34, "bottom": 26},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "time", **window, **_AXIS},
        "yAxis": {"type": "value", "min": round(lo, 6), "max": round(hi, 6), **_AXIS, **_SPLIT},
        "series": [
            {
                "type": "line",
                "name": sig.id,
                "showSymbol": False,
                "data": data,
                "lineStyle": {"width": 1.5, "color": "#1f4e79"},
                "itemStyle": {"color": "#1f4e79"},
                "markArea": {"silent": True, "itemStyle": {"color": "rgba(46,125,50,0.10)"}, "data": area},
                "markLine": {"silent": True, "symbol": "none", "data": limits},
            }
        ],
    }


def rate_options(points: Sequence[Point], target: float | None, start: float, end: float) -> dict[str, Any]:
    """The line's output rate (good parts per hour) over [start, end], with its target as a dashed line."""
    data = [[round(t * 1000), round(v, 1)] for t, v in points]
    _, hi = _bounds([v for _, v in points] + ([target] if target else []) + [0.0])
    label = {"formatter": f"target {target:,.0f}"} if target else {}
    marks = [{"yAxis": target, "lineStyle": _CONTROL, "label": label}] if target else []
    return {
        "animation": False,
        "grid": {"left": 56, "right": 96, "top": 16, "bottom": 26},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "time", "min": round(start * 1000), "max": round(end * 1000), **_AXIS},
        "yAxis": {"type": "value", "min": 0, "max": round(hi, 0), **_AXIS, **_SPLIT},
        "series": [
            {
                "type": "line",
                "name": "good/h",
                "data": data,
                "step": "end",
                "showSymbol": len(data) < 3,
                "lineStyle": {"width": 2, "color": "#1f4e79"},
                "itemStyle": {"color": "#1f4e79"},
                "areaStyle": {"color": "rgba(31,78,121,0.08)"},
                "markLine": {"silent": True, "symbol": "none", "data": marks},
            }
        ],
    }


def spc_options(chart: Chart, title: str) -> dict[str, Any]:
    """An I-MR (or X̄-R) chart: values with centre line and control limits above, spread below, violations red."""
    xs = [[round(p.time * 1000), p.value] for p in chart.points]
    spread = [[round(p.time * 1000), p.spread] for p in chart.points if p.spread is not None]
    times = {p.index: p.time for p in chart.points}
    values = {p.index: p.value for p in chart.points}
    bad = [
        [round(v.time * 1000), values[v.index], v.rule]
        for v in chart.violations
        if v.index in values and v.index in times
    ]
    x_lines: list[dict[str, Any]] = []
    r_lines: list[dict[str, Any]] = []
    if chart.limits is not None:
        lim = chart.limits
        for name, y in (("UCL", lim.x.ucl), ("CL", lim.x.centre), ("LCL", lim.x.lcl)):
            x_lines.append({"yAxis": y, "lineStyle": _CONTROL, "label": {"formatter": f"{name} {y:.4g}"}})
        for name, y in (("UCL", lim.spread.ucl), ("CL", lim.spread.centre)):
            r_lines.append({"yAxis": y, "lineStyle": _CONTROL, "label": {"formatter": f"{name} {y:.3g}"}})
    for name, spec in (("LSL", chart.lsl), ("USL", chart.usl)):
        if spec is not None:
            x_lines.append({"yAxis": spec, "lineStyle": _LIMIT, "label": {"formatter": f"{name} {spec:g}"}})
    extent = [p.value for p in chart.points] + [line["yAxis"] for line in x_lines]
    lo, hi = _bounds(extent) if extent else (0.0, 1.0)
    spread_name = "MR" if chart.subgroup == 1 else "R"
    return {
        "animation": False,
        "title": {"text": title, "textStyle": {"fontSize": 13, "fontWeight": 500}},
        "tooltip": {"trigger": "axis"},
        "grid": [
            {"left": 52, "right": 90, "top": 34, "height": "52%"},
            {"left": 52, "right": 90, "bottom": 26, "height": "22%"},
        ],
        "xAxis": [
            {"type": "time", "gridIndex": 0, **_AXIS, "axisLabel": {"show": False}},
            {"type": "time", "gridIndex": 1, **_AXIS},
        ],
        "yAxis": [
            {"type": "value", "gridIndex": 0, "min": round(lo, 6), "max": round(hi, 6), **_AXIS, **_SPLIT},
            {"type": "value", "gridIndex": 1, "name": spread_name, "nameLocation": "middle", "nameGap": 34, **_AXIS},
        ],
        "series": [
            {
                "type": "line",
                "name": "X" if chart.subgroup == 1 else "X̄",
                "data": xs,
                "symbolSize": 4,
                "lineStyle": {"width": 1, "color": "#1f4e79"},
                "itemStyle": {"color": "#1f4e79"},
                "markLine": {"silent": True, "symbol": "none", "data": x_lines},
            },
            {
                "type": "scatter",
                "name": "rule violation",
                "data": bad,
                "symbolSize": 9,
                "itemStyle": {"color": "#c62828"},
                "z": 5,
            },
            {
                "type": "line",
                "name": spread_name,
                "xAxisIndex": 1,
                "yAxisIndex": 1,
                "data": spread,
                "showSymbol": False,
                "lineStyle": {"width": 1, "color": "#546e7a"},
                "markLine": {"silent": True, "symbol": "none", "data": r_lines},
            },
        ],
    }

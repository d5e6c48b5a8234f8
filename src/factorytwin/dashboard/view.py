"""What the dashboard shows, read from the running twin in-process: plain values, no UI.

Every figure covers the KPI window: the last hour, or since the twin started if that is shorter
(``Analytics.origin``), in source time like the API.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from ..core.alerts import Alert
from ..core.kpi import Kpis
from ..events import StationState
from ..model import LineInfo, Role
from ..model.schema import Buffer
from ..runtime import Twin

__all__ = [
    "BufferView",
    "LineView",
    "StationView",
    "kpi_window",
    "line_view",
    "rate_series",
    "shared_line_view",
    "station_state",
]

WINDOW_S = 3600.0
_cache: dict[tuple[int, str], tuple[float, LineView]] = {}


@dataclass(frozen=True, slots=True)
class StationView:
    """A station as drawn: its state now and its KPIs over the window."""

    path: str
    id: str
    name: str
    state: StationState
    since: float | None
    kpis: Kpis


@dataclass(frozen=True, slots=True)
class BufferView:
    """A buffer as drawn: its level against its capacity (level None before the first sample)."""

    path: str
    id: str
    name: str
    level: float | None
    capacity: int


@dataclass(frozen=True, slots=True)
class LineView:
    """A line in flow order with its throughput, KPIs, bottleneck and open alerts."""

    path: str
    name: str
    start: float
    end: float
    stations: list[StationView]
    buffers: dict[str, BufferView]  # by the id of the station upstream of it
    kpis: Kpis
    throughput_per_h: float
    target_per_h: float | None
    bottleneck: str | None  # main bottleneck of the window (station path)
    bottleneck_share: float  # the fraction of the window it was the bottleneck (sole or shifting)
    momentary: str | None  # the station that is the bottleneck right now
    alerts: list[Alert]
    rate: list[tuple[float, float]]  # (bucket end, good parts per hour) over the window, oldest first

    def buffer_after(self, station: StationView) -> BufferView | None:
        """The buffer a station feeds, if any."""
        return self.buffers.get(station.id)

    @property
    def attainment(self) -> float | None:
        """Throughput as a fraction of the target rate."""
        return self.throughput_per_h / self.target_per_h if self.target_per_h else None


def kpi_window(twin: Twin) -> tuple[float, float]:
    """The KPI window: the last hour up to now, clipped to what the twin has seen."""
    end = twin.clock.now().timestamp()
    origin = twin.analytics.origin
    start = end - WINDOW_S if origin is None else max(end - WINDOW_S, min(origin, end - 1.0))
    return start, end


def station_state(twin: Twin, station: str) -> tuple[StationState, float | None]:
    """A station's state now and since when: explicit or inferred, ``unknown`` while its data is stale or bad."""
    current = twin.analytics.states.current(station)
    return (current.state, current.start) if current is not None else (StationState.UNKNOWN, None)


def line_view(twin: Twin, line_path: str) -> LineView:
    """Everything the overview draws for one line."""
    info = twin.index.lines[line_path]
    t0, t1 = kpi_window(twin)
    a = twin.analytics
    stations = []
    for st in info.stations:
        state, since = station_state(twin, st.path)
        kpis = a.station_kpis(st.path, t0, t1)
        stations.append(StationView(st.path, st.asset.id, st.asset.name or st.asset.id, state, since, kpis))
    result = a.bottlenecks(line_path, t0, t1)
    good, _ = a.production.counts(info.stations[-1].path, t0, t1)
    alerts = [al for al in a.alerts.active() if al.station is None or al.station.startswith(line_path)]
    return LineView(
        path=line_path,
        name=info.line.name or info.line.id,
        start=t0,
        end=t1,
        stations=stations,
        buffers=_buffers(twin, info),
        kpis=a.line_kpis(line_path, t0, t1),
        throughput_per_h=good / ((t1 - t0) / 3600),
        target_per_h=info.line.target_rate,
        bottleneck=result.main,
        bottleneck_share=next((s.total for s in result.shares if s.station == result.main), 0.0),
        momentary=result.timeline[-1][2] if result.timeline else None,
        alerts=alerts,
        rate=rate_series(twin, info.stations[-1].path, t0, t1),
    )


def rate_series(twin: Twin, station: str, start: float, end: float, buckets: int = 30) -> list[tuple[float, float]]:
    """Good parts per hour a station counted in equal buckets (at least 30 s wide) ending at ``end``."""
    width = max((end - start) / buckets, 30.0)
    edges = [end - k * width for k in range(buckets, -1, -1) if end - k * width >= start - 1e-9]
    out = []
    for a, b in itertools.pairwise(edges):
        good, _ = twin.analytics.production.counts(station, a, b)
        out.append((b, good * 3600 / width))
    return out


def shared_line_view(twin: Twin, line_path: str, max_age_s: float = 1.0) -> LineView:
    """``line_view`` computed at most once per ``max_age_s`` however many browsers show the line.

    Bottleneck analysis grows with the intervals in the window; one computation serves every client.
    """
    now = time.monotonic()
    key = (id(twin), line_path)
    hit = _cache.get(key)
    if hit is not None and now - hit[0] < max_age_s:
        return hit[1]
    view = line_view(twin, line_path)
    _cache[key] = (now, view)
    return view


def _buffers(twin: Twin, info: LineInfo) -> dict[str, BufferView]:
    """The line's buffers by the station upstream of each."""
    out = {}
    for b in info.buffers:
        assert isinstance(b.asset, Buffer)
        level_signal = b.by_role(Role.LEVEL)
        live = twin.state.get(level_signal.path) if level_signal is not None else None
        value = live.value if live is not None and live.quality.usable else None
        level = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        out[b.asset.upstream] = BufferView(b.path, b.asset.id, b.asset.name or b.asset.id, level, b.asset.capacity)
    return out

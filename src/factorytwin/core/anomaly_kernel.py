"""The anomaly detectors' arithmetic, compiled with numba, over the state of every watched signal as arrays.

One record per watched signal (``SIGNAL``: its range check, EWMA and stuck-value detector), one per
station (``STATION``: the regime) and one per multivariate group (``GROUP`` plus its vectors and
matrices). ``run`` folds a stretch of a batch into them and stops where Python has work to do: after
a sample that changed a finding, before a stuck scan that found something, before a station-state
sample, and before a group scores with a covariance due for inversion (numpy inverts it). The
single-signal detector classes in anomaly_detectors.py call the same step functions, so each detector
has one implementation. The statistics are described in docs/anomalies.md.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "CONFIG",
    "DONE",
    "ENDED",
    "EVENTS",
    "GROUP",
    "SCAN",
    "SIGNAL",
    "STARTED",
    "STATE",
    "STATION",
    "ewma_update",
    "group_update",
    "range_update",
    "regime",
    "run",
    "INVERT",
    "stuck_check",
    "stuck_limit",
    "stuck_pause",
    "stuck_update",
]

NONE, STARTED, ENDED = 0, 1, 2  # a detector's transition
DONE, EVENTS, SCAN, STATE, INVERT = 0, 1, 2, 3, 4  # why run() stopped
# Bits of an EVENTS stop, two per detector (started, ended), in the order the findings are reported.
STUCK_SHIFT, RANGE_SHIFT, EWMA_SHIFT, GROUP_SHIFT = 0, 2, 4, 6

CONFIG = np.dtype(
    [
        ("warmup", np.int64),
        ("clip", np.float64),
        ("smoothing", np.float64),
        ("floor", np.float64),  # var(EWMA) / var(x) for white noise
        ("z", np.float64),
        ("learn_rate", np.float64),
        ("persistence", np.int64),
        ("range_clear", np.int64),
        ("stuck_samples", np.int64),
        ("stuck_min_s", np.float64),
        ("settle_s", np.float64),
        ("refresh_every", np.int64),  # a group's learning updates between inversions of its covariance
    ],
    align=True,
)
SIGNAL = np.dtype(
    [
        ("station", np.int64),
        ("member", np.int64),  # position in the station's group, or -1
        ("has_range", np.bool_),
        ("low", np.float64),
        ("high", np.float64),
        ("inner_low", np.float64),  # a violation ends once back inside low + margin .. high - margin
        ("inner_high", np.float64),
        ("r_active", np.bool_),
        ("r_run", np.int64),
        ("inside", np.bool_),  # the latest value is within the normal range
        ("continuous", np.bool_),  # has the learned EWMA and the stuck detector
        ("n", np.int64),
        ("mean", np.float64),
        ("var", np.float64),
        ("e", np.float64),  # the smoothed residual
        ("var_e", np.float64),
        ("score", np.float64),
        ("e_active", np.bool_),
        ("e_run", np.int64),
        ("last", np.float64),  # stuck detector; NaN stands for "none yet" in last, changed_at and updated_at
        ("changed_at", np.float64),
        ("updated_at", np.float64),
        ("interval", np.float64),
        ("longest", np.float64),
        ("updates", np.int64),
        ("repeats", np.int64),
        ("s_active", np.bool_),
        ("value", np.float64),  # the latest value the learned detectors saw
    ],
    align=True,
)
STATION = np.dtype(
    [("producing", np.bool_), ("told", np.bool_), ("since", np.float64), ("outside", np.int64), ("group", np.int64)],
    align=True,
)
GROUP = np.dtype(
    [
        ("p", np.int64),
        ("missing", np.int64),
        ("n", np.int64),
        ("t2", np.float64),
        ("stale", np.int64),
        ("active", np.bool_),
        ("run", np.int64),
        ("rate", np.float64),
        ("warmup", np.int64),
        ("threshold", np.float64),
        ("persistence", np.int64),
    ],
    align=True,
)


@njit(cache=True)
def _latch(active: bool, run: int, exceed: bool, recovered: bool, onset: int, clear: int) -> tuple[bool, int, int]:
    """Starts after ``onset`` exceeding samples in a row, ends after ``clear`` recovered ones in a row."""
    hit = recovered if active else exceed
    run = run + 1 if hit else 0
    if run < (clear if active else onset):
        return active, run, NONE
    return not active, 0, ENDED if active else STARTED


@njit(cache=True)
def range_update(sigs, k, x, c):  # type: ignore[no-untyped-def]
    """A value outside the normal range starts a violation; back inside by the margin for a few samples ends it."""
    s = sigs[k]
    exceed = not s.low <= x <= s.high
    recovered = s.inner_low <= x <= s.inner_high
    s.r_active, s.r_run, change = _latch(s.r_active, s.r_run, exceed, recovered, 1, c.range_clear)
    return change


@njit(cache=True)
def ewma_update(sigs, k, x, learn, c):  # type: ignore[no-untyped-def]
    """Score one value against the learned mean and spread, then learn from it when allowed and unremarkable."""
    s = sigs[k]
    n = s.n
    if n == 0:
        if learn:
            s.mean = x
            s.n = 1
        return NONE
    r = x - s.mean
    e = s.e
    warm = n >= c.warmup
    if warm:
        limit = c.clip * np.sqrt(s.var)
        r = -limit if r < -limit else limit if r > limit else r
    e = e + c.smoothing * (r - e)
    s.e = e
    exceed, change = False, NONE
    if warm:
        var_e, floor = s.var_e, c.floor * s.var
        sd = np.sqrt(floor if floor > var_e else var_e)
        score = e / sd if sd > 0 else 0.0
        s.score = score
        exceed = abs(score) > c.z
        if exceed or s.e_active:
            s.e_active, s.e_run, change = _latch(s.e_active, s.e_run, exceed, not exceed, c.persistence, c.persistence)
        else:
            s.e_run = 0
    if learn and not exceed and not s.e_active:
        n += 1
        s.n = n
        lam = 1.0 / n
        if c.learn_rate > lam:
            lam = c.learn_rate
        s.mean += lam * r
        s.var = (1.0 - lam) * (s.var + lam * r * r)
        s.var_e += lam * (e * e - s.var_e)
    return change


@njit(cache=True)
def stuck_update(sigs, k, t, x, c):  # type: ignore[no-untyped-def]
    """Take one usable value: learn the update interval while warming up; ENDED when a stuck value moves."""
    s = sigs[k]
    last = s.last
    if not np.isnan(s.updated_at) and s.updates < c.warmup:
        gap = t - s.updated_at
        updates = s.updates + 1
        s.updates = updates
        s.interval += (gap - s.interval) / updates
        if gap > s.longest:
            s.longest = gap
        if x == last:
            s.repeats += 1
    s.updated_at = t
    if x == last:
        return NONE
    s.last, s.changed_at = x, t
    if s.s_active:
        s.s_active = False
        return ENDED
    return NONE


@njit(cache=True)
def stuck_pause(sigs, k, t):  # type: ignore[no-untyped-def]
    """Restart the clock at t (station stopped or restarted, value unusable): the silence before does not count."""
    s = sigs[k]
    s.updated_at, s.changed_at = np.nan, t


@njit(cache=True)
def stuck_limit(sigs, k, c):  # type: ignore[no-untyped-def]
    """Seconds without change after which the signal is stuck."""
    s = sigs[k]
    return max(c.stuck_min_s, c.stuck_samples * s.interval, 2.0 * s.longest)


@njit(cache=True)
def stuck_check(sigs, k, now, c):  # type: ignore[no-untyped-def]
    """If a warm, noisy signal has been still for its limit by now, start a finding; return when it became stuck."""
    s = sigs[k]
    eligible = s.updates >= c.warmup and s.repeats <= 0.05 * s.updates
    if s.s_active or np.isnan(s.changed_at) or not eligible:
        return np.nan
    due = s.changed_at + stuck_limit(sigs, k, c)
    if now < due:
        return np.nan
    s.s_active = True
    return due


@njit(cache=True)
def group_update(groups, j, latest, mean, cov, inv, learn, c):  # type: ignore[no-untyped-def]
    """Hotelling T² of the latest values; learn mean and covariance from unremarkable updates; the transition."""
    g = groups[j]
    if g.missing:
        return NONE
    p = g.p
    d = latest[j, :p] - mean[j, :p]
    if g.n == 0:
        if learn:
            mean[j, :p] = latest[j, :p]
            g.n = 1
        return NONE
    exceed, change = False, NONE
    if g.n >= g.warmup:  # the caller keeps inv fresh: see INVERT
        t2 = 0.0
        for i in range(p):
            row = 0.0
            for m in range(p):
                row += inv[j, i, m] * d[m]
            t2 += d[i] * row
        g.t2 = t2
        exceed = t2 > g.threshold
        onset = g.persistence * p
        g.active, g.run, change = _latch(g.active, g.run, exceed, not exceed, onset, onset)
    if learn and not exceed and not g.active:
        g.n += 1
        lam = max(1.0 / g.n, g.rate)
        keep, w = 1.0 - lam, lam * (1.0 - lam)
        for i in range(p):
            mean[j, i] += lam * d[i]
            wd = w * d[i]
            for m in range(p):
                cov[j, i, m] = keep * cov[j, i, m] + wd * d[m]
        g.stale += 1
    return change


@njit(cache=True)
def regime(stations, sigs, members, ptr, i, producing, t):  # type: ignore[no-untyped-def]
    """Station i starts or stops producing at t; its stuck detectors restart their clocks."""
    st = stations[i]
    if producing == st.producing:
        return
    st.producing, st.since = producing, t
    for m in range(ptr[i], ptr[i + 1]):
        k = members[m]
        if sigs[k].continuous:
            stuck_pause(sigs, k, t)


@njit(cache=True)
def _sample(sigs, k, stations, groups, latest, mean, cov, inv, t, x, c):  # type: ignore[no-untyped-def]
    """One usable value of a watched signal of a producing station: the detectors' transitions as event bits."""
    s = sigs[k]
    st = stations[s.station]
    events = 0
    if s.continuous:
        events |= stuck_update(sigs, k, t, x, c) << STUCK_SHIFT
    if t - st.since < c.settle_s:
        return events
    if s.has_range:
        events |= range_update(sigs, k, x, c) << RANGE_SHIFT
        inside = s.low <= x <= s.high
        if inside != s.inside and s.member >= 0:
            st.outside += -1 if inside else 1
        s.inside = inside
    if not s.continuous:
        return events
    s.value = x
    events |= ewma_update(sigs, k, x, s.inside, c) << EWMA_SHIFT
    j = st.group
    if s.member >= 0 and j >= 0:
        if np.isnan(latest[j, s.member]):
            groups[j].missing -= 1
        latest[j, s.member] = s.e  # the smoothed residual: near-Gaussian even for on/off loads
        events |= group_update(groups, j, latest, mean, cov, inv, st.outside == 0, c) << GROUP_SHIFT
    return events


@njit(cache=True)
def run(  # type: ignore[no-untyped-def]
    codes,
    times,
    xs,
    start,
    stop,
    clock,
    told,
    state,
    sigs,
    stations,
    members,
    ptr,
    groups,
    latest,
    mean,
    cov,
    inv,
    found,
    c,
):
    """Fold samples start..stop-1 in; return (why it stopped, where, event bits).

    ``codes`` are watched-signal indices (-1: not watched); ``xs`` the values, NaN where unusable;
    ``clock`` holds the stream time and the next stuck scan; ``told``: stations take their state from
    ``stations.told`` (set by the caller) rather than from the stream; ``state``: the position of the
    next station-state sample (``stop`` if none). A SCAN stop leaves the newly stuck signals' indices in
    ``found`` (-1 after the last) and the sample at ``where`` unprocessed, as do a STATE stop and an
    INVERT stop (group ``events`` is about to score with a covariance learned on since its last
    inversion: the caller inverts it, sets its ``stale`` to 0 and runs on from ``where``).
    """
    for i in range(start, stop):
        t = times[i]
        if t > clock[0]:
            clock[0] = t
            if t >= clock[1]:
                clock[1] = np.floor(t) + 1.0  # stuck values are checked once per second of stream time
                n = 0
                for st_i in range(len(stations)):
                    if not stations[st_i].producing:
                        continue
                    for m in range(ptr[st_i], ptr[st_i + 1]):
                        k = members[m]
                        if sigs[k].continuous and not np.isnan(stuck_check(sigs, k, t, c)):
                            found[n] = k
                            n += 1
                if n:
                    found[n] = -1
                    return SCAN, i, 0
        if i == state:
            return STATE, i, 0
        k = codes[i]
        if k < 0:
            continue
        st_i = sigs[k].station
        j = stations[st_i].group
        if sigs[k].member >= 0 and j >= 0 and groups[j].n >= groups[j].warmup and groups[j].stale >= c.refresh_every:
            return INVERT, i, j
        if told:
            regime(stations, sigs, members, ptr, st_i, stations[st_i].told, t)
        x = xs[i]
        if x == x:
            if stations[st_i].producing:
                events = _sample(sigs, k, stations, groups, latest, mean, cov, inv, t, x, c)
                if events:
                    return EVENTS, i, events
        elif sigs[k].continuous:
            stuck_pause(sigs, k, t)
    return DONE, stop, 0

"""LTTB and min-max reductions against answers worked out by hand, and their invariants."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from factorytwin.core.downsample import lttb, minmax


def test_lttb_keeps_the_peak_and_the_dip_worked_out_by_hand() -> None:
    # buckets of 4: {1..4} against the mean of {5..8} = (6.5, -2.5): areas 1.25, 35, 3.75, 5 -> index 2;
    # {5..8} from (2, 10) against the last point (9, 0): areas 20, 50, 10, 5 -> index 6
    y = np.array([0, 0, 10, 0, 0, 0, -10, 0, 0, 0], float)
    assert lttb(np.arange(10.0), y, 4).tolist() == [0, 2, 6, 9]


def test_lttb_bucket_edges_follow_the_reference_with_fractional_bucket_sizes() -> None:
    # every = 2.5: the buckets are {1, 2} and {3, 4, 5}; from (0, 0) against (4, 4/3): index 1 (area 10.7 > 1.3);
    # from (1, 3) against (6, 0): areas 9, 6, 17 -> index 5
    y = np.array([0, 3, 1, 0, 0, 4, 0], float)
    assert lttb(np.arange(7.0), y, 4).tolist() == [0, 1, 5, 6]


def test_minmax_keeps_each_buckets_extremes_in_time_order() -> None:
    y = np.array([3, 1, 4, 1, 5, 9, 2, 6], float)
    assert minmax(y, 4).tolist() == [1, 2, 5, 6]


def test_short_series_are_returned_whole() -> None:
    x = np.arange(5.0)
    assert lttb(x, x, 10).tolist() == [0, 1, 2, 3, 4]
    assert minmax(x, 5).tolist() == [0, 1, 2, 3, 4]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=3, max_size=400),
    st.integers(3, 120),
)
def test_reductions_keep_the_ends_and_the_extremes(values: list[float], n: int) -> None:
    y = np.array(values)
    x = np.cumsum(np.ones(len(y)))
    kept = lttb(x, y, n)
    assert len(kept) == min(n, len(y))
    assert kept[0] == 0
    assert kept[-1] == len(y) - 1
    assert np.all(np.diff(kept) > 0)
    pairs = minmax(y, n)
    assert np.all(np.diff(pairs) > 0)
    assert len(pairs) <= max(n, 2)
    assert y[pairs].max() == y.max()
    assert y[pairs].min() == y.min()

"""A machine's failures, from the pre-drawn times to failure and repair times.

* Operation-dependent: the failure clock runs only while the machine processes; a failure
  interrupts the part, and processing resumes after the repair.
* Time-dependent: failures follow the machine's own calendar of up and down periods from t = 0,
  whatever the machine does; work (setup and processing) only progresses while it is up.
"""

from __future__ import annotations

from .draws import ReplicationDraws

__all__ = ["BusyClock", "Timeline"]


class BusyClock:
    """Operation-dependent failures: busy time left until the next failure."""

    def __init__(self, draws: ReplicationDraws, station: int, machine: int) -> None:
        self._draws, self._station, self._machine = draws, station, machine
        self.count = 0
        self.left = self._draw()[0]

    def _draw(self) -> tuple[float, float]:
        return self._draws.failure(self._station, self._machine, self.count)

    def repair(self) -> float:
        """The repair time of the current failure; the clock then restarts with the next time to failure."""
        duration = self._draw()[1]
        self.count += 1
        self.left = self._draw()[0]
        return duration


class Timeline:
    """Time-dependent failures: the machine is down in [start_k, end_k) for k = 0, 1, ..."""

    def __init__(self, draws: ReplicationDraws, station: int, machine: int, down_until: float = 0.0) -> None:
        """``down_until`` > 0: a warm start with the machine down until then; its calendar starts there."""
        self._draws, self._station, self._machine = draws, station, machine
        self._periods: list[tuple[float, float]] = [(0.0, down_until)] if down_until > 0 else []
        self.initial = len(self._periods)  # 1 when period 0 is the repair left from a warm start
        self._first = 0  # periods before this one ended before the last query

    def period(self, k: int) -> tuple[float, float]:
        """Start and end of down period ``k``."""
        while len(self._periods) <= k:
            ttf, ttr = self._draws.failure(self._station, self._machine, len(self._periods) - self.initial)
            start = (self._periods[-1][1] if self._periods else 0.0) + ttf
            self._periods.append((start, start + ttr))
        return self._periods[k]

    def _current(self, t: float) -> tuple[float, float]:
        while self.period(self._first)[1] <= t:
            self._first += 1
        return self.period(self._first)

    def down_until(self, t: float) -> float | None:
        """End of the down period at time ``t``, or None when the machine is up at ``t``."""
        start, end = self._current(t)
        return end if start <= t else None

    def next_failure(self, t: float) -> float:
        """Start of the first down period that has not ended by ``t``."""
        return self._current(t)[0]

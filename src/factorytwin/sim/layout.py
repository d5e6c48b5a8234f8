"""A line resolved for the engines: stations in flow order and the places between them."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from ..model.schema import Buffer, Line

__all__ = ["Layout", "ordered_buffers"]


def ordered_buffers(line: Line) -> list[Buffer]:
    """Buffers in flow order: after each station but the last (and after the last in a closed loop).

    A pair of consecutive stations the model leaves without a buffer gets a one-place hand-over.
    """
    by_upstream = {b.upstream: b for b in line.buffers}
    stations = line.stations
    pairs = list(itertools.pairwise(stations))
    if line.pallets is not None:
        pairs.append((stations[-1], stations[0]))
    return [
        by_upstream.get(up.id) or Buffer(id=f"{up.id}-to-{down.id}", upstream=up.id, downstream=down.id, capacity=1)
        for up, down in pairs
    ]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where parts can be: ``buffer[i]`` places after station i, ``machines[i]`` at station i."""

    ids: tuple[str, ...]
    machines: tuple[int, ...]
    buffer: tuple[float, ...]  # after station i; inf after the last station of an open line
    pallets: int | None

    @classmethod
    def of(cls, line: Line) -> Layout:
        """Resolve a line."""
        caps: list[float] = [float(b.capacity) for b in ordered_buffers(line)]
        if line.pallets is None:
            caps.append(math.inf)
        return cls(
            ids=tuple(s.id for s in line.stations),
            machines=tuple(s.sim.machines for s in line.stations),
            buffer=tuple(caps),
            pallets=line.pallets,
        )

    @property
    def loop(self) -> bool:
        """True for a closed loop of pallets."""
        return self.pallets is not None

    def places(self, station: int) -> float:
        """Parts station ``station`` may hold in front of it and on its machines (blocking limit)."""
        if station == 0 and not self.loop:
            return math.inf
        return self.buffer[station - 1] + self.machines[station]

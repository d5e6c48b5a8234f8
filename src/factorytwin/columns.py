"""Many samples as columns: one object per batch instead of one ``Sample`` per value.

A connector that decodes thousands of values per message (a JSON array of samples) appends them to
a ``SampleColumns`` — five parallel lists — and the stream carries that batch as it is: intake, live
state, the historian and the analytics read the columns, and a ``Sample`` object is made only where
one is kept (a dead letter, a finding). ``Batch`` is what the stream accepts: a list of samples or
columns, in stream order either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from operator import attrgetter

from .events import Quality, Sample, Value

__all__ = ["Batch", "BatchSink", "SampleColumns", "columns_of", "samples_of", "select"]

_FIELDS = attrgetter("signal", "source_time", "receive_time", "value", "quality")


class SampleColumns:
    """Samples in stream order as parallel lists: signal path, source time, receive time, value, quality."""

    __slots__ = ("qualities", "receive_times", "signals", "source_times", "values")

    def __init__(self) -> None:
        self.signals: list[str] = []
        self.source_times: list[float] = []
        self.receive_times: list[float] = []
        self.values: list[Value] = []
        self.qualities: list[Quality] = []

    @classmethod
    def of(cls, samples: Iterable[Sample]) -> SampleColumns:
        """Columns holding these samples, in order."""
        cols = cls()
        rows = list(map(_FIELDS, samples))
        if rows:
            signals, sources, receives, values, qualities = zip(*rows, strict=True)
            cols.signals, cols.source_times, cols.receive_times = list(signals), list(sources), list(receives)
            cols.values, cols.qualities = list(values), list(qualities)
        return cols

    def __len__(self) -> int:
        return len(self.signals)

    def __iter__(self) -> Iterator[Sample]:
        """The samples, made one by one (the slow road: prefer the columns)."""
        return map(Sample, self.signals, self.source_times, self.receive_times, self.values, self.qualities)

    def add(self, signal: str, source_time: float, receive_time: float, value: Value, quality: Quality) -> None:
        """Append one sample given by its fields."""
        self.signals.append(signal)
        self.source_times.append(source_time)
        self.receive_times.append(receive_time)
        self.values.append(value)
        self.qualities.append(quality)

    def append(self, sample: Sample) -> None:
        """Append one sample (what ``list.append`` does for a list of samples)."""
        self.add(sample.signal, sample.source_time, sample.receive_time, sample.value, sample.quality)

    def extend(self, other: SampleColumns) -> None:
        """Append every sample of other columns."""
        self.signals += other.signals
        self.source_times += other.source_times
        self.receive_times += other.receive_times
        self.values += other.values
        self.qualities += other.qualities

    def take(self, indices: Iterable[int]) -> SampleColumns:
        """New columns holding the samples at these positions, in the order given."""
        out = SampleColumns()
        idx = list(indices)
        out.signals = [self.signals[i] for i in idx]
        out.source_times = [self.source_times[i] for i in idx]
        out.receive_times = [self.receive_times[i] for i in idx]
        out.values = [self.values[i] for i in idx]
        out.qualities = [self.qualities[i] for i in idx]
        return out

    def sample(self, i: int) -> Sample:
        """The i-th sample as a ``Sample``."""
        return Sample(self.signals[i], self.source_times[i], self.receive_times[i], self.values[i], self.qualities[i])

    def samples(self) -> list[Sample]:
        """Every sample as a ``Sample``, in order."""
        return list(self)


Batch = list[Sample] | SampleColumns
"""What the stream carries: samples, or the same as columns."""

BatchSink = Callable[[Batch], Awaitable[None]]
"""An async callable taking a batch in either form."""


def columns_of(batch: Batch) -> SampleColumns:
    """The batch as columns (itself when it already is)."""
    return batch if isinstance(batch, SampleColumns) else SampleColumns.of(batch)


def samples_of(batch: Batch) -> list[Sample]:
    """The batch as a list of samples (itself when it already is)."""
    return batch.samples() if isinstance(batch, SampleColumns) else batch


def select(batch: Batch, paths: AbstractSet[str]) -> list[Sample]:
    """The samples of these signals, in order: a processor that watches a few signals skips the rest cheaply."""
    if isinstance(batch, SampleColumns):
        if paths.isdisjoint(batch.signals):
            return []
        sample = batch.sample
        return [sample(i) for i, signal in enumerate(batch.signals) if signal in paths]
    return [s for s in batch if s.signal in paths]

"""A compact, exact binary form of a batch of samples, for the store-and-forward queue.

Columnar, little-endian, versioned; it keeps every value's type (a counter's ``12`` stays an int,
``12.0`` a float, ``True`` a bool) and every float bit for bit, NaN and infinities included::

    header  <BIIIII   version, samples, names, floats, ints, strings
    u32[n]            index of each sample's signal in the name table
    f64[n] f64[n]     source times, receive times
    u8[n]  u8[n]      qualities, value tags (0 None, 1 float, 2 int, 3 False, 4 True, 5 str, 6 big int)
    f64[floats] i64[ints]
    u32[names]   utf-8 names          (lengths, then the bytes)
    u32[strings] utf-8 strings        (lengths, then the bytes; a big int is stored as its decimal text)
"""

from __future__ import annotations

import struct
import sys
from array import array

from ..events import Quality, Sample, Value

__all__ = ["decode_batch", "encode_batch"]

VERSION = 1
_HEADER = struct.Struct("<BIIIII")
_QUALITIES = tuple(sorted(Quality))
_SWAP = sys.byteorder == "big"
_I64 = (-(2**63), 2**63 - 1)


def encode_batch(batch: list[Sample]) -> bytes:
    """Encode samples into bytes that :func:`decode_batch` turns back into equal samples."""
    names: dict[str, int] = {}
    index = array("I", [names.setdefault(s.signal, len(names)) for s in batch])
    source = array("d", [s.source_time for s in batch])
    receive = array("d", [s.receive_time for s in batch])
    quality = bytes([s.quality for s in batch])
    tags = bytearray()
    floats, ints, texts = array("d"), array("q"), []
    for s in batch:
        v, kind = s.value, type(s.value)
        if kind is float:
            tags.append(1)
            floats.append(v)  # type: ignore[arg-type]
        elif v is None:
            tags.append(0)
        elif kind is bool:
            tags.append(4 if v else 3)
        elif kind is int and _I64[0] <= v <= _I64[1]:  # type: ignore[operator]
            tags.append(2)
            ints.append(v)  # type: ignore[arg-type]
        else:
            tags.append(6 if isinstance(v, int) else 5)
            texts.append(str(int(v) if isinstance(v, int) else v))
    name_bytes, name_lengths = _strings(list(names))
    text_bytes, text_lengths = _strings(texts)
    if _SWAP:
        for part in (index, source, receive, floats, ints, name_lengths, text_lengths):
            part.byteswap()
    header = _HEADER.pack(VERSION, len(batch), len(names), len(floats), len(ints), len(texts))
    return b"".join(
        [
            header,
            index.tobytes(),
            source.tobytes(),
            receive.tobytes(),
            quality,
            bytes(tags),
            floats.tobytes(),
            ints.tobytes(),
            name_lengths.tobytes(),
            name_bytes,
            text_lengths.tobytes(),
            text_bytes,
        ]
    )


def decode_batch(data: bytes) -> list[Sample]:
    """Decode what :func:`encode_batch` wrote; ValueError when the bytes are not such a batch."""
    try:
        version, n, n_names, n_floats, n_ints, n_texts = _HEADER.unpack_from(data)
    except struct.error as exc:
        raise ValueError("not a sample batch: too short") from exc
    if version != VERSION:
        raise ValueError(f"unknown sample batch version {version}")
    reader = _Reader(data, _HEADER.size)
    index = reader.ints("I", n)
    source, receive = reader.floats(n), reader.floats(n)
    quality, tags = reader.raw(n), reader.raw(n)
    floats, ints = iter(reader.floats(n_floats)), iter(reader.ints("q", n_ints))
    names = reader.strings(n_names)
    texts = iter(reader.strings(n_texts))
    if reader.offset != len(data):
        raise ValueError("not a sample batch: trailing bytes")
    values: list[Value] = []
    append = values.append
    for tag in tags:
        if tag == 1:
            append(next(floats))
        elif tag == 2:
            append(next(ints))
        elif tag == 0:
            append(None)
        elif tag in (3, 4):
            append(tag == 4)
        elif tag == 5:
            append(next(texts))
        elif tag == 6:
            append(int(next(texts)))
        else:
            raise ValueError(f"not a sample batch: value tag {tag}")
    try:
        qualities = [_QUALITIES[q] for q in quality]
        signals = [names[i] for i in index]
    except IndexError as exc:
        raise ValueError("not a sample batch: index out of range") from exc
    return list(map(Sample, signals, source, receive, values, qualities))


def _strings(items: list[str]) -> tuple[bytes, array[int]]:
    encoded = [s.encode("utf-8", "surrogatepass") for s in items]
    return b"".join(encoded), array("I", [len(b) for b in encoded])


class _Reader:
    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.offset = offset

    def raw(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise ValueError("not a sample batch: truncated")
        chunk, self.offset = self.data[self.offset : end], end
        return chunk

    def floats(self, count: int) -> array[float]:
        out = array("d")
        out.frombytes(self.raw(count * out.itemsize))
        if _SWAP:
            out.byteswap()
        return out

    def ints(self, code: str, count: int) -> array[int]:
        out = array(code)
        out.frombytes(self.raw(count * out.itemsize))
        if _SWAP:
            out.byteswap()
        return out

    def strings(self, count: int) -> list[str]:
        lengths = self.ints("I", count)
        blob = self.raw(sum(lengths))
        out, at = [], 0
        for length in lengths:
            out.append(blob[at : at + int(length)].decode("utf-8", "surrogatepass"))
            at += int(length)
        return out

"""Modbus registers to values and back, and read planning: pure functions, no I/O, no pymodbus.

A binding (``ModbusBinding`` of the model) says where a value lives and how its registers decode:
``value = raw * scale + offset``. Registers are 16-bit words as the device sends them; ``byte_order``
is the order of the two bytes inside each word, ``word_order`` the order of the words of a 32/64-bit
value (``big``: most significant word first). Bits (coils, discrete inputs, a bit of a register) are
0 or 1, since the twin's signals are numbers. A string is ASCII/UTF-8 text, NUL padded; text that
reads as a number decodes to that number (devices often show numbers as text), other text stays text.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ..model.sources import ModbusBinding

__all__ = [
    "BIT_LIMIT",
    "BIT_TABLES",
    "Decoded",
    "REGISTER_LIMIT",
    "ReadRequest",
    "bit_mask",
    "decode",
    "encode",
    "merge",
    "plan",
    "width",
]

REGISTER_LIMIT = 125  # registers per read request (Modbus application protocol, FC 3/4)
BIT_LIMIT = 2000  # bits per read request (FC 1/2)
BIT_TABLES = frozenset({"coil", "discrete"})
_STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}
_RANGE = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}
_FLOAT32_MAX = struct.unpack(">f", b"\x7f\x7f\xff\xff")[0]
_TABLE_ORDER = {"coil": 0, "discrete": 1, "holding": 2, "input": 3}

Decoded = int | float | str


def width(b: ModbusBinding) -> int:
    """How many registers (or bits, for coils and discrete inputs) a binding spans."""
    if b.table in BIT_TABLES or b.type in ("bool", "int16", "uint16"):
        return 1
    if b.type == "string":
        assert b.length is not None
        return b.length
    return struct.calcsize(_STRUCT[b.type]) // 2


def decode(b: ModbusBinding, words: Sequence[int]) -> Decoded:
    """The value of a binding from its registers (or its one bit), scale and offset applied."""
    if b.table in BIT_TABLES:
        return 1 if words[0] else 0
    data = _to_bytes(b, words[: width(b)])
    if b.type == "bool":
        word = int.from_bytes(data[:2], "big")
        return (word >> b.bit) & 1 if b.bit is not None else int(word != 0)
    if b.type == "string":
        return _from_text(data)
    (raw,) = struct.unpack(">" + _STRUCT[b.type], data)
    if b.scale == 1.0 and b.offset == 0.0:
        return raw  # type: ignore[no-any-return]
    return float(raw) * b.scale + b.offset


def encode(b: ModbusBinding, value: Decoded, saturate: bool = False) -> list[int]:
    """The registers (or the one bit) holding ``value``: the inverse of ``decode``.

    Raises ValueError when the value does not fit the type (out of range, not finite for an
    integer, text too long); with ``saturate`` it is clamped (or cut) to fit instead.
    """
    if b.table in BIT_TABLES:
        return [1 if _truthy(value) else 0]
    if b.type == "bool":
        on = _truthy(value)
        word = (1 << b.bit if b.bit is not None else 1) if on else 0
        return _to_words(b, word.to_bytes(2, "big"))
    if b.type == "string":
        return _to_words(b, _text_bytes(b, value, saturate))
    if isinstance(value, str):
        raise ValueError(f"{value!r} is not a number")
    if b.scale == 0.0:
        raise ValueError("a binding with scale 0 cannot be written")
    raw: float = value if b.scale == 1.0 and b.offset == 0.0 else (float(value) - b.offset) / b.scale
    if b.type in _RANGE:
        packed: int | float = _integer(b.type, raw, saturate)
    elif b.type == "float32":
        packed = _float32(raw, saturate)
    else:
        packed = float(raw)
    return _to_words(b, struct.pack(">" + _STRUCT[b.type], packed))


def bit_mask(b: ModbusBinding) -> int:
    """The bits of its register(s) a bool binding owns (all of them for a whole-register bool)."""
    if b.bit is None:
        return 0xFFFF
    return encode(b, 1)[0]


def merge(old: int, new: int, mask: int) -> int:
    """A register with the ``mask`` bits taken from ``new`` and the others kept from ``old``."""
    return (old & ~mask & 0xFFFF) | (new & mask)


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One read: a range of one table of one unit, and the bindings (by index) it serves."""

    table: str
    unit_id: int
    address: int
    count: int
    members: tuple[int, ...]

    @property
    def end(self) -> int:
        """The first address after the range."""
        return self.address + self.count


def plan(bindings: Sequence[ModbusBinding], unit_id: int, max_gap: int) -> list[ReadRequest]:
    """Group bindings into as few reads as possible.

    Per table and unit id, address ranges are merged when at most ``max_gap`` unused addresses lie
    between them and the read stays within 125 registers (2000 bits).
    """
    groups: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for i, b in enumerate(bindings):
        unit = b.unit_id if b.unit_id is not None else unit_id
        groups.setdefault((b.table, unit), []).append((b.address, b.address + width(b), i))
    out: list[ReadRequest] = []
    for (table, unit), spans in sorted(groups.items(), key=lambda kv: (_TABLE_ORDER[kv[0][0]], kv[0][1])):
        limit = BIT_LIMIT if table in BIT_TABLES else REGISTER_LIMIT
        spans.sort()
        start, end, members = spans[0][0], spans[0][1], [spans[0][2]]
        for s_start, s_end, i in spans[1:]:
            if s_start <= end + max_gap and max(end, s_end) - start <= limit:
                end = max(end, s_end)
                members.append(i)
                continue
            out.append(ReadRequest(table, unit, start, end - start, tuple(members)))
            start, end, members = s_start, s_end, [i]
        out.append(ReadRequest(table, unit, start, end - start, tuple(members)))
    return out


# --------------------------------------------------------------------------- helpers


def _to_bytes(b: ModbusBinding, words: Sequence[int]) -> bytes:
    """Device words -> the value's bytes, most significant first."""
    ordered = list(words) if b.word_order == "big" or b.type == "string" else list(reversed(words))
    order = b.byte_order
    return b"".join((w & 0xFFFF).to_bytes(2, order) for w in ordered)


def _to_words(b: ModbusBinding, data: bytes) -> list[int]:
    """The value's bytes, most significant first -> device words."""
    order = b.byte_order
    words = [int.from_bytes(data[i : i + 2], order) for i in range(0, len(data), 2)]
    return words if b.word_order == "big" or b.type == "string" else list(reversed(words))


def _truthy(value: Decoded) -> bool:
    if isinstance(value, str):
        raise ValueError(f"{value!r} is not a number")
    return bool(value)


def _integer(kind: str, raw: float, saturate: bool) -> int:
    low, high = _RANGE[kind]
    if not math.isfinite(raw):
        if not saturate or math.isnan(raw):
            raise ValueError(f"{raw} does not fit {kind}")
        return high if raw > 0 else low
    whole = round(raw)
    if low <= whole <= high:
        return whole
    if saturate:
        return min(max(whole, low), high)
    raise ValueError(f"{raw:g} is outside the range of {kind} [{low}, {high}]")


def _float32(raw: float, saturate: bool) -> float:
    if math.isfinite(raw) and abs(raw) > _FLOAT32_MAX:
        if not saturate:
            raise ValueError(f"{raw:g} is outside the range of float32")
        return math.copysign(_FLOAT32_MAX, raw)
    return float(raw)


def _text_bytes(b: ModbusBinding, value: Decoded, saturate: bool) -> bytes:
    assert b.length is not None
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(int(value))
    data = text.encode()
    room = 2 * b.length
    if len(data) > room:
        if not saturate:
            raise ValueError(f"{text!r} is longer than {room} bytes")
        data = data[:room]
    return data.ljust(room, b"\x00")


def _from_text(data: bytes) -> Decoded:
    text = data.split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text

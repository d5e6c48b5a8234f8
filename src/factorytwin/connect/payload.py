"""MQTT payloads by binding: a plain number, or JSON read through value/timestamp/quality paths.

A topic may carry several signals (different paths in one object, or elements of a JSON array told
apart by ``match``). ``TopicDecoder`` turns one payload into samples of every signal bound to its
topic; ``compose_payload`` is its mirror, used by the virtual plant to publish what a binding reads.

Decoding never raises on bad input. A payload that is not a number / not JSON yields no sample and
one error; a field that is missing, of the wrong type or not finite yields a BAD sample (no value)
for its signal and one error; the good samples of the same message survive.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..events import Quality, Sample, Value
from ..model.sources import MqttBinding

__all__ = ["PathKeys", "TopicDecoder", "compose_payload", "epoch_of", "parse_path", "quality_of"]

PathKeys = tuple[str | int, ...]
_MISSING: Any = object()
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PATH = re.compile(r"(?:[^.\[\]]+|\[\d+\])(?:\.[^.\[\]]+|\[\d+\])*")
_QUALITY_WORDS = {"good": Quality.GOOD, "uncertain": Quality.UNCERTAIN, "bad": Quality.BAD}
_SEVERITY = (Quality.GOOD, Quality.UNCERTAIN, Quality.BAD, Quality.BAD)


def parse_path(text: str) -> PathKeys:
    """Split a path such as ``data.temp`` or ``samples[0].v`` into keys and list indexes."""
    if not _PATH.fullmatch(text):
        raise ValueError(f"bad path {text!r}: use names joined by dots, with [n] for list elements")
    return tuple(name if name else int(index) for name, index in _TOKEN.findall(text))


def _get(doc: Any, keys: PathKeys) -> Any:
    for key in keys:
        if isinstance(key, str):
            if not isinstance(doc, dict):
                return _MISSING
            doc = doc.get(key, _MISSING)
            if doc is _MISSING:
                return _MISSING
        elif isinstance(doc, list) and key < len(doc):
            doc = doc[key]
        else:
            return _MISSING
    return doc


def epoch_of(stamp: Any) -> float | None:
    """POSIX seconds from ISO 8601 text or epoch seconds/milliseconds/microseconds; None if neither."""
    if isinstance(stamp, bool):
        return None
    if isinstance(stamp, str):
        try:
            parsed = datetime.fromisoformat(stamp)
        except ValueError:
            try:
                stamp = float(stamp)
            except ValueError:
                return None
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if not isinstance(stamp, int | float) or not math.isfinite(stamp):
        return None
    size = abs(stamp)
    if size < 1e11:
        return float(stamp)
    if size < 1e14:
        return stamp / 1e3
    if size < 1e17:
        return stamp / 1e6
    return stamp / 1e9


def quality_of(code: Any) -> Quality | None:
    """Quality from good/uncertain/bad (any case) or a numeric OPC UA status code; None if neither."""
    if isinstance(code, str):
        return _QUALITY_WORDS.get(code.strip().lower())
    if isinstance(code, int) and not isinstance(code, bool):
        return _SEVERITY[((code & 0xFFFFFFFF) >> 30) & 0x3]
    return None


class _Reader:
    """Reads one signal out of a JSON document (or one array element)."""

    __slots__ = ("quality", "signal", "timestamp", "ts_key", "value", "value_key")

    def __init__(self, signal: str, binding: MqttBinding) -> None:
        self.signal = signal
        self.value = parse_path(binding.value)
        self.timestamp = parse_path(binding.timestamp) if binding.timestamp else None
        self.quality = parse_path(binding.quality) if binding.quality else None
        # the common case, a top-level key, skips the general path walk
        self.value_key = self.value[0] if len(self.value) == 1 and isinstance(self.value[0], str) else None
        ts = self.timestamp
        self.ts_key = ts[0] if ts is not None and len(ts) == 1 and isinstance(ts[0], str) else None

    def read(self, doc: Any, now: float, out: list[Sample], errors: list[str]) -> None:
        is_dict = type(doc) is dict
        when = now
        if self.timestamp is not None:
            stamp = doc.get(self.ts_key, _MISSING) if is_dict and self.ts_key else _get(doc, self.timestamp)
            if type(stamp) is float and 0.0 < stamp < 1e11:
                when = stamp  # epoch seconds: the common case
            else:
                found = epoch_of(stamp)
                if found is None:
                    return self._bad(now, now, out, errors, f"'{_show(self.timestamp)}' is not a time")
                when = found
        if is_dict:
            value = doc.get(self.value_key, _MISSING) if self.value_key else _get(doc, self.value)
        elif self.timestamp is None and self.quality is None and isinstance(doc, int | float):
            value = doc  # a bare number stands for the value
        else:
            value = _MISSING
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):
                return self._bad(when, now, out, errors, f"'{_show(self.value)}' is not finite")
        elif kind is bool:
            value = int(value)
        elif kind is not int:
            if value is _MISSING:
                return self._bad(when, now, out, errors, f"no '{_show(self.value)}' in the payload")
            return self._bad(when, now, out, errors, f"'{_show(self.value)}' is {kind.__name__}, not a number")
        if self.quality is None:
            out.append(Sample(self.signal, when, now, value, Quality.GOOD))
            return None
        quality = quality_of(_get(doc, self.quality))
        if quality is None:
            return self._bad(when, now, out, errors, f"'{_show(self.quality)}' is not a quality")
        out.append(Sample(self.signal, when, now, None if quality is Quality.BAD else value, quality))
        return None

    def _bad(self, when: float, now: float, out: list[Sample], errors: list[str], reason: str) -> None:
        """A BAD sample without value, stamped with the reading's own time when it has one."""
        out.append(Sample(self.signal, when, now, None, Quality.BAD))
        errors.append(f"{self.signal}: {reason}")


def _show(keys: PathKeys) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if i else k) for i, k in enumerate(keys))


class TopicDecoder:
    """Decodes the payloads of one topic into samples of every signal bound to it."""

    def __init__(self, topic: str, bindings: Sequence[tuple[str, MqttBinding]]) -> None:
        self.topic = topic
        self.signals = [path for path, _ in bindings]
        self._numbers = [path for path, b in bindings if b.format == "number"]
        self._plain: list[_Reader] = []
        groups: dict[tuple[str, ...], dict[tuple[Any, ...], list[_Reader]]] = {}
        for path, b in bindings:
            if b.format != "json":
                continue
            if not b.match:
                self._plain.append(_Reader(path, b))
                continue
            fields = tuple(sorted(b.match))
            key = tuple(b.match[f] for f in fields)
            groups.setdefault(fields, {}).setdefault(key, []).append(_Reader(path, b))
        self._groups = [(tuple(parse_path(f) for f in fields), table) for fields, table in groups.items()]
        self._json = bool(self._plain or self._groups)
        # arrays whose elements are told apart by one top-level field take a shorter road
        self._by_field: tuple[str, dict[Any, list[_Reader]]] | None = None
        if not self._plain and len(self._groups) == 1:
            keys, table = self._groups[0]
            if len(keys) == 1 and len(keys[0]) == 1 and isinstance(keys[0][0], str):
                self._by_field = (keys[0][0], {key[0]: readers for key, readers in table.items()})

    def decode(self, payload: bytes, now: float, out: list[Sample]) -> list[str]:
        """Append the payload's samples to ``out``; return what was wrong with it (usually nothing)."""
        errors: list[str] = []
        if self._numbers:
            self._number(payload, now, out, errors)
        if not self._json:
            return errors
        try:
            doc = json.loads(payload)
        except ValueError as exc:  # includes UnicodeDecodeError
            errors.append(f"not JSON: {exc}")
            return errors
        if isinstance(doc, list):
            if self._by_field is not None:
                self._array(doc, now, out, errors)
                return errors
            for element in doc:
                self._element(element, now, out, errors)
        else:
            self._element(doc, now, out, errors)
        return errors

    def _number(self, payload: bytes, now: float, out: list[Sample], errors: list[str]) -> None:
        value: float | int | None
        try:
            value = int(payload)
        except ValueError:
            try:
                value = float(payload)
            except ValueError:
                value = None
        reason = "not a number" if value is None else None if math.isfinite(value) else "not finite"
        for signal in self._numbers:
            if reason is None:
                out.append(Sample(signal, now, now, value, Quality.GOOD))
            else:
                out.append(Sample(signal, now, now, None, Quality.BAD))
                errors.append(f"{signal}: {reason}")

    def _array(self, doc: list[Any], now: float, out: list[Sample], errors: list[str]) -> None:
        """The batched case: a top-level number and an epoch-seconds time per element, else the general road."""
        assert self._by_field is not None
        field, table = self._by_field
        append, good = out.append, Quality.GOOD
        for element in doc:
            try:
                readers = table.get(element.get(field, _MISSING)) if type(element) is dict else None
            except TypeError:  # an unhashable field value matches nothing
                continue
            for reader in readers or ():
                value = element.get(reader.value_key, _MISSING) if reader.value_key else _MISSING
                stamp = element.get(reader.ts_key, _MISSING) if reader.ts_key else _MISSING
                kind = type(value)
                if (
                    reader.quality is None
                    and type(stamp) is float
                    and 0.0 < stamp < 1e11
                    and (kind is int or (kind is float and math.isfinite(value)))
                ):
                    append(Sample(reader.signal, stamp, now, value, good))
                else:
                    reader.read(element, now, out, errors)

    def _element(self, element: Any, now: float, out: list[Sample], errors: list[str]) -> None:
        for reader in self._plain:
            reader.read(element, now, out, errors)
        for fields, table in self._groups:
            try:
                if len(fields) == 1 and len(fields[0]) == 1 and type(element) is dict:
                    key: tuple[Any, ...] = (element.get(fields[0][0], _MISSING),)  # one top-level field
                else:
                    key = tuple(_get(element, f) for f in fields)
                readers = table.get(key)
            except TypeError:  # an unhashable field value matches nothing
                continue
            for reader in readers or ():
                reader.read(element, now, out, errors)


def _put(doc: dict[str, Any], keys: PathKeys, value: Any) -> None:
    node: Any = doc
    for key, nxt in zip(keys, (*keys[1:], None), strict=True):
        if nxt is None:
            if isinstance(key, int):
                node.extend([None] * (key + 1 - len(node)))
            node[key] = value
            return
        child: Any = [] if isinstance(nxt, int) else {}
        if isinstance(key, int):
            node.extend([None] * (key + 1 - len(node)))
            node[key] = node[key] if node[key] is not None else child
            node = node[key]
        else:
            node = node.setdefault(key, child)


def compose_payload(entries: Iterable[tuple[MqttBinding, Value, str]]) -> bytes:
    """The payload the bindings read back as these (value, ISO 8601 time) pairs, with quality "good"."""
    items = list(entries)
    if len(items) == 1 and items[0][0].format == "number":
        return json.dumps(items[0][1]).encode()
    elements: list[dict[str, Any]] = []
    shared: dict[str, Any] = {}
    for binding, value, stamp in items:
        target: dict[str, Any] = {} if binding.match else shared
        for field, expected in (binding.match or {}).items():
            _put(target, parse_path(field), expected)
        _put(target, parse_path(binding.value), value)
        _put(target, parse_path(binding.timestamp or "timestamp"), stamp)
        _put(target, parse_path(binding.quality or "quality"), "good")
        if binding.match:
            elements.append(target)
    doc: Any = elements + ([shared] if shared else []) if elements else shared
    return json.dumps(doc, separators=(",", ":")).encode()

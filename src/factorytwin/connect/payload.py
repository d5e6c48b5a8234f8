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

import orjson

from ..columns import SampleColumns
from ..events import Quality, Value
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

    def read(self, doc: Any, now: float, out: SampleColumns, errors: list[str]) -> None:
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
            out.add(self.signal, when, now, value, Quality.GOOD)
            return None
        quality = quality_of(_get(doc, self.quality))
        if quality is None:
            return self._bad(when, now, out, errors, f"'{_show(self.quality)}' is not a quality")
        out.add(self.signal, when, now, None if quality is Quality.BAD else value, quality)
        return None

    def _bad(self, when: float, now: float, out: SampleColumns, errors: list[str], reason: str) -> None:
        """A BAD sample without value, stamped with the reading's own time when it has one."""
        out.add(self.signal, when, now, None, Quality.BAD)
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
        # ...and an element bound to one signal read from top-level value and time keys, a shorter one still
        self._simple: dict[Any, tuple[str, str, str]] = {}
        if not self._plain and len(self._groups) == 1:
            keys, table = self._groups[0]
            if len(keys) == 1 and len(keys[0]) == 1 and isinstance(keys[0][0], str):
                self._by_field = (keys[0][0], {key[0]: readers for key, readers in table.items()})
                for key, readers in self._by_field[1].items():
                    r = readers[0]
                    if len(readers) == 1 and r.quality is None and r.value_key and r.ts_key:
                        self._simple[key] = (r.signal, r.value_key, r.ts_key)
        # when every element is read through the same value and time keys, a whole array can go in one piece
        shapes = {(value_key, ts_key) for _, value_key, ts_key in self._simple.values()}
        self._shape = shapes.pop() if len(shapes) == 1 else None
        self._signal_of = {key: signal for key, (signal, _, _) in self._simple.items()}

    def decode(self, payload: bytes, now: float, out: SampleColumns) -> list[str]:
        """Append the payload's samples to ``out``; return what was wrong with it (usually nothing)."""
        errors: list[str] = []
        if self._numbers:
            self._number(payload, now, out, errors)
        if not self._json:
            return errors
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            try:  # what orjson refuses but JSON readers accept: NaN/Infinity, UTF-16/32, huge integers
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

    def _number(self, payload: bytes, now: float, out: SampleColumns, errors: list[str]) -> None:
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
                out.add(signal, now, now, value, Quality.GOOD)
            else:
                out.add(signal, now, now, None, Quality.BAD)
                errors.append(f"{signal}: {reason}")

    def _array(self, doc: list[Any], now: float, out: SampleColumns, errors: list[str]) -> None:
        """The batched case, straight into the columns: a number and an epoch-seconds time per element.

        Elements of any other shape (and bad ones) take the general road, in their place in the order.
        """
        assert self._by_field is not None
        if self._whole(doc, now, out):
            return
        field, table = self._by_field
        simple, isfinite = self._simple, math.isfinite
        signals, times, values = out.signals, out.source_times, out.values
        run = 0  # samples appended here whose receive time and quality are still to be appended
        try:
            for element in doc:
                if type(element) is not dict:
                    continue  # matches no binding
                try:
                    key = element.get(field, _MISSING)
                    entry = simple.get(key)
                except TypeError:  # an unhashable field value matches nothing
                    continue
                if entry is not None:
                    signal, value_key, ts_key = entry
                    value = element.get(value_key, _MISSING)
                    stamp = element.get(ts_key)
                    kind = type(value)
                    if (
                        type(stamp) is float
                        and 0.0 < stamp < 1e11
                        and (kind is int or (kind is float and isfinite(value)))
                    ):
                        signals.append(signal)
                        times.append(stamp)
                        values.append(value)
                        run += 1
                        continue
                if run:
                    _complete(out, run, now)
                    run = 0
                for reader in table.get(key) or ():
                    reader.read(element, now, out, errors)
        finally:
            _complete(out, run, now)

    def _whole(self, doc: list[Any], now: float, out: SampleColumns) -> bool:
        """An array of good elements of the one shape, appended column by column; False (nothing added) if not."""
        if self._shape is None or self._by_field is None:
            return False
        value_key, ts_key = self._shape
        field = self._by_field[0]
        try:
            signals = [self._signal_of[element[field]] for element in doc]
            values = [element[value_key] for element in doc]
            stamps = [element[ts_key] for element in doc]
            if not stamps or set(map(type, stamps)) != {float} or not all(map(math.isfinite, stamps)):
                return False
            if not 0.0 < min(stamps) <= max(stamps) < 1e11:  # epoch seconds
                return False
            if not {int, float}.issuperset(map(type, values)) or not all(map(math.isfinite, values)):
                return False
        except (KeyError, TypeError, OverflowError):  # not a dict, no such key, unhashable, unknown id, huge integer
            return False
        out.signals += signals
        out.source_times += stamps
        out.receive_times += [now] * len(doc)
        out.values += values
        out.qualities += [Quality.GOOD] * len(doc)
        return True

    def _element(self, element: Any, now: float, out: SampleColumns, errors: list[str]) -> None:
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


def _complete(out: SampleColumns, run: int, now: float) -> None:
    """Fill in receive time and quality GOOD for the last ``run`` samples of the columns."""
    if run:
        out.receive_times += [now] * run
        out.qualities += [Quality.GOOD] * run


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

"""Sparkplug B topics and payloads: protobuf bytes (the generated ``sparkplug_b_pb2``) to plain values and back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from ..errors import ConnectorError
from . import sparkplug_b_pb2 as pb

__all__ = [
    "BDSEQ",
    "NAMESPACE",
    "REBIRTH",
    "DataType",
    "Metric",
    "SparkplugDecodeError",
    "SparkplugPayload",
    "SparkplugTopic",
    "decode_payload",
    "encode_payload",
    "parse_topic",
    "typed_value",
]

NAMESPACE = "spBv1.0"
REBIRTH = "Node Control/Rebirth"
BDSEQ = "bdSeq"
MetricValue = int | float | bool | str | bytes | None


class DataType(IntEnum):
    """Sparkplug B metric datatypes (the ones a metric value can carry)."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19


_SIGNED_BITS = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
_FIELD = {
    **dict.fromkeys((DataType.INT8, DataType.INT16, DataType.INT32), "int_value"),
    **dict.fromkeys((DataType.UINT8, DataType.UINT16, DataType.UINT32), "int_value"),
    **dict.fromkeys((DataType.INT64, DataType.UINT64, DataType.DATETIME), "long_value"),
    DataType.FLOAT: "float_value",
    DataType.DOUBLE: "double_value",
    DataType.BOOLEAN: "boolean_value",
    **dict.fromkeys((DataType.STRING, DataType.TEXT, DataType.UUID), "string_value"),
    **dict.fromkeys((DataType.BYTES, DataType.FILE), "bytes_value"),
}
_KINDS = frozenset({"NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA", "NCMD", "DCMD"})


class SparkplugDecodeError(ConnectorError):
    """A payload that is not a Sparkplug B protobuf (truncated, garbage)."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of a payload: the value is as carried (see ``typed_value`` for signed integers)."""

    name: str | None = None
    alias: int | None = None
    value: MetricValue = None
    datatype: int | None = None
    timestamp: int | None = None  # milliseconds since the epoch
    is_null: bool = False


@dataclass(frozen=True, slots=True)
class SparkplugPayload:
    """A decoded payload: sending time (ms), sequence number and metrics."""

    timestamp: int | None
    seq: int | None
    metrics: list[Metric]


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    """``spBv1.0/<group>/<kind>/<edge node>[/<device>]``."""

    group: str
    kind: str
    edge_node: str
    device: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.device}" if self.device is not None else ""
        return f"{NAMESPACE}/{self.group}/{self.kind}/{self.edge_node}{tail}"


def parse_topic(topic: str) -> SparkplugTopic | None:
    """The parts of a Sparkplug B topic; None for anything else (STATE, other namespaces)."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE or parts[2] not in _KINDS:
        return None
    device = parts[4] if len(parts) == 5 else None
    if (device is None) == parts[2].startswith("D"):
        return None
    return SparkplugTopic(parts[1], parts[2], parts[3], device)


def typed_value(value: MetricValue, datatype: int | None) -> MetricValue:
    """Read a carried value as its datatype says (signed integers travel as two's complement)."""
    bits = _SIGNED_BITS.get(datatype) if datatype is not None else None  # type: ignore[call-overload]
    if bits is not None and isinstance(value, int) and not isinstance(value, bool):
        value &= (1 << bits) - 1
        return value - (1 << bits) if value >> (bits - 1) else value
    return value


def decode_payload(data: bytes) -> SparkplugPayload:
    """Decode protobuf bytes; raise SparkplugDecodeError when they are not a Sparkplug B payload."""
    try:
        msg: Any = pb.Payload.FromString(data)
    except (DecodeError, ValueError) as exc:
        raise SparkplugDecodeError(f"not a Sparkplug B payload ({len(data)} bytes): {exc}") from exc
    metrics = [
        Metric(
            m.name if m.HasField("name") else None,
            m.alias if m.HasField("alias") else None,
            getattr(m, field) if (field := m.WhichOneof("value")) in _FIELDS else None,
            m.datatype if m.HasField("datatype") else None,
            m.timestamp if m.HasField("timestamp") else None,
            m.is_null,
        )
        for m in msg.metrics
    ]
    return SparkplugPayload(
        msg.timestamp if msg.HasField("timestamp") else None, msg.seq if msg.HasField("seq") else None, metrics
    )


_FIELDS = frozenset(_FIELD.values())


def encode_payload(metrics: Iterable[Metric], seq: int | None, timestamp: int) -> bytes:
    """Encode metrics (each with its datatype) into a Sparkplug B payload."""
    msg: Any = pb.Payload(timestamp=timestamp)
    if seq is not None:
        msg.seq = seq
    for metric in metrics:
        m = msg.metrics.add()
        if metric.name is not None:
            m.name = metric.name
        if metric.alias is not None:
            m.alias = metric.alias
        if metric.timestamp is not None:
            m.timestamp = metric.timestamp
        if metric.datatype is not None:
            m.datatype = metric.datatype
        if metric.value is None or metric.is_null:
            m.is_null = True
            continue
        field = _FIELD.get(DataType(metric.datatype or DataType.DOUBLE), "double_value")
        value = metric.value
        if field == "int_value":
            value = int(value) & 0xFFFFFFFF
        elif field == "long_value":
            value = int(value) & 0xFFFFFFFFFFFFFFFF
        elif field in ("float_value", "double_value"):
            value = float(value)
        setattr(m, field, value)
    return bytes(msg.SerializeToString())

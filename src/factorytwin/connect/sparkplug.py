"""Sparkplug B connector: a host application for one group of edge nodes.

It follows each edge node's session: NBIRTH/DBIRTH name the metrics, with their aliases and
datatypes; NDATA/DDATA carry values by alias (or name); sequence numbers run 0-255 and wrap. A gap
in the sequence, data for an unknown alias, or data from a node whose birth we never saw makes the
host ask for a rebirth (NCMD ``Node Control/Rebirth`` = true, at most once per ``timeout_s`` per
node). NDEATH (whose bdSeq matches the NBIRTH's) and DDEATH turn the signals of that node or device
STALE. Writes go out as DCMD (device metric) or NCMD (node metric), QoS 0, as the specification asks.
A payload that is not a Sparkplug protobuf (truncated, garbage) is counted and kept aside.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..clock import Clock, SystemClock
from ..errors import ConnectorError, WriteRejected
from ..events import Quality, Sample
from ..model import SignalInfo
from ..model.sources import SparkplugSource
from .base import SampleSink
from .mqtt import MqttStream
from .mqtt_link import Will
from .sparkplug_codec import (
    BDSEQ,
    NAMESPACE,
    REBIRTH,
    DataType,
    Metric,
    SparkplugDecodeError,
    SparkplugPayload,
    SparkplugTopic,
    decode_payload,
    encode_payload,
    parse_topic,
    typed_value,
)

__all__ = ["SparkplugConnector"]

_log = logging.getLogger(__name__)
Key = tuple[str | None, str]  # (device or None for the node itself, metric name)


@dataclass
class _Node:
    """What the host knows of one edge node's current session."""

    bd_seq: int | None = None
    next_seq: int | None = None
    online: bool = False
    aliases: dict[int, tuple[Key, int | None]] = field(default_factory=dict)
    names: dict[Key, tuple[int | None, int | None]] = field(default_factory=dict)
    rebirth_at: float = float("-inf")


class SparkplugConnector(MqttStream):
    """Follows the Sparkplug B edge nodes of one group and turns their metrics into samples."""

    def __init__(
        self,
        source_id: str,
        config: SparkplugSource,
        signals: Sequence[SignalInfo],
        sink: SampleSink,
        clock: Clock | None = None,
        dead_letters: int = 1000,
    ) -> None:
        bound = [s for s in signals if s.binding is not None and s.binding.sparkplug is not None]
        self.group = config.group_id
        self.host_id = config.host_id
        self._state_topic = f"{NAMESPACE}/STATE/{config.host_id}"
        clock = clock or SystemClock()
        self._born_ms = int(clock.now().timestamp() * 1000)  # the STATE birth and will share it
        will = Will(self._state_topic, self._state(False), 1, True) if config.host_id else None
        super().__init__(source_id, config, bound, sink, clock, will, dead_letters)
        self.timeout = config.timeout_s
        self.paths: dict[tuple[str, str | None, str], str] = {}
        for sig in bound:
            sp = sig.binding.sparkplug if sig.binding is not None else None
            if sp is not None:
                self.paths[(sp.edge_node, sp.device, sp.metric)] = sig.path
        self.nodes: dict[str, _Node] = {}
        self.rebirths_requested = 0
        self.filters = [f"{NAMESPACE}/{self.group}/#"]

    def _state(self, online: bool) -> bytes:
        return json.dumps({"online": online, "timestamp": self._born_ms}).encode()

    async def _connected(self) -> None:
        if self.host_id:
            self.link.publish(self._state_topic, self._state(True), 1, True)

    async def _goodbye(self) -> None:
        if self.host_id:  # a deliberate disconnect sends no will: say offline first
            info = self.link.publish(self._state_topic, self._state(False), 1, True)
            await self.link.published(info, "STATE offline")

    async def write(self, signal: SignalInfo, value: float) -> None:
        """Send the value as a DCMD (device metric) or NCMD (node metric) to the edge node."""
        sp = signal.binding.sparkplug if signal.binding is not None else None
        if sp is None:
            raise WriteRejected(f"{signal.path} is not bound over Sparkplug B", "unknown")
        node = self.nodes.get(sp.edge_node)
        if node is None or not node.online or not self.link.connected:
            raise ConnectorError(f"source {self.health.source}: edge node {sp.edge_node} is not online")
        alias, datatype = node.names.get((sp.device, sp.metric), (None, None))
        datatype = datatype or (DataType.INT64 if signal.integer else DataType.DOUBLE)
        number = int(value) if signal.integer else float(value)
        metric = Metric(sp.metric, alias, number, datatype, int(self.now() * 1000))
        kind = "DCMD" if sp.device is not None else "NCMD"
        topic = SparkplugTopic(self.group, kind, sp.edge_node, sp.device)
        info = self.link.publish(str(topic), encode_payload([metric], None, int(self.now() * 1000)), 0, False)
        await self.link.published(info, f"source {self.health.source}: write to {signal.path}")

    def _on_message(self, topic: str, payload: bytes) -> None:
        now = self.now()
        self.health.messages += 1
        self.health.last_seen = now
        where = parse_topic(topic)
        if where is None or where.group != self.group or where.kind in ("NCMD", "DCMD"):
            return
        try:
            decoded = decode_payload(payload)
        except SparkplugDecodeError as exc:
            self.reject(topic, payload, [str(exc)], now)
            return
        errors: list[str] = []
        try:
            self._handle(where, decoded, now, errors)
        except Exception as exc:  # a handler bug must not stop the connection
            errors.append(f"handler failed: {type(exc).__name__}: {exc}")
        if errors:
            self.reject(topic, payload, errors, now)

    def _handle(self, where: SparkplugTopic, payload: SparkplugPayload, now: float, errors: list[str]) -> None:
        name, kind = where.edge_node, where.kind
        if kind == "NBIRTH":
            bd_seq = next((m.value for m in payload.metrics if m.name == BDSEQ), None)
            born = self.nodes[name] = _Node(bd_seq=_int(bd_seq), online=True)
            born.next_seq = ((payload.seq or 0) + 1) % 256
            self._birth(where, born, payload, now, errors)
            return
        node = self.nodes.get(name)
        if kind == "NDEATH":
            bd_seq = next((m.value for m in payload.metrics if m.name == BDSEQ), None)
            if node is not None and node.online and (node.bd_seq is None or _int(bd_seq) == node.bd_seq):
                node.online = False
                self._stale_where(name, None, now, whole_node=True)
            return
        if node is None or not node.online:  # normal for a host that joins late: not an error
            self._rebirth(name, node, now, None, f"{kind} from edge node {name} before its NBIRTH")
            return
        self._check_seq(name, node, payload.seq, now, errors)
        if kind == "DBIRTH":
            self._birth(where, node, payload, now, errors)
        elif kind == "DDEATH":
            self._stale_where(name, where.device, now, whole_node=False)
        else:  # NDATA, DDATA
            self._data(where, node, payload, now, errors)

    def _check_seq(self, name: str, node: _Node, seq: int | None, now: float, errors: list[str]) -> None:
        if seq is None:
            return
        if node.next_seq is not None and seq != node.next_seq:
            self._rebirth(
                name, node, now, errors, f"sequence gap at edge node {name}: expected {node.next_seq}, got {seq}"
            )
        node.next_seq = (seq + 1) % 256

    def _birth(
        self, where: SparkplugTopic, node: _Node, payload: SparkplugPayload, now: float, errors: list[str]
    ) -> None:
        for m in payload.metrics:
            if m.name is None or m.name in (BDSEQ, REBIRTH):
                continue
            key = (where.device, m.name)
            node.names[key] = (m.alias, m.datatype)
            if m.alias is not None:
                node.aliases[m.alias] = (key, m.datatype)
            self._sample(where.edge_node, key, m, m.datatype, payload, now, errors)

    def _data(
        self, where: SparkplugTopic, node: _Node, payload: SparkplugPayload, now: float, errors: list[str]
    ) -> None:
        for m in payload.metrics:
            if m.alias is not None and m.alias in node.aliases:
                key, datatype = node.aliases[m.alias]
            elif m.name is not None and (where.device, m.name) in node.names:
                key, datatype = (where.device, m.name), node.names[(where.device, m.name)][1]
            else:
                what = f"alias {m.alias}" if m.alias is not None else f"metric {m.name!r}"
                self._rebirth(where.edge_node, node, now, errors, f"unknown {what} from edge node {where.edge_node}")
                continue
            self._sample(where.edge_node, key, m, m.datatype or datatype, payload, now, errors)

    def _sample(
        self,
        name: str,
        key: Key,
        m: Metric,
        datatype: int | None,
        payload: SparkplugPayload,
        now: float,
        errors: list[str],
    ) -> None:
        path = self.paths.get((name, key[0], key[1]))
        if path is None:
            return
        stamp = m.timestamp if m.timestamp is not None else payload.timestamp
        when = stamp / 1000 if stamp is not None else now
        value = typed_value(m.value, datatype)
        if isinstance(value, bool):
            value = int(value)
        if m.is_null or not isinstance(value, int | float):
            self._pending.append(Sample(path, when, now, None, Quality.BAD))
            if not m.is_null:
                errors.append(f"{path}: metric {key[1]!r} carries {type(value).__name__}, not a number")
            return
        self._pending.append(Sample(path, when, now, value, Quality.GOOD))

    def _stale_where(self, name: str, device: str | None, now: float, whole_node: bool) -> None:
        for (node, dev, _metric), path in self.paths.items():
            if node == name and (whole_node or dev == device):
                self._pending.append(Sample(path, now, now, None, Quality.STALE))

    def _rebirth(self, name: str, node: _Node | None, now: float, errors: list[str] | None, why: str) -> None:
        """Count the problem (when it is one) and ask the edge node to publish its births again (rate-limited)."""
        if errors is not None:
            errors.append(why)
        if node is None:
            node = self.nodes[name] = _Node()
        if now - node.rebirth_at < self.timeout:
            return
        node.rebirth_at = now
        self.rebirths_requested += 1
        stamp = int(now * 1000)
        metric = Metric(REBIRTH, None, True, DataType.BOOLEAN, stamp)
        topic = SparkplugTopic(self.group, "NCMD", name)
        _log.info("source %s: asking edge node %s for a rebirth (%s)", self.health.source, name, why)
        self.link.publish(str(topic), encode_payload([metric], None, stamp), 0, False)


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

"""The virtual plant as Sparkplug B edge nodes: one MQTT client per edge node of a Sparkplug source.

On every connection a node publishes NBIRTH (seq 0, ``bdSeq``, ``Node Control/Rebirth``, its own
metrics) and a DBIRTH per device, every metric with an alias (1, 2, ...) and a datatype (Int64 for
counters and states, Double otherwise). Changes go out as NDATA/DDATA by alias, with the sequence
number wrapping at 256. The NDEATH (with the session's bdSeq) is the MQTT will, and is published
before a deliberate disconnect. An NCMD ``Node Control/Rebirth`` = true makes the node publish its
births again; other NCMD/DCMD metrics are setpoint writes, applied through the plant's write handler.
Sparkplug has no reply to a command: a refused write is logged, and the next data shows the value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ..clock import Clock, SystemClock
from ..connect.mqtt_link import DEFAULT_BROKER, MqttLink, Will
from ..connect.sparkplug_codec import (
    BDSEQ,
    REBIRTH,
    DataType,
    Metric,
    SparkplugDecodeError,
    SparkplugTopic,
    decode_payload,
    encode_payload,
    parse_topic,
)
from ..errors import WriteRejected
from ..events import Value
from ..model import PlantIndex, SignalInfo
from ..model.sources import SparkplugSource
from .mqtt_publisher import KeptLink

__all__ = ["PlantSparkplugPublisher", "SparkplugEdgeNode"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Served:
    """One signal as a metric of an edge node."""

    path: str
    device: str | None
    metric: str
    alias: int
    datatype: DataType


class SparkplugEdgeNode:
    """One Sparkplug B edge node of the virtual plant (its own MQTT client and session)."""

    def __init__(
        self,
        group: str,
        name: str,
        signals: list[SignalInfo],
        config: SparkplugSource,
        on_write: Callable[[str, float], float],
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.group = group
        self.name = name
        self.served: dict[str, _Served] = {}
        for alias, sig in enumerate(signals, start=1):
            sp = sig.binding.sparkplug if sig.binding is not None else None
            assert sp is not None
            datatype = DataType.INT64 if sig.integer else DataType.DOUBLE
            self.served[sig.path] = _Served(sig.path, sp.device, sp.metric, alias, datatype)
        self._by_alias = {s.alias: s for s in self.served.values()}
        self._by_name = {(s.device, s.metric): s for s in self.served.values()}
        self.devices = sorted({s.device for s in self.served.values() if s.device is not None})
        self.values: dict[str, Value] = {}
        self.bd_seq = -1
        self.seq = 0
        self.births = 0
        self._on_write = on_write
        self.link = MqttLink(config, f"factorytwin-plant-{group}-{name}", self._on_message)
        self._kept = KeptLink(self.link, config, self._born, self._next_session)

    def topic(self, kind: str, device: str | None = None) -> str:
        """This node's topic for a message kind."""
        return str(SparkplugTopic(self.group, kind, self.name, device))

    async def start(self, initial: Mapping[str, Value]) -> None:
        """Connect (with NDEATH as the will) and publish the births."""
        self.values.update({p: v for p, v in initial.items() if p in self.served})
        await self._kept.start()

    async def stop(self) -> None:
        """Publish NDEATH and disconnect."""
        if self.link.connected:
            self.link.publish(self.topic("NDEATH"), self._death(), 1, False)
        await self._kept.stop()

    def publish(self, values: Mapping[str, Value], when: datetime) -> None:
        """NDATA for changed node metrics, DDATA per device with changed metrics."""
        stamp = _ms(when)
        changed: dict[str | None, list[Metric]] = {}
        for path, value in values.items():
            served = self.served.get(path)
            if served is None:
                continue
            self.values[path] = value
            changed.setdefault(served.device, []).append(Metric(None, served.alias, value, served.datatype, stamp))
        if not self.link.connected:
            return  # the births of the next session carry the latest values
        for device, metrics in changed.items():
            kind = "DDATA" if device is not None else "NDATA"
            self.link.publish(self.topic(kind, device), encode_payload(metrics, self._seq(), stamp), 0, False)

    def _next_session(self) -> None:
        self.bd_seq = (self.bd_seq + 1) % 256
        self.link.set_will(Will(self.topic("NDEATH"), self._death(), 1, False))

    def _death(self) -> bytes:
        return encode_payload([Metric(BDSEQ, None, self.bd_seq, DataType.INT64)], None, _ms(self.clock.now()))

    async def _born(self) -> None:
        await self.link.subscribe([self.topic("NCMD"), f"{self.topic('DCMD')}/+"], 1)
        self._births()

    def _births(self) -> None:
        self.births += 1
        stamp = _ms(self.clock.now())
        self.seq = 0
        node_metrics = [
            Metric(BDSEQ, None, self.bd_seq, DataType.INT64, stamp),
            Metric(REBIRTH, None, False, DataType.BOOLEAN, stamp),
            *self._metrics(None, stamp),
        ]
        self.link.publish(self.topic("NBIRTH"), encode_payload(node_metrics, self._seq(), stamp), 0, False)
        for device in self.devices:
            payload = encode_payload(self._metrics(device, stamp), self._seq(), stamp)
            self.link.publish(self.topic("DBIRTH", device), payload, 0, False)

    def _metrics(self, device: str | None, stamp: int) -> list[Metric]:
        return [
            Metric(s.metric, s.alias, self.values.get(s.path), s.datatype, stamp)
            for s in self.served.values()
            if s.device == device
        ]

    def _seq(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % 256
        return seq

    def _on_message(self, topic: str, payload: bytes) -> None:
        where = parse_topic(topic)
        if where is None or where.edge_node != self.name or where.kind not in ("NCMD", "DCMD"):
            return
        try:
            metrics = decode_payload(payload).metrics
        except SparkplugDecodeError as exc:
            _log.info("edge node %s ignored a command that is not Sparkplug B: %s", self.name, exc)
            return
        for m in metrics:
            if m.name == REBIRTH and where.kind == "NCMD":
                if m.value is True:
                    _log.info("edge node %s: rebirth requested", self.name)
                    self._births()
                continue
            served = self._by_alias.get(m.alias) if m.alias is not None else None
            served = served or self._by_name.get((where.device, m.name or ""))
            if served is None or served.device != where.device:
                _log.info("edge node %s: command for unknown metric %s", self.name, m.name or m.alias)
                continue
            self._write(served, m.value)

    def _write(self, served: _Served, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _log.info("edge node %s refused a write of %r to %s: not a number", self.name, value, served.metric)
            return
        try:
            self._on_write(served.path, float(value))
        except WriteRejected as exc:
            _log.info("edge node %s refused a write to %s: %s", self.name, served.metric, exc)


class PlantSparkplugPublisher:
    """Serves the signals of one Sparkplug source of the plant model as its edge nodes."""

    def __init__(
        self,
        index: PlantIndex,
        source: str,
        config: SparkplugSource,
        on_write: Callable[[str, float], float],
        clock: Clock | None = None,
    ) -> None:
        self.source = source
        self.config = config
        by_node: dict[str, list[SignalInfo]] = {}
        for sig in index.bound_to(source):
            sp = sig.binding.sparkplug if sig.binding is not None else None
            if sp is not None:
                by_node.setdefault(sp.edge_node, []).append(sig)
        self.nodes = {
            name: SparkplugEdgeNode(config.group_id, name, signals, config, on_write, clock)
            for name, signals in sorted(by_node.items())
        }

    @property
    def address(self) -> str:
        """The broker it publishes to."""
        return self.config.broker or DEFAULT_BROKER

    async def start(self, initial: Mapping[str, Value]) -> None:
        """Bring every edge node online (births included)."""
        for node in self.nodes.values():
            await node.start(initial)

    async def stop(self) -> None:
        """Take every edge node offline (NDEATH)."""
        for node in self.nodes.values():
            await node.stop()

    async def publish(self, values: Mapping[str, Value], when: datetime) -> None:
        """Publish the changed metrics of every edge node."""
        for node in self.nodes.values():
            node.publish(values, when)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)

"""One place that knows which connector serves which kind of source."""

from __future__ import annotations

from collections.abc import Sequence

from ..clock import Clock
from ..errors import ConnectorError
from ..model import SignalInfo
from ..model.sources import ModbusSource, MqttSource, OpcUaSource, Source, SparkplugSource
from .base import Connector, SampleSink
from .modbus import ModbusConnector
from .mqtt import MqttConnector
from .opcua import OpcUaConnector
from .sparkplug import SparkplugConnector

__all__ = ["make_connector"]


def make_connector(
    source_id: str, source: Source, signals: Sequence[SignalInfo], sink: SampleSink, clock: Clock
) -> Connector:
    """Build the connector for a source of the model."""
    if isinstance(source, OpcUaSource):
        return OpcUaConnector(source_id, source, signals, sink, clock)
    if isinstance(source, ModbusSource):
        return ModbusConnector(source_id, source, signals, sink, clock)
    if isinstance(source, MqttSource):
        return MqttConnector(source_id, source, signals, sink, clock)
    if isinstance(source, SparkplugSource):
        return SparkplugConnector(source_id, source, signals, sink, clock)
    raise ConnectorError(f"source '{source_id}': no connector for kind '{source.kind}'")

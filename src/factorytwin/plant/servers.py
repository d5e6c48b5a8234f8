"""The protocol servers of the virtual plant: one per served source, chosen by the source's kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from ..clock import Clock
from ..errors import FactoryTwinError
from ..events import Value
from ..model import PlantIndex
from ..model.sources import ModbusSource, MqttSource, OpcUaSource, Source, SparkplugSource
from .modbus_server import PlantModbusServer
from .mqtt_publisher import PlantMqttPublisher
from .opcua_server import PlantOpcUaServer
from .sparkplug_publisher import PlantSparkplugPublisher

__all__ = ["PlantServer", "WriteHandler", "make_server"]

WriteHandler = Callable[[str, float], float]


class PlantServer(Protocol):
    """What the virtual plant needs of a protocol server."""

    source: str

    @property
    def address(self) -> str:
        """Where clients reach it."""
        ...

    async def start(self, initial: Mapping[str, Value]) -> None:
        """Start serving, beginning with these values."""
        ...

    async def stop(self) -> None:
        """Stop serving and drop every client."""
        ...

    async def publish(self, values: Mapping[str, Value], when: datetime) -> None:
        """Serve new values, stamped with their source time."""
        ...


def make_server(
    index: PlantIndex, source_id: str, source: Source, on_write: WriteHandler, clock: Clock | None = None
) -> PlantServer:
    """Build the server that impersonates one source of the model, stamping values with ``clock``."""
    if isinstance(source, OpcUaSource):
        return PlantOpcUaServer(index, source_id, source, on_write, clock)
    if isinstance(source, ModbusSource):
        return PlantModbusServer(index, source_id, source, on_write)
    if isinstance(source, MqttSource):
        return PlantMqttPublisher(index, source_id, source, on_write, clock)
    if isinstance(source, SparkplugSource):
        return PlantSparkplugPublisher(index, source_id, source, on_write, clock)
    raise FactoryTwinError(f"the virtual plant cannot serve sources of kind '{source.kind}'")

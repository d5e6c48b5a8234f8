"""Device communication: protocol connectors that turn source data into samples."""

from .base import Backoff, Connector, SampleSink, SourceHealth
from .factory import make_connector
from .modbus import ModbusConnector
from .opcua import OpcUaConnector

__all__ = ["Backoff", "Connector", "ModbusConnector", "OpcUaConnector", "SampleSink", "SourceHealth", "make_connector"]

"""Device communication: protocol connectors that turn source data into samples."""

from .base import Backoff, Connector, SampleSink, SourceHealth
from .opcua import OpcUaConnector

__all__ = ["Backoff", "Connector", "OpcUaConnector", "SampleSink", "SourceHealth"]

"""Device communication: protocol connectors that turn source data into samples."""

from .base import Backoff, Connector, SampleSink, SourceHealth
from .factory import make_connector
from .opcua import OpcUaConnector

__all__ = ["Backoff", "Connector", "OpcUaConnector", "SampleSink", "SourceHealth", "make_connector"]

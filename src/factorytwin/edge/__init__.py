"""Edge processing between a connector and the twin: filters per signal, and store-and-forward.

connector -> EdgeFilter (unit, deadband, swinging door, publish intervals) -> Forwarder -> twin.ingest
"""

from .codec import decode_batch, encode_batch
from .filters import EdgeConfig, SignalEdge, SwingingDoor
from .forward import Counters, Forwarder, SpoolStats
from .pipeline import EdgeFilter, EdgeStats, Sink
from .spool import Chunk, SpoolError, SpoolStore

__all__ = [
    "Chunk",
    "Counters",
    "EdgeConfig",
    "EdgeFilter",
    "EdgeStats",
    "Forwarder",
    "Sink",
    "SignalEdge",
    "SpoolError",
    "SpoolStats",
    "SpoolStore",
    "SwingingDoor",
    "decode_batch",
    "encode_batch",
]

"""Free loopback addresses: where the demo (and the tests) put every source the virtual plant serves."""

from __future__ import annotations

import socket

from .model import PlantModel

__all__ = ["free_port", "local_sources"]


def local_sources(model: PlantModel, broker: str | None) -> dict[str, dict[str, object]]:
    """Updates that put every source the virtual plant serves on a free loopback address."""
    updates: dict[str, dict[str, object]] = {}
    for sid in model.virtual_plant.serves:
        source = model.sources[sid]
        if source.kind == "opcua":
            updates[sid] = {"endpoint": f"opc.tcp://127.0.0.1:{free_port()}/factorytwin"}
        elif source.kind == "modbus":
            updates[sid] = {"host": "127.0.0.1", "port": free_port()}
        elif source.broker is None and broker is not None:
            updates[sid] = {"broker": broker}
    return updates


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

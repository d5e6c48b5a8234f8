"""The embedded MQTT broker (amqtt): the demo and small plants run with no broker to install.

``EmbeddedBroker`` is an async context manager. ``port=0`` picks a free loopback port; ``url`` then
tells where it listens, e.g. to relocate the model's MQTT and Sparkplug sources onto it::

    async with EmbeddedBroker(port=0) as broker:
        model = relocate(model, {sid: {"broker": broker.url} for sid in mqtt_sources})

Sources that name no broker connect to ``mqtt://127.0.0.1:1883``, the embedded broker's default.
It keeps sessions and retained messages in memory only: for a plant, use Mosquitto, EMQX or HiveMQ.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from amqtt.broker import Broker  # type: ignore[import-untyped]

from .errors import FactoryTwinError
from .lifecycle import Service

__all__ = ["EmbeddedBroker"]

_log = logging.getLogger(__name__)


class EmbeddedBroker(Service):
    """An MQTT 3.1.1 broker running inside this process (anonymous access, TCP, in-memory sessions)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port
        self._broker: Any = None

    @property
    def url(self) -> str:
        """Where clients reach it, e.g. ``mqtt://127.0.0.1:1883``."""
        return f"mqtt://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start listening (on a free port first chosen here when ``port`` is 0)."""
        if self.port == 0:
            with socket.socket() as sock:
                sock.bind((self.host, 0))
                self.port = int(sock.getsockname()[1])
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        broker = Broker(config)
        try:
            await broker.start()
        except Exception as exc:  # amqtt wraps bind errors and more in BrokerError
            raise FactoryTwinError(f"cannot start the embedded MQTT broker on {self.url}: {exc}") from exc
        self._broker = broker
        _log.info("embedded MQTT broker listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and drop every client."""
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()

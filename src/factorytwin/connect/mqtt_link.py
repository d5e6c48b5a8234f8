"""One MQTT client connection driven by the asyncio event loop: paho-mqtt's protocol code, our I/O.

There is no network thread: the event loop watches the socket, a readable socket is drained in bursts
of packets (each payload handed to ``on_message`` at once), ``on_burst`` runs after each burst, and
``pause_reading`` stops reading when the consumer falls behind (TCP backpressure; the broker queues
for a persistent session). One paho client lives as long as the link, so QoS 1 messages it has not
seen acknowledged are sent again after a reconnect, and publications made while disconnected wait
in a bounded backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ..errors import ConnectorError
from ..model.sources import MqttSource, MqttTls, SparkplugSource

__all__ = ["DEFAULT_BROKER", "MqttLink", "Will", "broker_address"]

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"  # where the embedded broker listens unless the source is relocated
_BURST = 500  # packets read per readable event at most
_PUBACK = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for a client that vanishes without saying goodbye."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


def broker_address(url: str | None) -> tuple[str, int, bool]:
    """Host, port and TLS flag of ``mqtt://host:port`` or ``mqtts://host:port`` (None: the embedded broker)."""
    url = url or DEFAULT_BROKER
    scheme, _, rest = url.partition("://")
    host, _, port = rest.rstrip("/").rpartition(":") if ":" in rest else (rest.rstrip("/"), "", "")
    secure = scheme == "mqtts"
    return host, int(port) if port else (8883 if secure else 1883), secure


def _tls_context(tls: MqttTls | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=tls.ca if tls else None)
    if tls and tls.certificate:
        ctx.load_cert_chain(tls.certificate, tls.key)
    if tls and tls.insecure:
        ctx.check_hostname = False
    return ctx


class MqttLink:
    """One MQTT client connection run by the asyncio event loop (paho-mqtt's protocol code, our I/O)."""

    def __init__(
        self,
        config: MqttSource | SparkplugSource,
        client_id: str,
        on_message: Callable[[str, bytes], None],
        will: Will | None = None,
        on_burst: Callable[[], None] | None = None,
        backlog: int = 100_000,
    ) -> None:
        self.url = config.broker or DEFAULT_BROKER
        self.host, self.port, secure = broker_address(config.broker)
        self.timeout = config.timeout_s
        self.keepalive = config.keepalive_s
        self._on_message = on_message
        self._on_burst = on_burst
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=config.clean_session)
        client.connect_timeout = config.timeout_s
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        if config.username is not None:
            client.username_pw_set(config.username, config.password)
        if secure or config.tls is not None:
            self._tls_args: tuple[MqttTls | None, bool] | None = (config.tls, bool(config.tls and config.tls.insecure))
        else:
            self._tls_args = None
        if will is not None:
            client.will_set(will.topic, will.payload, will.qos, will.retain)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_paho_message
        client.manual_ack_set(True)  # acknowledged after decoding, a burst at a time (see _send_acks)
        self._acks: list[tuple[int, int]] = []
        self._cut = False
        self._client = client
        self._sock: Any = None
        self._writing = False
        self._reading = False
        self._misc: asyncio.Task[None] | None = None
        self._connack: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[str] | None = None
        self._waiters: dict[int, asyncio.Future[Any]] = {}
        self._backlog: deque[tuple[str, bytes, int, bool]] = deque(maxlen=backlog)
        self.connected = False
        self.started = False
        self.dropped = 0  # backlog overflows while disconnected

    async def connect(self) -> None:
        """Connect (TCP, TLS, CONNECT/CONNACK); raise ConnectorError saying clearly what failed."""
        loop = asyncio.get_running_loop()
        self._connack, self._closed = loop.create_future(), loop.create_future()
        self._acks = []  # packet ids of a lost connection mean nothing on the next one
        client = self._client
        try:
            if self._tls_args is not None and not self.started:
                client.tls_set_context(_tls_context(self._tls_args[0]))
                client.tls_insecure_set(self._tls_args[1])
            if not self.started:
                client.connect_async(self.host, self.port, self.keepalive)
            self.started = True
            await loop.run_in_executor(None, client.reconnect)
        except ssl.SSLCertVerificationError as exc:
            raise ConnectorError(
                f"TLS handshake with {self.host}:{self.port} failed: the broker's certificate was refused "
                f"({exc.verify_message or exc.reason})"
            ) from exc
        except ssl.SSLError as exc:
            raise ConnectorError(f"TLS handshake with {self.host}:{self.port} failed: {exc}") from exc
        except OSError as exc:
            raise ConnectorError(f"cannot reach the broker at {self.url}: {exc}") from exc
        self._sock = client.socket()
        self.resume_reading()
        self._flush_writes()
        self._misc = loop.create_task(self._misc_loop(), name=f"mqtt-misc-{self.url}")
        try:
            await asyncio.wait_for(asyncio.shield(self._connack), self.timeout)
        except TimeoutError:
            self.close()
            raise ConnectorError(f"the broker at {self.url} did not answer CONNECT within {self.timeout} s") from None
        except ConnectorError:
            self.close()
            raise
        self.connected = True
        while self._backlog:
            self.publish(*self._backlog.popleft())

    def set_will(self, will: Will) -> None:
        """Change the will sent with the next CONNECT (e.g. a Sparkplug NDEATH with a new bdSeq)."""
        self._client.will_set(will.topic, will.payload, will.qos, will.retain)

    async def wait_closed(self) -> str:
        """Wait until the connection is lost; return why."""
        assert self._closed is not None
        return await asyncio.shield(self._closed)

    async def subscribe(self, filters: Sequence[str], qos: int) -> None:
        """Subscribe to topic filters and wait for the broker's SUBACK."""
        rc, mid = self._client.subscribe([(f, qos) for f in filters])
        if rc != paho.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectorError(f"cannot subscribe at {self.url}: {paho.error_string(rc)}")
        codes = await self._wait(mid, "SUBACK")
        refused = [f for f, code in zip(filters, codes, strict=False) if code.is_failure]
        if refused:
            raise ConnectorError(f"the broker at {self.url} refused the subscription to {refused}")

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> paho.MQTTMessageInfo | None:
        """Publish; while disconnected, QoS 1/2 messages wait in a bounded backlog (returns None; overflow counted)."""
        if not self.connected:
            if qos > 0:
                if len(self._backlog) == self._backlog.maxlen:
                    self.dropped += 1  # the oldest waiting message makes room
                self._backlog.append((topic, payload, qos, retain))
            return None
        info = self._client.publish(topic, payload, qos, retain)
        self._flush_writes()
        return info

    async def published(self, info: paho.MQTTMessageInfo | None, what: str) -> None:
        """Wait until the broker acknowledged a publication (PUBACK for QoS 1)."""
        if info is None or info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise ConnectorError(f"{what}: not connected to the broker at {self.url}")
        if not info.is_published():
            await self._wait(info.mid, "PUBACK")

    def end_burst(self) -> None:
        """Stop the current read burst after this message (its samples go downstream; reading goes on)."""
        self._cut = True

    def pause_reading(self) -> None:
        """Stop reading the socket (the broker queues); used when the sink falls behind."""
        if self._reading and self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock)
        self._reading = False

    def resume_reading(self) -> None:
        """Read the socket again, starting with what is already buffered."""
        if not self._reading and self._sock is not None:
            loop = asyncio.get_running_loop()
            loop.add_reader(self._sock, self._on_readable)
            loop.call_soon(self._on_readable)
            self._reading = True

    async def disconnect(self) -> None:
        """Say goodbye (DISCONNECT: the broker does not publish the will) and close."""
        if self.connected:
            self._detach()
            self._client.disconnect()
        self.close()

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a crash would (the broker publishes the will)."""
        sock = self._sock
        self._detach()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._lost("aborted")

    def close(self) -> None:
        """Stop using the socket; the paho client (and its unacknowledged messages) is kept for a reconnect."""
        sock = self._sock
        self._detach()
        self._sock = None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self._lost("closed")

    # --- paho glue -------------------------------------------------------------------------------

    def _detach(self) -> None:
        loop = asyncio.get_running_loop()
        if self._sock is not None:
            if self._reading:
                loop.remove_reader(self._sock)
            if self._writing:
                loop.remove_writer(self._sock)
        self._reading = self._writing = False
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None

    def _lost(self, reason: str) -> None:
        self.connected = False
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(reason)
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(ConnectorError(f"connection to {self.url} lost before CONNACK: {reason}"))
            self._connack.exception()  # retrieved here: connect() may be gone already
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(ConnectorError(f"connection to {self.url} lost: {reason}"))
                fut.exception()
        self._waiters.clear()

    def _on_readable(self) -> None:
        client = self._client
        self._cut = False
        for _ in range(_BURST):
            if not self._reading:
                return
            if self._cut:
                break
            rc = client.loop_read()
            if rc != paho.MQTT_ERR_SUCCESS:
                self._detach()
                self._lost(paho.error_string(rc))
                return
            if not self._more():
                break
        self._send_acks()
        self._flush_writes()
        if self._on_burst is not None:
            self._on_burst()

    def _send_acks(self) -> None:
        """Acknowledge the messages of a burst: QoS 1 PUBACKs in one send() where possible.

        paho writes one packet per send() call, and on loopback a send costs about as much as decoding a
        message; a PUBACK (MQTT 3.1.1: 0x40, 2, packet id) is four bytes. They are sent raw only when
        paho has nothing half-written on a plain socket; otherwise paho acknowledges one by one.
        """
        acks, self._acks = self._acks, []
        if not acks:
            return
        sock = self._sock
        if self._client.want_write() or isinstance(sock, ssl.SSLSocket) or any(qos != 1 for _, qos in acks):
            for mid, qos in acks:
                self._client.ack(mid, qos)
            return
        data = b"".join(_PUBACK.pack(0x40, 2, mid) for mid, _ in acks)
        try:
            sent = sock.send(data)
            if sent < len(data):  # rare: the send buffer is full; finish before paho writes again
                sock.settimeout(self.timeout)
                try:
                    sock.sendall(data[sent:])
                finally:
                    sock.setblocking(False)
        except OSError as exc:
            self._detach()
            self._lost(f"cannot acknowledge: {exc}")

    def _more(self) -> bool:
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket):
            return sock.pending() > 0
        try:
            sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True  # the next read reports the error
        return True

    def _flush_writes(self) -> None:
        if not self._writing and self._sock is not None and self._client.want_write():
            asyncio.get_running_loop().add_writer(self._sock, self._on_writable)
            self._writing = True

    def _on_writable(self) -> None:
        rc = self._client.loop_write()
        if rc != paho.MQTT_ERR_SUCCESS:
            self._detach()
            self._lost(paho.error_string(rc))
        elif not self._client.want_write() and self._writing:
            asyncio.get_running_loop().remove_writer(self._sock)
            self._writing = False

    async def _misc_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._client.loop_misc() != paho.MQTT_ERR_SUCCESS:
                self._detach()
                self._lost("keepalive timed out")
                return
            self._flush_writes()

    async def _wait(self, mid: int, what: str) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[mid] = fut
        try:
            return await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            raise ConnectorError(f"no {what} from the broker at {self.url} within {self.timeout} s") from None
        finally:
            self._waiters.pop(mid, None)

    def _on_connect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if self._connack is None or self._connack.done():
            return
        if reason.is_failure:
            self._connack.set_exception(ConnectorError(f"the broker at {self.url} refused the connection: {reason}"))
        else:
            self._connack.set_result(None)

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        self._detach()
        self._lost(str(reason))

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: Any, _props: Any = None) -> None:
        fut = self._waiters.get(mid)
        if fut is not None and not fut.done():
            fut.set_result(codes)

    def _on_publish(self, _c: Any, _u: Any, mid: int, _reason: Any, _props: Any = None) -> None:
        fut = self._waiters.get(mid)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _on_paho_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        if message.qos:
            self._acks.append((message.mid, message.qos))
        try:
            topic = message.topic
        except UnicodeDecodeError:
            return
        self._on_message(topic, cast(bytes, message.payload))

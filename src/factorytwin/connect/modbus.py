"""Modbus TCP connector (pymodbus): polls grouped reads, reconnects with backoff, writes setpoints.

Every ``poll_interval_s`` the connector runs the read plan of ``modbus_codec.plan`` (contiguous
addresses merged into as few requests as possible) and passes on only what changed since the last
poll, plus every value on the first poll after a (re)connect. An exception response turns the
signals of that one request BAD; a timeout or a lost connection turns every signal of the device
STALE once and reconnects with exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from ..clock import Clock, SystemClock
from ..errors import ConnectorError, WriteRejected
from ..events import Quality, Sample, Value
from ..model import SignalInfo
from ..model.sources import ModbusBinding, ModbusSource
from .base import Backoff, SampleSink, SourceHealth, StaleMarker
from .modbus_codec import BIT_TABLES, ReadRequest, bit_mask, decode, encode, merge, plan, width

__all__ = ["EXCEPTION_NAMES", "ModbusConnector"]

_log = logging.getLogger(__name__)
_NETWORK_ERRORS = (OSError, ConnectionError, asyncio.TimeoutError, ModbusException)
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
_WRITE_REASONS = {1: "read_only", 2: "read_only", 3: "limits"}


class ModbusConnector:
    """Polls the registers and bits of one Modbus TCP device and feeds samples to a sink."""

    def __init__(
        self,
        source_id: str,
        config: ModbusSource,
        signals: Sequence[SignalInfo],
        sink: SampleSink,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.signals = [s for s in signals if s.binding is not None and s.binding.modbus is not None]
        self._bindings: list[ModbusBinding] = [_binding(s) for s in self.signals]
        self.plan: list[ReadRequest] = plan(self._bindings, config.unit_id, config.max_gap)
        self.health = SourceHealth(source_id, config.address)
        self.polls = 0
        self.requests = 0
        self.overruns = 0
        self._sink = sink
        self._clock = clock or SystemClock()
        self._client: AsyncModbusTcpClient | None = None
        self._last: dict[str, tuple[Value, Quality]] = {}
        self._refused: set[ReadRequest] = set()
        self._stale = StaleMarker([s.path for s in self.signals], sink, self._clock)
        self._backoff = Backoff(self.health, config.reconnect_min_s, config.reconnect_max_s, _log)

    async def run(self) -> None:
        """Connect and poll until cancelled; on a timeout or loss mark signals stale and reconnect."""
        while True:
            try:
                await self._session()
            except _NETWORK_ERRORS as exc:
                delay = self._backoff.failed(exc)
            else:  # polling never ends on its own; be safe if it does
                delay = self._backoff.failed(ConnectionError("connection lost"))
            await self._stale.mark()
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        cfg = self.config
        client = AsyncModbusTcpClient(
            cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0, reconnect_delay=0, name=self.health.source
        )
        try:
            if not await client.connect():
                raise ConnectionRefusedError(f"cannot connect to {cfg.host}:{cfg.port}")
            self._last.clear()
            self._refused.clear()
            self._client = client
            await self._poll_forever(client)
        finally:
            self._client = None
            client.close()

    async def _poll_forever(self, client: AsyncModbusTcpClient) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.poll_interval_s
        due = loop.time()
        while True:
            await self.poll(client)
            if self._backoff.failing or not self.health.connected:
                self._backoff.connected()  # after the first complete poll: the device answers
                self._stale.reset()
            due += interval
            now = loop.time()
            if now > due:
                if self.overruns == 0:
                    _log.warning("source %s: a poll took longer than %gs", self.health.source, interval)
                self.overruns += 1
                due = now
            await asyncio.sleep(due - now)

    async def poll(self, client: AsyncModbusTcpClient) -> None:
        """Run the read plan once and deliver what changed as one batch."""
        now = self._now()
        batch: list[Sample] = []
        for req in self.plan:
            response = await self._read(client, req)
            self.health.messages += 1
            if response.isError():
                self._refuse(req, _describe(response.exception_code), now, batch)
                continue
            words: Sequence[int] = response.bits if req.table in BIT_TABLES else response.registers
            if len(words) < req.count:
                self._refuse(req, f"short answer: {len(words)} of {req.count} values", now, batch)
                continue
            self._refused.discard(req)
            for i in req.members:
                b = self._bindings[i]
                off = b.address - req.address
                self._emit(self.signals[i].path, decode(b, words[off : off + width(b)]), Quality.GOOD, now, batch)
        self.polls += 1
        self.requests += len(self.plan)
        self.health.last_seen = now
        if batch:
            self.health.samples += len(batch)
            await self._sink(batch)

    async def _read(self, client: AsyncModbusTcpClient, req: ReadRequest) -> ModbusPDU:
        read = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }[req.table]
        return await read(req.address, count=req.count, device_id=req.unit_id)

    def _refuse(self, req: ReadRequest, why: str, now: float, batch: list[Sample]) -> None:
        """The device refused one request: its signals turn BAD (once), the others are untouched."""
        if req not in self._refused:
            self._refused.add(req)
            self.health.errors += 1
            self.health.last_error = f"{why} reading {req.table} {req.address}+{req.count} of unit {req.unit_id}"
            _log.warning("source %s: %s", self.health.source, self.health.last_error)
        for i in req.members:
            self._emit(self.signals[i].path, None, Quality.BAD, now, batch)

    def _emit(self, path: str, value: Value, quality: Quality, now: float, batch: list[Sample]) -> None:
        last = self._last.get(path)
        if last is not None and last[1] is quality and _same(last[0], value):
            return
        self._last[path] = (value, quality)
        batch.append(Sample(path, now, now, value, quality))

    async def write(self, signal: SignalInfo, value: float) -> None:
        """Write a setpoint to its register or coil; an exception response becomes WriteRejected."""
        client = self._client
        if client is None:
            raise ConnectorError(f"source {self.health.source} is not connected")
        b = _binding(signal)
        unit = b.unit_id if b.unit_id is not None else self.config.unit_id
        if b.table in ("input", "discrete"):
            raise WriteRejected(f"{signal.path}: {b.table} {b.address} is read-only", "read_only")
        try:
            words = encode(b, value)
        except ValueError as exc:
            raise WriteRejected(f"{signal.path}: {exc}", "limits") from exc
        try:
            if b.table == "coil":
                response = await client.write_coil(b.address, bool(words[0]), device_id=unit)
            else:
                if b.type == "bool" and b.bit is not None:
                    words = await self._with_other_bits(client, b, unit, words[0])
                response = await client.write_registers(b.address, words, device_id=unit)
        except _NETWORK_ERRORS as exc:
            raise ConnectorError(f"source {self.health.source}: write failed: {exc}") from exc
        if response.isError():
            code = response.exception_code
            raise WriteRejected(
                f"{signal.path}: the device refused {value}: {_describe(code)}",
                _WRITE_REASONS.get(code, "limits"),
            )

    async def _with_other_bits(self, client: AsyncModbusTcpClient, b: ModbusBinding, unit: int, new: int) -> list[int]:
        """Read-modify-write of one bit: the register as the device holds it, with our bit changed."""
        current = await client.read_holding_registers(b.address, count=1, device_id=unit)
        if current.isError() or not current.registers:
            code = current.exception_code
            raise WriteRejected(
                f"{b.table} {b.address}: cannot read the register to change one bit", _WRITE_REASONS.get(code, "limits")
            )
        return [merge(current.registers[0], new, bit_mask(b))]

    def _now(self) -> float:
        return self._clock.now().timestamp()


def _binding(signal: SignalInfo) -> ModbusBinding:
    binding = signal.binding.modbus if signal.binding is not None else None
    if binding is None:
        raise ConnectorError(f"{signal.path} has no modbus binding")
    return binding


def _describe(code: int) -> str:
    return f"exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})"


def _same(a: Value, b: Value) -> bool:
    """Equal, counting NaN as equal to NaN (a NaN that stays NaN is not a change)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)

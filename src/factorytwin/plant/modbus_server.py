"""The virtual plant's Modbus TCP server (pymodbus): every bound signal at its registers or bits.

Each unit id used by the source's bindings becomes one pymodbus ``SimDevice`` whose tables hold the
addresses the bindings span, plus the unused registers between two of them when at most the source's
``max_gap`` apart (so the twin's merged reads of the same model succeed; unused registers read 0).
Any other register answers exception 2 (illegal data address), as a PLC would.

Values are encoded with ``connect.modbus_codec``, so a client reading the same model file decodes
them back. The server keeps its own image of every table and fills it into pymodbus' memory through
the device's ``action`` hook, which sees every read and write: writes to writable signals (holding
registers or coils whose signal has ``write`` limits) go through the plant's write handler first,
and a value it refuses is answered with exception 3 (illegal data value) and not stored; a write
that touches a read-only signal or an unused address is answered with exception 2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimAction, SimData, SimDevice

from ..connect.modbus_codec import BIT_TABLES, bit_mask, decode, encode, merge, width
from ..errors import FactoryTwinError, WriteRejected
from ..events import Value
from ..model import PlantIndex
from ..model.sources import ModbusBinding, ModbusSource

__all__ = ["PlantModbusServer"]

_log = logging.getLogger(__name__)
_TABLES = ("coil", "discrete", "holding", "input")  # the order of SimDevice's block tuple
_TABLE_OF_FC = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 4: "input", 3: "holding", 6: "holding"}
_TABLE_OF_FC |= {16: "holding", 22: "holding", 23: "holding"}
_Key = tuple[int, str]  # (unit id, table)


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where one signal lives on the server."""

    path: str
    binding: ModbusBinding
    unit: int
    writable: bool

    @property
    def key(self) -> _Key:
        return self.unit, self.binding.table

    @property
    def span(self) -> range:
        return range(self.binding.address, self.binding.address + width(self.binding))

    @property
    def is_bit(self) -> bool:
        return self.binding.type == "bool" and self.binding.bit is not None


class PlantModbusServer:
    """Serves the signals of one source of the plant model over Modbus TCP."""

    def __init__(
        self, index: PlantIndex, source: str, config: ModbusSource, on_write: Callable[[str, float], float]
    ) -> None:
        self.index = index
        self.source = source
        self.config = config
        self._on_write = on_write
        self.reads = 0  # read requests served (function codes 1 to 4)
        self._server: ModbusTcpServer | None = None
        self._slots: dict[str, _Slot] = {}
        self._at: dict[_Key, dict[int, list[_Slot]]] = {}
        self._image: dict[_Key, dict[int, int]] = {}
        for sig in index.bound_to(source):
            b = sig.binding.modbus if sig.binding is not None else None
            if b is None:
                continue
            unit = b.unit_id if b.unit_id is not None else config.unit_id
            slot = _Slot(sig.path, b, unit, sig.signal.write is not None and b.table in ("holding", "coil"))
            self._slots[sig.path] = slot
            for addr in slot.span:
                self._at.setdefault(slot.key, {}).setdefault(addr, []).append(slot)

    @property
    def address(self) -> str:
        """Where clients reach it."""
        return self.config.address

    async def start(self, initial: Mapping[str, Value]) -> None:
        """Lay out the tables, fill them with the initial values and start listening."""
        self._image = {key: {} for key in self._at}
        for path, value in initial.items():
            self._serve(path, value)
        if self._server is not None:  # already listening: the new values are served
            return
        units = sorted({slot.unit for slot in self._slots.values()}) or [self.config.unit_id]
        devices = [SimDevice(id=u, simdata=self._layout(u), action=self._action_for(u)) for u in units]
        server = ModbusTcpServer(devices, address=(self.config.host, self.config.port))
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            raise FactoryTwinError(f"cannot serve Modbus on {self.config.host}:{self.config.port}: {exc}") from exc
        self._server = server
        _log.info("virtual plant Modbus server on %s serves %d signals", self.address, len(self._slots))

    async def stop(self) -> None:
        """Stop listening and drop every client."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]

    async def publish(self, values: Mapping[str, Value], when: datetime) -> None:
        """Serve new values (Modbus carries no timestamps, so ``when`` is not used)."""
        for path, value in values.items():
            self._serve(path, value)

    def inject_raw(self, path: str, words: Sequence[int]) -> None:
        """Serve raw registers (or a bit) for a signal until its value next changes (fault injection)."""
        slot = self._slots[path]
        image = self._image.setdefault(slot.key, {})
        for addr, word in zip(slot.span, words, strict=True):
            image[addr] = word & 0xFFFF

    # ------------------------------------------------------------------ image

    def _serve(self, path: str, value: Value) -> None:
        slot = self._slots.get(path)
        if slot is None or value is None:
            return
        try:
            words = encode(slot.binding, value, saturate=True)
        except ValueError as exc:
            _log.warning("Modbus server %s cannot serve %s = %r: %s", self.source, path, value, exc)
            return
        image = self._image.setdefault(slot.key, {})
        if slot.is_bit:
            addr = slot.binding.address
            image[addr] = merge(image.get(addr, 0), words[0], bit_mask(slot.binding))
            return
        for addr, word in zip(slot.span, words, strict=True):
            image[addr] = word

    def _layout(self, unit: int) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        """Per table, one SimData per run of contiguous bound addresses; the rest stays invalid."""
        blocks: list[list[SimData]] = []
        for table in _TABLES:
            bits = table in BIT_TABLES
            addresses = sorted(self._at.get((unit, table), {}))
            block = [
                SimData(start, values=[False] * n, datatype=DataType.BITS)
                if bits
                else SimData(start, values=[0] * n, datatype=DataType.REGISTERS)
                for start, n in _runs(addresses, 0 if bits else self.config.max_gap)
            ]
            if not block:  # pymodbus needs one entry per table: an invalid register, or bits at the very top
                block = [SimData(65535, values=[False], datatype=DataType.BITS) if bits else SimData(0)]
            blocks.append(block)
        return blocks[0], blocks[1], blocks[2], blocks[3]

    # ------------------------------------------------------------------ requests

    def _action_for(self, unit: int) -> SimAction:
        async def action(
            fc: int, start: int, address: int, count: int, registers: list[int], values: list[int] | list[bool] | None
        ) -> ExcCodes | None:
            table = _TABLE_OF_FC.get(fc)
            if table is None:
                return ExcCodes.ILLEGAL_FUNCTION
            if fc <= 4:
                self.reads += 1
            if values:
                refused = self._write(unit, table, address, [int(v) for v in values])
                if refused is not None:
                    return refused
            self._fill(unit, table, start, address, count, registers)
            return None

        return action

    def _fill(self, unit: int, table: str, start: int, address: int, count: int, registers: list[int]) -> None:
        """Copy our image into pymodbus' memory for the range a request touches."""
        image = self._image.get((unit, table), {})
        if table in BIT_TABLES:  # bits are packed 16 to a register; start and count are in registers
            first = address // 16
            for r in range(count):
                base = (first + r) * 16
                registers[first - start + r] = sum(1 << k for k in range(16) if image.get(base + k))
            return
        for i in range(count):
            registers[address - start + i] = image.get(address + i, 0)

    def _write(self, unit: int, table: str, address: int, values: list[int]) -> ExcCodes | None:
        """Check a write against the signals it touches and apply it through the plant."""
        image = self._image.setdefault((unit, table), {})
        at = self._at.get((unit, table), {})
        written = {address + i: v & 0xFFFF for i, v in enumerate(values)}
        if any(addr not in at for addr in written):
            return ExcCodes.ILLEGAL_ADDRESS  # an unused register or coil: nothing there to write
        changes: list[tuple[_Slot, list[int]]] = []
        for slot in dict.fromkeys(s for addr in written for s in at.get(addr, ())):
            old = [image.get(a, 0) for a in slot.span]
            new = [written.get(a, w) for a, w in zip(slot.span, old, strict=True)]
            if slot.is_bit and not (old[0] ^ new[0]) & bit_mask(slot.binding):
                continue  # a read-modify-write that leaves this bit alone
            if not slot.writable:
                _log.info("refused Modbus write to read-only %s", slot.path)
                return ExcCodes.ILLEGAL_ADDRESS
            changes.append((slot, new))
        for slot, new in changes:
            value = decode(slot.binding, new)
            try:
                if isinstance(value, str):
                    raise WriteRejected(f"{value!r} is not a number", "type")
                applied = self._on_write(slot.path, float(value))
            except WriteRejected as exc:
                _log.info("refused Modbus write to %s: %s", slot.path, exc)
                return ExcCodes.ILLEGAL_ADDRESS if exc.reason in ("read_only", "unknown") else ExcCodes.ILLEGAL_VALUE
            self._serve(slot.path, applied)
        return None


def _runs(addresses: list[int], max_gap: int) -> list[tuple[int, int]]:
    """Sorted addresses as (start, length) runs, bridging at most ``max_gap`` unused ones."""
    runs: list[tuple[int, int]] = []
    for addr in addresses:
        if runs and addr <= runs[-1][0] + runs[-1][1] + max_gap:
            runs[-1] = (runs[-1][0], addr + 1 - runs[-1][0])
        else:
            runs.append((addr, 1))
    return runs

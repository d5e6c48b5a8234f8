"""The control service: one path for every setpoint, from the API, the dashboard or a script.

check (role, model limits, step, rate) -> optionally try it on the simulation -> write through the
source's connector -> confirm by reading the value back from the live state -> audit every outcome.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from ..clock import Clock
from ..connect import Connector
from ..core import LiveState
from ..errors import ConnectorError, WriteRejected
from ..events import Quality
from ..model import PlantIndex, SignalInfo
from ..security import AuditLog, Principal, Role
from .limits import SetpointRefused, check_setpoint
from .preview import Preview, preview

__all__ = ["Control", "SetpointResult", "Waiter"]

Waiter = Callable[[Callable[[], bool], float], Awaitable[bool]]
# how a refusal is audited: checks refuse; a source that refuses or cannot be reached fails the write
_OUTCOMES = {"device": "failed", "disconnected": "failed", "unconfirmed": "unconfirmed"}


@dataclass(frozen=True, slots=True)
class SetpointResult:
    """What became of a setpoint: ``status`` is ok (written and read back) or dry_run (checked only)."""

    signal: str
    value: float
    old: float | None
    status: str
    confirmed_s: float | None = None
    preview: Preview | None = None
    audit_id: int | None = None


class Control:
    """Checks, writes, confirms and audits setpoints of one twin."""

    def __init__(
        self,
        index: PlantIndex,
        connectors: Mapping[str, Connector],
        state: LiveState,
        wait_for: Waiter,
        audit: AuditLog,
        clock: Clock,
        confirm_timeout_s: float = 5.0,
    ) -> None:
        self.index = index
        self.connectors = connectors
        self.state = state
        self.wait_for = wait_for
        self.audit = audit
        self.clock = clock
        self.confirm_timeout_s = confirm_timeout_s
        self._locks: dict[str, asyncio.Lock] = {}

    def writable(self) -> list[SignalInfo]:
        """Every signal the model makes writable."""
        return [s for s in self.index.signals.values() if s.signal.write is not None]

    def current(self, path: str) -> float | None:
        """The live value of a signal when it is known and good, else None."""
        st = self.state.get(path)
        if st is None or st.quality is not Quality.GOOD or isinstance(st.value, bool | str) or st.value is None:
            return None
        return float(st.value)

    async def submit(
        self, signal: str, value: object, who: Principal, *, dry_run: bool = False, simulate: bool = False
    ) -> SetpointResult:
        """Check a setpoint and (unless ``dry_run``) write and confirm it; SetpointRefused says why not.

        Every call is audited, refused ones included.
        """
        old = self.current(signal)
        try:
            info = self._resolve(signal, who)
            async with self._locks.setdefault(signal, asyncio.Lock()):
                return await self._submit(info, value, who, dry_run, simulate)
        except SetpointRefused as exc:
            self._record(who, signal, old, value, _OUTCOMES.get(exc.reason, "refused"), f"{exc.reason}: {exc}")
            raise

    async def _submit(
        self, info: SignalInfo, value: object, who: Principal, dry_run: bool, simulate: bool
    ) -> SetpointResult:
        old = self.current(info.path)
        now = self.clock.now().timestamp()
        number = check_setpoint(info, value, old, self._last_write(info.path), now)
        tried = await self._preview(info, number) if simulate else None
        if dry_run:
            entry = self._record(who, info.path, old, number, "dry_run", None)
            return SetpointResult(info.path, number, old, "dry_run", None, tried, entry)
        started = self.clock.now().timestamp()
        await self._write(info, number)
        if not await self.wait_for(lambda: _matches(self.current(info.path), number), self.confirm_timeout_s):
            seen = self.current(info.path)
            raise SetpointRefused(
                f"{number:g} was written to '{info.path}' but the source did not show it within "
                f"{self.confirm_timeout_s:g} s (it reads {seen if seen is not None else 'nothing good'})",
                "unconfirmed",
            )
        confirmed = self.clock.now().timestamp() - started
        entry = self._record(who, info.path, old, number, "ok", f"confirmed after {confirmed:.3f} s")
        return SetpointResult(info.path, number, old, "ok", confirmed, tried, entry)

    def _resolve(self, signal: str, who: Principal) -> SignalInfo:
        if not who.may(Role.OPERATOR):
            raise SetpointRefused(f"{who.name} ({who.role.label}) may not send setpoints: operator needed", "forbidden")
        info = self.index.signals.get(signal)
        if info is None:
            raise SetpointRefused(f"unknown signal '{signal}'; see /api/setpoints for the writable ones", "unknown")
        return info

    def _last_write(self, path: str) -> tuple[float, float] | None:
        """(time, value) of the last write that reached the source, from the audit log."""
        for entry in self.audit.entries(0.0, math.inf, action="setpoint", target=path, limit=50):
            if entry.result in ("ok", "unconfirmed") and isinstance(entry.new, int | float):
                return entry.time, float(entry.new)
        return None

    async def _preview(self, info: SignalInfo, value: float) -> Preview:
        live = {s.path: v for s in self.writable() if (v := self.current(s.path)) is not None}
        return await asyncio.to_thread(preview, self.index, info, value, live)

    async def _write(self, info: SignalInfo, value: float) -> None:
        connector = self.connectors.get(info.source or "")
        if connector is None:
            raise SetpointRefused(f"'{info.path}' is bound to no source the twin connects to", "not_writable")
        try:
            await connector.write(info, value)
        except WriteRejected as exc:
            raise SetpointRefused(f"the source refused the write: {exc}", "device") from exc
        except ConnectorError as exc:
            raise SetpointRefused(f"the write did not reach the source: {exc}", "disconnected") from exc

    def _record(
        self, who: Principal, target: str, old: float | None, new: object, result: str, detail: str | None
    ) -> int:
        return self.audit.record(who.name, who.role.label, "setpoint", target, old, new, result, detail).id


def _matches(seen: float | None, wanted: float) -> bool:
    """Read-back equality, tolerant of float32 registers."""
    return seen is not None and math.isclose(seen, wanted, rel_tol=1e-6, abs_tol=1e-9)

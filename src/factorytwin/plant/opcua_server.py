"""The virtual plant's OPC UA server (asyncua): the ISA-95 hierarchy as objects, signals as variables.

Variables carry the node ids of the model's bindings, so a twin reading the same model file finds
them. Writable setpoints accept writes from any OPC UA client; a write outside the model's limits
is refused with BadOutOfRange, a wrong type with BadTypeMismatch, a read-only node with
BadNotWritable — as a PLC would.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from asyncua import Node, Server, ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.common.utils import ServiceError

from ..clock import Clock, SystemClock
from ..connect.opcua_security import secure_server
from ..errors import WriteRejected
from ..events import Value
from ..model import PlantIndex, SignalInfo
from ..model.sources import OpcUaSource

__all__ = ["NAMESPACE_URI", "PlantOpcUaServer"]

NAMESPACE_URI = "urn:factorytwin:virtual-plant"
_log = logging.getLogger(__name__)

_STATUS = {
    "read_only": ua.StatusCodes.BadNotWritable,
    "type": ua.StatusCodes.BadTypeMismatch,
    "unknown": ua.StatusCodes.BadNodeIdUnknown,
}


class PlantOpcUaServer:
    """Serves the signals of one source of the plant model over OPC UA."""

    def __init__(
        self,
        index: PlantIndex,
        source: str,
        config: OpcUaSource,
        on_write: Callable[[str, float], float],
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.index = index
        self.source = source
        self.config = config
        self.endpoint = config.endpoint
        self._on_write = on_write
        self._server: Server | None = None
        self._nodes: dict[str, tuple[ua.NodeId, ua.VariantType]] = {}
        self._paths: dict[ua.NodeId, str] = {}

    @property
    def address(self) -> str:
        """Where clients reach it."""
        return self.endpoint

    async def start(self, initial: Mapping[str, Value]) -> None:
        """Build the address space and start listening."""
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("factorytwin virtual plant")
        if self.config.security is not None:
            app_uri = f"urn:factorytwin:virtual-plant:{self.source}"
            await server.set_application_uri(app_uri)
            await secure_server(server, self.config.security, self.source, app_uri)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        signals = self.index.bound_to(self.source)
        await self._register_namespaces(server, signals)
        folders: dict[str, Node] = {}
        for sig in signals:
            parent = await self._folder(server, folders, sig.asset_path)
            await self._add_variable(parent, sig, initial.get(sig.path))
        server.subscribe_server_callback(CallbackType.PreWrite, self._pre_write)
        await server.start()
        self._server = server
        _log.info("virtual plant OPC UA server on %s serves %d signals", self.endpoint, len(signals))

    async def stop(self) -> None:
        """Stop listening and drop every session."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def publish(self, values: Mapping[str, Value], when: datetime) -> None:
        """Write changed values into the address space, stamped with their source time."""
        server = self._server
        if server is None:
            return
        for path, value in values.items():
            entry = self._nodes.get(path)
            if entry is None:
                continue
            node_id, vtype = entry
            dv = ua.DataValue(ua.Variant(_coerce(value, vtype), vtype), SourceTimestamp=when, ServerTimestamp=when)
            await server.write_attribute_value(node_id, dv)

    async def _register_namespaces(self, server: Server, signals: list[SignalInfo]) -> None:
        highest = max((ua.NodeId.from_string(s.node).NamespaceIndex for s in signals if s.node), default=2)
        index = await server.register_namespace(NAMESPACE_URI)
        while index < highest:
            index = await server.register_namespace(f"{NAMESPACE_URI}:{index + 1}")

    async def _folder(self, server: Server, folders: dict[str, Node], path: str) -> Node:
        if path in folders:
            return folders[path]
        parent_path, _, name = path.rpartition("/")
        parent = await self._folder(server, folders, parent_path) if parent_path else server.nodes.objects
        asset = self.index.assets.get(path)
        display = asset.asset.name if asset is not None and asset.asset.name else name
        node = await parent.add_object(ua.NodeId(path, 2), ua.QualifiedName(name, 2))
        await node.write_attribute(ua.AttributeIds.DisplayName, ua.DataValue(ua.LocalizedText(display)))
        folders[path] = node
        return node

    async def _add_variable(self, parent: Node, sig: SignalInfo, initial: Value) -> None:
        assert sig.node is not None
        node_id = ua.NodeId.from_string(sig.node)
        vtype = ua.VariantType.Int64 if sig.integer else ua.VariantType.Double
        value = _coerce(initial if initial is not None else 0, vtype)
        var = await parent.add_variable(node_id, ua.QualifiedName(sig.signal.id, node_id.NamespaceIndex), value, vtype)
        if sig.signal.unit or sig.signal.name:
            text = f"{sig.signal.name or sig.signal.id}" + (f" [{sig.signal.unit}]" if sig.signal.unit else "")
            await var.write_attribute(ua.AttributeIds.Description, ua.DataValue(ua.LocalizedText(text)))
        if sig.signal.write is not None:
            await var.set_writable()
        self._nodes[sig.path] = (node_id, vtype)
        self._paths[node_id] = sig.path

    async def _pre_write(self, event: ServerItemCallback, _dispatcher: Any) -> None:
        """Apply external writes to the simulation first; refuse the request when any is invalid."""
        if not event.is_external:
            return
        for item in event.request_params.NodesToWrite:
            path = self._paths.get(item.NodeId)
            if path is None or item.AttributeId != ua.AttributeIds.Value:
                continue
            variant = item.Value.Value
            if variant is None or variant.VariantType is not self._nodes[path][1]:
                raise ServiceError(ua.StatusCodes.BadTypeMismatch)
            try:
                self._on_write(path, float(variant.Value))
            except WriteRejected as exc:
                _log.info("refused OPC UA write to %s: %s", path, exc)
                raise ServiceError(_STATUS.get(exc.reason, ua.StatusCodes.BadOutOfRange)) from exc
            if item.Value.SourceTimestamp is None:  # the device stamps what it takes, on its own clock
                item.Value = dataclasses.replace(item.Value, SourceTimestamp=self.clock.now())


def _coerce(value: Value, vtype: ua.VariantType) -> float | int:
    if vtype is ua.VariantType.Int64:
        return int(value or 0)
    return float(value or 0.0)

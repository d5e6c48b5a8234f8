"""Discovery on OPC UA (asyncua): walk a server's Objects tree and describe every variable."""

from __future__ import annotations

import re

from asyncua import Client, Node, ua

from ..model.skeleton import Discovered
from ..model.sources import OpcUaSecurity
from .opcua_security import secure_client

__all__ = ["browse_opcua"]

_SKIP = {"Server", "Aliases", "Locations"}


async def browse_opcua(
    endpoint: str, security: OpcUaSecurity | None = None, max_depth: int = 12, timeout_s: float = 10.0
) -> list[Discovered]:
    """Every variable below Objects (the server's own diagnostics excluded), with its path and metadata."""
    client = Client(endpoint, timeout=timeout_s)
    if security is not None:
        await secure_client(client, security, "browse")
    async with client:
        found: list[Discovered] = []
        await _walk(client.nodes.objects, (), found, max_depth)
        return found


async def _walk(node: Node, path: tuple[str, ...], found: list[Discovered], depth: int) -> None:
    if depth < 0:
        return
    for child in await node.get_children():
        name = (await child.read_browse_name()).Name
        if not path and name in _SKIP:
            continue
        node_class = await child.read_node_class()
        if node_class == ua.NodeClass.Variable:
            found.append(await _describe(child, (*path, name)))
        elif node_class == ua.NodeClass.Object:
            await _walk(child, (*path, name), found, depth - 1)


async def _describe(var: Node, path: tuple[str, ...]) -> Discovered:
    access = await var.read_attribute(ua.AttributeIds.UserAccessLevel)
    writable = bool(access.Value.Value & ua.AccessLevel.CurrentWrite.mask) if access.Value else False
    unit, low, high = await _engineering(var)
    if unit is None:
        description = (await var.read_description()).Text or ""
        match = re.search(r"\[([^\]]+)\]\s*$", description)
        unit = match.group(1) if match else None
    return Discovered(
        path=path,
        protocol="opcua",
        address={"node": var.nodeid.to_string()},
        name=path[-1],
        unit=unit,
        writable=writable,
        low=low,
        high=high,
    )


async def _engineering(var: Node) -> tuple[str | None, float | None, float | None]:
    """EngineeringUnits and EURange properties of an analog item, when the server provides them."""
    unit = low = high = None
    for prop in await var.get_properties():
        name = (await prop.read_browse_name()).Name
        value = await prop.read_value()
        if name == "EngineeringUnits" and value is not None:
            unit = value.DisplayName.Text
        elif name == "EURange" and value is not None:
            low, high = float(value.Low), float(value.High)
    return unit, low, high

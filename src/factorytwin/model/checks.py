"""Checks across the model that no single field can make: ids, references, bindings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .schema import BUFFER_ROLES, SINGLE_ROLES, STATION_ROLES, Buffer, Line, PlantModel, Role, Signal, Station
from .units import unit_problem

__all__ = ["Loc", "check_model"]

Loc = tuple[str | int, ...]


def check_model(model: PlantModel) -> list[tuple[Loc, str]]:
    """Return every cross-reference problem of a structurally valid model, with its location."""
    problems: list[tuple[Loc, str]] = []
    problems += _check_ids(("enterprise", "sites"), model.enterprise.sites)
    nodes: dict[tuple[str, str], Loc] = {}
    for s_i, site in enumerate(model.enterprise.sites):
        problems += _check_ids(("enterprise", "sites", s_i, "areas"), site.areas)
        for a_i, area in enumerate(site.areas):
            problems += _check_ids(("enterprise", "sites", s_i, "areas", a_i, "lines"), area.lines)
            for l_i, line in enumerate(area.lines):
                loc: Loc = ("enterprise", "sites", s_i, "areas", a_i, "lines", l_i)
                problems += _check_line(model, loc, line, nodes)
    for i, served in enumerate(model.virtual_plant.serves):
        if served not in model.sources:
            problems.append((("virtual_plant", "serves", i), f"unknown source '{served}'"))
    return problems


def _check_ids(loc: Loc, items: list[Any]) -> list[tuple[Loc, str]]:
    seen: set[str] = set()
    problems: list[tuple[Loc, str]] = []
    for i, item in enumerate(items):
        if item.id in seen:
            problems.append(((*loc, i, "id"), f"duplicate id '{item.id}'"))
        seen.add(item.id)
    return problems


def _check_line(model: PlantModel, loc: Loc, line: Line, nodes: dict[tuple[str, str], Loc]) -> list[tuple[Loc, str]]:
    problems = _check_ids((*loc, "stations"), line.stations)
    station_ids = [s.id for s in line.stations]
    joined: dict[str, str] = {}
    for i, buf in enumerate(line.buffers):
        b_loc = (*loc, "buffers", i)
        if buf.id in station_ids:
            problems.append(((*b_loc, "id"), f"id '{buf.id}' is already a station of this line"))
        problems += _check_buffer_links(b_loc, buf, station_ids, loop=line.pallets is not None)
        if buf.upstream in joined:
            problems.append(((*b_loc, "upstream"), f"'{buf.upstream}' already feeds buffer '{joined[buf.upstream]}'"))
        joined.setdefault(buf.upstream, buf.id)
    problems += _check_ids((*loc, "buffers"), line.buffers)
    problems += _check_loop(loc, line)
    if line.source is not None and line.source not in model.sources:
        problems.append(((*loc, "source"), f"unknown source '{line.source}'"))
    assets: list[tuple[Loc, Station | Buffer]] = [((*loc, "stations", i), s) for i, s in enumerate(line.stations)]
    assets += [((*loc, "buffers", i), b) for i, b in enumerate(line.buffers)]
    for a_loc, asset in assets:
        problems += _check_ids((*a_loc, "signals"), asset.signals)
        problems += _check_roles(a_loc, asset)
        for g_i, sig in enumerate(asset.signals):
            s_loc = (*a_loc, "signals", g_i)
            problems += _check_signal(model, line, s_loc, sig, asset, nodes)
    return problems


def _check_buffer_links(loc: Loc, buf: Buffer, station_ids: list[str], loop: bool) -> Iterator[tuple[Loc, str]]:
    for key in ("upstream", "downstream"):
        if getattr(buf, key) not in station_ids:
            yield (*loc, key), f"unknown station '{getattr(buf, key)}'"
    if buf.upstream in station_ids and buf.downstream in station_ids:
        up, down = station_ids.index(buf.upstream), station_ids.index(buf.downstream)
        closes_loop = loop and up == len(station_ids) - 1 and down == 0
        if down != up + 1 and not closes_loop:
            hint = " (a closed loop needs the line's pallets)" if up == len(station_ids) - 1 and down == 0 else ""
            yield (
                (*loc, "downstream"),
                f"a buffer joins consecutive stations; '{buf.downstream}' does not follow '{buf.upstream}'{hint}",
            )


def _check_loop(loc: Loc, line: Line) -> Iterator[tuple[Loc, str]]:
    """A closed loop takes no arrivals and needs a free place somewhere, or blocking jams it."""
    if line.pallets is None:
        return
    if line.arrivals is not None:
        yield (*loc, "arrivals"), "a closed loop (pallets) takes no arrivals: its pallets circulate"
    ids = [s.id for s in line.stations]
    capacity = {b.upstream: b.capacity for b in line.buffers}
    places = sum(s.sim.machines + capacity.get(s.id, 1) for s in line.stations)
    if line.pallets >= places:
        yield (
            (*loc, "pallets"),
            f"{line.pallets} pallets fill all {places} places of the loop ({', '.join(ids)}): "
            f"with blocking after service it jams; use at most {places - 1}",
        )


def _check_roles(loc: Loc, asset: Station | Buffer) -> Iterator[tuple[Loc, str]]:
    seen: set[str] = set()
    misplaced = BUFFER_ROLES if isinstance(asset, Station) else STATION_ROLES
    for i, sig in enumerate(asset.signals):
        if sig.role in misplaced:
            kind = "station" if isinstance(asset, Station) else "buffer"
            yield (*loc, "signals", i, "role"), f"role '{sig.role}' does not belong on a {kind}"
        if sig.role in SINGLE_ROLES:
            if sig.role in seen:
                yield (*loc, "signals", i, "role"), f"only one signal may have role '{sig.role}' here"
            seen.add(sig.role)


def _check_signal(
    model: PlantModel, line: Line, loc: Loc, sig: Signal, asset: Station | Buffer, nodes: dict[tuple[str, str], Loc]
) -> Iterator[tuple[Loc, str]]:
    if sig.states is not None and sig.role != "state":
        yield (*loc, "states"), "a state mapping needs role 'state'"
    if sig.sim.follows is not None:
        target = next((s for s in asset.signals if s.id == sig.sim.follows), None)
        if target is None:
            yield (*loc, "sim", "follows"), f"no signal '{sig.sim.follows}' on '{asset.id}'"
        elif target is sig or (target.write is None and target.role not in (Role.SETPOINT, Role.SPEED)):
            yield (*loc, "sim", "follows"), f"'{target.id}' is not a setpoint (give it 'write' limits or role setpoint)"
    if sig.binding is None:
        return
    source = sig.binding.source or line.source
    if source is None:
        yield (*loc, "binding", "source"), "no source named here and the line names no default source"
    elif source not in model.sources:
        yield (*loc, "binding", "source"), f"unknown source '{source}'"
    else:
        kind = sig.binding.kind
        if model.sources[source].kind != kind:
            yield (*loc, "binding", kind), f"source '{source}' is {model.sources[source].kind}, not {kind}"
            return
        key = (source, _address(sig))
        if key in nodes:
            field = {"opcua": "node", "modbus": "address", "mqtt": "topic", "sparkplug": "metric"}[kind]
            yield (*loc, "binding", kind, field), f"{key[1]} is already bound to another signal"
        nodes[key] = loc
    yield from _check_edge(loc, sig)


def _address(sig: Signal) -> str:
    """What identifies a binding within its source (two signals may not share it)."""
    b = sig.binding
    assert b is not None
    if b.opcua is not None:
        return f"node '{b.opcua.node}'"
    if b.modbus is not None:
        m = b.modbus
        bit = f".{m.bit}" if m.bit is not None else ""
        return f"{m.table} {m.address}{bit} (unit {m.unit_id if m.unit_id is not None else 'default'})"
    if b.mqtt is not None:
        match = f" {sorted(b.mqtt.match.items())}" if b.mqtt.match else ""
        return f"topic '{b.mqtt.topic}'{match} at '{b.mqtt.value}'"
    assert b.sparkplug is not None
    sp = b.sparkplug
    return f"metric '{sp.edge_node}/{sp.device or ''}/{sp.metric}'"


def _check_edge(loc: Loc, sig: Signal) -> Iterator[tuple[Loc, str]]:
    edge = sig.edge
    if edge is None:
        return
    if edge.deadband_percent is not None and sig.normal is None:
        yield (*loc, "edge", "deadband_percent"), "a percent deadband needs the signal's normal range"
    if edge.source_unit is not None:
        problem = unit_problem(edge.source_unit, sig.unit)
        if problem:
            yield (*loc, "edge", "source_unit"), problem

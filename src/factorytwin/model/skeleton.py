"""Model-file skeletons from discovered tags: what `factorytwin browse` writes.

A skeleton is a valid model file an integrator then edits: the hierarchy comes from the browse
path when it is deep enough (enterprise/site/area/line/station), else one line holds a station
per parent object; roles and units are guessed from names and metadata and marked for review.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from .schema import SINGLE_ROLES, Role

__all__ = ["Discovered", "guess_role", "skeleton_yaml"]


@dataclass(frozen=True, slots=True)
class Discovered:
    """One tag found on a source: where it sits, how to bind it, what is known of it."""

    path: tuple[str, ...]
    protocol: str
    address: dict[str, object]
    name: str
    unit: str | None = None
    writable: bool = False
    low: float | None = None
    high: float | None = None
    source: str | None = None  # when it is not the skeleton's main source
    extra: dict[str, str] = field(default_factory=dict)


_ROLE_WORDS: list[tuple[str, Role]] = [
    (r"(^|_)sp$|setpoint", Role.SETPOINT),
    (r"state|status|mode", Role.STATE),
    (r"scrap|reject|bad_?count", Role.SCRAP_COUNT),
    (r"good|produced|count(er)?$|parts", Role.GOOD_COUNT),
    (r"cycle", Role.CYCLE_TIME),
    (r"speed", Role.SPEED),
    (r"temp", Role.TEMPERATURE),
    (r"press", Role.PRESSURE),
    (r"vib", Role.VIBRATION),
    (r"current|amp", Role.MOTOR_CURRENT),
    (r"flow", Role.FLOW),
    (r"level", Role.LEVEL),
]


def guess_role(name: str) -> Role:
    """A role guessed from a tag name (the integrator confirms it)."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return next((role for pattern, role in _ROLE_WORDS if re.search(pattern, words)), Role.OTHER)


def _ident(text: str) -> str:
    ident = re.sub(r"[^A-Za-z0-9_-]+", "_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)).strip("_-").lower()
    if not ident or not ident[0].isalpha():
        ident = f"t_{ident}"
    return ident[:64]


def skeleton_yaml(
    tags: list[Discovered], source_id: str, source_yaml: str, extra_sources: dict[str, str] | None = None
) -> str:
    """A model file binding every discovered tag; ``source_yaml`` is the main source block's body,
    ``extra_sources`` the bodies of other sources tags name."""
    deep = next((t.path for t in tags if len(t.path) >= 6), None)  # enterprise/site/area/line/station/tag
    stations: dict[str, list[Discovered]] = defaultdict(list)
    for tag in tags:
        stations[tag.path[4] if len(tag.path) >= 6 else (tag.path[-2] if len(tag.path) >= 2 else "station")].append(tag)
    ent, site, area, line = deep[:4] if deep else ("my-enterprise", "site1", "area1", "line1")
    out = [
        "# factorytwin plant model: a skeleton written by `factorytwin browse`.",
        "# Review every role, unit, normal range and write limit; set each station's simulation",
        "# parameters (or calibrate them from history) and the line's target rate.",
        "factorytwin: 1",
        "enterprise:",
        f"  id: {_ident(ent)}",
        "  sites:",
        f"    - id: {_ident(site)}",
        "      areas:",
        f"        - id: {_ident(area)}",
        "          lines:",
        f"            - id: {_ident(line)}",
        f"              source: {source_id}",
        "              stations:",
    ]
    for name, members in stations.items():
        out += _station(name, members)
    out += ["", "sources:"]
    for sid, body in {source_id: source_yaml, **(extra_sources or {})}.items():
        out += [f"  {sid}:", *(f"    {x}" for x in body.strip().splitlines())]
    out.append("")
    return "\n".join(out)


def _station(name: str, tags: list[Discovered]) -> list[str]:
    ind = " " * 16
    lines = [
        f"{ind}- id: {_ident(name)}",
        f"{ind}  name: {name}",
        f"{ind}  sim: {{processing_time: {{mean: 1.0}}}}  # placeholder: set or calibrate",
        f"{ind}  signals:",
    ]
    seen: set[str] = set()
    single: set[Role] = set()
    for tag in tags:
        ident = _ident(tag.name)
        while ident in seen:
            ident = f"{ident}_2"
        seen.add(ident)
        role = guess_role(tag.name)
        if role in SINGLE_ROLES:  # one per station; a level belongs on a buffer
            role = Role.OTHER if role in single or role is Role.LEVEL else role
            single.add(role)
        lines += [
            f"{ind}    - id: {ident}",
            f"{ind}      name: {tag.name}",
            f"{ind}      role: {role.value}  # guessed",
        ]
        if tag.unit:
            lines.append(f"{ind}      unit: {_quote(tag.unit)}")
        if tag.low is not None and tag.high is not None and tag.low < tag.high:
            lines.append(f"{ind}      normal: {{low: {tag.low:g}, high: {tag.high:g}}}")
        address = ", ".join(f"{k}: {_quote(v) if isinstance(v, str) else v}" for k, v in tag.address.items())
        source = f"source: {tag.source}, " if tag.source else ""
        lines.append(f"{ind}      binding: {{{source}{tag.protocol}: {{{address}}}}}")
        if tag.writable:
            if tag.low is not None and tag.high is not None:
                lines.append(f"{ind}      write: {{min: {tag.low:g}, max: {tag.high:g}}}")
            else:
                lines.append(f"{ind}      # writable on the source: add write: {{min: .., max: ..}}")
    return lines


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

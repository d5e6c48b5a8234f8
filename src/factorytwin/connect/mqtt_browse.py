"""Discovery on MQTT (paho): listen to a broker for a while and describe what is published there.

Sparkplug B births (NBIRTH/DBIRTH) name their metrics: each becomes a Sparkplug binding (a rebirth is
requested from every edge node seen, so births arrive even from nodes that were born long ago). Other
topics become MQTT bindings: a number payload as such; a JSON object as its ``value`` field (with
``timestamp`` and ``quality`` when present), or else one binding per numeric field.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ..model.skeleton import Discovered
from .mqtt_link import broker_address
from .sparkplug_codec import Metric, SparkplugDecodeError, decode_payload, encode_payload, parse_topic

__all__ = ["browse_mqtt"]

_TIME_KEYS = ("timestamp", "ts", "time")
_QUALITY_KEYS = ("quality", "q")


async def browse_mqtt(url: str, seconds: float = 10.0, topics: str = "#") -> tuple[list[Discovered], set[str]]:
    """Tags seen on a broker within ``seconds``, and the Sparkplug groups they belong to."""
    host, port, tls = broker_address(url)
    messages: dict[str, bytes] = {}
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
    if tls:
        client.tls_set()
    client.on_message = lambda _c, _u, m: messages.__setitem__(m.topic, bytes(m.payload))
    nodes: set[tuple[str, str]] = set()

    def on_connect(c: paho.Client, _u: Any, _f: Any, _rc: Any, _p: Any = None) -> None:
        c.subscribe([(topics, 0), ("spBv1.0/#", 0)])

    client.on_connect = on_connect
    client.connect(host, port, keepalive=30)
    client.loop_start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            await asyncio.sleep(0.2)
            for topic in list(messages):
                sp = parse_topic(topic)
                if sp is not None and (sp.group, sp.edge_node) not in nodes:
                    nodes.add((sp.group, sp.edge_node))
                    rebirth = encode_payload([Metric(name="Node Control/Rebirth", value=True, datatype=11)], None, 0)
                    client.publish(f"spBv1.0/{sp.group}/NCMD/{sp.edge_node}", rebirth)
    finally:
        client.loop_stop()
        client.disconnect()
    found: list[Discovered] = []
    groups: set[str] = set()
    for topic, payload in sorted(messages.items()):
        sp = parse_topic(topic)
        if sp is not None:
            if sp.kind in ("NBIRTH", "DBIRTH"):
                groups.add(sp.group)
                found += _births(sp.group, sp.edge_node, sp.device, payload)
        elif not topic.startswith("spBv1.0/"):
            found += _plain(topic, payload)
    return found, groups


def _births(group: str, node: str, device: str | None, payload: bytes) -> list[Discovered]:
    try:
        metrics = decode_payload(payload).metrics
    except SparkplugDecodeError:
        return []
    out = []
    for m in metrics:
        if not m.name or m.name.startswith(("Node Control/", "Device Control/", "bdSeq")):
            continue
        address: dict[str, object] = {"edge_node": node, **({"device": device} if device else {}), "metric": m.name}
        path = (group, node, *([device] if device else []), m.name)
        out.append(Discovered(path, "sparkplug", address, m.name, source="spb"))
    return out


def _plain(topic: str, payload: bytes) -> list[Discovered]:
    path = tuple(p for p in topic.split("/") if p)
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return []
    if _number(doc):
        return [Discovered(path, "mqtt", {"topic": topic, "format": "number"}, path[-1])]
    if not isinstance(doc, dict):
        return []
    extras = {
        k: v
        for keys, k in ((_TIME_KEYS, "timestamp"), (_QUALITY_KEYS, "quality"))
        for v in [next((key for key in keys if key in doc), None)]
        if v is not None
    }
    if _number(doc.get("value")):
        return [Discovered(path, "mqtt", {"topic": topic, "value": "value", **extras}, path[-1])]
    return [
        Discovered((*path, key), "mqtt", {"topic": topic, "value": key, **extras}, key)
        for key, value in doc.items()
        if _number(value) and key not in _TIME_KEYS and key not in _QUALITY_KEYS
    ]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

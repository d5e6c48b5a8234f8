"""An OPC UA client that is not ours (node-opcua, a separate implementation) browses, reads and writes the plant."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from factorytwin.model import PlantIndex
from factorytwin.plant import VirtualPlant

from .conftest import LINE, ROOT

PEERS = ROOT / "tests" / "peers"
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (PEERS / "node_modules" / "node-opcua-client").is_dir(),
    reason="test peers missing: run `bash scripts/setup.sh --test`",
)


async def _node_client(*args: str) -> dict:  # type: ignore[type-arg]
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(PEERS / "opcua_browse.js"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    # node-opcua logs to stdout too; our script prints one JSON line
    line = next(x for x in out.decode().splitlines() if x.startswith('{"variables"'))
    return json.loads(line)  # type: ignore[no-any-return]


async def test_node_opcua_browses_the_hierarchy_and_reads_every_value(
    plant: VirtualPlant, index: PlantIndex, endpoints: dict[str, str]
) -> None:
    await plant.pause()
    result = await _node_client(endpoints["plant"])
    found = {v["path"]: v for v in result["variables"]}
    # the address space follows the ISA-95 hierarchy: acme/lyon/bottling/line1/<asset>/<signal>
    assert set(found) == set(index.signals)
    for path, info in index.signals.items():
        assert found[path]["nodeId"] == info.node
        assert found[path]["status"] == "Good"
        assert found[path]["value"] == pytest.approx(plant.engine.values[path], abs=1e-9)


async def test_node_opcua_writes_a_setpoint_that_the_plant_applies(
    plant: VirtualPlant, endpoints: dict[str, str]
) -> None:
    result = await _node_client(endpoints["plant"], "ns=2;s=Line1.Labeler.GlueTempSp", "168")
    assert result["write"] == "Good"
    assert plant.engine.values[f"{LINE}/labeler/glue_temp_sp"] == 168.0
    refused = await _node_client(endpoints["plant"], "ns=2;s=Line1.Labeler.GlueTempSp", "500")
    assert refused["write"] == "BadOutOfRange"
    assert plant.engine.values[f"{LINE}/labeler/glue_temp_sp"] == 168.0

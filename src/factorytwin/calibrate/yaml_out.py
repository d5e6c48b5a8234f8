"""Writing a calibrated line into a copy of its plant-model file.

The file is edited in place of a round trip (ruamel.yaml): comments, order and every other block
stay as they were. In each calibrated station's ``sim:`` block the processing time, the failure
law and the scrap rate are replaced; everything else (failure mode, setup, machines, wear) stays.
The result is validated like any model file before it is returned.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from ..model import parse_model
from ..model.schema import Distribution
from .line import Calibration

__all__ = ["calibrated_yaml", "write_calibrated"]

_REPLACED = ("processing_time", "mtbf", "mttr", "time_to_failure", "time_to_repair", "scrap_rate")


def calibrated_yaml(source: str, calibration: Calibration) -> str:
    """The model file ``source`` (YAML text) with the calibrated stations' ``sim`` blocks."""
    yaml = YAML(typ="rt")
    yaml.width = 120
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # the layout of factorytwin's model files
    data = yaml.load(source)
    line = _line(data, calibration.line_path)
    stamp = f"calibrated from {_iso(calibration.start)} to {_iso(calibration.end)}" + (
        f", validation {calibration.validation.relative_difference:+.1%}" if calibration.validation else ""
    )
    by_id = {s["id"]: s for s in line["stations"]}
    for fitted, station in zip(calibration.stations, calibration.line.stations, strict=True):
        block = by_id[fitted.id]["sim"]
        sim = station.sim
        for key in _REPLACED:
            if key in block:
                del block[key]
        block.insert(0, "processing_time", _dist(sim.processing_time))
        if sim.mtbf is not None and sim.mttr is not None:
            block["mtbf"], block["mttr"] = _round(sim.mtbf), _round(sim.mttr)
        elif sim.time_to_failure is not None and sim.time_to_repair is not None:
            block["time_to_failure"], block["time_to_repair"] = _dist(sim.time_to_failure), _dist(sim.time_to_repair)
        if sim.scrap_rate:
            block["scrap_rate"] = _round(sim.scrap_rate)
        by_id[fitted.id].yaml_add_eol_comment(stamp, "sim")
    out = io.StringIO()
    yaml.dump(data, out)
    text = out.getvalue()
    parse_model(text, "calibrated model")  # a calibrated file is a valid model file
    return text


def write_calibrated(source: str, calibration: Calibration, path: str) -> None:
    """Write the calibrated copy of ``source`` to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(calibrated_yaml(source, calibration))


def _line(data: Any, path: str) -> Any:
    enterprise = data["enterprise"]
    for site in enterprise["sites"]:
        for area in site["areas"]:
            for line in area["lines"]:
                if "/".join((enterprise["id"], site["id"], area["id"], line["id"])) == path:
                    return line
    raise KeyError(path)


def _dist(d: Distribution) -> CommentedMap:
    """A distribution on one line, as the model files write them: ``{dist: normal, mean: 1.2, cv: 0.1}``."""
    out = CommentedMap({"dist": d.dist})
    if d.dist == "empirical":
        out["values"] = list(d.values or [])
    else:
        out["mean"] = _round(d.mean)
        if d.cv and d.dist in ("normal", "lognormal"):
            out["cv"] = _round(d.cv)
    out.fa.set_flow_style()
    return out


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

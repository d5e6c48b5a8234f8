"""Reading a model file: YAML with line numbers, pydantic validation, cross checks.

Every problem becomes a ModelIssue naming the file, the line and the key, e.g.
``plant.yaml:42: enterprise.sites[lyon].areas[bottling].lines[line1].stations[capper].sim.mttr: ...``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ..errors import ModelError, ModelIssue
from .checks import Loc, check_model
from .schema import PlantModel

__all__ = ["json_schema", "load_model", "parse_model"]


def load_model(path: str | Path) -> PlantModel:
    """Read and validate a model file; raise ModelError listing every problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError([ModelIssue(name, None, "", f"cannot read the file: {exc}")]) from exc
    return parse_model(text, name)


def parse_model(text: str, name: str = "<model>") -> PlantModel:
    """Validate a model given as YAML text; ``name`` is used in error messages."""
    data = _parse_yaml(text, name)
    if not isinstance(data, dict):
        raise ModelError([ModelIssue(name, 1, "", "the file must hold a mapping (key: value) at the top")])
    try:
        plain = _plain(data)
    except TypeError:
        raise ModelError(
            [ModelIssue(name, None, "", "mapping keys must be plain names, not lists or mappings")]
        ) from None
    try:
        model = PlantModel.model_validate(plain)
    except ValidationError as exc:
        issues = [_issue(name, data, _loc(err), _message(err)) for err in exc.errors()]
        raise ModelError(issues) from None
    problems = check_model(model)
    if problems:
        raise ModelError([_issue(name, data, loc, msg) for loc, msg in problems])
    return model


def json_schema() -> str:
    """Return the JSON Schema of the model file format."""
    schema = PlantModel.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "factorytwin plant model"
    return json.dumps(schema, indent=2)


def _parse_yaml(text: str, name: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ModelError([ModelIssue(name, line, "", f"YAML syntax: {problem}")]) from None
    except YAMLError as exc:
        raise ModelError([ModelIssue(name, None, "", f"YAML syntax: {exc}")]) from None
    except RecursionError:
        raise ModelError([ModelIssue(name, None, "", "YAML syntax: nesting too deep")]) from None


def _plain(node: Any) -> Any:
    """Convert ruamel's round-trip containers into plain dicts and lists."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _loc(err: Any) -> Loc:
    loc = tuple(err["loc"])
    return (*loc, "kind") if err["type"] == "union_tag_invalid" else loc


def _message(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "union_tag_invalid":
        return f"unknown kind '{err['ctx']['tag']}'; expected one of {err['ctx']['expected_tags']}"
    if err["type"] == "missing":
        return "required key is missing"
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see `factorytwin schema`)"
    return msg.removeprefix("Value error, ")


def _issue(name: str, data: Any, loc: Loc, message: str) -> ModelIssue:
    """Locate a pydantic/check location in the YAML tree: the deepest line and a readable key."""
    node: Any = data
    line: int | None = None
    key = ""
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            key = f"{key}.{part}" if key else str(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            item = node[part]
            label = item.get("id", part) if isinstance(item, dict) else part
            key = f"{key}[{label}]"
            node = item
        elif part == "[key]" or (isinstance(node, CommentedMap) and node.get("kind") == part):
            continue  # pydantic's markers: an invalid mapping key, or the tag of a source kind
        elif isinstance(node, CommentedMap) and isinstance(part, str) and not part.startswith(("function-", "literal")):
            key = f"{key}.{part}" if key else part  # a missing key: keep the parent's line
            node = None
    return ModelIssue(name, line, key, message)

"""The code stays a place people want to work in: lint, format, types, layers, exports."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import factorytwin

from .conftest import ROOT

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "src", "tests", "bench"],
        ["ruff", "format", "--check", "src", "tests", "bench"],
        ["mypy"],
        ["lint-imports"],
    ],
    ids=["ruff", "ruff-format", "mypy", "import-linter"],
)
def test_static_checks_pass(command: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(factorytwin.__path__, "factorytwin.")]


@pytest.mark.parametrize("name", _modules())
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names missing {item}"
    defined_here = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == name
    }
    assert defined_here <= set(exported), f"{name} defines public names not in __all__: {defined_here - set(exported)}"
    for item in exported:
        obj = getattr(module, item)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), f"{name}.{item} has no docstring"


def test_modules_stay_short() -> None:
    long = {
        p.relative_to(ROOT): n for p in (ROOT / "src").rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, f"modules over 400 lines: {long}"

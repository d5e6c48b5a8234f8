"""Every Python example in docs/ runs as written."""

from __future__ import annotations

import re

import pytest

from .conftest import ROOT

BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
EXAMPLES = [
    pytest.param(code, id=f"{page.name}:{n}")
    for page in sorted((ROOT / "docs").glob("*.md"))
    for n, code in enumerate(BLOCK.findall(page.read_text()), start=1)
]


@pytest.mark.parametrize("code", EXAMPLES)
def test_doc_example_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    exec(compile(code, "<docs example>", "exec"), {"__name__": "__docs__"})

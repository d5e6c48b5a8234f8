"""Small plant models for tests: one line ``e/s/a/l`` with the stations and buffers a test needs."""

from __future__ import annotations

from textwrap import dedent, indent

__all__ = ["one_line"]

HEAD = """\
factorytwin: 1
enterprise:
  id: e
  sites:
    - id: s
      areas:
        - id: a
          lines:
            - id: l
              stations:
"""


def one_line(stations: str, buffers: str = "") -> str:
    """A model file of line ``e/s/a/l``; ``stations`` and ``buffers`` are YAML lists, at any indentation."""
    text = HEAD + indent(dedent(stations).strip("\n"), " " * 16) + "\n"
    if buffers:
        text += "              buffers:\n" + indent(dedent(buffers).strip("\n"), " " * 16) + "\n"
    return text

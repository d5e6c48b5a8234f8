#!/usr/bin/env bash
# Set up a development environment in .venv: factorytwin (editable) with its test tools.
# Safe to run again; it only installs what is missing. Needs Python >= 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "factorytwin needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py="$(find_python)"
  if ! "$py" -m venv .venv 2>/dev/null; then
    echo "python venv module missing; installing it with the OS package manager" >&2
    if command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    fi
    "$py" -m venv .venv
  fi
fi

stamp=.venv/.factorytwin-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
echo "factorytwin ready: $(.venv/bin/factorytwin --version 2>/dev/null || echo installed) in .venv" >&2

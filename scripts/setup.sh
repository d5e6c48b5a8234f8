#!/usr/bin/env bash
# Set up a development environment in .venv: factorytwin (editable) with its test tools.
# With --test, also what the tests run against: protocol peers that are not ours (node-opcua via
# Node.js, mbpoll, mosquitto_sub), Mosquitto brokers and Debian's Chromium, from the OS package manager when missing.
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
apt_install() {
  if command -v apt-get >/dev/null 2>&1; then
    [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "please install: $*" >&2; return 1
  fi
}

if [ "${1:-}" = "--test" ]; then
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  command -v mosquitto_sub >/dev/null 2>&1 && [ -x /usr/sbin/mosquitto ] || apt_install mosquitto mosquitto-clients
  command -v mbpoll >/dev/null 2>&1 || apt_install mbpoll  # a Modbus client that is not ours
  [ -x /usr/bin/chromium ] || apt_install chromium  # the dashboard's browser tests (never downloaded)
  if [ ! -d tests/peers/node_modules/node-opcua-client ]; then
    (cd tests/peers && npm install --silent --no-audit --no-fund --no-package-lock >/dev/null)
  fi
fi

echo "factorytwin ready: $(.venv/bin/factorytwin --version 2>/dev/null || echo installed) in .venv" >&2

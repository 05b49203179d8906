#!/usr/bin/env bash
# `make setup`: everything a fresh machine needs, one line per step on the terminal, the rest in
# .build/setup.log. Steps: the Debian packages the harness and the manifests' [system] tables
# name (apt-get, as root), the Python environment in $VENV (pip, when pyproject.toml changed),
# and each manifest's `setup` steps. On failure: the log's tail and the command to retry.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
mkdir -p .build
log="$PWD/.build/setup.log"
: >>"$log"

step() {  # step "what" command...: run it with output to the log; one line on the terminal
  local what=$1; shift
  printf 'setup: %s ... ' "$what"
  echo "=== $(date -u +%FT%TZ) $what: $*" >>"$log"
  if "$@" >>"$log" 2>&1; then
    echo ok
  else
    local code=$?
    echo "FAILED (exit $code)"
    echo "--- last lines of $log:" >&2
    tail -n 25 "$log" >&2
    echo "--- retry with: $*   (or: make setup)" >&2
    exit "$code"
  fi
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@"
}

missing=$($PYTHON scripts/system_packages.py)
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: system packages missing: $missing" >&2
    echo "error: not running as root, so they cannot be installed here. Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y $missing" >&2
    exit 1
  fi
  step "system packages ($missing)" apt_install $missing
fi

stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -x "$VENV/bin/python" ] || step "python environment ($VENV)" "$PYTHON" -m venv "$VENV"
  step "pip: upgrade" "$VENV/bin/python" -m pip install -q --upgrade pip
  step "pip: the harness (pyproject.toml)" "$VENV/bin/python" -m pip install -q -e '.[dev]'
  touch "$stamp"
fi
# The manifests' own set-up steps (each service's dependencies in the harness's environment).
"$VENV/bin/python" -m harness setup --log "$log"

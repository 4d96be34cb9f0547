# Shared helpers for driftwatch's scripts (sourced, not run).
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOTO_VERSION=5.2.5

# Cargo's target dir: a fixed cache outside the clone when it is writable (so reruns and CI
# are incremental), else ./target.
setup_target_dir() {
  if [ -z "${CARGO_TARGET_DIR:-}" ]; then
    if mkdir -p /var/cache/driftwatch 2>/dev/null && [ -w /var/cache/driftwatch ]; then
      export CARGO_TARGET_DIR=/var/cache/driftwatch/target
    else
      export CARGO_TARGET_DIR="$ROOT/target"
    fi
  fi
}

# moto's server in a venv. Kept beside the cargo cache when possible so reruns skip pip.
setup_moto() {
  local venv
  if [ -n "${DRIFTWATCH_VENV:-}" ]; then
    venv=$DRIFTWATCH_VENV
  elif mkdir -p /var/cache/driftwatch 2>/dev/null && [ -w /var/cache/driftwatch ]; then
    venv=/var/cache/driftwatch/venv-moto-$MOTO_VERSION
  else
    venv="$ROOT/.venv-moto"
  fi
  if [ ! -x "$venv/bin/moto_server" ]; then
    python3 -c 'import ensurepip, venv' 2>/dev/null || need_tools python3-venv
    echo "==> installing moto[server]==$MOTO_VERSION into $venv (PyPI, ~20 s)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  export DRIFTWATCH_MOTO_SERVER="$venv/bin/moto_server"
  export DRIFTWATCH_PYTHON="$venv/bin/python"
}

free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# wait_http URL [seconds]
wait_http() {
  local url=$1 limit=${2:-20} i=0
  until curl -sf -o /dev/null "$url"; do
    i=$((i + 1))
    if [ "$i" -gt $((limit * 20)) ]; then
      echo "timed out waiting for $url" >&2
      return 1
    fi
    sleep 0.05
  done
}

need_tools() {
  # Arguments are commands, or command:package when Debian names the package differently.
  local missing=() spec cmd pkg
  for spec in "$@"; do
    cmd=${spec%%:*}
    pkg=${spec#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "==> installing ${missing[*]} from Debian"
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "missing tools: ${missing[*]} (install them and rerun)" >&2
      return 1
    fi
  fi
}

#!/usr/bin/env bash
# Scale-out benchmark (README, Performance): ACCOUNTS (default 200) emulated accounts x 2
# regions in moto, watched by 1 replica and then by 3 sharded replicas on one PostgreSQL
# store; prints each replica's scopes, steady-state cycle time and memory. Installs moto
# (PyPI) and PostgreSQL (Debian) when missing; builds driftwatch (debug build, like the tests).
#
#     scripts/bench_shard.sh [ACCOUNTS=200]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ACCOUNTS=${1:-200}
need_tools curl python3 psql:postgresql-client
setup_target_dir
setup_moto
cargo build --quiet --bin driftwatch
BIN=$CARGO_TARGET_DIR/debug/driftwatch
MOTO_PORT=$(free_port)
"$DRIFTWATCH_MOTO_SERVER" -H 127.0.0.1 -p "$MOTO_PORT" >/dev/null 2>&1 &
MOTO_PID=$!
pg=$("$ROOT/scripts/pg_up.sh" "$(free_port)")
pg_dir=${pg#* }
trap 'kill "$MOTO_PID" 2>/dev/null || true; "$ROOT/scripts/pg_down.sh" "$pg_dir"' EXIT
wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/"
"$DRIFTWATCH_PYTHON" bench/shard_bench.py "$BIN" "http://127.0.0.1:$MOTO_PORT" "${pg% *}" \
  "$pg_dir/password" "$ACCOUNTS"

#!/usr/bin/env bash
# The whole test suite: installs its peers (moto's server into a venv from PyPI; curl,
# sqlite3, promtool, systemd-analyze, Alertmanager, Chromium and PostgreSQL from Debian when missing; etcd
# and a kube-apiserver built from Debian's kubernetes source package (scripts/k8s_build.sh); the manifest and Dockerfile
# linters into a venv by scripts/validate_deploy.sh), then runs every unit and integration
# test, then the integration tests again with their state on PostgreSQL (a throwaway server
# from scripts/pg_up.sh; every test that runs driftwatch on a store), then the chaos suite
# (scripts/chaos.sh).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_tools curl sqlite3 python3 promtool:prometheus systemd-analyze:systemd prometheus-alertmanager chromium pg_ctlcluster:postgresql
setup_target_dir
setup_moto
# A real kube-apiserver for the Kubernetes tests: built once from Debian's source package
# (~7 min cold) and cached outside the clone.
DRIFTWATCH_K8S_BIN=$("$ROOT/scripts/k8s_build.sh" | tail -1)
export DRIFTWATCH_K8S_BIN
echo "==> cargo test (moto: $DRIFTWATCH_MOTO_SERVER)"
cargo test --all-targets "$@"
# The same integration tests on a PostgreSQL store: each test's config gets a database of its
# own on this server (tests/common/store.rs).
pg=$("$ROOT/scripts/pg_up.sh" "$(free_port)")
pg_dir=${pg#* }
trap '"$ROOT/scripts/pg_down.sh" "$pg_dir"' EXIT
store_tests=()
for f in tests/*.rs; do
  grep -qE 'Env::new|write_env|kube_env' "$f" && store_tests+=(--test "$(basename "$f" .rs)")
done
echo "==> cargo test on PostgreSQL ($((${#store_tests[@]} / 2)) test targets)"
DRIFTWATCH_TEST_PG_URL=${pg% *} DRIFTWATCH_TEST_PG_PASSWORD_FILE=$pg_dir/password \
  cargo test "${store_tests[@]}" "$@"
# The chaos suite: faults in front of moto, kill -9, a sink outage (ignored by cargo test).
"$ROOT/scripts/chaos.sh"
# kill -9 again with the state on PostgreSQL: no lost alert, duplicates only under one key.
echo "==> chaos kill -9 on PostgreSQL"
DRIFTWATCH_TEST_PG_URL=${pg% *} DRIFTWATCH_TEST_PG_PASSWORD_FILE=$pg_dir/password CHAOS_KILL_RUNS=100 \
  cargo test --test chaos -- --ignored --nocapture kill_nine_loses_no_alert

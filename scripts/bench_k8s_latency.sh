#!/usr/bin/env bash
# Kubernetes detection latency: a real kube-apiserver (scripts/k8s_up.sh), `driftwatch run`
# (release build) watching it, N ClusterRoleBindings created one after another; prints the
# time from each API call's return to the webhook alert's arrival (median, p95, max).
#
# Usage: scripts/bench_k8s_latency.sh [N]     (default 20)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/driftwatch/target-release}
setup_moto
DRIFTWATCH_K8S_BIN=$("$ROOT/scripts/k8s_build.sh" | tail -1)
export DRIFTWATCH_K8S_BIN DRIFTWATCH_BENCH_CHANGES=${1:-20}
cargo test --release --test kubernetes detection_latency_benchmark -- --ignored --nocapture 2>&1 \
  | grep -E "^kubernetes detection latency|panicked|error"

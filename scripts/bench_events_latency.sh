#!/usr/bin/env bash
# AWS event path latency: moto's server with its SQS, `driftwatch run` (debug build, the test
# profile) reading CloudTrail events from the queue, N security-group rules opened one after
# another, each followed by its event; prints the time from each API call's return to the
# webhook alert's arrival (median, p95, max). CloudTrail's and EventBridge's own delivery
# (seconds in AWS) is not in it.
#
# Usage: scripts/bench_events_latency.sh [N]     (default 30)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
setup_target_dir
setup_moto
export DRIFTWATCH_BENCH_CHANGES=${1:-30}
cargo test --test aws_events event_latency_benchmark -- --ignored --nocapture 2>&1 \
  | grep -E "^aws event path latency|panicked|error"

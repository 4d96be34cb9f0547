#!/usr/bin/env bash
# The driftwatch demo: a local AWS emulator (moto), a seeded ML-platform account, one planned
# and one unplanned change, an alert to a local webhook receiver, and an auditor's report.
# Installs what it needs (moto into a venv from PyPI); needs cargo, python3 and curl.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_tools curl python3
setup_target_dir
echo "==> building driftwatch (a cold build of the AWS SDK takes ~5 min on 2 cores)"
cargo build --quiet --bin driftwatch
BIN=$CARGO_TARGET_DIR/debug/driftwatch
setup_moto

OUT="$ROOT/demo-out"
rm -rf "$OUT"
mkdir -p "$OUT"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

MOTO_PORT=$(free_port)
HOOK_PORT=$(free_port)
"$DRIFTWATCH_MOTO_SERVER" -H 127.0.0.1 -p "$MOTO_PORT" >"$OUT/moto.log" 2>&1 &
pids+=($!)
python3 scripts/webhook_receiver.py "$HOOK_PORT" "$OUT/webhook.jsonl" &
pids+=($!)
wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/"
wait_http "http://127.0.0.1:$HOOK_PORT/"

export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
export DRIFTWATCH_CONFIG="$ROOT/config/driftwatch.example.toml"
export DRIFTWATCH_STATE_DIR="$OUT/state"
export DRIFTWATCH_WEBHOOK_URL="http://127.0.0.1:$HOOK_PORT/alerts"
# The console shows scan's table; the log sink's lines go to demo-out/driftwatch.log.
export DRIFTWATCH_LOG=info

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "moto's AWS emulator on 127.0.0.1:$MOTO_PORT, webhook receiver on 127.0.0.1:$HOOK_PORT"
"$DRIFTWATCH_PYTHON" scripts/seed_demo.py "$AWS_ENDPOINT_URL" seed

step "driftwatch records check config/changes"
"$BIN" records check config/changes

step "driftwatch scan   (first sight of the account: the baseline, no alerts)"
"$BIN" scan 2>>"$OUT/driftwatch.log"

step "Changes to the account: two planned (a standard record, a Terraform plan), one not"
"$DRIFTWATCH_PYTHON" scripts/seed_demo.py "$AWS_ENDPOINT_URL" planned
"$DRIFTWATCH_PYTHON" scripts/seed_demo.py "$AWS_ENDPOINT_URL" unplanned

step "driftwatch scan   (two matched changes, one naming its plan address; two unmatched with findings, alerts to the webhook)"
set +e
"$BIN" scan 2>>"$OUT/driftwatch.log"
code=$?
set -e
echo "scan exit code: $code (1 = unplanned changes found)"
[ "$code" = 1 ] || { echo "demo: expected exit code 1" >&2; exit 1; }
sleep 0.3
alerts=$(wc -l <"$OUT/webhook.jsonl" 2>/dev/null || echo 0)
echo "webhook receiver got $alerts alert(s): $OUT/webhook.jsonl"
[ "$alerts" -ge 2 ] || { echo "demo: expected at least 2 alerts at the webhook" >&2; exit 1; }

step "driftwatch run with [aws.events]   (a CloudTrail event on the queue: decided and attributed within seconds, no poll needed)"
QUEUE=$("$DRIFTWATCH_PYTHON" scripts/seed_demo.py "$AWS_ENDPOINT_URL" queue)
HTTP_PORT=$(free_port)
# The example config with the event path on, its records dir kept absolute, its listener on a
# free port, and no poll during the demo (interval one hour).
sed -e "s#^dir = \"changes\"#dir = \"$ROOT/config/changes\"#" \
    -e "s#^listen = .*#listen = \"127.0.0.1:$HTTP_PORT\"#" \
    -e "s#^interval_secs = .*#interval_secs = 3600#" \
  "$ROOT/config/driftwatch.example.toml" >"$OUT/driftwatch-events.toml"
printf '\n[aws.events]\nqueue_url = "%s"\nwait_secs = 1\n' "$QUEUE" >>"$OUT/driftwatch-events.toml"
before=$(wc -l <"$OUT/webhook.jsonl")
"$BIN" -c "$OUT/driftwatch-events.toml" run 2>>"$OUT/driftwatch.log" &
RUN_PID=$!
pids+=("$RUN_PID")
wait_http "http://127.0.0.1:$HTTP_PORT/readyz"
for _ in $(seq 1 100); do grep -q "cycle complete" "$OUT/driftwatch.log" && break; sleep 0.1; done
sent=$(date +%s%N)
"$DRIFTWATCH_PYTHON" scripts/seed_demo.py "$AWS_ENDPOINT_URL" event "$QUEUE"
for _ in $(seq 1 300); do
  [ "$(wc -l <"$OUT/webhook.jsonl")" -gt "$before" ] && grep -q 'demo-0001-6443' "$OUT/webhook.jsonl" && break
  sleep 0.1
done
took=$(( ($(date +%s%N) - sent) / 1000000 ))
"$DRIFTWATCH_PYTHON" - "$OUT/webhook.jsonl" "$took" <<'PY' || { echo "demo: the event path alert did not arrive" >&2; exit 1; }
import json, sys
alerts = [json.loads(l)["alert"] for l in open(sys.argv[1])]
hit = [a for a in alerts if (a.get("attribution") or {}).get("event_id") == "demo-0001-6443"]
if not hit:
    sys.exit(1)
a, e = hit[0], hit[0]["attribution"]
print(f"    alert after {sys.argv[2]} ms: {a['title']}")
print(f"    actor: {a['actor']}  ({e['identity_type']}, {e['client']}, from {e['source_ip']}, CloudTrail event {e['event_id']})")
PY
kill -TERM "$RUN_PID"; wait "$RUN_PID" 2>/dev/null || true

step "driftwatch obligations   (each unplanned change owes a retrospective record within 24 h)"
"$BIN" obligations

step "driftwatch ledger verify"
"$BIN" ledger verify

step "driftwatch report"
"$BIN" report --since 1d --format html -o "$OUT/report.html"
"$BIN" report --since 1d --format xlsx -o "$OUT/report.xlsx"
"$BIN" report --since 1d --format markdown -o "$OUT/report.md"
"$BIN" report --since 1d --format json -o "$OUT/report.json"
echo
echo "Report: $OUT/report.html (open it in a browser; also report.xlsx, report.md, report.json)."
echo "driftwatch's own log: $OUT/driftwatch.log"

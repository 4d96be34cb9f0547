#!/usr/bin/env bash
# Side by side with Cloud Custodian on the same moto data: N security groups x 5 rules (+ IAM
# users, roles, policies). Runs, in alternation and ROUNDS times, a release `driftwatch scan`
# (baseline on a fresh state, then steady state) and a Custodian policy run finding world-open
# SSH, and prints wall time, user+sys CPU and peak RSS per tool (from /usr/bin/time -v), and
# the ratios. Installs moto and c7n (own venv: it pins its own boto3) from PyPI.
#
#     scripts/bench_vs_custodian.sh [GROUPS=2000] [ROUNDS=3]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
GROUPS_N=${1:-2000}
ROUNDS=${2:-3}
C7N_VERSION=0.9.53

need_tools curl python3 bc /usr/bin/time:time
setup_moto
if [ -z "${DRIFTWATCH_RELEASE_TARGET:-}" ]; then
  if [ -w /var/cache/driftwatch ]; then DRIFTWATCH_RELEASE_TARGET=/var/cache/driftwatch/target-release; else DRIFTWATCH_RELEASE_TARGET="$ROOT/target"; fi
fi
echo "==> release build (a cold build takes ~20 min on 2 cores)"
# The bench profile (release settings) shares its build with `cargo bench`.
CARGO_TARGET_DIR=$DRIFTWATCH_RELEASE_TARGET cargo build --profile bench --quiet --bin driftwatch
BIN=$DRIFTWATCH_RELEASE_TARGET/release/driftwatch

C7N_VENV=${DRIFTWATCH_C7N_VENV:-/var/cache/driftwatch/venv-c7n-$C7N_VERSION}
[ -w "$(dirname "$C7N_VENV")" ] || C7N_VENV="$ROOT/.venv-c7n"
if [ ! -x "$C7N_VENV/bin/custodian" ]; then
  echo "==> installing c7n==$C7N_VERSION into $C7N_VENV"
  python3 -m venv "$C7N_VENV"
  "$C7N_VENV/bin/pip" install -q --disable-pip-version-check "c7n==$C7N_VERSION"
fi

WORK=$(mktemp -d)
trap 'kill "$MOTO_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$(free_port)
"$DRIFTWATCH_MOTO_SERVER" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
wait_http "http://127.0.0.1:$PORT/moto-api/"
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
echo "==> seeding"
"$DRIFTWATCH_PYTHON" bench/seed_many.py "$AWS_ENDPOINT_URL" "$GROUPS_N"
mkdir -p "$WORK/dw/changes"
cp bench/driftwatch-bench.toml "$WORK/dw/driftwatch.toml"

# measure LABEL CMD... -> appends "label wall user+sys rss_mb" to $WORK/results
measure() {
  local label=$1; shift
  /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/out.txt" 2>&1 || true
  local wall user sys rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  user=$(awk -F': ' '/User time/ {print $2}' "$WORK/time.txt")
  sys=$(awk -F': ' '/System time/ {print $2}' "$WORK/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
  echo "$label $wall $(echo "$user + $sys" | bc -l) $(echo "$rss / 1024" | bc -l)" >>"$WORK/results"
}

for round in $(seq 1 "$ROUNDS"); do
  echo "==> round $round/$ROUNDS"
  rm -rf "$WORK/dw/state"
  measure driftwatch-baseline "$BIN" --config "$WORK/dw/driftwatch.toml" scan
  measure driftwatch-steady "$BIN" --config "$WORK/dw/driftwatch.toml" scan
  rm -rf "$WORK/c7n"
  measure custodian "$C7N_VENV/bin/custodian" run -s "$WORK/c7n" --cache-period 0 -r us-east-1 bench/custodian-policy.yml
  found=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$WORK/c7n/sg-world-open-ssh/resources.json" 2>/dev/null || echo "?")
  echo "    custodian found $found world-open SSH groups"
done
echo
echo "$GROUPS_N security groups x 5 rules; median of $ROUNDS rounds (moto's own time to answer is in every wall time)"
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, wall, cpu, rss = line.split()
    rows.setdefault(label, []).append((float(wall), float(cpu), float(rss)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in rows.items()}
print(f"{'tool':<22}{'wall s':>9}{'cpu s':>9}{'peak RSS MB':>13}")
for k in ("driftwatch-baseline", "driftwatch-steady", "custodian"):
    if k in med:
        w, c, r = med[k]
        print(f"{k:<22}{w:>9.2f}{c:>9.2f}{r:>13.0f}")
if "custodian" in med:
    cw, cc, cr = med["custodian"]
    for k in ("driftwatch-baseline", "driftwatch-steady"):
        if k in med:
            w, c, r = med[k]
            print(f"custodian / {k}: cpu x{cc / max(c, 1e-3):.1f}, wall x{cw / max(w, 1e-3):.2f}, rss x{cr / max(r, 1e-3):.1f}")
PY

#!/usr/bin/env bash
# Stop what scripts/k8s_up.sh started in $D: everything, or only the named parts
# (`scripts/k8s_down.sh apiserver` leaves etcd running for a restart).
D=${D:-${TMPDIR:-/tmp}/driftwatch-k8s}
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(apiserver etcd)
for p in "${parts[@]}"; do
  if [ -f "$D/$p.pid" ]; then
    pid=$(cat "$D/$p.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$D/$p.pid"
  fi
done

#!/usr/bin/env bash
# Start a real Kubernetes API server for tests: etcd + kube-apiserver v1.20.2 (built by
# scripts/k8s_build.sh) on 127.0.0.1 only, RBAC enforced, a static admin token, and service
# account token signing (for TokenRequest), and the audit log driftwatch attributes changes
# from ($D/audit.log, with deploy/apiserver/audit-policy.yaml). Writes $D/kubeconfig (admin),
# $D/pki/tokens.csv (admin and alice) and pid files.
# Idempotent: what is already running is left alone, so calling it again after
# `scripts/k8s_down.sh apiserver` restarts only the API server on the same etcd.
#
# Environment: D (state dir, default /tmp/driftwatch-k8s), DRIFTWATCH_K8S_BIN (binaries; default
# from scripts/k8s_build.sh), ETCD_PORT, ETCD_PEER_PORT, API_PORT.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
D=${D:-${TMPDIR:-/tmp}/driftwatch-k8s}
BIN=${DRIFTWATCH_K8S_BIN:-$("$ROOT/scripts/k8s_build.sh" | tail -1)}
ETCD_PORT=${ETCD_PORT:-23790}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-23800}
API_PORT=${API_PORT:-16443}
mkdir -p "$D/pki"

alive() { [ -f "$D/$1.pid" ] && kill -0 "$(cat "$D/$1.pid")" 2>/dev/null; }

cd "$D/pki"
if [ ! -f tokens.csv ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=driftwatch-test-ca" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' > ext.cnf
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile ext.cnf 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  echo "$(openssl rand -hex 16),admin,admin-uid,\"system:masters\"" > tokens.csv
  # A second person, for tests that tell users apart (the audit log names who did what).
  echo "$(openssl rand -hex 16),alice,alice-uid,\"system:masters\"" >> tokens.csv
fi
TOKEN=$(head -1 tokens.csv | cut -d, -f1)
cd "$D"
if ! alive etcd; then
  etcd --name driftwatch-test --data-dir "$D/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "driftwatch-test=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn >> "$D/etcd.log" 2>&1 &
  echo $! > "$D/etcd.pid"
fi
if ! alive apiserver; then
  "$BIN/kube-apiserver" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" --insecure-port=0 \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --tls-cert-file="$D/pki/apiserver.crt" --tls-private-key-file="$D/pki/apiserver.key" \
    --client-ca-file="$D/pki/ca.crt" \
    --token-auth-file="$D/pki/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$D/pki/sa.key" \
    --service-account-signing-key-file="$D/pki/sa.key" --api-audiences=https://kubernetes.default.svc \
    --service-cluster-ip-range=10.96.0.0/16 --service-node-port-range=30000-32767 \
    --audit-policy-file="$ROOT/deploy/apiserver/audit-policy.yaml" --audit-log-path="$D/audit.log" \
    --audit-log-format=json --audit-log-maxsize=100 \
    --v=1 >> "$D/apiserver.log" 2>&1 &
  echo $! > "$D/apiserver.pid"
fi
cat > "$D/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $D/pki/ca.crt
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KC
for i in $(seq 1 600); do
  if curl -fsS --cacert "$D/pki/ca.crt" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1; then
    echo "kube-apiserver ready on 127.0.0.1:$API_PORT after ${i}x0.1s"
    exit 0
  fi
  alive apiserver || { echo "kube-apiserver exited"; tail -30 "$D/apiserver.log"; exit 1; }
  sleep 0.1
done
echo "kube-apiserver not ready"; tail -30 "$D/apiserver.log"; exit 1

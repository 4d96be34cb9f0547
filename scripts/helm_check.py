#!/usr/bin/env python3
"""Lint and render deploy/helm/driftwatch with Helm's own Go SDK (the helm-python-sdk wheel
binds libhelm_c; no helm binary is needed), for scripts/validate_deploy.sh: `helm lint
--strict` and `helm template` with the default values (one replica, SQLite on a claim) and
with ha.enabled (two replicas on PostgreSQL, the Lease's Role, a PodDisruptionBudget). The
rendered manifests go to OUTDIR/default.yaml and OUTDIR/ha.yaml for kubernetes-validate.
Exits 1 naming every problem.

Usage: helm_check.py CHART OUTDIR
"""
import sys

import helm_python as helm

chart_dir, out = sys.argv[1], sys.argv[2]
HA = {"ha": {"enabled": True, "postgres": {"url": "postgres://driftwatch@db.internal:5432/driftwatch"}}}
problems = []

for label, values in (("default", None), ("ha", HA)):
    report = helm.lint(chart_dir, values, strict=True, kube_version="v1.33.0")
    for m in report.get("messages") or []:
        # 1 info, 2 warning, 3 error; strict lint fails on warnings too.
        if m.get("severity", 0) >= 2:
            problems.append(f"helm lint ({label}): {m.get('path')}: {m.get('error')}")
    for e in report.get("errors") or []:
        problems.append(f"helm lint ({label}): {e}")
    chart = helm.Chart.load(chart_dir)
    rendered = chart.render(values, name="driftwatch", namespace="driftwatch", is_install=True)
    docs = [text for path, text in sorted(rendered.items())
            if path.endswith(".yaml") and text.strip()]
    with open(f"{out}/{label}.yaml", "w") as f:
        f.write("\n---\n".join(docs))
    text = "\n".join(docs)
    kinds = sorted(line.split(":", 1)[1].strip() for line in text.splitlines()
                   if line.startswith("kind:"))
    print(f"helm template ({label}): {len(kinds)} objects: {', '.join(kinds)}")
    want = {"default": ["PersistentVolumeClaim", "replicas: 1"],
            "ha": ["PodDisruptionBudget", "kind: Role\n", "replicas: 2", "DRIFTWATCH_PG_PASSWORD",
                   'store = { url = "postgres://driftwatch@db.internal:5432/driftwatch"',
                   'ha = { election = "kubernetes"', "port: 5432"]}[label]
    for needle in want:
        if needle not in text:
            problems.append(f"helm template ({label}): no `{needle.strip()}` in the output")
    if label == "ha" and "PersistentVolumeClaim" in text:
        problems.append("helm template (ha): a volume claim, though the state is in PostgreSQL")

# ha.enabled without a store URL is refused with a message naming the value.
try:
    helm.Chart.load(chart_dir).render({"ha": {"enabled": True}}, name="driftwatch", namespace="driftwatch")
    problems.append("helm template: ha.enabled without ha.postgres.url rendered")
except Exception as e:  # HelmRenderError
    if "ha.postgres.url" not in str(e):
        problems.append(f"helm template: ha.enabled without a URL failed without naming it: {e}")

for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)

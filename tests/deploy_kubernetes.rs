//! The deployment files in deploy/: the offline validator (schemas, kustomization, hadolint)
//! passes, the pod and RBAC keep their security properties, and the in-cluster config and
//! change records are accepted by the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn show(out: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The driftwatch binary with no driftwatch variables inherited from the caller.
fn driftwatch(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
    cmd.current_dir(cwd)
        .env_remove("DRIFTWATCH_CONFIG")
        .env_remove("DRIFTWATCH_STATE_DIR")
        .env_remove("DRIFTWATCH_LOG_FORMAT")
        .env_remove("DRIFTWATCH_LOG")
        .env_remove("DRIFTWATCH_WEBHOOK_URL");
    cmd
}

#[test]
fn validate_deploy_script_passes() {
    let out = Command::new("bash")
        .arg(root().join("scripts/validate_deploy.sh"))
        .current_dir(root())
        .output()
        .expect("run scripts/validate_deploy.sh");
    assert!(
        out.status.success(),
        "scripts/validate_deploy.sh failed\n{}",
        show(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("deploy validation passed"),
        "no verdict line\n{}",
        show(&out)
    );
}

/// The items of a YAML list that starts on `lines[i]` after `key:`: a flow list on the same
/// line (`key: [a, b]`, `key: ["a"]`) or a block list on the following, more indented lines.
fn yaml_list(lines: &[&str], i: usize, key: &str) -> Vec<String> {
    let line = lines[i];
    let indent = line.len() - line.trim_start().len();
    let after = line
        .trim_start()
        .trim_start_matches("- ")
        .strip_prefix(key)
        .and_then(|s| s.strip_prefix(':'))
        .unwrap_or_else(|| panic!("line {} is not `{key}:`: {line}", i + 1));
    let after = after.split(" #").next().unwrap_or("").trim();
    let clean = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
    if !after.is_empty() {
        let inner = after
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or_else(|| panic!("line {}: `{key}:` is not a list: {line}", i + 1));
        return inner
            .split(',')
            .map(clean)
            .filter(|s| !s.is_empty())
            .collect();
    }
    let mut items = Vec::new();
    for l in &lines[i + 1..] {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let ind = l.len() - t.len();
        match t.strip_prefix("- ") {
            Some(item) if ind >= indent => items.push(clean(item.split(" #").next().unwrap_or(""))),
            _ => break,
        }
    }
    items
}

/// Lines that are not YAML comments.
fn code_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect()
}

#[test]
fn deployment_is_hardened_and_rbac_is_read_only() {
    let deployment = read("deploy/kubernetes/deployment.yaml");
    let lines = code_lines(&deployment);
    for needle in [
        "readOnlyRootFilesystem: true",
        "runAsNonRoot: true",
        "allowPrivilegeEscalation: false",
        "RuntimeDefault",
        "/readyz",
        "/healthz",
        "type: Recreate",
        "replicas: 1",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(needle)),
            "deployment.yaml lacks `{needle}`"
        );
    }
    let drops: Vec<Vec<String>> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("drop:"))
        .map(|(i, _)| yaml_list(&lines, i, "drop"))
        .collect();
    assert!(
        !drops.is_empty() && drops.iter().all(|d| d.iter().any(|c| c == "ALL")),
        "deployment.yaml must drop ALL capabilities: {drops:?}"
    );

    let role = read("deploy/kubernetes/clusterrole.yaml");
    assert!(
        !role.to_lowercase().contains("secrets"),
        "clusterrole.yaml mentions secrets"
    );
    let lines = code_lines(&role);
    let verb_lists: Vec<Vec<String>> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.trim_start()
                .trim_start_matches("- ")
                .starts_with("verbs:")
        })
        .map(|(i, _)| yaml_list(&lines, i, "verbs"))
        .collect();
    let rules = lines.iter().filter(|l| l.contains("apiGroups:")).count();
    assert!(rules > 0, "clusterrole.yaml has no rules");
    assert_eq!(
        verb_lists.len(),
        rules,
        "every rule needs a verbs: line we can read"
    );
    for verbs in &verb_lists {
        assert!(!verbs.is_empty(), "an empty verbs list");
        for v in verbs {
            assert!(
                ["get", "list", "watch"].contains(&v.as_str()),
                "clusterrole.yaml grants `{v}`; only get, list and watch are allowed"
            );
        }
    }
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("resources:") {
            let resources = yaml_list(&lines, i, "resources");
            assert!(
                !resources.iter().any(|r| r == "*" || r.contains("secret")),
                "clusterrole.yaml: resources {resources:?}"
            );
        }
    }
}

#[test]
fn in_cluster_config_passes_config_check() {
    // The records directory (/etc/driftwatch/changes) does not exist here: config check does
    // not need it.
    let out = driftwatch(&root())
        .args([
            "--config",
            "deploy/kubernetes/driftwatch.toml",
            "config",
            "check",
        ])
        .env("DRIFTWATCH_WEBHOOK_URL", "http://127.0.0.1:9/hook")
        .output()
        .expect("run driftwatch config check");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "state_dir: /var/lib/driftwatch",
        "records.dir: /etc/driftwatch/changes",
        "sink oncall-webhook: webhook url <redacted>",
    ] {
        assert!(
            stdout.contains(needle),
            "missing `{needle}`\n{}",
            show(&out)
        );
    }
    assert!(
        !stdout.contains("127.0.0.1:9/hook"),
        "the webhook URL was printed\n{}",
        show(&out)
    );
}

#[test]
fn in_cluster_change_records_pass_records_check() {
    let out = driftwatch(&root())
        .args(["records", "check", "deploy/kubernetes/changes"])
        .output()
        .expect("run driftwatch records check");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn ha_overlay_config_passes_config_check_and_its_role_writes_only_the_lease() {
    let out = driftwatch(&root())
        .args([
            "--config",
            "deploy/kubernetes-ha/driftwatch.toml",
            "config",
            "check",
        ])
        .env("DRIFTWATCH_WEBHOOK_URL", "http://127.0.0.1:9/hook")
        .env("DRIFTWATCH_PG_PASSWORD", "not-shown")
        .output()
        .expect("run driftwatch config check");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "store: PostgreSQL postgres://driftwatch@postgres.driftwatch.svc:5432/driftwatch"
        ),
        "{}",
        show(&out)
    );
    assert!(!stdout.contains("not-shown"), "{}", show(&out));
    assert!(
        stdout.contains("ha: election Kubernetes, lease_duration_secs 15, replicas 1 (one active, the others waiting)"),
        "{}",
        show(&out)
    );
    // The Deployment patch gives the password variable config names.
    let patch = read("deploy/kubernetes-ha/deployment-patch.yaml");
    assert!(patch.contains("name: DRIFTWATCH_PG_PASSWORD"), "{patch}");
    assert!(
        read("deploy/kubernetes-ha/driftwatch.toml")
            .contains("password_env = \"DRIFTWATCH_PG_PASSWORD\"")
    );

    // The Role: leases only; create, and get/update of the one Lease the config names.
    let role = read("deploy/kubernetes-ha/role.yaml");
    let lines = code_lines(&role);
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        if t.starts_with("resources:") {
            assert_eq!(yaml_list(&lines, i, "resources"), ["leases"], "{role}");
        }
        if t.starts_with("verbs:") {
            for v in yaml_list(&lines, i, "verbs") {
                assert!(
                    ["create", "get", "update"].contains(&v.as_str()),
                    "{v}: {role}"
                );
            }
        }
        if t.starts_with("resourceNames:") {
            // lease_name defaults to driftwatch.
            assert_eq!(
                yaml_list(&lines, i, "resourceNames"),
                ["driftwatch"],
                "{role}"
            );
        }
    }
}

//! The Kubernetes source against a real kube-apiserver (v1.20, built from Debian's source
//! package by scripts/k8s_build.sh and started by scripts/k8s_up.sh): baseline, an unplanned
//! ClusterRoleBinding to cluster-admin, a Service patched to NodePort, a planned change, an API
//! server restart in the middle of the watch, and the shipped read-only RBAC being enough.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Env, KubeApi, Receiver, Running, Settings, kube_apply};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

const CLUSTER: &str = "live";

/// A config watching only the cluster, alerting to `hook`.
fn kube_env(kubeconfig: &Path, hook: Option<&str>) -> Env {
    let env = Env::new(&Settings::default());
    let mut text = format!(
        r#"state_dir = "state"
interval_secs = 2
shutdown_drain_secs = 5
[records]
dir = "changes"
[sources]
blind_after_failures = 2
[kubernetes]
debounce_ms = 100
error_window_secs = 20
[[kubernetes.clusters]]
name = "{CLUSTER}"
kubeconfig = "{}"
[http]
enabled = false
[[sinks]]
type = "log"
"#,
        kubeconfig.display()
    );
    if let Some(url) = hook {
        text.push_str(&format!(
            "[[sinks]]\ntype = \"webhook\"\nname = \"hook\"\nurl = \"{url}\"\ntimeout_secs = 2\nmax_attempts = 5\n"
        ));
    }
    env.write_config_text(&text);
    env
}

fn shop_namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
}

fn web_service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"type": "ClusterIP", "selector": {"app": "web"},
                 "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}})
}

fn admin_binding(name: &str, user: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})
}

const PLANNED_ROLE: &str = r#"
id: CHG-K8S-1
title: The shop team may manage its own ConfigMaps
type: standard
requested_by: ana@example.com
approved_by: [{ name: lee@example.com, at: 2026-01-05T09:00:00Z }]
scope:
  - provider: kubernetes
    cluster: live
    kind: rbac.authorization.k8s.io/v1/Role
    target: shop/*
    actions: [create]
"#;

/// Webhook alerts for changes (not driftwatch's own events), parsed.
fn change_alerts(hook: &Receiver) -> Vec<Value> {
    hook.requests()
        .iter()
        .map(|r| r.json())
        .filter(|v| v["drift_id"].is_string())
        .collect()
}

fn wait_alert(hook: &Receiver, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut found = None;
    common::wait_until(what, Duration::from_secs(30), || {
        found = change_alerts(hook).into_iter().find(|a| pred(a));
        found.is_some()
    });
    found.expect("found")
}

/// One scope's entry in `scan --format json` output.
fn scope_in(scan: &Value, scope: &str) -> Value {
    scan["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .find(|s| s["scope"] == scope)
        .unwrap_or_else(|| panic!("no {scope}: {scan}"))
        .clone()
}

fn ledger_changes(env: &Env) -> Vec<Value> {
    env.ledger()
        .into_iter()
        .filter(|e| e["type"] == "change")
        .collect()
}

/// With the API server's audit log, a change names the user who made it (alice with her
/// token, admin with his), not the field manager both share; and a record approved by alice
/// covering her own change is a segregation-of-duties problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_names_who_changed_it() {
    let k8s = KubeApi::start();
    let admin = k8s.client().await;
    kube_apply(&admin, shop_namespace()).await;
    let hook = Receiver::start();
    let env = kube_env(&k8s.kubeconfig, Some(&hook.url));
    let text = std::fs::read_to_string(&env.config).expect("config");
    let text = text.replace(
        "[http]\n",
        &format!("audit_log = \"{}\"\n[http]\n", k8s.audit_log().display()),
    );
    std::fs::write(&env.config, text).expect("config");
    env.record(
        "chg-shop.yaml",
        "id: CHG-SHOP\ntitle: Shop web service\ntype: standard\nrequested_by: bob@example.com\napproved_by: [{ name: alice@example.com, at: 2026-01-05T09:00:00Z }]\nscope:\n  - provider: kubernetes\n    cluster: live\n    kind: v1/Service\n    target: shop/*\n    actions: [create]\n",
    );
    let mut run = Running::start(env.command(&["run"]));
    run.wait_log("baseline recorded", Duration::from_secs(60));
    let alice_kc = k8s.kubeconfig_with_token("alice.kubeconfig", &k8s.token("alice"));
    let alice = common::kube_client(&alice_kc).await;
    kube_apply(&alice, admin_binding("alice-made", "eve@example.com")).await;
    kube_apply(&admin, admin_binding("admin-made", "eve@example.com")).await;
    kube_apply(&alice, web_service()).await;
    let by_alice = wait_alert(&hook, "alice's binding", |a| {
        a["resource_id"] == "alice-made"
    });
    assert_eq!(by_alice["actor"], "alice", "{by_alice:#}");
    assert_eq!(by_alice["attribution"]["via"], "audit_log");
    assert_eq!(by_alice["attribution"]["identity_type"], "kubernetes_user");
    assert_eq!(
        by_alice["attribution"]["event_name"],
        "patch clusterrolebindings"
    );
    assert_eq!(by_alice["attribution"]["source_ip"], "127.0.0.1");
    let audit_id = by_alice["attribution"]["event_id"]
        .as_str()
        .expect("audit id")
        .to_string();
    let log = std::fs::read_to_string(k8s.audit_log()).expect("audit log");
    assert!(
        log.lines()
            .any(|l| l.contains(&audit_id) && l.contains("alice-made")),
        "the audit id is the API server's"
    );
    let by_admin = wait_alert(&hook, "admin's binding", |a| {
        a["resource_id"] == "admin-made"
    });
    assert_eq!(by_admin["actor"], "admin", "{by_admin:#}");
    // alice approved the record that covers her own Service change.
    common::wait_until("the service decided", Duration::from_secs(30), || {
        ledger_changes(&env)
            .iter()
            .any(|e| e["resource_id"] == "shop/web")
    });
    let web = ledger_changes(&env)
        .into_iter()
        .find(|e| e["resource_id"] == "shop/web")
        .expect("entry");
    assert_eq!(web["decision"], "matched", "{web:#}");
    assert_eq!(web["actor_role"], "approver", "{web:#}");
    run.signal("TERM");
    assert_eq!(run.wait_exit(Duration::from_secs(20)), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_changes_are_decided_and_survive_an_apiserver_restart() {
    let k8s = KubeApi::start();
    let client = k8s.client().await;
    kube_apply(&client, shop_namespace()).await;
    kube_apply(&client, web_service()).await;
    let hook = Receiver::start();
    let env = kube_env(&k8s.kubeconfig, Some(&hook.url));
    env.record("chg-k8s-1.yaml", PLANNED_ROLE);
    let mut run = Running::start(env.command(&["run"]));
    run.wait_log("baseline recorded", Duration::from_secs(60));

    // An unplanned ClusterRoleBinding to cluster-admin: unmatched, critical, with the actor.
    let t = Instant::now();
    kube_apply(
        &client,
        admin_binding("contractor-admin", "mallory@example.com"),
    )
    .await;
    let a = wait_alert(&hook, "the cluster-admin binding alert", |a| {
        a["resource_id"] == "contractor-admin"
    });
    eprintln!(
        "cluster-admin binding: alert delivered {} ms after the API call returned",
        t.elapsed().as_millis()
    );
    assert_eq!(a["event"], "unmatched", "{a}");
    assert_eq!(a["severity"], "critical", "{a}");
    assert_eq!(a["provider"], "kubernetes");
    assert_eq!(a["scope"], format!("kubernetes:{CLUSTER}"));
    assert_eq!(a["kind"], "rbac.authorization.k8s.io/v1/ClusterRoleBinding");
    assert_eq!(a["action"], "create");
    assert_eq!(a["actor"], "driftwatch-tests", "the field manager: {a}");
    assert_eq!(a["findings"][0]["rule"], "k8s_admin_binding", "{a}");

    // The Service patched to NodePort: a modify whose diff is the type only (the allocated
    // NodePort is the server's), with the exposure finding.
    let services: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "shop",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("", "v1", "Service"),
            "services",
        ),
    );
    services
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "NodePort"}})),
        )
        .await
        .expect("patch to NodePort");
    let a = wait_alert(&hook, "the NodePort alert", |a| {
        a["resource_id"] == "shop/web"
    });
    assert_eq!(a["action"], "modify", "{a}");
    assert_eq!(a["findings"][0]["rule"], "k8s_service_exposed", "{a}");
    let paths: Vec<&str> = a["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(paths, vec!["attributes.spec.type"], "{a}");

    // A change a record covers: matched, no alert.
    kube_apply(
        &client,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "configmap-editor", "namespace": "shop"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "update"]}]}),
    )
    .await;
    run.wait_log("CHG-K8S-1", Duration::from_secs(30));

    // The API server goes away: the scope fails, then is reported blind; nothing is deleted.
    let before_restart = ledger_changes(&env).len();
    k8s.stop_apiserver();
    run.wait_log("blind=true", Duration::from_secs(60));
    k8s.start_apiserver();
    // Back: the same objects are seen again with no change, and the next change is seen.
    kube_apply(&client, admin_binding("after-restart", "eve@example.com")).await;
    wait_alert(&hook, "a change after the restart", |a| {
        a["resource_id"] == "after-restart"
    });
    let changes = ledger_changes(&env);
    let new: Vec<&Value> = changes[before_restart..].iter().collect();
    assert_eq!(
        new.len(),
        1,
        "only the one real change after the restart, no false creates or deletes: {new:?}"
    );
    let decided: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {} {}", c["action"], c["resource_id"], c["decision"]))
        .collect();
    eprintln!("ledger changes: {decided:#?}");
    assert!(
        decided.contains(&"\"create\" \"shop/configmap-editor\" \"matched\"".to_string()),
        "{decided:?}"
    );
    run.signal("TERM");
    assert_eq!(run.wait_exit(Duration::from_secs(30)), 0);
}

/// Apply a manifest file from deploy/kubernetes/ (one document).
async fn apply_deploy_file(client: &kube::Client, name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("read manifest");
    let v: Value = serde_saphyr::from_str(&text).expect("parse manifest");
    kube_apply(client, v).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_read_only_cluster_role_is_enough() {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;

    let k8s = KubeApi::start();
    let admin = k8s.client().await;
    for f in [
        "namespace.yaml",
        "serviceaccount.yaml",
        "clusterrole.yaml",
        "clusterrolebinding.yaml",
    ] {
        apply_deploy_file(&admin, f).await;
    }
    // A token for the driftwatch ServiceAccount, as its pod would get one.
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), "driftwatch");
    let tr = sas
        .create_token_request(
            "driftwatch",
            &Default::default(),
            &TokenRequest {
                spec: Some(TokenRequestSpec {
                    audiences: Some(vec!["https://kubernetes.default.svc".into()]),
                    expiration_seconds: Some(3600),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .expect("token request");
    let token = tr.status.and_then(|s| s.token).expect("a token");
    let kubeconfig = k8s.kubeconfig_with_token("watcher.kubeconfig", &token);
    kube_apply(&admin, shop_namespace()).await;
    kube_apply(&admin, web_service()).await;

    // Everything the source reads, it may read: baseline, then a change.
    let env = kube_env(&kubeconfig, None);
    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let v: Value = serde_json::from_str(&out.stdout).expect("scan json");
    assert_eq!(v["scopes"][0]["status"], "baseline", "{v}");
    let resources = v["scopes"][0]["resources"].as_u64().expect("count");
    assert!(resources > 50, "the cluster's objects were listed: {v}");
    kube_apply(&admin, admin_binding("late-night-fix", "oscar@example.com")).await;
    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 1, "an unplanned change: {out}");
    let v: Value = serde_json::from_str(&out.stdout).expect("scan json");
    assert_eq!(v["scopes"][0]["status"], "ok", "{v}");
    assert_eq!(
        v["scopes"][0]["changes"][0]["resource"], "late-night-fix",
        "{v}"
    );

    // And nothing more: the same identity cannot write, nor read Secrets.
    let watcher = common::kube_client(&kubeconfig).await;
    let denied = |r: Result<Value, kube::Error>| match r {
        Err(kube::Error::Api(s)) => s.code == 403,
        _ => false,
    };
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::all(watcher.clone());
    assert!(
        denied(secrets.list(&Default::default()).await.map(|_| Value::Null)),
        "listing Secrets must be forbidden"
    );
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(watcher);
    let write = bindings
        .create(
            &Default::default(),
            &serde_json::from_value(admin_binding(
                "escalate",
                "system:serviceaccount:driftwatch:driftwatch",
            ))
            .expect("binding"),
        )
        .await
        .map(|_| Value::Null);
    assert!(denied(write), "creating a binding must be forbidden");
}

/// The CustomResourceDefinition of Istio's AuthorizationPolicy (trimmed to what the API server
/// needs: group, names, one served version with an open schema).
fn istio_authorization_policy_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "authorizationpolicies.security.istio.io"},
        "spec": {"group": "security.istio.io", "scope": "Namespaced",
            "names": {"kind": "AuthorizationPolicy", "plural": "authorizationpolicies",
                      "singular": "authorizationpolicy", "listKind": "AuthorizationPolicyList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

/// The Istio AuthorizationPolicy CRD and one policy `shop/allow-frontend` (ALLOW) in the
/// cluster, waiting until the CRD is served. Returns the policy for an action.
async fn serve_authorization_policy(admin: &kube::Client) -> impl Fn(&str) -> Value + use<> {
    kube_apply(admin, istio_authorization_policy_crd()).await;
    kube_apply(admin, shop_namespace()).await;
    // The CRD is served once established; discovery in the source resolves it.
    let policy = |action: &str| {
        json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "allow-frontend", "namespace": "shop"},
            "spec": {"action": action, "rules": [{"from": [{"source": {"namespaces": ["frontend"]}}]}]}})
    };
    let mut applied = false;
    for _ in 0..100 {
        let client = admin.clone();
        let p = policy("ALLOW");
        if tokio::spawn(async move { kube_apply(&client, p).await })
            .await
            .is_ok()
        {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(applied, "the CRD was never served");
    policy
}

/// A kind removed from the config: its stored objects are purged without one delete in the
/// ledger, and its open drift closes as unwatched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_removed_from_the_config_is_purged_without_deletes() {
    let k8s = KubeApi::start();
    let admin = k8s.client().await;
    let policy = serve_authorization_policy(&admin).await;
    let env = kube_env(&k8s.kubeconfig, None);
    let base = std::fs::read_to_string(&env.config).expect("config");
    let with_crd = base.replace(
        &format!("name = \"{CLUSTER}\"\n"),
        &format!(
            "name = \"{CLUSTER}\"\nkinds = [{{ group = \"security.istio.io\", version = \"v1\", kind = \"AuthorizationPolicy\" }}]\n"
        ),
    );
    assert_ne!(with_crd, base);
    std::fs::write(&env.config, &with_crd).expect("config");
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "baseline: {out}");
    kube_apply(&admin, policy("DENY")).await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "the policy change is unplanned: {out}");
    let drift = ledger_changes(&env)[0]["drift_id"]
        .as_str()
        .expect("drift id")
        .to_string();

    std::fs::write(&env.config, &base).expect("config without the CRD kind");
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "nothing deleted, nothing unplanned: {out}");
    assert_eq!(ledger_changes(&env).len(), 1, "no delete was recorded");
    let ledger = env.ledger();
    let purged: Vec<&Value> = ledger
        .iter()
        .filter(|e| e["type"] == "kinds_purged")
        .collect();
    assert_eq!(purged.len(), 1, "{ledger:?}");
    assert_eq!(
        purged[0]["kinds"],
        json!(["security.istio.io/v1/AuthorizationPolicy"])
    );
    assert_eq!(purged[0]["resources"], 1);
    assert!(
        ledger.iter().any(|e| e["type"] == "drift_closed"
            && e["drift_id"] == drift.as_str()
            && e["reason"] == "unwatched"),
        "{ledger:?}"
    );
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "steady: {out}");
    assert_eq!(
        env.ledger()
            .iter()
            .filter(|e| e["type"] == "kinds_purged")
            .count(),
        1,
        "purged once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_are_scopes_crds_are_watched_and_an_unreachable_one_is_reported() {
    let k8s = KubeApi::start();
    let admin = k8s.client().await;
    let policy = serve_authorization_policy(&admin).await;

    let env = kube_env(&k8s.kubeconfig, None);
    let unreachable = k8s.kubeconfig_with_token("unreachable.kubeconfig", "x");
    let text = std::fs::read_to_string(&unreachable)
        .expect("kubeconfig")
        .replace(&format!("127.0.0.1:{}", k8s.port), "127.0.0.1:9");
    std::fs::write(&unreachable, text).expect("kubeconfig");
    let mut config = std::fs::read_to_string(&env.config).expect("config");
    config = config.replace("[kubernetes]\n", "[kubernetes]\nsync_timeout_secs = 3\n");
    config.push_str(&format!(
        r#"
[[kubernetes.clusters]]
name = "mesh"
kubeconfig = "{}"
default_kinds = false
kinds = [{{ group = "security.istio.io", version = "v1", kind = "AuthorizationPolicy" }}]
[[kubernetes.clusters]]
name = "gone"
kubeconfig = "{}"
"#,
        k8s.kubeconfig.display(),
        unreachable.display()
    ));
    std::fs::write(&env.config, config).expect("config");

    let out = env.run(&["scan", "--format", "json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|_| panic!("{out}"));
    let status = |scope: &str| scope_in(&v, scope);
    assert_eq!(status("kubernetes:live")["status"], "baseline", "{v}");
    let mesh = status("kubernetes:mesh");
    assert_eq!(mesh["status"], "baseline", "{v}");
    assert_eq!(
        mesh["resources"], 1,
        "only the CRD kind is watched there: {v}"
    );
    let gone = status("kubernetes:gone");
    assert_eq!(gone["status"], "FAILED (unreachable)", "{v}");
    assert!(
        gone["error"]
            .as_str()
            .unwrap_or("")
            .contains("not listed yet"),
        "the failure says which kind and why: {gone}"
    );
    assert_eq!(out.code, 2, "a failed scope is an error: {out}");

    // A change to the custom resource is a change in its cluster's scope.
    kube_apply(&admin, policy("DENY")).await;
    let out = env.run(&["scan", "--format", "json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|_| panic!("{out}"));
    let mesh = scope_in(&v, "kubernetes:mesh");
    assert_eq!(mesh["changes"][0]["resource"], "shop/allow-frontend", "{v}");
    assert_eq!(
        mesh["changes"][0]["kind"],
        "security.istio.io/v1/AuthorizationPolicy"
    );
}

/// Not a pass/fail test: prints detection latency figures. Run it with
/// `scripts/bench_k8s_latency.sh` (release build, N changes one after another).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench_k8s_latency.sh"]
async fn detection_latency_benchmark() {
    let n: usize = std::env::var("DRIFTWATCH_BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let k8s = KubeApi::start();
    let client = k8s.client().await;
    kube_apply(&client, shop_namespace()).await;
    let hook = Receiver::start();
    let env = kube_env(&k8s.kubeconfig, Some(&hook.url));
    let mut run = Running::start(env.command(&["run"]));
    run.wait_log("baseline recorded", Duration::from_secs(60));
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("bench-{i}");
        let t = Instant::now();
        kube_apply(&client, admin_binding(&name, "bench@example.com")).await;
        wait_alert(&hook, "the benchmark alert", |a| {
            a["resource_id"] == name.as_str()
        });
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "kubernetes detection latency over {n} changes (API call returned -> webhook received, debounce_ms = 100): median {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
    run.signal("TERM");
    run.wait_exit(Duration::from_secs(30));
}

/// A Terraform plan of Kubernetes resources as a record's scope, against the real API server:
/// objects applied as planned match naming the plan's address (the planned fields in the
/// API's own shape: rules, roleRef, subjects, spec.type, policyTypes, podSelector, labels);
/// a binding applied with a subject the plan does not have is beyond plan, naming `subjects`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_resources_are_matched_against_their_plan() {
    let k8s = KubeApi::start();
    let client = k8s.client().await;
    kube_apply(&client, shop_namespace()).await;
    let env = kube_env(&k8s.kubeconfig, None);
    let plans = env.dir.path().join("changes/plans");
    std::fs::create_dir_all(&plans).expect("mkdir");
    let resource = |address: &str, tf_type: &str, after: Value| {
        json!({"address": address, "mode": "managed", "type": tf_type, "name": "x",
            "provider_name": "registry.terraform.io/hashicorp/kubernetes",
            "change": {"actions": ["create"], "before": null, "after": after,
                       "after_unknown": {"id": true, "metadata": [{"uid": true, "resource_version": true}]}}})
    };
    let meta =
        |name: &str, labels: Value| json!([{"name": name, "namespace": "shop", "labels": labels}]);
    let plan = json!({"format_version": "1.2", "terraform_version": "1.9.8", "resource_changes": [
        resource("kubernetes_role_v1.reader", "kubernetes_role_v1", json!({
            "metadata": meta("reader", json!({"team": "shop"})),
            "rule": [{"api_groups": [""], "resources": ["pods", "pods/log"], "resource_names": [], "verbs": ["get", "list"]}]})),
        resource("kubernetes_role_binding_v1.reader", "kubernetes_role_binding_v1", json!({
            "metadata": meta("reader", Value::Null),
            "role_ref": [{"api_group": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}],
            "subject": [{"api_group": "rbac.authorization.k8s.io", "kind": "User", "name": "alice", "namespace": ""}]})),
        resource("kubernetes_service_v1.web", "kubernetes_service_v1", json!({
            "metadata": meta("web", json!({"app": "web"})),
            "spec": [{"type": "ClusterIP", "selector": {"app": "web"},
                      "port": [{"port": 80, "target_port": "8080", "protocol": "TCP", "name": "", "node_port": null}]}]})),
        resource("kubernetes_network_policy_v1.deny", "kubernetes_network_policy_v1", json!({
            "metadata": meta("deny-all", Value::Null),
            "spec": [{"policy_types": ["Ingress"], "pod_selector": [{"match_labels": null, "match_expressions": []}], "ingress": []}]})),
    ]});
    std::fs::write(plans.join("pr-7.json"), plan.to_string()).expect("plan");
    env.record(
        "pr-7.yaml",
        "id: CHG-7\ntitle: PR 7, shop RBAC and service\ntype: standard\nrequested_by: ana@example.com\napproved_by: [{ name: lee@example.com, at: 2026-01-05T09:00:00Z }]\nplan: { path: plans/pr-7.json, cluster: live }\n",
    );
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "baseline: {out}");

    kube_apply(&client, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "reader", "namespace": "shop", "labels": {"team": "shop"}},
        "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}]})).await;
    kube_apply(
        &client,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "reader", "namespace": "shop"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
                     {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "eve"}]}),
    )
    .await;
    kube_apply(&client, web_service()).await;
    kube_apply(
        &client,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "deny-all", "namespace": "shop"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
    )
    .await;
    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 1, "the binding beyond plan: {out}");
    let v: Value = serde_json::from_str(&out.stdout).expect("scan json");
    let changes = scope_in(&v, &format!("kubernetes:{CLUSTER}"))["changes"].clone();
    let decision = |kind: &str| {
        changes
            .as_array()
            .expect("changes")
            .iter()
            .find(|c| c["kind"].as_str().is_some_and(|k| k.ends_with(kind)))
            .unwrap_or_else(|| panic!("no {kind} in {changes:#}"))["decision"]
            .clone()
    };
    for (kind, address) in [
        ("/Role", "kubernetes_role_v1.reader"),
        ("/Service", "kubernetes_service_v1.web"),
        ("/NetworkPolicy", "kubernetes_network_policy_v1.deny"),
    ] {
        let d = decision(kind);
        assert_eq!(d["decision"], "matched", "{kind}: {d:#}");
        let reason = d["reason"].as_str().expect("reason");
        assert!(
            reason.contains(&format!("(plan {address})")) && reason.contains("as planned"),
            "{reason}"
        );
    }
    let binding = decision("/RoleBinding");
    assert_eq!(binding["violation"], "beyond_plan", "{binding:#}");
    let reason = binding["reason"].as_str().expect("reason");
    assert!(
        reason.contains(r#"applied beyond plan kubernetes_role_binding_v1.reader: subjects: observed also {"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"eve"}"#),
        "{reason}"
    );
}

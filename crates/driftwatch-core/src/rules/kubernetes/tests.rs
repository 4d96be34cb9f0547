//! Tests of the Kubernetes risk rules on hand-built objects.

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::model::{ResourceKey, Scope};

fn res(group: &str, kind: &str, id: &str, attributes: Value) -> Resource {
    Resource::new(
        ResourceKey {
            scope: Scope::Kubernetes {
                cluster: "c".into(),
            },
            kind: Kind::kubernetes(group, "v1", kind),
            id: id.into(),
        },
        id.into(),
        vec![id.into()],
        Default::default(),
        attributes,
    )
}

fn change(action: Action, before: Option<Resource>, after: Option<Resource>) -> Change {
    let key = after
        .as_ref()
        .or(before.as_ref())
        .map(|r| r.key.clone())
        .expect("a side");
    Change::new(
        key,
        action,
        before,
        after,
        Vec::new(),
        "2026-11-29T03:00:00Z".parse::<Timestamp>().expect("ts"),
    )
}

fn crb(role: &str, subjects: Value) -> Resource {
    res(
        RBAC,
        "ClusterRoleBinding",
        "ops",
        json!({"roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role}, "subjects": subjects}),
    )
}

fn svc(ty: &str, ranges: Value) -> Resource {
    res(
        "",
        "Service",
        "shop/web",
        json!({"spec": {"type": ty, "loadBalancerSourceRanges": ranges, "ports": [{"port": 80}]}}),
    )
}

fn rules(fs: &[Finding]) -> Vec<RuleId> {
    fs.iter().map(|f| f.rule).collect()
}

#[test]
fn resource_table() {
    let wild = res(
        RBAC,
        "ClusterRole",
        "everything",
        json!({"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
    );
    let reader = res(
        RBAC,
        "ClusterRole",
        "reader",
        json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
    );
    let health = res(
        RBAC,
        "ClusterRole",
        "health",
        json!({"rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}),
    );
    let ctx = ScopeContext::from_resources(&[wild.clone(), reader.clone(), health]);
    let user = json!([{"kind": "User", "name": "alice"}]);
    let cases: Vec<(&str, Resource, Vec<RuleId>)> = vec![
        (
            "binding to cluster-admin",
            crb("cluster-admin", user.clone()),
            vec![RuleId::K8sAdminBinding],
        ),
        (
            "binding to a wildcard role",
            crb("everything", user.clone()),
            vec![RuleId::K8sAdminBinding],
        ),
        ("binding to a reader", crb("reader", user.clone()), vec![]),
        (
            "reader for anonymous",
            crb(
                "reader",
                json!([{"kind": "User", "name": "system:anonymous"}]),
            ),
            vec![RuleId::K8sAnonymousSubject],
        ),
        (
            "admin for unauthenticated",
            crb(
                "cluster-admin",
                json!([{"kind": "Group", "name": "system:unauthenticated"}]),
            ),
            vec![RuleId::K8sAdminBinding, RuleId::K8sAnonymousSubject],
        ),
        (
            "namespaced binding to a wildcard Role",
            res(
                RBAC,
                "RoleBinding",
                "shop/x",
                json!({"roleRef": {"kind": "Role", "name": "all"},
                "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "shop"}]}),
            ),
            vec![],
        ),
        ("wildcard role", wild, vec![RuleId::K8sWildcardRole]),
        ("reader role", reader, vec![]),
        (
            "health URLs for anonymous",
            crb(
                "health",
                json!([{"kind": "Group", "name": "system:unauthenticated"}]),
            ),
            vec![RuleId::K8sAnonymousSubject],
        ),
        (
            "NodePort",
            svc("NodePort", json!(null)),
            vec![RuleId::K8sServiceExposed],
        ),
        (
            "LoadBalancer open",
            svc("LoadBalancer", json!([])),
            vec![RuleId::K8sServiceExposed],
        ),
        (
            "LoadBalancer with ranges",
            svc("LoadBalancer", json!(["10.0.0.0/8"])),
            vec![],
        ),
        ("ClusterIP", svc("ClusterIP", json!(null)), vec![]),
    ];
    for (name, r, want) in cases {
        assert_eq!(rules(&assess(&r, &ctx)), want, "{name}");
    }
}

#[test]
fn granting_only_urls_to_anyone_is_medium() {
    let health = res(
        RBAC,
        "ClusterRole",
        "health",
        json!({"rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}),
    );
    let ctx = ScopeContext::from_resources(&[health]);
    let anyone = json!([{"kind": "Group", "name": "system:unauthenticated"}]);
    let f = assess(&crb("health", anyone.clone()), &ctx);
    assert_eq!(f[0].severity, Severity::Medium);
    let f = assess(&crb("reader", anyone), &ctx);
    assert_eq!(f[0].severity, Severity::Critical);
}

#[test]
fn a_change_fires_only_new_risks() {
    let ctx = ScopeContext::default();
    let patched = change(
        Action::Modify,
        Some(svc("ClusterIP", json!(null))),
        Some(svc("NodePort", json!(null))),
    );
    assert_eq!(
        rules(&assess_change(&patched, &ctx)),
        vec![RuleId::K8sServiceExposed]
    );
    let relabelled = change(
        Action::Modify,
        Some(svc("NodePort", json!(null))),
        Some(svc("NodePort", json!(null))),
    );
    assert!(assess_change(&relabelled, &ctx).is_empty());
    let one = json!([{"kind": "User", "name": "alice"}]);
    let two = json!([{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"}]);
    let added = change(
        Action::Modify,
        Some(crb("cluster-admin", one)),
        Some(crb("cluster-admin", two)),
    );
    let f = assess_change(&added, &ctx);
    assert_eq!(rules(&f), vec![RuleId::K8sAdminBinding]);
    assert!(f[0].message.contains("User bob"), "{}", f[0].message);
    let ing = |hosts: Value| {
        res(
            NETWORKING,
            "Ingress",
            "shop/web",
            json!({"spec": {"rules": hosts}}),
        )
    };
    let new_host = change(
        Action::Modify,
        Some(ing(json!([{"host": "shop.example.com"}]))),
        Some(ing(
            json!([{"host": "shop.example.com"}, {"host": "admin.example.com"}]),
        )),
    );
    let f = assess_change(&new_host, &ctx);
    assert_eq!(rules(&f), vec![RuleId::K8sIngressNewHost]);
    assert!(
        f[0].message.contains("admin.example.com"),
        "{}",
        f[0].message
    );
}

#[test]
fn deleting_the_last_network_policy_leaves_the_namespace_open() {
    let np = |id: &str| {
        res(
            NETWORKING,
            "NetworkPolicy",
            id,
            json!({"spec": {"podSelector": {}}}),
        )
    };
    let del = change(Action::Delete, Some(np("shop/deny-all")), None);
    let none_left = ScopeContext::from_resources(&[np("other/deny-all")]);
    assert_eq!(
        rules(&assess_change(&del, &none_left)),
        vec![
            RuleId::K8sNetworkPolicyDeleted,
            RuleId::K8sNamespaceUnprotected
        ]
    );
    let one_left = ScopeContext::from_resources(&[np("shop/allow-web")]);
    assert_eq!(
        rules(&assess_change(&del, &one_left)),
        vec![RuleId::K8sNetworkPolicyDeleted]
    );
}

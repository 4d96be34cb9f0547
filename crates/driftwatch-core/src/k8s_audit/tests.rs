//! Audit lines in the shape kube-apiserver v1.20's log backend writes them.

use super::*;
use crate::model::{ApiKind, Resource, ResourceKey};

fn line(
    verb: &str,
    resource: &str,
    group: &str,
    ns: Option<&str>,
    name: Option<&str>,
    code: i64,
    extra: &str,
) -> String {
    let ns = ns
        .map(|n| format!(r#""namespace":"{n}","#))
        .unwrap_or_default();
    let name = name
        .map(|n| format!(r#""name":"{n}","#))
        .unwrap_or_default();
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"9c1e-{verb}","stage":"ResponseComplete","requestURI":"/apis/x","verb":"{verb}","user":{{"username":"alice","uid":"alice-uid","groups":["system:masters","system:authenticated"]}},{extra}"sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.20.2 (linux/amd64) kubernetes/faecb19","objectRef":{{"resource":"{resource}",{ns}{name}"apiGroup":"{group}","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":{code}}},"requestReceivedTimestamp":"2026-12-03T10:00:00.100000Z","stageTimestamp":"2026-12-03T10:00:00.120000Z"}}"#
    )
}

fn change(kind: &str, group: &str, id: &str, action: Action) -> Change {
    let key = ResourceKey {
        scope: Scope::Kubernetes {
            cluster: "prod".into(),
        },
        kind: Kind::Kubernetes(Box::new(ApiKind {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
        })),
        id: id.into(),
    };
    let r = Resource::new(
        key.clone(),
        id.into(),
        Vec::new(),
        Default::default(),
        serde_json::json!({}),
    );
    let (before, after) = match action {
        Action::Delete => (Some(r), None),
        _ => (None, Some(r)),
    };
    Change::new(
        key,
        action,
        before,
        after,
        Vec::new(),
        "2026-12-03T10:00:01Z".parse().expect("ts"),
    )
}

#[test]
fn completed_writes_are_events_and_everything_else_is_not() {
    let rbac = "rbac.authorization.k8s.io";
    let e = parse_line(&line(
        "create",
        "clusterrolebindings",
        rbac,
        None,
        Some("ops-admin"),
        201,
        "",
    ))
    .expect("valid")
    .expect("a write");
    assert_eq!(
        (
            e.verb.as_str(),
            e.username.as_str(),
            e.resource.as_str(),
            e.name.as_str()
        ),
        ("create", "alice", "clusterrolebindings", "ops-admin")
    );
    assert_eq!(e.source_ip.as_deref(), Some("10.1.2.3"));
    assert_eq!(e.at.to_string(), "2026-12-03T10:00:00.12Z");
    // (what, line, a write?)
    let none = [
        (
            "a read",
            line("get", "services", "", Some("shop"), Some("web"), 200, ""),
        ),
        (
            "a refused write",
            line("create", "services", "", Some("shop"), Some("web"), 403, ""),
        ),
        (
            "no name (a create logged at Metadata)",
            line("create", "services", "", Some("shop"), None, 201, ""),
        ),
        (
            "another stage",
            line("create", "services", "", Some("shop"), Some("web"), 201, "")
                .replace("ResponseComplete", "ResponseStarted"),
        ),
        (
            "a subresource",
            line("update", "services", "", Some("shop"), Some("web"), 200, "").replace(
                r#""apiVersion":"v1"}"#,
                r#""apiVersion":"v1","subresource":"status"}"#,
            ),
        ),
    ];
    for (what, l) in none {
        assert_eq!(parse_line(&l).expect("valid"), None, "{what}");
    }
    assert!(matches!(parse_line("{not json"), Err(AuditError::Json(_))));
    assert_eq!(
        parse_line(r#"{"kind":"EventList"}"#),
        Err(AuditError::Missing("kind: Event"))
    );
    let no_time = line("delete", "services", "", Some("shop"), Some("web"), 200, "")
        .replace("stageTimestamp", "x");
    assert_eq!(
        parse_line(&no_time),
        Err(AuditError::Missing("stageTimestamp"))
    );
}

#[test]
fn plurals_as_the_api_server_spells_them() {
    for (kind, want) in [
        ("NetworkPolicy", "networkpolicies"),
        ("Ingress", "ingresses"),
        ("Service", "services"),
        ("ClusterRoleBinding", "clusterrolebindings"),
        ("ServiceAccount", "serviceaccounts"),
        ("AuthorizationPolicy", "authorizationpolicies"),
        ("Gateway", "gateways"),
        ("Endpoints", "endpoints"),
    ] {
        assert_eq!(plural(kind), want, "{kind}");
    }
}

#[test]
fn an_event_explains_the_change_to_its_own_object_only() {
    let patch = parse_line(&line(
        "patch",
        "services",
        "",
        Some("shop"),
        Some("web"),
        200,
        "",
    ))
    .expect("valid")
    .expect("write");
    let cases = [
        (
            "the service",
            change("Service", "", "shop/web", Action::Modify),
            "prod",
            true,
        ),
        (
            "created by server-side apply",
            change("Service", "", "shop/web", Action::Create),
            "prod",
            true,
        ),
        (
            "not a delete",
            change("Service", "", "shop/web", Action::Delete),
            "prod",
            false,
        ),
        (
            "another namespace",
            change("Service", "", "dev/web", Action::Modify),
            "prod",
            false,
        ),
        (
            "another cluster",
            change("Service", "", "shop/web", Action::Modify),
            "staging",
            false,
        ),
        (
            "another kind",
            change("ServiceAccount", "", "shop/web", Action::Modify),
            "prod",
            false,
        ),
    ];
    for (what, c, cluster, want) in cases {
        assert_eq!(explains(&patch, cluster, &c), want, "{what}");
    }
    let c = change("Service", "", "shop/web", Action::Modify);
    let later = AuditEvent {
        audit_id: "later".into(),
        at: patch.at + jiff::SignedDuration::from_millis(300),
        ..patch.clone()
    };
    let events = [patch.clone(), later];
    assert_eq!(
        best(&events, "prod", &c).map(|e| e.audit_id.as_str()),
        Some("later")
    );
}

#[test]
fn impersonation_and_service_accounts_in_the_attribution() {
    let e = parse_line(&line(
        "delete",
        "networkpolicies",
        "networking.k8s.io",
        Some("shop"),
        Some("deny-all"),
        200,
        r#""impersonatedUser":{"username":"system:serviceaccount:ci:deployer"},"#,
    ))
    .expect("valid")
    .expect("write");
    let a = e.attribution();
    assert_eq!(
        a.actor,
        "system:serviceaccount:ci:deployer (impersonated by alice)"
    );
    assert_eq!(a.person.as_deref(), Some("alice"));
    assert_eq!(a.identity_type, "service_account");
    assert_eq!(a.client, "kubectl");
    assert_eq!(a.event_name, "delete networkpolicies");
    assert_eq!(a.via, "audit_log");
}

//! Kubernetes risk rules: bindings to cluster-admin or to a role that grants every verb on
//! every resource, subjects that are anyone (`system:anonymous`, `system:unauthenticated`),
//! roles granting everything, Services exposed outside the cluster without source ranges,
//! NetworkPolicies deleted (and the namespace left without one), and Ingress hosts that were
//! not served before. A change fires only the risks its new state adds, so editing a label on
//! an exposed Service does not page again.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::model::{Action, Change, Finding, Kind, Resource, RuleId, Severity};

const RBAC: &str = "rbac.authorization.k8s.io";
const NETWORKING: &str = "networking.k8s.io";

/// What the Kubernetes rules need from the rest of the scope's current state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScopeContext {
    /// Roles granting every verb on every resource: (`ClusterRole` | `Role`, id).
    wildcard_roles: BTreeSet<(String, String)>,
    /// Namespaces holding at least one NetworkPolicy.
    protected_namespaces: BTreeSet<String>,
    /// Roles whose rules only name non-resource URLs (`/healthz`, `/version`): granting them
    /// to anyone exposes no object.
    url_only_roles: BTreeSet<(String, String)>,
}

impl ScopeContext {
    pub fn from_resources(resources: &[Resource]) -> Self {
        let mut ctx = ScopeContext::default();
        for r in resources {
            match k8s_kind(&r.key.kind) {
                Some((RBAC, k @ ("Role" | "ClusterRole"))) => {
                    let a = r.attributes();
                    if grants_everything(&a) {
                        ctx.wildcard_roles.insert((k.to_string(), r.key.id.clone()));
                    } else if url_only(&a) {
                        ctx.url_only_roles.insert((k.to_string(), r.key.id.clone()));
                    }
                }
                Some((NETWORKING, "NetworkPolicy")) => {
                    if let Some((ns, _)) = r.key.id.split_once('/') {
                        ctx.protected_namespaces.insert(ns.to_string());
                    }
                }
                _ => {}
            }
        }
        ctx
    }
}

fn k8s_kind(kind: &Kind) -> Option<(&str, &str)> {
    match kind {
        Kind::Kubernetes(k) => Some((k.group.as_str(), k.kind.as_str())),
        _ => None,
    }
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A rule with `*` verbs on `*` resources.
fn grants_everything(attributes: &Value) -> bool {
    attributes
        .get("rules")
        .and_then(Value::as_array)
        .is_some_and(|rules| {
            rules.iter().any(|r| {
                strings(r.get("verbs")).contains(&"*") && strings(r.get("resources")).contains(&"*")
            })
        })
}

/// Every rule names only `nonResourceURLs` (and there is at least one rule).
fn url_only(attributes: &Value) -> bool {
    attributes
        .get("rules")
        .and_then(Value::as_array)
        .is_some_and(|rules| {
            !rules.is_empty()
                && rules.iter().all(|r| {
                    strings(r.get("resources")).is_empty()
                        && !strings(r.get("nonResourceURLs")).is_empty()
                })
        })
}

fn finding(rule: RuleId, severity: Severity, message: String) -> Finding {
    Finding {
        rule,
        severity,
        message,
    }
}

/// Each risk of a resource's state with a signature, so a change reports only new ones.
fn risks(r: &Resource, ctx: &ScopeContext) -> Vec<(String, Finding)> {
    let Some((group, kind)) = k8s_kind(&r.key.kind) else {
        return Vec::new();
    };
    let a = &r.attributes();
    let mut out = Vec::new();
    match (group, kind) {
        (RBAC, "RoleBinding" | "ClusterRoleBinding") => {
            let role_kind = a
                .pointer("/roleRef/kind")
                .and_then(Value::as_str)
                .unwrap_or("");
            let role = a
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let role_id = match (role_kind, r.key.id.split_once('/')) {
                ("Role", Some((ns, _))) => format!("{ns}/{role}"),
                _ => role.to_string(),
            };
            let role_key = (role_kind.to_string(), role_id);
            let admin = (role_kind == "ClusterRole" && role == "cluster-admin")
                || ctx.wildcard_roles.contains(&role_key);
            let anyone_severity = if ctx.url_only_roles.contains(&role_key) {
                Severity::Medium
            } else {
                Severity::Critical
            };
            let subjects = a
                .get("subjects")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for s in subjects {
                let sk = s.get("kind").and_then(Value::as_str).unwrap_or("?");
                let sn = s.get("name").and_then(Value::as_str).unwrap_or("?");
                let who = match s.get("namespace").and_then(Value::as_str) {
                    Some(ns) if sk == "ServiceAccount" => format!("{sk} {ns}/{sn}"),
                    _ => format!("{sk} {sn}"),
                };
                if admin {
                    out.push((
                        format!("admin:{who}"),
                        finding(
                            RuleId::K8sAdminBinding,
                            Severity::Critical,
                            format!(
                                "{kind} {} grants {role_kind} {role} (every verb on every resource) to {who}",
                                r.key.id
                            ),
                        ),
                    ));
                }
                if matches!(sn, "system:anonymous" | "system:unauthenticated") {
                    out.push((
                        format!("anyone:{who}"),
                        finding(
                            RuleId::K8sAnonymousSubject,
                            anyone_severity,
                            format!(
                                "{kind} {} grants {role_kind} {role} to {who}: anyone who can reach the API server",
                                r.key.id
                            ),
                        ),
                    ));
                }
            }
        }
        (RBAC, "Role" | "ClusterRole") if grants_everything(a) => out.push((
            "wildcard".into(),
            finding(
                RuleId::K8sWildcardRole,
                Severity::Critical,
                format!("{kind} {} grants every verb on every resource", r.key.id),
            ),
        )),
        ("", "Service") => {
            let ty = a
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("");
            let ranges = strings(a.pointer("/spec/loadBalancerSourceRanges"));
            if matches!(ty, "LoadBalancer" | "NodePort") && ranges.is_empty() {
                out.push((
                    format!("exposed:{ty}"),
                    finding(
                        RuleId::K8sServiceExposed,
                        Severity::High,
                        format!(
                            "Service {} is of type {ty} with no loadBalancerSourceRanges: reachable from outside the cluster",
                            r.key.id
                        ),
                    ),
                ));
            }
        }
        (NETWORKING, "Ingress") => {
            let hosts: BTreeSet<&str> = a
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .map(|rules| {
                    rules
                        .iter()
                        .map(|x| x.get("host").and_then(Value::as_str).unwrap_or("*"))
                        .collect()
                })
                .unwrap_or_default();
            for h in hosts {
                out.push((
                    format!("host:{h}"),
                    finding(
                        RuleId::K8sIngressNewHost,
                        Severity::Medium,
                        format!("Ingress {} serves host {h}", r.key.id),
                    ),
                ));
            }
        }
        _ => {}
    }
    out
}

/// Findings on a resource as it stands (a baseline's pre-existing exposure).
pub fn assess(r: &Resource, ctx: &ScopeContext) -> Vec<Finding> {
    risks(r, ctx)
        .into_iter()
        .filter(|(_, f)| f.rule != RuleId::K8sIngressNewHost)
        .map(|(_, f)| f)
        .collect()
}

/// Findings on a change: risks its new state adds, and NetworkPolicy deletions.
pub fn assess_change(c: &Change, ctx: &ScopeContext) -> Vec<Finding> {
    if c.action == Action::Delete {
        let Some((NETWORKING, "NetworkPolicy")) = k8s_kind(&c.key.kind) else {
            return Vec::new();
        };
        let mut out = vec![finding(
            RuleId::K8sNetworkPolicyDeleted,
            Severity::High,
            format!("NetworkPolicy {} deleted", c.key.id),
        )];
        if let Some((ns, _)) = c.key.id.split_once('/')
            && !ctx.protected_namespaces.contains(ns)
        {
            out.push(finding(
                RuleId::K8sNamespaceUnprotected,
                Severity::High,
                format!("namespace {ns} has no NetworkPolicy left: all traffic is allowed"),
            ));
        }
        return out;
    }
    let Some(after) = &c.after else {
        return Vec::new();
    };
    let before: BTreeSet<String> = c
        .before
        .as_ref()
        .map(|b| risks(b, ctx).into_iter().map(|(s, _)| s).collect())
        .unwrap_or_default();
    risks(after, ctx)
        .into_iter()
        .filter(|(sig, _)| !before.contains(sig))
        .map(|(_, f)| f)
        .collect()
}

#[cfg(test)]
mod tests {
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
}

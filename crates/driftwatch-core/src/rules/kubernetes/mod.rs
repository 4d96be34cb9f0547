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
mod tests;

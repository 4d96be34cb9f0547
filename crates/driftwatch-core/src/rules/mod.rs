//! Pure risk rules: a resource state or a change gives findings with a severity and a sentence.

mod iam;
mod kubernetes;

pub use kubernetes::ScopeContext;

use std::collections::BTreeMap;

use crate::model::aws::{Direction, SecurityGroupRule};
use crate::model::{Action, Change, Finding, Resource, RuleId, Severity};

/// Rule settings, built from the `[rules]` config section.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSettings {
    /// Ports that make a world-open rule critical, with a label for the message.
    pub sensitive_ports: BTreeMap<u16, String>,
    /// Severity of a world-open rule on any other port.
    pub world_open_severity: Severity,
    /// Severity of a world-open rule on a sensitive port or on all traffic.
    pub sensitive_severity: Severity,
    /// Accounts a role may trust without a finding (the organization), besides its own.
    pub trusted_accounts: Vec<String>,
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            sensitive_ports: default_sensitive_ports(),
            world_open_severity: Severity::High,
            sensitive_severity: Severity::Critical,
            trusted_accounts: Vec::new(),
        }
    }
}

/// A label for a port in messages: the default list's name, or `custom`.
pub fn port_label(port: u16) -> String {
    default_sensitive_ports()
        .remove(&port)
        .unwrap_or_else(|| "custom".to_string())
}

pub fn default_sensitive_ports() -> BTreeMap<u16, String> {
    [
        (22, "SSH"),
        (23, "Telnet"),
        (445, "SMB"),
        (1433, "SQL Server"),
        (1521, "Oracle"),
        (2379, "etcd"),
        (2380, "etcd peer"),
        (3306, "MySQL"),
        (3389, "RDP"),
        (5000, "MLflow"),
        (5432, "PostgreSQL"),
        (5601, "Kibana"),
        (6006, "TensorBoard"),
        (6379, "Redis"),
        (6443, "Kubernetes API"),
        (8265, "Ray dashboard"),
        (8888, "Jupyter"),
        (9200, "Elasticsearch"),
        (10250, "kubelet"),
        (11211, "memcached"),
        (27017, "MongoDB"),
    ]
    .into_iter()
    .map(|(p, n)| (p, n.to_string()))
    .collect()
}

/// Findings on a resource as it stands (used for a change's new state and for the
/// pre-existing exposure listed at baseline).
pub fn assess_resource(
    resource: &Resource,
    settings: &RuleSettings,
    ctx: &ScopeContext,
) -> Vec<Finding> {
    if resource.key.kind.provider() == crate::model::Provider::Kubernetes {
        return kubernetes::assess(resource, ctx);
    }
    let Some(rule) = SecurityGroupRule::from_resource(resource) else {
        return iam::assess(resource, settings);
    };
    if rule.direction != Direction::Ingress || !rule.peer.is_world() {
        return Vec::new();
    }
    let peer = rule.peer.value();
    let group = format!("{} ({})", rule.group_name, rule.group_id);
    if rule.all_traffic() {
        return vec![Finding {
            rule: RuleId::WorldOpenAllTraffic,
            severity: settings.sensitive_severity,
            message: format!("{group} allows all traffic from {peer}"),
        }];
    }
    let hits: Vec<String> = settings
        .sensitive_ports
        .iter()
        .filter(|(port, _)| rule.covers_port(**port))
        .map(|(port, label)| format!("{port} ({label})"))
        .collect();
    if !hits.is_empty() {
        return vec![Finding {
            rule: RuleId::WorldOpenSensitivePort,
            severity: settings.sensitive_severity,
            message: format!(
                "{group} opens {} {} to {peer}: sensitive port {}",
                rule.protocol,
                rule.port_text(),
                hits.join(", ")
            ),
        }];
    }
    if rule.protocol == "tcp" || rule.protocol == "udp" {
        return vec![Finding {
            rule: RuleId::WorldOpenPort,
            severity: settings.world_open_severity,
            message: format!(
                "{group} opens {} {} to {peer}",
                rule.protocol,
                rule.port_text()
            ),
        }];
    }
    Vec::new()
}

/// Findings on a change: the risks its new state introduces. Deletes remove exposure and
/// fire nothing.
/// Kubernetes changes fire only the risks their new state adds (see `kubernetes`).
pub fn assess_change(change: &Change, settings: &RuleSettings, ctx: &ScopeContext) -> Vec<Finding> {
    if change.key.kind.provider() == crate::model::Provider::Kubernetes {
        return kubernetes::assess_change(change, ctx);
    }
    let mut out = match (change.action, &change.after) {
        (Action::Create | Action::Modify, Some(after)) => assess_resource(after, settings, ctx),
        _ => Vec::new(),
    };
    out.extend(iam::assess_change(change));
    out
}

/// The highest severity among findings (`Info` when none fired).
pub fn max_severity(findings: &[Finding]) -> Severity {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::aws::fixtures::{res, rule};

    type Case = (&'static str, SecurityGroupRule, Option<(RuleId, Severity)>);

    #[test]
    fn table() {
        // (case, rule, expected (rule id, severity) or none)
        let cases: Vec<Case> = vec![
            (
                "ssh from world",
                rule("sg-1", "tcp", 22, 22, "0.0.0.0/0"),
                Some((RuleId::WorldOpenSensitivePort, Severity::Critical)),
            ),
            (
                "ssh from world over ipv6",
                rule("sg-1", "tcp", 22, 22, "::/0"),
                Some((RuleId::WorldOpenSensitivePort, Severity::Critical)),
            ),
            (
                "jupyter from world",
                rule("sg-1", "tcp", 8888, 8888, "0.0.0.0/0"),
                Some((RuleId::WorldOpenSensitivePort, Severity::Critical)),
            ),
            (
                "range covering rdp",
                rule("sg-1", "tcp", 3000, 4000, "0.0.0.0/0"),
                Some((RuleId::WorldOpenSensitivePort, Severity::Critical)),
            ),
            (
                "all traffic",
                rule("sg-1", "all", 0, 0, "0.0.0.0/0"),
                Some((RuleId::WorldOpenAllTraffic, Severity::Critical)),
            ),
            (
                "all tcp ports",
                rule("sg-1", "tcp", 0, 65535, "0.0.0.0/0"),
                Some((RuleId::WorldOpenAllTraffic, Severity::Critical)),
            ),
            (
                "https from world",
                rule("sg-1", "tcp", 443, 443, "0.0.0.0/0"),
                Some((RuleId::WorldOpenPort, Severity::High)),
            ),
            (
                "ssh from vpn",
                rule("sg-1", "tcp", 22, 22, "10.8.0.0/16"),
                None,
            ),
            (
                "icmp from world",
                rule("sg-1", "icmp", 8, 0, "0.0.0.0/0"),
                None,
            ),
        ];
        let settings = RuleSettings::default();
        for (name, r, want) in cases {
            let got: Vec<(RuleId, Severity)> =
                assess_resource(&res(r), &settings, &ScopeContext::default())
                    .into_iter()
                    .map(|f| (f.rule, f.severity))
                    .collect();
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "case: {name}");
        }
    }

    #[test]
    fn egress_to_world_is_not_exposure() {
        let mut r = rule("sg-1", "tcp", 22, 22, "0.0.0.0/0");
        r.direction = Direction::Egress;
        assert!(
            assess_resource(&res(r), &RuleSettings::default(), &ScopeContext::default()).is_empty()
        );
    }

    #[test]
    fn message_names_group_port_and_label() {
        let f = assess_resource(
            &res(rule("sg-9", "tcp", 22, 22, "0.0.0.0/0")),
            &RuleSettings::default(),
            &ScopeContext::default(),
        );
        assert_eq!(
            f[0].message,
            "sg-9-name (sg-9) opens tcp 22 to 0.0.0.0/0: sensitive port 22 (SSH)"
        );
    }
}

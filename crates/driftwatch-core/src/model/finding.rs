//! Risk findings: a rule that fired on a resource or change.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The inverse of `as_str` (stored and wire forms).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The closed set of risk rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleId {
    /// Ingress from 0.0.0.0/0 or ::/0 on a port not in the sensitive list.
    WorldOpenPort,
    /// Ingress from the world on a sensitive port (SSH, RDP, databases, Jupyter, ...).
    WorldOpenSensitivePort,
    /// Ingress from the world on every port or protocol.
    WorldOpenAllTraffic,
    /// A policy allows every action on every resource (inline policies included).
    IamAdminPolicy,
    /// A policy allows everything but a list (`NotAction` with Allow).
    IamNotActionAllow,
    /// `iam:PassRole` on any role: privilege escalation.
    IamPassRoleAny,
    /// AdministratorAccess attached.
    IamAdminAttached,
    /// PowerUserAccess or IAMFullAccess attached.
    IamPowerUserAttached,
    /// A role anyone can assume (`Principal: *`).
    IamTrustAnyone,
    /// A role trusted by an account outside the organization list.
    IamTrustExternalAccount,
    /// A new access key.
    IamNewAccessKey,
    /// A new IAM user.
    IamNewUser,
    /// Console login enabled for a user.
    IamConsoleLogin,
    /// A new access key for a user whose removal is planned (offboarding).
    IamKeyForDepartingUser,
    /// A (Cluster)RoleBinding to cluster-admin or to a role with `*` verbs on `*` resources.
    K8sAdminBinding,
    /// A binding whose subject is `system:anonymous` or `system:unauthenticated`.
    K8sAnonymousSubject,
    /// A Role or ClusterRole granting `*` verbs on `*` resources.
    K8sWildcardRole,
    /// A Service of type LoadBalancer or NodePort without `loadBalancerSourceRanges`.
    K8sServiceExposed,
    /// A NetworkPolicy deleted.
    K8sNetworkPolicyDeleted,
    /// A namespace left without any NetworkPolicy.
    K8sNamespaceUnprotected,
    /// An Ingress serving a host it did not serve before.
    K8sIngressNewHost,
}

impl RuleId {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::WorldOpenPort => "world_open_port",
            RuleId::WorldOpenSensitivePort => "world_open_sensitive_port",
            RuleId::WorldOpenAllTraffic => "world_open_all_traffic",
            RuleId::IamAdminPolicy => "iam_admin_policy",
            RuleId::IamNotActionAllow => "iam_not_action_allow",
            RuleId::IamPassRoleAny => "iam_pass_role_any",
            RuleId::IamAdminAttached => "iam_admin_attached",
            RuleId::IamPowerUserAttached => "iam_power_user_attached",
            RuleId::IamTrustAnyone => "iam_trust_anyone",
            RuleId::IamTrustExternalAccount => "iam_trust_external_account",
            RuleId::IamNewAccessKey => "iam_new_access_key",
            RuleId::IamNewUser => "iam_new_user",
            RuleId::IamConsoleLogin => "iam_console_login",
            RuleId::IamKeyForDepartingUser => "iam_key_for_departing_user",
            RuleId::K8sAdminBinding => "k8s_admin_binding",
            RuleId::K8sAnonymousSubject => "k8s_anonymous_subject",
            RuleId::K8sWildcardRole => "k8s_wildcard_role",
            RuleId::K8sServiceExposed => "k8s_service_exposed",
            RuleId::K8sNetworkPolicyDeleted => "k8s_network_policy_deleted",
            RuleId::K8sNamespaceUnprotected => "k8s_namespace_unprotected",
            RuleId::K8sIngressNewHost => "k8s_ingress_new_host",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    pub message: String,
}

//! Terraform and OpenTofu plans (`terraform show -json` / `tofu show -json`, format version
//! 1.x), pure: the plan's `resource_changes` as typed planned changes, with the resource types
//! driftwatch can reconcile separated from those it cannot (listed with their addresses, for
//! `records check` to warn about); `map` turns each planned change into the resources
//! driftwatch will observe and their planned after-states, `attach` makes them a record's
//! scope.
//! Documented schema: <https://developer.hashicorp.com/terraform/internals/json-format>.

mod attach;
mod map;
#[cfg(test)]
mod tests;

pub use attach::{Attached, PlanWarning, attach};
pub use map::{MapError, planned};

use serde_json::Value;

/// The resource types whose planned changes driftwatch reconciles with what it observes.
pub const MAPPED_TYPES: &[&str] = &[
    "aws_security_group",
    "aws_security_group_rule",
    "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule",
    "aws_iam_role",
    "aws_iam_role_policy",
    "aws_iam_policy",
    "aws_iam_role_policy_attachment",
    "aws_iam_user_policy_attachment",
    "aws_iam_group_policy_attachment",
    "aws_iam_policy_attachment",
    "aws_iam_user",
    "aws_iam_user_policy",
    "aws_iam_group",
    "aws_iam_group_policy",
    "aws_iam_group_membership",
    "aws_iam_user_group_membership",
    "aws_iam_access_key",
    "kubernetes_cluster_role",
    "kubernetes_cluster_role_v1",
    "kubernetes_cluster_role_binding",
    "kubernetes_cluster_role_binding_v1",
    "kubernetes_role",
    "kubernetes_role_v1",
    "kubernetes_role_binding",
    "kubernetes_role_binding_v1",
    "kubernetes_service",
    "kubernetes_service_v1",
    "kubernetes_network_policy",
    "kubernetes_network_policy_v1",
];

/// What a planned change does, from the plan's `actions` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanAction {
    Create,
    Update,
    Delete,
    /// `["delete", "create"]` or `["create", "delete"]`.
    Replace,
}

/// One `resource_changes` entry of a mapped type that changes something.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedChange {
    /// `aws_security_group_rule.ssh_vpn`, `module.net.aws_security_group.web["a"]`.
    pub address: String,
    pub resource_type: String,
    pub action: PlanAction,
    /// The values before (null for a create) and after (null for a delete).
    pub before: Value,
    pub after: Value,
    /// The after-values not known until apply (`true` at their paths): wildcards.
    pub after_unknown: Value,
}

/// A parsed plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub format_version: String,
    pub terraform_version: Option<String>,
    pub changes: Vec<PlannedChange>,
    /// Managed resources of types driftwatch does not reconcile: (address, type).
    pub unmapped: Vec<(String, String)>,
}

/// Why a text is not a plan driftwatch can use, naming the JSON path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("{0}: missing")]
    Missing(String),
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error(
        "format_version `{0}` is not supported (driftwatch reads 1.x, written by terraform/tofu show -json)"
    )]
    UnsupportedVersion(String),
}

fn invalid(path: String, message: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        path,
        message: message.into(),
    }
}

/// Parse `terraform show -json` output. Data sources, no-op and read changes are not
/// changes; a plan with none is valid (nothing is planned).
pub fn parse(text: &str) -> Result<Plan, PlanError> {
    let v: Value = serde_json::from_str(text).map_err(|e| PlanError::Json(e.to_string()))?;
    let format_version = v
        .get("format_version")
        .and_then(Value::as_str)
        .ok_or_else(|| PlanError::Missing("format_version".into()))?
        .to_string();
    if format_version.split('.').next() != Some("1") {
        return Err(PlanError::UnsupportedVersion(format_version));
    }
    let terraform_version = v
        .get("terraform_version")
        .and_then(Value::as_str)
        .map(str::to_string);
    let entries = match v.get("resource_changes") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(invalid("resource_changes".into(), "must be a list")),
    };
    let mut changes = Vec::new();
    let mut unmapped = Vec::new();
    for (i, rc) in entries.iter().enumerate() {
        let at = |field: &str| format!("resource_changes[{i}].{field}");
        let text = |field: &str| -> Result<String, PlanError> {
            rc.get(field)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| PlanError::Missing(at(field)))
        };
        let address = text("address")?;
        let resource_type = text("type")?;
        if rc.get("mode").and_then(Value::as_str) == Some("data") {
            continue;
        }
        let change = rc
            .get("change")
            .ok_or_else(|| PlanError::Missing(at("change")))?;
        let actions: Vec<&str> = change
            .get("actions")
            .and_then(Value::as_array)
            .ok_or_else(|| PlanError::Missing(at("change.actions")))?
            .iter()
            .map(|a| a.as_str().unwrap_or(""))
            .collect();
        let action = match actions.as_slice() {
            ["no-op"] | ["read"] => continue,
            ["create"] => PlanAction::Create,
            ["update"] => PlanAction::Update,
            ["delete"] => PlanAction::Delete,
            ["delete", "create"] | ["create", "delete"] => PlanAction::Replace,
            other => {
                return Err(invalid(
                    at("change.actions"),
                    format!("{other:?} is not an action list terraform writes"),
                ));
            }
        };
        if !MAPPED_TYPES.contains(&resource_type.as_str()) {
            unmapped.push((address, resource_type));
            continue;
        }
        let field = |k: &str| change.get(k).cloned().unwrap_or(Value::Null);
        changes.push(PlannedChange {
            address,
            resource_type,
            action,
            before: field("before"),
            after: field("after"),
            after_unknown: field("after_unknown"),
        });
    }
    Ok(Plan {
        format_version,
        terraform_version,
        changes,
        unmapped,
    })
}

impl PlannedChange {
    /// Whether the after-value at `path` (object keys) is unknown until apply: a wildcard.
    pub fn is_unknown(&self, path: &[&str]) -> bool {
        let mut cur = &self.after_unknown;
        for p in path {
            match cur {
                Value::Bool(true) => return true,
                Value::Object(m) => match m.get(*p) {
                    Some(next) => cur = next,
                    None => return false,
                },
                _ => return false,
            }
        }
        matches!(cur, Value::Bool(true))
    }
}

//! Validated change records, as the matcher sees them. The YAML schema and its validation
//! live in `records`; this is the checked result.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::change::Action;
use super::key::{Kind, Provider};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordType {
    /// Pre-approved and recurring: no window.
    Standard,
    Normal,
    /// Matches provisionally and owes a retrospective.
    Emergency,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Standard => "standard",
            RecordType::Normal => "normal",
            RecordType::Emergency => "emergency",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub name: String,
    pub at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A narrowing condition on a security-group rule's attributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeMatch {
    /// The rule's port range includes this port.
    Port(u16),
    Protocol(String),
    Direction(super::aws::Direction),
    /// The rule's peer is this CIDR, prefix list or group, or a CIDR inside this network.
    Peer(String),
}

/// One entry of a record's `scope`: every field but the provider may be omitted (= any).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeEntry {
    pub provider: Provider,
    pub account: Option<String>,
    pub region: Option<String>,
    pub cluster: Option<String>,
    pub kind: Option<Kind>,
    /// Glob over the resource's id or display name (`Resource::targets`).
    pub target: Option<String>,
    /// Empty means every action.
    pub actions: Vec<Action>,
    pub matches: Vec<AttributeMatch>,
    /// Set for an entry made from a Terraform/OpenTofu plan: the one resource it covers and
    /// the after-state the plan approved (the other fields then only narrow the scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<Box<Planned>>,
}

/// One resource a plan creates, modifies or deletes, as driftwatch will observe it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    /// The plan's address (`aws_security_group_rule.ssh_vpn`): the match reason names it.
    pub address: String,
    pub kind: Kind,
    pub locator: Locator,
    pub action: PlannedAction,
    /// Attribute values the change must have after it (dotted paths into the resource's
    /// attributes, `tags` for its tags); values unknown until apply are absent (wildcards).
    /// Empty for a delete.
    pub fields: Vec<PlannedField>,
}

/// What the plan does to the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannedAction {
    Create,
    Modify,
    Delete,
    /// Destroyed and created again under the same key: between two polls that is a modify,
    /// seen mid-apply a delete and then a create. Any of them is the plan.
    Replace,
}

impl PlannedAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PlannedAction::Create => "create",
            PlannedAction::Modify => "modify",
            PlannedAction::Delete => "delete",
            PlannedAction::Replace => "replace",
        }
    }

    /// Whether an observed action is what the plan does.
    pub fn accepts(self, observed: Action) -> bool {
        matches!(
            (self, observed),
            (PlannedAction::Replace, _)
                | (PlannedAction::Create, Action::Create)
                | (PlannedAction::Modify, Action::Modify)
                | (PlannedAction::Delete, Action::Delete)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedField {
    pub path: String,
    /// Canonical JSON of the planned value.
    pub value: String,
}

/// How a planned resource is recognised among observed changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum Locator {
    /// Its resource key id, known from the plan.
    Id(String),
    /// Its id is decided by apply (a new group's `sg-…`, a new access key): a resource of
    /// the kind carrying exactly this name (`Resource::targets`).
    Name(String),
    /// Neither id nor name is known before apply (a rule on a group the plan creates): any
    /// resource of the kind whose attributes equal every planned field.
    Shape,
}

impl std::fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locator::Id(id) => f.write_str(id),
            Locator::Name(n) => write!(f, "named {n} (id decided at apply)"),
            Locator::Shape => f.write_str("(id decided at apply)"),
        }
    }
}

/// Where a record's plan is read from: a file beside the record (`plan: plans/pr-42.json`)
/// with the account, region or cluster it applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRef {
    /// As written in the record, relative to the record file's directory.
    pub path: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub cluster: Option<String>,
    /// The record file's line of `plan`.
    pub line: u32,
}

/// Where a record was read from, for messages and reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOrigin {
    /// The file, or for an imported record its source and ticket (`github acme/infra#42`).
    pub file: String,
    pub line: u32,
    /// The ticket's web page, for an imported record (reports and alerts link to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl fmt::Display for RecordOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub id: String,
    pub title: String,
    pub record_type: RecordType,
    pub purpose: Option<String>,
    pub impact: Option<String>,
    pub resources: Option<String>,
    pub requested_by: String,
    pub approved_by: Vec<Approval>,
    pub window: Option<Window>,
    pub revert_by: Option<Timestamp>,
    pub scope: Vec<ScopeEntry>,
    pub evidence: Vec<String>,
    /// Drift ids (`d-…`) or record ids (a break-glass session) this record explains.
    pub retrospective_for: Vec<String>,
    /// When an emergency (break-glass) session was closed.
    pub closed_at: Option<Timestamp>,
    /// The Terraform/OpenTofu plan this record approves; its entries are appended to
    /// `scope` when the plan is attached (`records::plan::attach`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanRef>,
    pub origin: RecordOrigin,
}

impl ChangeRecord {
    /// The latest approval time, if approved at all.
    pub fn approved_at(&self) -> Option<Timestamp> {
        self.approved_by.iter().map(|a| a.at).max()
    }

    /// What the proven maker of a change (`person`, from CloudTrail) is to this record: one
    /// of its approvers (a segregation-of-duties problem: they approved their own change,
    /// whoever requested it), its requester, or neither.
    pub fn role_of(&self, person: &str) -> Option<PersonRole> {
        if self
            .approved_by
            .iter()
            .any(|a| same_person(&a.name, person))
        {
            Some(PersonRole::Approver)
        } else if same_person(&self.requested_by, person) {
            Some(PersonRole::Requester)
        } else {
            None
        }
    }
}

/// A change's maker as its record names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonRole {
    Requester,
    Approver,
}

impl PersonRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonRole::Requester => "requester",
            PersonRole::Approver => "approver",
        }
    }
}

/// Whether two names people go by are one person: equal ignoring case, or, when exactly
/// one is an email address, its local part equals the other (`alice` is
/// `alice@example.com`; session names are often the bare user name).
pub fn same_person(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    match (a.split_once('@'), b.split_once('@')) {
        (Some((local, _)), None) => local.eq_ignore_ascii_case(b),
        (None, Some((local, _))) => local.eq_ignore_ascii_case(a),
        _ => false,
    }
}

#[cfg(test)]
mod people_tests {
    use super::same_person;

    #[test]
    fn the_same_person_by_name_or_email() {
        let cases = [
            ("alice", "alice", true),
            ("Alice@Example.com", "alice@example.com", true),
            ("alice", "alice@example.com", true),
            ("alice@example.com", "alice", true),
            ("alice@example.com", "alice@other.org", false),
            ("alice", "malice", false),
            ("", "", false),
            ("bob", "alice@example.com", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(same_person(a, b), want, "{a} / {b}");
        }
    }
}

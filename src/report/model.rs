//! The report's model: plain data, serialized as the JSON report (docs/report.schema.json)
//! and read by every renderer.

use std::collections::BTreeMap;

use driftwatch_core::records::RejectionRule;
use serde::Serialize;

use crate::model::DecisionKind;
use crate::store::ledger::{ChangeEntry, ExposureEntry};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub generated_at: String,
    pub since: String,
    pub until: String,
    pub ledger: LedgerStatus,
    pub scopes: Vec<ScopeCoverage>,
    pub totals: Totals,
    pub changes: Vec<ReportChange>,
    pub baseline_exposures: Vec<BaselineExposure>,
    pub records: Vec<RecordUse>,
    pub break_glass: Vec<Session>,
    pub sod_violations: Vec<SodViolation>,
    /// Changes CloudTrail proves were made by an approver of the record that covered them.
    pub sod_changes: Vec<SodChange>,
    /// Planned resources of plans attached to records whose window closed in the period
    /// without driftwatch observing them.
    pub not_applied: Vec<NotApplied>,
    /// Rejected change records in the period, by the rule they broke.
    pub rejections_by_rule: BTreeMap<RejectionRule, u64>,
    pub compliance: Vec<Requirement>,
}

/// A resource a record's Terraform/OpenTofu plan changes, never observed by the window's end.
#[derive(Debug, Clone, Serialize)]
pub struct NotApplied {
    pub record_id: String,
    /// The plan's address (`aws_security_group_rule.ssh_vpn`).
    pub address: String,
    /// What the plan does: `create`, `modify`, `delete` or `replace`.
    pub action: String,
    pub kind: String,
    /// The resource's id, or how it was to be recognised when apply decides the id.
    pub resource: String,
    pub window_end: String,
    /// The plan file, as the record names it.
    pub plan: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LedgerStatus {
    pub entries: u64,
    pub head_hash: String,
    pub verified: bool,
    pub problems: Vec<String>,
    pub verified_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlindPeriod {
    pub since: String,
    /// `None` while still blind.
    pub until: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScopeCoverage {
    pub scope: String,
    pub baseline_at: Option<String>,
    pub failed_polls: u64,
    pub blind_periods: Vec<BlindPeriod>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub changes: u64,
    pub matched: u64,
    pub unmatched: u64,
    pub violations: u64,
    pub reverted: u64,
}

impl Counts {
    pub(super) fn add(&mut self, c: &ReportChange) {
        self.changes += 1;
        match c.entry.decision {
            DecisionKind::Matched => self.matched += 1,
            DecisionKind::Unmatched => self.unmatched += 1,
            DecisionKind::Violation => self.violations += 1,
        }
        if c.closed.as_ref().is_some_and(|x| x.reason == "reverted") {
            self.reverted += 1;
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    #[serde(flatten)]
    pub all: Counts,
    pub by_provider: BTreeMap<String, Counts>,
    pub by_kind: BTreeMap<String, Counts>,
    pub by_severity: BTreeMap<String, Counts>,
    /// `YYYY-MM` → counts.
    pub by_month: BTreeMap<String, Counts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub sink: String,
    pub key: String,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Closed {
    pub at: String,
    /// `reverted`, `retrospective_filed`, `reverts` (this change undid another), `matched`.
    pub reason: String,
    pub by: Option<String>,
}

/// Whether the retrospective an unplanned change owes was filed, and when.
#[derive(Debug, Clone, Serialize)]
pub struct Retrospective {
    /// `not_required`, `filed_on_time`, `filed_late`, `reverted`, `open` (before the deadline),
    /// `missing` (deadline passed).
    pub status: String,
    pub due_at: Option<String>,
    pub filed_by: Option<String>,
    pub filed_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportChange {
    #[serde(flatten)]
    pub entry: ChangeEntry,
    pub ledger_seq: i64,
    pub requester: Option<String>,
    pub approvers: Vec<String>,
    pub window: Option<String>,
    pub evidence: Vec<String>,
    pub retrospective: Retrospective,
    pub closed: Option<Closed>,
    pub alerts: Vec<Delivery>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BaselineExposure {
    pub scope: String,
    pub at: String,
    #[serde(flatten)]
    pub exposure: ExposureEntry,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordUse {
    pub id: String,
    pub title: String,
    pub record_type: String,
    pub requested_by: String,
    pub approved_by: Vec<String>,
    pub window: Option<String>,
    pub origin: String,
    /// The ticket's page, for a record imported from GitHub, Jira or Linear.
    pub url: Option<String>,
    pub evidence: Vec<String>,
    /// Drift ids this record matched (or was violated by) in the period.
    pub used_by: Vec<String>,
    pub used: bool,
    /// A standard (pre-approved) record nothing used in the period.
    pub standard_never_used: bool,
    /// A normal or emergency record whose window ended unused.
    pub window_passed_unused: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: String,
    pub title: String,
    pub requested_by: String,
    pub opened_at: String,
    pub planned_end: String,
    pub closed_at: Option<String>,
    /// Minutes from start to close (or to the planned end while unclosed).
    pub duration_minutes: i64,
    pub changes: Vec<String>,
    pub retrospective: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SodViolation {
    pub at: String,
    pub file: String,
    pub line: u32,
    pub message: String,
    /// `self_approval` or `bot_approver`.
    pub rule: RejectionRule,
}

/// A change made by someone who approved its record: the approval was of their own work.
#[derive(Debug, Clone, Serialize)]
pub struct SodChange {
    pub observed_at: String,
    pub drift_id: String,
    pub scope: String,
    pub resource: String,
    pub actor: String,
    pub record_id: String,
    /// The CloudTrail event that proves who made it.
    pub event_id: String,
}

/// A control the report evidences, pointing at its rows.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    pub framework: String,
    pub control: String,
    pub title: String,
    pub evidence: String,
    /// Report sections that hold the evidence.
    pub sections: Vec<String>,
    /// Rows that need attention (drift ids, record ids).
    pub exceptions: Vec<String>,
}

//! What driftwatch concluded about a change, and why.

use serde::{Deserialize, Serialize};

/// Why a covering record does not make a change legitimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Observed outside the record's window (plus grace).
    OutsideWindow,
    /// The record was approved after the change happened (and is not an emergency record).
    ApprovedAfterChange,
    /// A standard or normal record without any approval.
    NotApproved,
    /// A resource the record's plan changes, changed otherwise than planned: other values,
    /// or another action.
    BeyondPlan,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::OutsideWindow => "outside_window",
            ViolationKind::ApprovedAfterChange => "approved_after_change",
            ViolationKind::NotApproved => "not_approved",
            ViolationKind::BeyondPlan => "beyond_plan",
        }
    }
}

/// The matcher's verdict. Every variant says why, in a sentence a person can check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Matched {
        record_id: String,
        /// Index of the scope entry that covered the change.
        scope_entry: usize,
        /// Matched by an emergency record: a retrospective is owed.
        provisional: bool,
        reason: String,
    },
    Violation {
        record_id: String,
        scope_entry: usize,
        violation: ViolationKind,
        reason: String,
    },
    Unmatched {
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Matched,
    Violation,
    Unmatched,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Matched => "matched",
            DecisionKind::Violation => "violation",
            DecisionKind::Unmatched => "unmatched",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "matched" => Some(DecisionKind::Matched),
            "violation" => Some(DecisionKind::Violation),
            "unmatched" => Some(DecisionKind::Unmatched),
            _ => None,
        }
    }

    /// Unmatched and violating changes owe a retrospective (and are what on-call is paged for).
    pub fn needs_retrospective(self) -> bool {
        matches!(self, DecisionKind::Unmatched | DecisionKind::Violation)
    }
}

impl Decision {
    pub fn kind(&self) -> DecisionKind {
        match self {
            Decision::Matched { .. } => DecisionKind::Matched,
            Decision::Violation { .. } => DecisionKind::Violation,
            Decision::Unmatched { .. } => DecisionKind::Unmatched,
        }
    }

    pub fn record_id(&self) -> Option<&str> {
        match self {
            Decision::Matched { record_id, .. } | Decision::Violation { record_id, .. } => {
                Some(record_id)
            }
            Decision::Unmatched { .. } => None,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Decision::Matched { reason, .. }
            | Decision::Violation { reason, .. }
            | Decision::Unmatched { reason } => reason,
        }
    }

    /// Whether on-call must hear about it.
    pub fn needs_alert(&self) -> bool {
        !matches!(self, Decision::Matched { .. })
    }
}

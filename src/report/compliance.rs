//! The compliance mapping: which ISO/IEC 27001:2022 and SOC 2 requirements the report
//! evidences, where (its sections), and the exceptions an auditor should look at.

use super::{Report, Requirement};
use crate::model::DecisionKind;

/// The controls the report evidences, each with the sections holding the evidence and the
/// rows that need attention.
pub(super) fn compliance(r: &Report) -> Vec<Requirement> {
    let unplanned: Vec<String> = r
        .changes
        .iter()
        .filter(|c| c.entry.decision != DecisionKind::Matched && c.entry.reverts.is_empty())
        .map(|c| c.entry.drift_id.clone())
        .collect();
    let missing: Vec<String> = r
        .changes
        .iter()
        .filter(|c| matches!(c.retrospective.status.as_str(), "missing" | "filed_late"))
        .map(|c| c.entry.drift_id.clone())
        .collect();
    let blind: Vec<String> = r
        .scopes
        .iter()
        .filter(|s| !s.blind_periods.is_empty())
        .map(|s| s.scope.clone())
        .collect();
    let mut sod: Vec<String> = r
        .sod_violations
        .iter()
        .map(|s| format!("{}:{}", s.file, s.line))
        .collect();
    sod.extend(r.sod_changes.iter().map(|c| c.drift_id.clone()));
    let mut ledger_ex = r.ledger.problems.clone();
    ledger_ex.extend(blind.iter().map(|b| format!("blind: {b}")));
    vec![
        Requirement {
            framework: "ISO/IEC 27001:2022".into(),
            control: "6.3".into(),
            title: "Planning of changes".into(),
            evidence: format!(
                "{} of {} changes in the period were planned by an approved change record; each row names the record, its requester, approvers and window",
                r.totals.all.matched, r.totals.all.changes
            ),
            sections: vec!["changes".into(), "not_applied".into(), "records".into()],
            exceptions: unplanned.clone(),
        },
        Requirement {
            framework: "ISO/IEC 27001:2022".into(),
            control: "Annex A 8.32".into(),
            title: "Change management".into(),
            evidence: "every change to watched security configuration is detected, decided against change records, alerted when unplanned and followed to a retrospective or revert".into(),
            sections: vec!["changes".into(), "break_glass".into(), "coverage".into()],
            exceptions: missing.clone(),
        },
        Requirement {
            framework: "ISO/IEC 27001:2022".into(),
            control: "Annex A 5.3".into(),
            title: "Segregation of duties".into(),
            evidence: "records approved by their own requester or by a bot account are rejected and listed; changes CloudTrail proves were made by an approver of their record are listed".into(),
            sections: vec!["sod_violations".into()],
            exceptions: sod,
        },
        Requirement {
            framework: "SOC 2".into(),
            control: "CC8.1".into(),
            title: "Changes are authorized, tested, approved and implemented".into(),
            evidence: format!(
                "{} unmatched and {} violating changes were alerted and tracked; retrospectives are due within the configured deadline",
                r.totals.all.unmatched, r.totals.all.violations
            ),
            sections: vec!["changes".into(), "records".into()],
            exceptions: [unplanned, missing].concat(),
        },
        Requirement {
            framework: "ISO/IEC 27001:2022".into(),
            control: "Annex A 8.15 / 8.16".into(),
            title: "Logging and monitoring (evidence integrity, coverage)".into(),
            evidence: format!(
                "hash-chained ledger of {} entries, {}; blind periods are listed per scope",
                r.ledger.entries,
                if r.ledger.verified { "verified intact" } else { "FAILED verification" }
            ),
            sections: vec!["ledger".into(), "coverage".into()],
            exceptions: ledger_ex,
        },
    ]
}

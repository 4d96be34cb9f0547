//! One-line text summaries of report rows (a change's fields, findings and alerts, a scope's
//! blind periods, a record's use), shared by every renderer so the formats say the same.

use std::collections::BTreeMap;

use driftwatch_core::records::RejectionRule;

use super::{RecordUse, ReportChange, ScopeCoverage};
use crate::model::Action;
use crate::store::ledger::ChangeEntry;

/// A field's value in at most 60 characters (`∅` when absent).
fn short(v: &Option<serde_json::Value>) -> String {
    let s = match v {
        None => "∅".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// What the change did, field by field (`path: before → after`, values shortened): the first
/// six fields, then a count. A create is `new resource`, a delete `removed`.
pub fn fields_summary(c: &ChangeEntry) -> String {
    match c.action {
        Action::Create => return "new resource".into(),
        Action::Delete => return "removed".into(),
        Action::Modify => {}
    }
    let parts: Vec<String> = c
        .fields
        .iter()
        .take(6)
        .map(|f| format!("{}: {} → {}", f.path, short(&f.before), short(&f.after)))
        .collect();
    let mut s = parts.join("; ");
    if c.fields.len() > 6 {
        s.push_str(&format!("; and {} more", c.fields.len() - 6));
    }
    s
}

/// A scope's blind periods in one line (`none` when it never went blind).
pub fn blind_summary(s: &ScopeCoverage) -> String {
    if s.blind_periods.is_empty() {
        return "none".to_string();
    }
    s.blind_periods
        .iter()
        .map(|p| {
            format!(
                "{} .. {}",
                p.since,
                p.until.as_deref().unwrap_or("still blind")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Which drifts used a record, or why it went unused.
pub fn record_use_summary(r: &RecordUse) -> String {
    if r.used {
        r.used_by.join(", ")
    } else if r.standard_never_used {
        "unused (standard)".into()
    } else if r.window_passed_unused {
        "window passed unused".into()
    } else {
        "unused".into()
    }
}

/// The findings of a change, `[severity] message; …`.
pub fn findings_summary(c: &ChangeEntry) -> String {
    c.findings
        .iter()
        .map(|f| format!("[{}] {}", f.severity, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Who was told about a change: `sink delivered_at; …` (`(pending)` until delivered).
pub fn alerts_summary(c: &ReportChange) -> String {
    c.alerts
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a.sink,
                a.delivered_at.as_deref().unwrap_or("(pending)")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Rejections by rule in one line: `self_approval 2, syntax 1`.
pub fn rejections_summary(by_rule: &BTreeMap<RejectionRule, u64>) -> String {
    by_rule
        .iter()
        .map(|(rule, n)| format!("{rule} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

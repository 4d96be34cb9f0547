//! The period report: one model built from the verified ledger, the drift index, the outbox
//! (who was told) and the records in force, rendered as JSON (schema in
//! docs/report.schema.json), Markdown, HTML (self-contained), XLSX and CSV.

mod csv;
mod html;
mod markdown;
mod xlsx;

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::model::{ChangeRecord, DecisionKind, RecordType, Severity};
use crate::store::ledger::{ChangeEntry, CloseReason, ExposureEntry};
use crate::store::{Db, LedgerEvent, StoreError};

pub use csv::{CSV_COLUMNS, render_csv};
pub use html::render_html;
pub use markdown::render_markdown;
pub use xlsx::render_xlsx;

pub const SCHEMA_VERSION: u32 = 2;

/// The break-glass table's columns, the same in the HTML and XLSX reports.
pub const BREAK_GLASS_COLUMNS: [&str; 8] = [
    "Session",
    "Requested by",
    "Opened",
    "Planned end",
    "Closed",
    "Minutes",
    "Changes",
    "Retrospective",
];

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
    pub compliance: Vec<Requirement>,
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
    fn add(&mut self, c: &ReportChange) {
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

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--since {since} is not before --until {until}")]
    EmptyPeriod { since: Timestamp, until: Timestamp },
}

fn ts(t: Timestamp) -> String {
    jiff::fmt::temporal::DateTimePrinter::new()
        .precision(Some(0))
        .timestamp_to_string(&t)
}

fn retrospective(
    c: &ChangeEntry,
    closed: Option<&Closed>,
    deadline: SignedDuration,
    now: Timestamp,
) -> Retrospective {
    let needs = matches!(
        c.decision,
        DecisionKind::Unmatched | DecisionKind::Violation
    ) && c.reverts.is_empty();
    if !needs {
        return Retrospective {
            status: "not_required".into(),
            due_at: None,
            filed_by: None,
            filed_at: None,
        };
    }
    let due = c
        .observed_at
        .parse::<Timestamp>()
        .ok()
        .and_then(|t| t.checked_add(deadline).ok());
    let due_s = due.map(ts);
    match closed {
        Some(x) if x.reason == CloseReason::RetrospectiveFiled.as_str() => {
            let on_time = match (due, x.at.parse::<Timestamp>().ok()) {
                (Some(d), Some(at)) => at <= d,
                _ => false,
            };
            Retrospective {
                status: if on_time {
                    "filed_on_time"
                } else {
                    "filed_late"
                }
                .into(),
                due_at: due_s,
                filed_by: x.by.clone(),
                filed_at: Some(x.at.clone()),
            }
        }
        Some(x) if x.reason == CloseReason::Reverted.as_str() => Retrospective {
            status: "reverted".into(),
            due_at: due_s,
            filed_by: None,
            filed_at: None,
        },
        _ => Retrospective {
            status: if due.is_some_and(|d| now > d) {
                "missing"
            } else {
                "open"
            }
            .into(),
            due_at: due_s,
            filed_by: None,
            filed_at: None,
        },
    }
}

fn compliance(r: &Report) -> Vec<Requirement> {
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
    let sod: Vec<String> = r
        .sod_violations
        .iter()
        .map(|s| format!("{}:{}", s.file, s.line))
        .collect();
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
            sections: vec!["changes".into(), "records".into()],
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
            evidence: "records approved by their own requester or by a bot account are rejected and listed".into(),
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

/// Build the report for `[since, until)`. `deadline` is the retrospective deadline.
pub fn build(
    db: &Db,
    records: &[ChangeRecord],
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
    deadline: SignedDuration,
) -> Result<Report, ReportError> {
    if since >= until {
        return Err(ReportError::EmptyPeriod { since, until });
    }
    let entries = db.ledger_entries()?;
    let verify = crate::store::ledger::verify_entries(&entries);
    let mut deliveries: HashMap<String, Vec<Delivery>> = HashMap::new();
    for (key, sink, at) in db.deliveries()? {
        let subject = key.split(':').next().unwrap_or("").to_string();
        deliveries.entry(subject).or_default().push(Delivery {
            sink,
            key,
            delivered_at: at,
        });
    }
    let drifts: HashMap<String, crate::store::StoredDrift> = db
        .recent_drifts(usize::MAX / 2)?
        .into_iter()
        .map(|d| (d.drift_id.clone(), d))
        .collect();
    let by_id: HashMap<&str, &ChangeRecord> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    let (since_s, until_s) = (ts(since), ts(until));
    let in_period = |at: &str| at >= since_s.as_str() && at < until_s.as_str();
    let mut scopes: BTreeMap<String, ScopeCoverage> = BTreeMap::new();
    let mut changes = Vec::new();
    let mut exposures = Vec::new();
    let mut sod = Vec::new();
    for (name, st) in db.scopes()? {
        scopes.insert(
            name.clone(),
            ScopeCoverage {
                scope: name,
                baseline_at: st.baseline_at.map(ts),
                failed_polls: 0,
                blind_periods: Vec::new(),
            },
        );
    }
    for e in &entries {
        let Ok(event) = e.event() else { continue };
        // Blind periods that overlap the period are listed even when they began before it.
        match &event {
            LedgerEvent::SourceBlind { scope, since, .. } if e.at.as_str() < until_s.as_str() => {
                if let Some(s) = scopes.get_mut(scope) {
                    s.blind_periods.push(BlindPeriod {
                        since: since.clone(),
                        until: None,
                    });
                }
            }
            LedgerEvent::SourceRecovered { scope, .. } => {
                if let Some(p) = scopes
                    .get_mut(scope)
                    .and_then(|s| s.blind_periods.last_mut())
                    .filter(|p| p.until.is_none())
                {
                    p.until = Some(e.at.clone());
                }
            }
            _ => {}
        }
        if !in_period(&e.at) {
            continue;
        }
        match event {
            LedgerEvent::Change(c) => {
                let c = *c;
                let closed = drifts
                    .get(&c.drift_id)
                    .and_then(|d| d.closed.as_ref())
                    .map(|x| Closed {
                        at: ts(x.at),
                        reason: x.reason.as_str().to_string(),
                        by: x.by.clone(),
                    });
                let rec = c.record_id.as_deref().and_then(|id| by_id.get(id));
                changes.push(ReportChange {
                    retrospective: retrospective(&c, closed.as_ref(), deadline, now),
                    requester: rec.map(|r| r.requested_by.clone()),
                    approvers: rec
                        .map(|r| {
                            r.approved_by
                                .iter()
                                .map(|a| format!("{} ({})", a.name, a.at))
                                .collect()
                        })
                        .unwrap_or_default(),
                    window: rec
                        .and_then(|r| r.window)
                        .map(|w| format!("{} .. {}", w.start, w.end)),
                    evidence: rec.map(|r| r.evidence.clone()).unwrap_or_default(),
                    alerts: deliveries.get(&c.drift_id).cloned().unwrap_or_default(),
                    closed,
                    ledger_seq: e.seq,
                    entry: c,
                });
            }
            LedgerEvent::Baseline {
                scope,
                exposures: ex,
                ..
            } => {
                for x in ex {
                    exposures.push(BaselineExposure {
                        scope: scope.clone(),
                        at: e.at.clone(),
                        exposure: x,
                    });
                }
            }
            LedgerEvent::SourceFailed { scope, .. } => {
                if let Some(s) = scopes.get_mut(&scope) {
                    s.failed_polls += 1;
                }
            }
            LedgerEvent::RecordRejected {
                file,
                line,
                message,
                ..
            } if message.contains("is also the requester") || message.contains("bot account") => {
                sod.push(SodViolation {
                    at: e.at.clone(),
                    file,
                    line,
                    message,
                });
            }
            _ => {}
        }
    }
    // Blind periods that ended before the period are not part of it.
    for s in scopes.values_mut() {
        s.blind_periods
            .retain(|p| p.until.as_deref().is_none_or(|u| u >= since_s.as_str()));
    }
    let mut totals = Totals::default();
    for sev in [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ] {
        totals.by_severity.entry(sev.as_str().into()).or_default();
    }
    for c in &changes {
        totals.all.add(c);
        let provider = c.entry.scope.split(':').next().unwrap_or("").to_string();
        totals.by_provider.entry(provider).or_default().add(c);
        totals
            .by_kind
            .entry(c.entry.kind.clone())
            .or_default()
            .add(c);
        totals
            .by_severity
            .entry(c.entry.severity.as_str().into())
            .or_default()
            .add(c);
        let month = c.entry.observed_at.get(..7).unwrap_or("").to_string();
        totals.by_month.entry(month).or_default().add(c);
    }
    let retro_for: HashMap<&str, &str> = records
        .iter()
        .flat_map(|r| {
            r.retrospective_for
                .iter()
                .map(move |d| (d.as_str(), r.id.as_str()))
        })
        .collect();
    let record_rows: Vec<RecordUse> = records
        .iter()
        .map(|r| {
            let used_by: Vec<String> = changes
                .iter()
                .filter(|c| c.entry.record_id.as_deref() == Some(r.id.as_str()))
                .map(|c| c.entry.drift_id.clone())
                .collect();
            let used = !used_by.is_empty();
            RecordUse {
                id: r.id.clone(),
                title: r.title.clone(),
                record_type: r.record_type.as_str().into(),
                requested_by: r.requested_by.clone(),
                approved_by: r
                    .approved_by
                    .iter()
                    .map(|a| format!("{} ({})", a.name, a.at))
                    .collect(),
                window: r.window.map(|w| format!("{} .. {}", w.start, w.end)),
                origin: r.origin.to_string(),
                url: r.origin.url.clone(),
                evidence: r.evidence.clone(),
                standard_never_used: !used && r.record_type == RecordType::Standard,
                window_passed_unused: !used && r.window.is_some_and(|w| w.end < now),
                used,
                used_by,
            }
        })
        .collect();
    let break_glass: Vec<Session> = records
        .iter()
        .filter(|r| r.record_type == RecordType::Emergency)
        .filter_map(|r| {
            let w = r.window?;
            let end = r.closed_at.unwrap_or(w.end);
            Some(Session {
                id: r.id.clone(),
                title: r.title.clone(),
                requested_by: r.requested_by.clone(),
                opened_at: ts(w.start),
                planned_end: ts(w.end),
                closed_at: r.closed_at.map(ts),
                duration_minutes: end.duration_since(w.start).as_mins(),
                changes: changes
                    .iter()
                    .filter(|c| c.entry.record_id.as_deref() == Some(r.id.as_str()))
                    .map(|c| c.entry.drift_id.clone())
                    .collect(),
                retrospective: retro_for.get(r.id.as_str()).map(|s| s.to_string()),
            })
        })
        .collect();
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        generated_at: ts(now),
        since: since_s,
        until: until_s,
        ledger: LedgerStatus {
            entries: verify.entries,
            head_hash: verify.head_hash.clone(),
            verified: verify.ok(),
            problems: verify.problems,
            verified_at: ts(now),
        },
        scopes: scopes.into_values().collect(),
        totals,
        changes,
        baseline_exposures: exposures,
        records: record_rows,
        break_glass,
        sod_violations: sod,
        compliance: Vec::new(),
    };
    report.compliance = compliance(&report);
    Ok(report)
}

pub fn render_json(r: &Report) -> String {
    // A report is plain data (strings, numbers, maps with string keys): serializing it
    // cannot fail; the fallback keeps the signature infallible without a panic.
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

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
/// six fields, then a count. A create or delete lists its paths only.
pub fn fields_summary(c: &ChangeEntry) -> String {
    match c.action {
        crate::model::Action::Create => return "new resource".into(),
        crate::model::Action::Delete => return "removed".into(),
        crate::model::Action::Modify => {}
    }
    let show_values = true;
    let parts: Vec<String> = c
        .fields
        .iter()
        .take(6)
        .map(|f| {
            if show_values {
                format!("{}: {} → {}", f.path, short(&f.before), short(&f.after))
            } else {
                f.path.clone()
            }
        })
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

pub fn findings_summary(c: &ChangeEntry) -> String {
    c.findings
        .iter()
        .map(|f| format!("[{}] {}", f.severity, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

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

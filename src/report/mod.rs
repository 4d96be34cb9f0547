//! The period report: one model built from the verified ledger, the store and the records,
//! rendered as JSON (schema versioned) or Markdown. HTML and XLSX renderers come later and
//! use the same model.

mod markdown;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::model::{ChangeRecord, DecisionKind, Severity};
use crate::store::ledger::{ChangeEntry, ExposureEntry};
use crate::store::{Db, LedgerEvent, StoreError};

pub use markdown::render_markdown;

pub const SCHEMA_VERSION: u32 = 1;

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
pub struct Totals {
    pub changes: u64,
    pub matched: u64,
    pub unmatched: u64,
    pub violations: u64,
    pub by_severity: BTreeMap<String, u64>,
    pub by_kind: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub sink: String,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportChange {
    #[serde(flatten)]
    pub entry: ChangeEntry,
    pub ledger_seq: i64,
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
    pub evidence: Vec<String>,
    /// Drift ids this record matched (or was violated by) in the period.
    pub used_by: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--since {since} is not before --until {until}")]
    EmptyPeriod { since: Timestamp, until: Timestamp },
}

/// Build the report for `[since, until)`.
pub fn build(
    db: &Db,
    records: &[ChangeRecord],
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
) -> Result<Report, ReportError> {
    if since >= until {
        return Err(ReportError::EmptyPeriod { since, until });
    }
    let entries = db.ledger_entries()?;
    let verify = crate::store::ledger::verify_entries(&entries);
    let deliveries = db.deliveries()?;
    let (since_s, until_s) = (ts(since), ts(until));
    let in_period = |at: &str| at >= since_s.as_str() && at < until_s.as_str();
    let mut scopes: BTreeMap<String, ScopeCoverage> = BTreeMap::new();
    let mut totals = Totals::default();
    let mut changes = Vec::new();
    let mut exposures = Vec::new();
    for (name, st) in db.scopes()? {
        scopes.insert(
            name.clone(),
            ScopeCoverage {
                scope: name,
                baseline_at: st.baseline_at.map(|t| t.to_string()),
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
                totals.changes += 1;
                match c.decision {
                    DecisionKind::Matched => totals.matched += 1,
                    DecisionKind::Unmatched => totals.unmatched += 1,
                    DecisionKind::Violation => totals.violations += 1,
                }
                *totals
                    .by_severity
                    .entry(c.severity.as_str().into())
                    .or_default() += 1;
                *totals.by_kind.entry(c.kind.clone()).or_default() += 1;
                let alerts = deliveries
                    .iter()
                    .filter(|(key, _, _)| key.starts_with(&format!("{}:", c.drift_id)))
                    .map(|(_, sink, at)| Delivery {
                        sink: sink.clone(),
                        delivered_at: at.clone(),
                    })
                    .collect();
                changes.push(ReportChange {
                    entry: *c,
                    ledger_seq: e.seq,
                    alerts,
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
            _ => {}
        }
    }
    // Blind periods that ended before the period are not part of it.
    for s in scopes.values_mut() {
        s.blind_periods
            .retain(|p| p.until.as_deref().is_none_or(|u| u >= since_s.as_str()));
    }
    for sev in [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ] {
        totals.by_severity.entry(sev.as_str().into()).or_default();
    }
    let records = records
        .iter()
        .map(|r| RecordUse {
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
            evidence: r.evidence.clone(),
            used_by: changes
                .iter()
                .filter(|c| c.entry.record_id.as_deref() == Some(r.id.as_str()))
                .map(|c| c.entry.drift_id.clone())
                .collect(),
        })
        .collect();
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        generated_at: now.to_string(),
        since: since_s,
        until: until_s,
        ledger: LedgerStatus {
            entries: verify.entries,
            head_hash: verify.head_hash.clone(),
            verified: verify.ok(),
            problems: verify.problems,
            verified_at: now.to_string(),
        },
        scopes: scopes.into_values().collect(),
        totals,
        changes,
        baseline_exposures: exposures,
        records,
    })
}

fn ts(t: Timestamp) -> String {
    jiff::fmt::temporal::DateTimePrinter::new()
        .precision(Some(0))
        .timestamp_to_string(&t)
}

pub fn render_json(r: &Report) -> String {
    // A report is plain data (strings, numbers, maps with string keys): serializing it
    // cannot fail; the fallback keeps the signature infallible without a panic.
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

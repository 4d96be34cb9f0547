//! The report as a pure fold: stored entries, drift closures, deliveries, scopes and the
//! records in force, for one period, become the `Report`. No store in sight: what `load`
//! read, or rows built by hand in tests.

use std::collections::{BTreeMap, HashMap, HashSet};

use driftwatch_core::records::RejectionRule;
use jiff::{SignedDuration, Timestamp};

use super::{
    BaselineExposure, BlindPeriod, Closed, Delivery, KnownScope, LedgerStatus, NotApplied,
    RecordUse, Report, ReportChange, ReportError, Retrospective, SCHEMA_VERSION, ScopeCoverage,
    Session, SodChange, SodViolation, Stored, Totals, compliance::compliance, ts,
};
use crate::model::{ChangeRecord, DecisionKind, PersonRole, RecordType, Severity};
use crate::store::LedgerEvent;
use crate::store::ledger::{ChangeEntry, CloseReason, LedgerAttribution, verify_entries};

/// The report's period, `[since, until)`: never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    since: Timestamp,
    until: Timestamp,
}

impl Period {
    pub fn new(since: Timestamp, until: Timestamp) -> Result<Period, ReportError> {
        if since >= until {
            return Err(ReportError::EmptyPeriod { since, until });
        }
        Ok(Period { since, until })
    }

    pub fn since(&self) -> Timestamp {
        self.since
    }

    pub fn until(&self) -> Timestamp {
        self.until
    }
}

/// Everything a report is made of.
#[derive(Debug, Clone)]
pub struct ReportInputs<'a> {
    /// Every ledger entry in sequence order; the chain is verified while folding.
    pub entries: Vec<crate::store::LedgerEntry>,
    /// How each closed drift closed, by drift id.
    pub drifts: HashMap<String, Closed>,
    /// Every outbox row; a row belongs to the drift its key starts with (`d-…:event`).
    pub deliveries: Vec<Delivery>,
    /// The scopes the store knows; coverage lists each.
    pub scopes: Vec<KnownScope>,
    /// The records in force.
    pub records: &'a [ChangeRecord],
    pub period: Period,
    pub now: Timestamp,
    /// The retrospective deadline after an unplanned change.
    pub deadline: SignedDuration,
}

impl<'a> ReportInputs<'a> {
    /// What `load` read, with the records and the period.
    pub fn new(
        stored: Stored,
        records: &'a [ChangeRecord],
        period: Period,
        now: Timestamp,
        deadline: SignedDuration,
    ) -> Self {
        ReportInputs {
            entries: stored.entries,
            drifts: stored.drifts,
            deliveries: stored.deliveries,
            scopes: stored.scopes,
            records,
            period,
            now,
            deadline,
        }
    }
}

/// What one pass over the ledger collects.
#[derive(Default)]
struct Pass {
    scopes: BTreeMap<String, ScopeCoverage>,
    changes: Vec<ReportChange>,
    exposures: Vec<BaselineExposure>,
    sod: Vec<SodViolation>,
    rejections: BTreeMap<RejectionRule, u64>,
    /// The planned resources observed at any time: (record id, scope entry).
    applied: HashSet<(String, usize)>,
}

/// Build the report from its inputs.
pub fn fold(inputs: ReportInputs<'_>) -> Report {
    let ReportInputs {
        entries,
        drifts,
        deliveries,
        scopes,
        records,
        period,
        now,
        deadline,
    } = inputs;
    let verify = verify_entries(&entries);
    let mut alerts: HashMap<String, Vec<Delivery>> = HashMap::new();
    for d in deliveries {
        let subject = d.key.split(':').next().unwrap_or("").to_string();
        alerts.entry(subject).or_default().push(d);
    }
    let by_id: HashMap<&str, &ChangeRecord> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    let (since_s, until_s) = (ts(period.since), ts(period.until));
    let in_period = |at: &str| at >= since_s.as_str() && at < until_s.as_str();
    let mut pass = Pass::default();
    for s in scopes {
        pass.scopes.insert(
            s.scope.clone(),
            ScopeCoverage {
                scope: s.scope,
                baseline_at: s.baseline_at.map(ts),
                failed_polls: 0,
                blind_periods: Vec::new(),
            },
        );
    }
    // Attributions found later by LookupEvents, applied to their changes after the pass
    // (one may land just after the period its change belongs to).
    let mut attributed: HashMap<String, (LedgerAttribution, Option<PersonRole>)> = HashMap::new();
    for e in &entries {
        let Ok(event) = e.event() else { continue };
        // Blind periods that overlap the period are listed even when they began before it.
        match &event {
            LedgerEvent::Attributed {
                drift_id,
                attribution,
                actor_role,
                ..
            } => {
                attributed.insert(drift_id.clone(), (attribution.clone(), *actor_role));
            }
            // A planned change applied before the period (its window straddling the start)
            // was applied all the same.
            LedgerEvent::Change(c) => {
                if let (Some(r), Some(p)) = (&c.record_id, &c.plan) {
                    pass.applied.insert((r.clone(), p.scope_entry));
                }
            }
            LedgerEvent::SourceBlind { scope, since, .. } if e.at.as_str() < until_s.as_str() => {
                if let Some(s) = pass.scopes.get_mut(scope) {
                    s.blind_periods.push(BlindPeriod {
                        since: since.clone(),
                        until: None,
                    });
                }
            }
            LedgerEvent::SourceRecovered { scope, .. } => {
                if let Some(p) = pass
                    .scopes
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
                let closed = drifts.get(&c.drift_id).cloned();
                let rec = c.record_id.as_deref().and_then(|id| by_id.get(id));
                pass.changes.push(ReportChange {
                    retrospective: retrospective(&c, closed.as_ref(), deadline, now),
                    requester: rec.map(|r| r.requested_by.clone()),
                    approvers: rec.map(|r| approvals(r)).unwrap_or_default(),
                    window: rec.and_then(|r| window(r)),
                    evidence: rec.map(|r| r.evidence.clone()).unwrap_or_default(),
                    alerts: alerts.get(&c.drift_id).cloned().unwrap_or_default(),
                    closed,
                    ledger_seq: e.seq,
                    entry: c,
                });
            }
            LedgerEvent::Baseline {
                scope, exposures, ..
            } => {
                for x in exposures {
                    pass.exposures.push(BaselineExposure {
                        scope: scope.clone(),
                        at: e.at.clone(),
                        exposure: x,
                    });
                }
            }
            LedgerEvent::SourceFailed { scope, .. } => {
                if let Some(s) = pass.scopes.get_mut(&scope) {
                    s.failed_polls += 1;
                }
            }
            LedgerEvent::RecordRejected {
                file,
                line,
                field,
                message,
                rule,
            } => {
                // Entries written before rules were stored are classified from their text.
                let rule =
                    rule.unwrap_or_else(|| RejectionRule::from_legacy_message(&field, &message));
                *pass.rejections.entry(rule).or_default() += 1;
                if rule.is_segregation_of_duties() {
                    pass.sod.push(SodViolation {
                        at: e.at.clone(),
                        file,
                        line,
                        message,
                        rule,
                    });
                }
            }
            _ => {}
        }
    }
    for c in &mut pass.changes {
        if let Some((a, role)) = attributed.remove(&c.entry.drift_id)
            && c.entry.attribution.is_none()
        {
            c.entry.actor = Some(a.actor.clone());
            c.entry.attribution = Some(a);
            c.entry.actor_role = role;
        }
    }
    // Blind periods that ended before the period are not part of it.
    for s in pass.scopes.values_mut() {
        s.blind_periods
            .retain(|p| p.until.as_deref().is_none_or(|u| u >= since_s.as_str()));
    }
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
        scopes: pass.scopes.into_values().collect(),
        totals: totals(&pass.changes),
        baseline_exposures: pass.exposures,
        records: record_uses(records, &pass.changes, now),
        break_glass: sessions(records, &pass.changes),
        sod_changes: sod_changes(&pass.changes),
        not_applied: not_applied(records, &pass.applied, period, now),
        changes: pass.changes,
        sod_violations: pass.sod,
        rejections_by_rule: pass.rejections,
        compliance: Vec::new(),
    };
    report.compliance = compliance(&report);
    report
}

/// Planned resources of records whose window closed in the period (and before `now`) that no
/// change was ever decided against: approved, not applied. A record without a window (a
/// standard one) has no end by which its plan was due.
fn not_applied(
    records: &[ChangeRecord],
    applied: &HashSet<(String, usize)>,
    period: Period,
    now: Timestamp,
) -> Vec<NotApplied> {
    let mut out = Vec::new();
    for r in records {
        let Some(w) = r.window else { continue };
        if w.end >= now || w.end < period.since || w.end >= period.until {
            continue;
        }
        for (i, e) in r.scope.iter().enumerate() {
            let Some(p) = &e.planned else { continue };
            if applied.contains(&(r.id.clone(), i)) {
                continue;
            }
            out.push(NotApplied {
                record_id: r.id.clone(),
                address: p.address.clone(),
                action: p.action.as_str().into(),
                kind: p.kind.to_string(),
                resource: p.locator.to_string(),
                window_end: ts(w.end),
                plan: r.plan.as_ref().map(|p| p.path.clone()).unwrap_or_default(),
            });
        }
    }
    out
}

/// Changes whose proven actor approved the covering record.
fn sod_changes(changes: &[ReportChange]) -> Vec<SodChange> {
    changes
        .iter()
        .filter(|c| c.entry.actor_role == Some(crate::model::PersonRole::Approver))
        .map(|c| SodChange {
            observed_at: c.entry.observed_at.clone(),
            drift_id: c.entry.drift_id.clone(),
            scope: c.entry.scope.clone(),
            resource: c.entry.name.clone(),
            actor: c.entry.actor.clone().unwrap_or_default(),
            record_id: c.entry.record_id.clone().unwrap_or_default(),
            event_id: c
                .entry
                .attribution
                .as_ref()
                .map(|a| a.event_id.clone())
                .unwrap_or_default(),
        })
        .collect()
}

fn approvals(r: &ChangeRecord) -> Vec<String> {
    r.approved_by
        .iter()
        .map(|a| format!("{} ({})", a.name, a.at))
        .collect()
}

fn window(r: &ChangeRecord) -> Option<String> {
    r.window.map(|w| format!("{} .. {}", w.start, w.end))
}

/// Whether the retrospective an unplanned change owes was filed, and when.
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
    let status = |s: &str, due_at: Option<String>| Retrospective {
        status: s.into(),
        due_at,
        filed_by: None,
        filed_at: None,
    };
    if !needs {
        return status("not_required", None);
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
                filed_by: x.by.clone(),
                filed_at: Some(x.at.clone()),
                ..status(
                    if on_time {
                        "filed_on_time"
                    } else {
                        "filed_late"
                    },
                    due_s,
                )
            }
        }
        Some(x) if x.reason == CloseReason::Reverted.as_str() => status("reverted", due_s),
        _ => status(
            if due.is_some_and(|d| now > d) {
                "missing"
            } else {
                "open"
            },
            due_s,
        ),
    }
}

/// Counts overall and by provider, kind, severity (every severity, even at zero) and month.
fn totals(changes: &[ReportChange]) -> Totals {
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
    for c in changes {
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
    totals
}

/// The drifts of the period a record matched (or was violated by).
fn used_by(r: &ChangeRecord, changes: &[ReportChange]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c.entry.record_id.as_deref() == Some(r.id.as_str()))
        .map(|c| c.entry.drift_id.clone())
        .collect()
}

/// Every record in force, with what used it in the period.
fn record_uses(
    records: &[ChangeRecord],
    changes: &[ReportChange],
    now: Timestamp,
) -> Vec<RecordUse> {
    records
        .iter()
        .map(|r| {
            let used_by = used_by(r, changes);
            let used = !used_by.is_empty();
            RecordUse {
                id: r.id.clone(),
                title: r.title.clone(),
                record_type: r.record_type.as_str().into(),
                requested_by: r.requested_by.clone(),
                approved_by: approvals(r),
                window: window(r),
                origin: r.origin.to_string(),
                url: r.origin.url.clone(),
                evidence: r.evidence.clone(),
                standard_never_used: !used && r.record_type == RecordType::Standard,
                window_passed_unused: !used && r.window.is_some_and(|w| w.end < now),
                used,
                used_by,
            }
        })
        .collect()
}

/// The break-glass sessions: emergency records with a window, their changes in the period
/// and the record that files their retrospective.
fn sessions(records: &[ChangeRecord], changes: &[ReportChange]) -> Vec<Session> {
    let retro_for: HashMap<&str, &str> = records
        .iter()
        .flat_map(|r| {
            r.retrospective_for
                .iter()
                .map(move |d| (d.as_str(), r.id.as_str()))
        })
        .collect();
    records
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
                changes: used_by(r, changes),
                retrospective: retro_for.get(r.id.as_str()).map(|s| s.to_string()),
            })
        })
        .collect()
}

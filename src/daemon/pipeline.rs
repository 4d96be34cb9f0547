//! One observation through the pipeline: load the scope's state, evaluate (pure), and commit
//! state, ledger entries and outbox rows in one transaction.

use jiff::{SignedDuration, Timestamp};

use crate::diff::Previous;
use crate::engine::{self, Evaluated, Evaluation, Exposure, OpenDrift};
use crate::matcher::{MatchSettings, RecordIndex};
use crate::model::{Action, Decision, FailureKind, Finding, Observation, Outcome, Scope};
use crate::rules::RuleSettings;
use crate::sinks::{Alert, EventKind, Sinks, alert_for_change, alert_for_source};
use crate::store::ledger::{ChangeEntry, CloseReason, ExposureEntry, LedgerField, LedgerFinding};
use crate::store::{CycleWrite, LedgerEvent, ScopeState, StoreError, StoreHandle};

pub struct Pipeline {
    pub store: StoreHandle,
    pub sinks: Sinks,
    pub rules: RuleSettings,
    pub matching: MatchSettings,
    pub blind_after_failures: u32,
    /// A repeat alert for the same resource and event within this period is held back.
    pub quiet_period: SignedDuration,
}

/// What happened to one scope in one cycle (for the console summary and `scan`'s exit code).
#[derive(Debug, Clone)]
pub struct ScopeReport {
    pub scope: Scope,
    pub status: ScopeStatus,
    pub resources: usize,
    pub exposures: Vec<Exposure>,
    pub changes: Vec<Evaluated>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScopeStatus {
    Baseline,
    Compared,
    Recovered,
    Failed {
        kind: FailureKind,
        message: String,
        consecutive: u32,
        blind: bool,
    },
}

impl Pipeline {
    pub async fn process(
        &self,
        obs: Observation,
        index: &RecordIndex,
    ) -> Result<ScopeReport, StoreError> {
        let scope = obs.scope.clone();
        let s2 = scope.clone();
        // Steady state reads digests only; the full stored rows of what this observation
        // modifies or deletes are read (and checked against their hashes) in a second call.
        let (state, digests, open) = self
            .store
            .call(move |db| {
                let state = db.scope_state(&s2)?.unwrap_or_default();
                let digests = if state.baseline_at.is_some() {
                    Some(db.snapshot_digests(&s2)?)
                } else {
                    None
                };
                Ok((state, digests, db.open_drifts(&s2)?))
            })
            .await?;
        let previous = match digests {
            Some(digests) => {
                let needed = crate::diff::rows_needed(&digests, &obs);
                let rows = if needed.is_empty() {
                    Vec::new()
                } else {
                    let s3 = scope.clone();
                    self.store
                        .call(move |db| db.snapshot_rows(&s3, &needed))
                        .await?
                };
                Some(Previous::new(digests, rows))
            }
            None => None,
        };
        let open: Vec<OpenDrift> = open
            .into_iter()
            .filter_map(|d| {
                Some(OpenDrift {
                    kind: d.kind.parse().ok()?,
                    drift_id: d.drift_id,
                    resource_id: d.resource_id,
                    before_hash: d.before_hash,
                })
            })
            .collect();
        let settings = engine::Settings {
            rules: &self.rules,
            matching: &self.matching,
            records: index,
            open: &open,
        };
        let evaluation = engine::evaluate(previous.as_ref(), &obs, &settings);
        drop(previous);
        let observed = match &obs.outcome {
            Outcome::Complete(r) => r.len(),
            Outcome::Failed { .. } => 0,
        };
        let at = obs.observed_at;
        let at_s = at.to_string();
        let scope_s = scope.to_string();
        let mut write = CycleWrite::new(scope.clone(), at);
        let report = match evaluation {
            Evaluation::Failed => {
                let Outcome::Failed { kind, message } = &obs.outcome else {
                    // `evaluate` returns Failed only for failed outcomes.
                    return Err(StoreError::Corrupt(
                        "failed evaluation of a complete observation".into(),
                    ));
                };
                let consecutive = state.consecutive_failures.saturating_add(1);
                let becomes_blind =
                    state.blind_since.is_none() && consecutive >= self.blind_after_failures;
                write.events.push(LedgerEvent::SourceFailed {
                    scope: scope_s.clone(),
                    failure: kind.as_str().to_string(),
                    message: message.clone(),
                    consecutive_failures: consecutive,
                });
                let mut blind_since = state.blind_since;
                if becomes_blind {
                    blind_since = Some(at);
                    write.events.push(LedgerEvent::SourceBlind {
                        scope: scope_s.clone(),
                        consecutive_failures: consecutive,
                        since: at_s.clone(),
                    });
                    let reason = format!(
                        "{consecutive} polls in a row failed; last error ({}): {message}",
                        kind.as_str()
                    );
                    let alert = alert_for_source(&scope_s, EventKind::SourceBlind, reason, &at_s);
                    self.enqueue(&mut write, &alert, Some(scope_s.clone()));
                }
                write.scope_state = Some(ScopeState {
                    consecutive_failures: consecutive,
                    blind_since,
                    last_error: Some(message.clone()),
                    ..state.clone()
                });
                ScopeReport {
                    scope: scope.clone(),
                    status: ScopeStatus::Failed {
                        kind: *kind,
                        message: message.clone(),
                        consecutive,
                        blind: blind_since.is_some(),
                    },
                    resources: 0,
                    exposures: Vec::new(),
                    changes: Vec::new(),
                }
            }
            Evaluation::Baseline { exposures } => {
                write.events.push(LedgerEvent::Baseline {
                    scope: scope_s.clone(),
                    resources: observed,
                    exposures: exposures
                        .iter()
                        .map(|e| ExposureEntry {
                            kind: e.resource.key.kind.to_string(),
                            resource_id: e.resource.key.id.clone(),
                            name: e.resource.name.clone(),
                            findings: ledger_findings(&e.findings),
                        })
                        .collect(),
                });
                write.scope_state = Some(ScopeState {
                    baseline_at: Some(at),
                    consecutive_failures: 0,
                    blind_since: None,
                    last_error: None,
                });
                // The baseline is the observation itself: moved, not copied.
                if let Outcome::Complete(r) = obs.outcome {
                    write.upserts = r;
                }
                ScopeReport {
                    scope: scope.clone(),
                    status: ScopeStatus::Baseline,
                    resources: observed,
                    exposures,
                    changes: Vec::new(),
                }
            }
            Evaluation::Compared { changes } => {
                let mut status = ScopeStatus::Compared;
                if state.consecutive_failures > 0 || state.blind_since.is_some() {
                    if let Some(since) = state.blind_since {
                        status = ScopeStatus::Recovered;
                        write.events.push(LedgerEvent::SourceRecovered {
                            scope: scope_s.clone(),
                            blind_since: since.to_string(),
                        });
                        let reason = format!("blind since {since}; polls complete again");
                        let alert =
                            alert_for_source(&scope_s, EventKind::SourceRecovered, reason, &at_s);
                        self.enqueue(&mut write, &alert, Some(scope_s.clone()));
                    }
                    write.scope_state = Some(ScopeState {
                        consecutive_failures: 0,
                        blind_since: None,
                        last_error: None,
                        ..state.clone()
                    });
                }
                self.compared(&mut write, &changes, at, index).await?;
                ScopeReport {
                    scope: scope.clone(),
                    status,
                    resources: observed,
                    exposures: Vec::new(),
                    changes,
                }
            }
        };
        self.store.call(move |db| db.commit_cycle(&write)).await?;
        Ok(report)
    }

    /// Ledger entries and alerts for the changes of one complete observation: a trigger per
    /// unplanned change (unless the quiet period holds it back or it only undoes another
    /// unplanned change), and a resolve for every drift it reverted.
    async fn compared(
        &self,
        write: &mut CycleWrite,
        changes: &[Evaluated],
        at: Timestamp,
        index: &RecordIndex,
    ) -> Result<(), StoreError> {
        let mut planned = Vec::new();
        let mut quiet_pairs = Vec::new();
        let mut reverted = Vec::new();
        for ev in changes {
            let c = &ev.change;
            match (&c.after, c.action) {
                (Some(after), Action::Create | Action::Modify) => write.upserts.push(after.clone()),
                _ => write.deletes.push(c.key.clone()),
            }
            let mut entry = change_entry(ev);
            // A change allowed by a temporary record must be undone by its revert_by.
            if let Decision::Matched { record_id, .. } = &ev.decision {
                entry.revert_by = index
                    .get(record_id)
                    .and_then(|r| r.revert_by)
                    .map(|t| t.to_string());
            }
            entry.record_url = ev
                .decision
                .record_id()
                .and_then(|id| index.get(id))
                .and_then(|r| r.origin.url.clone());
            let event = match ev.decision {
                Decision::Matched { .. } => EventKind::Matched,
                Decision::Violation { .. } => EventKind::Violation,
                Decision::Unmatched { .. } => EventKind::Unmatched,
            };
            // Undoing an unplanned change restores the approved state: nobody is paged for it.
            let pure_revert = super::is_pure_revert(ev);
            if pure_revert {
                tracing::info!(drift_id = %entry.drift_id, reverts = ?ev.reverts, "change reverts open drift(s)");
            }
            let alert = (!pure_revert).then(|| alert_for_change(&entry, event));
            let subject = c.key.to_string();
            if event != EventKind::Matched {
                quiet_pairs.push((subject.clone(), event.as_str().to_string()));
            }
            reverted.extend(
                ev.reverts
                    .iter()
                    .map(|d| (d.clone(), entry.drift_id.clone())),
            );
            planned.push((entry, alert, subject, event));
        }
        let since = at.checked_sub(self.quiet_period).unwrap_or(at);
        let ids: Vec<String> = reverted.iter().map(|(d, _)| d.clone()).collect();
        let (recent, triggers) = self
            .store
            .call(move |db| {
                Ok((
                    db.recently_alerted(&quiet_pairs, since)?,
                    db.triggers_for(&ids)?,
                ))
            })
            .await?;
        for (mut entry, alert, subject, event) in planned {
            if let Some(alert) = alert {
                if recent.contains(&(subject.clone(), event.as_str().to_string())) {
                    entry.alert_suppressed = true;
                    tracing::info!(drift_id = %entry.drift_id, resource = %entry.name, "alert held back: the same resource was alerted within the quiet period");
                } else {
                    self.enqueue(write, &alert, Some(subject));
                }
            }
            write.events.push(LedgerEvent::Change(Box::new(entry)));
        }
        for (drift, by) in &reverted {
            write.events.push(LedgerEvent::DriftClosed {
                drift_id: drift.clone(),
                scope: write.scope.to_string(),
                reason: CloseReason::Reverted,
                by: by.clone(),
            });
        }
        let reason = |d: &str| {
            let by = reverted
                .iter()
                .find(|(x, _)| x == d)
                .map(|(_, b)| b.as_str())
                .unwrap_or("-");
            format!("reverted: the resource is back to its state before the change (seen in {by})")
        };
        write.outbox.extend(crate::sinks::resolve_items(
            &triggers,
            &at.to_string(),
            reason,
        ));
        Ok(())
    }

    fn enqueue(&self, write: &mut CycleWrite, alert: &Alert, subject: Option<String>) {
        write
            .outbox
            .extend(self.sinks.outbox_items(alert, subject, &[]));
    }
}

fn ledger_findings(f: &[Finding]) -> Vec<LedgerFinding> {
    f.iter()
        .map(|f| LedgerFinding {
            rule: f.rule.as_str().to_string(),
            severity: f.severity,
            message: f.message.clone(),
        })
        .collect()
}

fn change_entry(ev: &Evaluated) -> ChangeEntry {
    let c = &ev.change;
    let (violation, provisional) = match &ev.decision {
        Decision::Violation { violation, .. } => (Some(*violation), false),
        Decision::Matched { provisional, .. } => (None, *provisional),
        Decision::Unmatched { .. } => (None, false),
    };
    ChangeEntry {
        drift_id: c.drift_id().0,
        scope: c.key.scope.to_string(),
        kind: c.key.kind.to_string(),
        resource_id: c.key.id.clone(),
        name: c.name().to_string(),
        action: c.action,
        observed_at: c.observed_at.to_string(),
        fields: c
            .fields
            .iter()
            .map(|f| LedgerField {
                path: f.path.clone(),
                before: f.before.clone(),
                after: f.after.clone(),
            })
            .collect(),
        findings: ledger_findings(&ev.findings),
        severity: ev.severity,
        decision: ev.decision.kind(),
        record_id: ev.decision.record_id().map(str::to_string),
        violation,
        provisional,
        reason: ev.decision.reason().to_string(),
        actor: c.actor.clone(),
        before_hash: c.before.as_ref().map(|r| r.hash().to_string()),
        after_hash: c.after.as_ref().map(|r| r.hash().to_string()),
        reverts: ev.reverts.clone(),
        alert_suppressed: false,
        revert_by: None,
        record_url: None,
    }
}

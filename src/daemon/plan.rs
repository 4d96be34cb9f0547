//! The decide step of a cycle, pure: what one scope's evaluation means for the store and for
//! on-call. Given the scope's loaded state (health, open drifts and their alerts, what the
//! quiet period holds back) and the engine's evaluation, `plan` returns the one `CycleWrite`
//! to commit and the report of the scope. It owns blindness and recovery, the quiet period,
//! resolves, and which drifts open or are born closed; it does no IO and reads no clock (the
//! observation's time is the cycle's time), so every one of those rules is unit-tested
//! without a database (`plan/tests.rs`).

use std::collections::HashSet;

use jiff::Timestamp;

use crate::engine::{DeleteGuard, Evaluated, Evaluation, Exposure, GuardVerdict};
use crate::matcher::RecordIndex;
use crate::model::{
    Action, ChangeRecord, Decision, DecisionKind, EventKind, FailureKind, Finding, Kind,
    Observation, Outcome, PersonRole, Scope, Severity,
};
use crate::sinks::{
    Alert, Sinks, alert_for_blind, alert_for_change, alert_for_recovery, resolve_items,
};
use crate::store::ledger::{
    ChangeEntry, CloseReason, ExposureEntry, LedgerField, LedgerFinding, LedgerPlanned,
    MassDeleteVerdict,
};
use crate::store::{
    ClosedReason, CycleWrite, DriftClosure, HeldDeletes, LedgerEvent, NewDrift, OpenDrift,
    OutboxEvent, ScopeState, Trigger,
};

/// What the plan needs besides the scope's state: how alerts route, the records in force,
/// and when a failing scope counts as blind.
pub struct PlanSettings<'a> {
    pub sinks: &'a Sinks,
    pub records: &'a RecordIndex,
    pub blind_after_failures: u32,
    pub delete_guard: DeleteGuard,
    /// With `[aws.lookup]`: how long after an unattributed AWS change to look it up.
    pub lookup_delay: Option<jiff::SignedDuration>,
}

/// The loaded state a plan decides against (the parts of `store::ScopeLoad` besides the
/// stored resources, which the engine already consumed).
pub struct ScopeFacts<'a> {
    pub state: &'a ScopeState,
    /// How many resources the scope stores (the mass-delete guard's denominator).
    pub stored: usize,
    /// The scope's open drifts: the quiet period holds an alert back only while an earlier
    /// drift on the same resource is still open (its alert still stands).
    pub open: &'a [OpenDrift],
    /// The first alert each sink got about each open drift of the scope.
    pub triggers: &'a [Trigger],
    /// (subject, event) alerted within the quiet period.
    pub recent: &'a HashSet<(String, OutboxEvent)>,
    /// Stored kinds the source no longer watches, with their row counts.
    pub unwatched: &'a [(Kind, usize)],
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
    /// The mass-delete guard held the poll: nothing but the hold was written.
    Held {
        deletes: usize,
        stored: usize,
    },
    Failed {
        kind: FailureKind,
        message: String,
        consecutive: u32,
        blind: bool,
    },
}

/// The engine said `Failed` for an observation that is complete: a bug, refused before
/// anything is written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the engine failed a complete observation of {0}")]
pub struct InconsistentEvaluation(pub String);

/// An unmatched change that restores the state before an open drift: nobody is paged for it.
pub fn is_pure_revert(c: &Evaluated) -> bool {
    !c.reverts.is_empty() && c.decision.kind() == DecisionKind::Unmatched
}

/// Decide what one scope's evaluation writes and sends. The observation is moved in: a
/// baseline stores its resources without copying them.
pub fn plan(
    settings: &PlanSettings<'_>,
    facts: &ScopeFacts<'_>,
    obs: Observation,
    evaluation: Evaluation,
) -> Result<(CycleWrite, ScopeReport), InconsistentEvaluation> {
    let scope = obs.scope.clone();
    let at = obs.observed_at;
    let state = facts.state;
    let mut write = CycleWrite::new(scope.clone(), at);
    let report = match (evaluation, obs.outcome) {
        (Evaluation::Failed, Outcome::Failed { kind, message }) => {
            let (scope_state, blind) = failed(settings, &mut write, state, kind, &message);
            write.scope_state = Some(scope_state);
            ScopeReport {
                scope,
                status: ScopeStatus::Failed {
                    kind,
                    message,
                    consecutive: state.consecutive_failures.saturating_add(1),
                    blind,
                },
                resources: 0,
                exposures: Vec::new(),
                changes: Vec::new(),
            }
        }
        (Evaluation::Failed, Outcome::Complete(_) | Outcome::Part(_))
        | (Evaluation::Baseline { .. }, Outcome::Part(_)) => {
            return Err(InconsistentEvaluation(scope.to_string()));
        }
        // A targeted re-read (an event named the resource): its changes are decided like a
        // poll's, but it says nothing about the scope's health, the rest of its state or
        // the kinds it watches, so blindness, the mass-delete guard and the purge are the
        // complete polls' to decide.
        (Evaluation::Compared { changes }, Outcome::Part(part)) => {
            compared(settings, facts, &mut write, &changes, at);
            ScopeReport {
                scope,
                status: ScopeStatus::Compared,
                resources: part.resources.len(),
                exposures: Vec::new(),
                changes,
            }
        }
        (Evaluation::Baseline { exposures }, outcome) => {
            let resources = match outcome {
                Outcome::Complete(r) => r,
                Outcome::Failed { .. } | Outcome::Part(_) => Vec::new(),
            };
            write.events.push(LedgerEvent::Baseline {
                scope: scope.to_string(),
                resources: resources.len(),
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
                held: None,
            });
            let count = resources.len();
            write.upserts = resources;
            ScopeReport {
                scope,
                status: ScopeStatus::Baseline,
                resources: count,
                exposures,
                changes: Vec::new(),
            }
        }
        (Evaluation::Compared { changes }, outcome) => {
            let observed = match &outcome {
                Outcome::Complete(r) => r.len(),
                Outcome::Failed { .. } | Outcome::Part(_) => 0,
            };
            if !facts.unwatched.is_empty() {
                purge(facts, &mut write, at);
            }
            let held = state.held.as_ref().map(|h| h.digest.as_str());
            let verdict = settings.delete_guard.check(facts.stored, &changes, held);
            if let GuardVerdict::Hold { deletes, digest } = verdict {
                hold(&mut write, state, facts.stored, deletes, digest);
                let report = ScopeReport {
                    scope,
                    status: ScopeStatus::Held {
                        deletes,
                        stored: facts.stored,
                    },
                    resources: observed,
                    exposures: Vec::new(),
                    changes: Vec::new(),
                };
                return Ok((write, report));
            }
            let status = recovered(settings, &mut write, state);
            if let Some(h) = &state.held {
                let (verdict, deletes) = match verdict {
                    GuardVerdict::Confirmed { deletes } => (MassDeleteVerdict::Confirmed, deletes),
                    _ => (MassDeleteVerdict::Dismissed, h.deletes as usize),
                };
                write.events.push(LedgerEvent::MassDelete {
                    scope: scope.to_string(),
                    deletes,
                    resources: facts.stored,
                    verdict,
                });
                let base = write.scope_state.take().unwrap_or_else(|| state.clone());
                write.scope_state = Some(ScopeState { held: None, ..base });
            }
            compared(settings, facts, &mut write, &changes, at);
            ScopeReport {
                scope,
                status,
                resources: observed,
                exposures: Vec::new(),
                changes,
            }
        }
    };
    Ok((write, report))
}

/// Drop the stored rows of kinds the source no longer watches (a kind removed from the
/// config), without reporting them deleted; their open drifts close (nobody could see them
/// revert) and the sinks that were told get a resolve.
fn purge(facts: &ScopeFacts<'_>, write: &mut CycleWrite, at: Timestamp) {
    let scope = write.scope.to_string();
    write.purge_kinds = facts.unwatched.iter().map(|(k, _)| k.clone()).collect();
    write.events.push(LedgerEvent::KindsPurged {
        scope: scope.clone(),
        kinds: write.purge_kinds.iter().map(ToString::to_string).collect(),
        resources: facts.unwatched.iter().map(|(_, n)| n).sum(),
    });
    let closed: Vec<&OpenDrift> = facts
        .open
        .iter()
        .filter(|d| write.purge_kinds.contains(&d.kind))
        .collect();
    for d in &closed {
        write.events.push(LedgerEvent::DriftClosed {
            drift_id: d.drift_id.clone(),
            scope: scope.clone(),
            reason: CloseReason::Unwatched,
            by: "config".into(),
        });
    }
    let triggers: Vec<Trigger> = closed
        .iter()
        .flat_map(|d| facts.triggers.iter().filter(|t| t.drift_id == d.drift_id))
        .cloned()
        .collect();
    write
        .outbox
        .extend(resolve_items(&triggers, &at.to_string(), |_| {
            "no longer watched: its kind was removed from driftwatch's config".to_string()
        }));
}

/// A poll the mass-delete guard does not believe yet: write the hold and its ledger entry,
/// nothing else (the stored state, drifts and health stay as they were).
fn hold(write: &mut CycleWrite, state: &ScopeState, stored: usize, deletes: usize, digest: String) {
    write.events.push(LedgerEvent::MassDelete {
        scope: write.scope.to_string(),
        deletes,
        resources: stored,
        verdict: MassDeleteVerdict::Held,
    });
    write.scope_state = Some(ScopeState {
        held: Some(HeldDeletes {
            since: write.at,
            deletes: u32::try_from(deletes).unwrap_or(u32::MAX),
            digest,
        }),
        ..state.clone()
    });
}

/// A failed poll: count it, and turn the scope blind (ledger + alert) once it failed
/// `blind_after_failures` times in a row. Returns the new health and whether it is blind.
fn failed(
    settings: &PlanSettings<'_>,
    write: &mut CycleWrite,
    state: &ScopeState,
    kind: FailureKind,
    message: &str,
) -> (ScopeState, bool) {
    let scope_s = write.scope.to_string();
    let at_s = write.at.to_string();
    let consecutive = state.consecutive_failures.saturating_add(1);
    let becomes_blind = state.blind_since.is_none() && consecutive >= settings.blind_after_failures;
    write.events.push(LedgerEvent::SourceFailed {
        scope: scope_s.clone(),
        failure: kind.as_str().to_string(),
        message: message.to_string(),
        consecutive_failures: consecutive,
    });
    let mut blind_since = state.blind_since;
    if becomes_blind {
        blind_since = Some(write.at);
        write.events.push(LedgerEvent::SourceBlind {
            scope: scope_s.clone(),
            consecutive_failures: consecutive,
            since: at_s.clone(),
        });
        let reason = format!(
            "{consecutive} polls in a row failed; last error ({}): {message}",
            kind.as_str()
        );
        let alert = alert_for_blind(&scope_s, reason, &at_s);
        enqueue(settings, write, &alert, Some(scope_s));
    }
    let next = ScopeState {
        consecutive_failures: consecutive,
        blind_since,
        last_error: Some(message.to_string()),
        ..state.clone()
    };
    (next, blind_since.is_some())
}

/// A complete poll after failures: reset the count and, if the scope was blind, ledger and
/// alert its recovery. Steady state (no failures before) writes no health row.
fn recovered(
    settings: &PlanSettings<'_>,
    write: &mut CycleWrite,
    state: &ScopeState,
) -> ScopeStatus {
    if state.consecutive_failures == 0 && state.blind_since.is_none() {
        return ScopeStatus::Compared;
    }
    let mut status = ScopeStatus::Compared;
    if let Some(since) = state.blind_since {
        status = ScopeStatus::Recovered;
        let scope_s = write.scope.to_string();
        write.events.push(LedgerEvent::SourceRecovered {
            scope: scope_s.clone(),
            blind_since: since.to_string(),
        });
        let reason = format!("blind since {since}; polls complete again");
        let alert =
            alert_for_recovery(&scope_s, &since.to_string(), &reason, &write.at.to_string());
        enqueue(settings, write, &alert, Some(scope_s));
    }
    write.scope_state = Some(ScopeState {
        consecutive_failures: 0,
        blind_since: None,
        last_error: None,
        ..state.clone()
    });
    status
}

/// Ledger entries, drift rows and alerts for the changes of one complete observation: a
/// trigger per unplanned change (unless the quiet period holds it back or it only undoes
/// another unplanned change), and a resolve for every drift it reverted.
fn compared(
    settings: &PlanSettings<'_>,
    facts: &ScopeFacts<'_>,
    write: &mut CycleWrite,
    changes: &[Evaluated],
    at: Timestamp,
) {
    let mut reverted: Vec<(String, String)> = Vec::new();
    for ev in changes {
        let c = &ev.change;
        match (&c.after, c.action) {
            (Some(after), Action::Create | Action::Modify) => write.upserts.push(after.clone()),
            _ => write.deletes.push(c.key.clone()),
        }
        let record = ev
            .decision
            .record_id()
            .and_then(|id| settings.records.get(id));
        let mut entry = change_entry(ev);
        // A change allowed by a temporary record must be undone by its revert_by.
        let revert_by = match &ev.decision {
            Decision::Matched { .. } => record.and_then(|r| r.revert_by),
            _ => None,
        };
        entry.revert_by = revert_by.map(|t| t.to_string());
        entry.record_url = record.and_then(|r| r.origin.url.clone());
        entry.plan = planned_entry(record, &ev.decision);
        // No event said who made an AWS change: look it up in CloudTrail later.
        if let (Some(delay), None, crate::model::Provider::Aws) = (
            settings.lookup_delay,
            &c.attribution,
            c.key.scope.provider(),
        ) && let Some(resource) = c.resource()
        {
            write.lookups.push(crate::store::LookupItem {
                drift_id: entry.drift_id.clone(),
                resource: resource.clone(),
                action: c.action,
                record_id: entry.record_id.clone(),
                observed_at: at,
                next_at: at.checked_add(delay).unwrap_or(at),
            });
        }
        // What the proven actor is to the record: the requester doing the work is the plan
        // followed; an approver doing it approved their own change.
        if let (Some(r), Some((person, via))) = (
            record,
            c.attribution
                .as_ref()
                .and_then(|a| Some((a.person.as_deref()?, a.via.as_str()))),
        ) {
            entry.actor_role = r.role_of(person);
            let proof = if via == "audit_log" {
                "audit log"
            } else {
                "CloudTrail"
            };
            match entry.actor_role {
                Some(PersonRole::Requester) => entry
                    .reason
                    .push_str(&format!("; made by its requester {person} ({proof})")),
                Some(PersonRole::Approver) => entry.reason.push_str(&format!(
                    "; made by {person}, who approved {}: segregation of duties",
                    r.id
                )),
                None => {}
            }
        }
        let event = match ev.decision {
            Decision::Matched { .. } => EventKind::Matched,
            Decision::Violation { .. } => EventKind::Violation,
            Decision::Unmatched { .. } => EventKind::Unmatched,
        };
        // Undoing an unplanned change restores the approved state: nobody is paged for it.
        let pure_revert = is_pure_revert(ev);
        if pure_revert {
            tracing::info!(drift_id = %entry.drift_id, reverts = ?ev.reverts, "change reverts open drift(s)");
        }
        let subject = c.key.to_string();
        if !pure_revert {
            let alert = alert_for_change(&entry, event);
            let held = quiet(facts, ev, event, &subject);
            if held {
                entry.alert_suppressed = true;
                tracing::info!(drift_id = %entry.drift_id, resource = %entry.name, "alert held back: the same resource was alerted within the quiet period");
            } else {
                enqueue(settings, write, &alert, Some(subject));
            }
        }
        reverted.extend(
            ev.reverts
                .iter()
                .map(|d| (d.clone(), entry.drift_id.clone())),
        );
        write.drifts.push(new_drift(&entry, ev, revert_by));
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
    // Resolves go to the sinks that got each reverted drift's first alert, in drift order.
    let triggers: Vec<Trigger> = reverted
        .iter()
        .flat_map(|(d, _)| facts.triggers.iter().filter(move |t| &t.drift_id == d))
        .cloned()
        .collect();
    let reason = |d: &str| {
        let by = reverted
            .iter()
            .find(|(x, _)| x == d)
            .map(|(_, b)| b.as_str())
            .unwrap_or("-");
        format!("reverted: the resource is back to its state before the change (seen in {by})")
    };
    write
        .outbox
        .extend(resolve_items(&triggers, &at.to_string(), reason));
}

/// Whether the quiet period holds this change's alert back: the same resource was alerted
/// for the same event within the period *and* that earlier drift is still open, so on-call's
/// alert about it still stands. A drift that was reverted (its alert resolved) does not hold
/// back the next one: a port reopened minutes after it was closed pages again. A critical
/// change is never held back.
fn quiet(facts: &ScopeFacts<'_>, ev: &Evaluated, event: EventKind, subject: &str) -> bool {
    if event == EventKind::Matched || ev.severity >= Severity::Critical {
        return false;
    }
    let key = &ev.change.key;
    let earlier_open = facts.open.iter().any(|d| {
        d.kind == key.kind && d.resource_id == key.id && !ev.reverts.contains(&d.drift_id)
    });
    earlier_open
        && facts
            .recent
            .contains(&(subject.to_string(), OutboxEvent::Alert(event)))
}

/// The drift row of a change. Born closed: a change that undoes an unplanned one, or a
/// planned change that is not temporary. Open: unplanned ones, and temporary ones
/// (`revert_by`) until they are undone.
fn new_drift(entry: &ChangeEntry, ev: &Evaluated, revert_by: Option<Timestamp>) -> NewDrift {
    let observed_at = ev.change.observed_at;
    let closed = if let Some(first) = entry.reverts.first() {
        Some(DriftClosure {
            at: observed_at,
            reason: ClosedReason::Reverts,
            by: Some(first.clone()),
        })
    } else if entry.decision == DecisionKind::Matched && revert_by.is_none() {
        Some(DriftClosure {
            at: observed_at,
            reason: ClosedReason::Matched,
            by: None,
        })
    } else {
        None
    };
    NewDrift {
        drift_id: entry.drift_id.clone(),
        scope: entry.scope.clone(),
        kind: ev.change.key.kind.clone(),
        resource_id: entry.resource_id.clone(),
        name: entry.name.clone(),
        action: entry.action,
        observed_at,
        decision: entry.decision,
        record_id: entry.record_id.clone(),
        severity: entry.severity,
        before_hash: entry.before_hash.clone(),
        after_hash: entry.after_hash.clone(),
        revert_by,
        closed,
    }
}

fn enqueue(
    settings: &PlanSettings<'_>,
    write: &mut CycleWrite,
    alert: &Alert,
    subject: Option<String>,
) {
    write
        .outbox
        .extend(settings.sinks.outbox_items(alert, subject, &[]));
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
        attribution: c.attribution.as_ref().map(Into::into),
        actor_role: None,
        plan: None,
    }
}

/// The planned resource a decision was made against, when its scope entry came from the
/// record's plan.
fn planned_entry(record: Option<&ChangeRecord>, d: &Decision) -> Option<LedgerPlanned> {
    let (Decision::Matched { scope_entry, .. } | Decision::Violation { scope_entry, .. }) = d
    else {
        return None;
    };
    let planned = record?.scope.get(*scope_entry)?.planned.as_ref()?;
    Some(LedgerPlanned {
        address: planned.address.clone(),
        scope_entry: *scope_entry,
    })
}

#[cfg(test)]
mod tests;

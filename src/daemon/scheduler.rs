//! The obligations scheduler: after each cycle, asks the pure `obligations` module which
//! reminders, overdue escalations and "still not done" alerts are due, and records each step
//! as sent, ledgered and alerted in one transaction (so a restart neither resends a step nor
//! loses a due one). Session obligations that were met get their alerts resolved.

use std::collections::HashSet;

use jiff::Timestamp;

use crate::model::{ChangeRecord, Severity};
use crate::obligations::{self, DriftState, Kind, Obligation, Schedule, Step};
use crate::sinks::{Alert, EventKind, Sinks, alert_for_system, resolve_items};
use crate::store::{LedgerEvent, ObligationWrite, StoreError, StoreHandle, StoredDrift, Trigger};

/// The scheduler's view of an open drift. Stored drifts are typed, so every open drift has
/// one (a row that does not parse fails the read instead of dropping its obligations).
pub fn drift_state(d: &StoredDrift) -> DriftState {
    DriftState {
        drift_id: d.drift_id.clone(),
        scope: d.scope.clone(),
        kind: d.kind.to_string(),
        resource_name: d.name.clone(),
        observed_at: d.observed_at,
        severity: d.severity,
        record_id: d.record_id.clone(),
        revert_by: d.revert_by,
        needs_retrospective: d.decision.needs_retrospective(),
    }
}

/// Every open obligation now (for the scheduler and `driftwatch obligations`).
pub fn current(
    open: &[StoredDrift],
    records: &[ChangeRecord],
    schedule: &Schedule,
    now: Timestamp,
) -> (Vec<Obligation>, Vec<DriftState>) {
    let drifts: Vec<DriftState> = open.iter().map(drift_state).collect();
    (
        obligations::open_obligations(&drifts, records, schedule, now),
        drifts,
    )
}

fn event_for(kind: &Kind, step: &Step) -> EventKind {
    match (kind, step) {
        (Kind::Retrospective | Kind::SessionRetrospective, Step::Overdue) => EventKind::Overdue,
        (Kind::Retrospective | Kind::SessionRetrospective, _) => EventKind::Reminder,
        (Kind::Revert, _) => EventKind::NotReverted,
        (Kind::SessionOpen, _) => EventKind::BreakGlassOpen,
    }
}

fn alert_for_step(
    ob: &Obligation,
    step: &Step,
    drift: Option<&DriftState>,
    now: Timestamp,
) -> Alert {
    let event = event_for(&ob.kind, step);
    let left = ob.due_at.duration_since(now);
    let when = if left.is_positive() {
        format!("due in {}h{:02}m", left.as_hours(), (left.as_mins() % 60))
    } else {
        format!("due since {}", ob.due_at)
    };
    let title = match (&ob.kind, step) {
        (Kind::Retrospective, Step::Overdue) => {
            format!("Retrospective OVERDUE for {}: {}", ob.subject, ob.what)
        }
        (Kind::Retrospective, _) => format!("Retrospective {when} for {}: {}", ob.subject, ob.what),
        (Kind::SessionRetrospective, Step::Overdue) => {
            format!("Break-glass retrospective OVERDUE: {}", ob.what)
        }
        (Kind::SessionRetrospective, _) => format!("Break-glass retrospective {when}: {}", ob.what),
        (Kind::Revert, _) => format!("Temporary change not reverted: {}", ob.what),
        (Kind::SessionOpen, _) => {
            format!("Break-glass session {} still open: {}", ob.subject, ob.what)
        }
    };
    let severity = match step {
        Step::Overdue => ob.severity.max(Severity::High),
        Step::Reminder(_) if ob.kind == Kind::Retrospective => Severity::Medium,
        _ => ob.severity,
    };
    let mut a = alert_for_system(
        event,
        severity,
        &ob.scope,
        format!("{}:{}:{}", ob.subject, ob.kind.as_str(), step.as_str()),
        title,
        format!(
            "{} owes {}; {when} ({} step {})",
            ob.subject,
            ob.what,
            ob.kind.as_str(),
            step.as_str()
        ),
        &now.to_string(),
    );
    match drift {
        Some(d) => {
            a.drift_id = Some(d.drift_id.clone());
            a.kind = Some(d.kind.clone());
            a.resource_name = Some(d.resource_name.clone());
            a.record_id = d.record_id.clone();
            if ob.kind == Kind::Retrospective {
                a.record_skeleton = Some(obligations::retrospective_skeleton(d, now));
            }
        }
        None => {
            a.group = Some(ob.id.clone());
            a.record_id = Some(ob.subject.clone());
        }
    }
    a
}

/// Send every due step; resolve session obligations that were met. Returns steps written.
pub async fn run(
    store: &StoreHandle,
    sinks: &Sinks,
    records: &[ChangeRecord],
    schedule: &Schedule,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let (open, sent) = store
        .call(|db| Ok((db.all_open_drifts()?, db.obligation_steps_sent()?)))
        .await?;
    let (obs, drifts) = current(&open, records, schedule, now);
    let mut writes = Vec::new();
    for ob in &obs {
        let drift = drifts.iter().find(|d| d.drift_id == ob.subject);
        // Several steps due at once (after downtime): each is ledgered, only the latest is
        // alerted, so on-call gets one message saying where things stand.
        let due = ob.due_steps(now, &sent);
        let last = due.len().saturating_sub(1);
        for (i, step) in due.into_iter().enumerate() {
            let alert = alert_for_step(ob, &step, drift, now);
            let alerts = if i == last {
                tracing::warn!(obligation = %ob.id, step = %step.as_str(), due_at = %ob.due_at, "{}", alert.title);
                sinks.outbox_items(&alert, Some(ob.id.clone()), &[])
            } else {
                Vec::new()
            };
            writes.push(ObligationWrite {
                obligation: ob.id.clone(),
                step: step.as_str(),
                event: LedgerEvent::ObligationStep {
                    obligation: ob.id.clone(),
                    kind: ob.kind.as_str().to_string(),
                    subject: ob.subject.clone(),
                    step: step.as_str(),
                    due_at: ob.due_at.to_string(),
                },
                alerts,
            });
        }
    }
    // Session obligations alerted before and no longer open were met: resolve them once.
    let open_ids: HashSet<&str> = obs.iter().map(|o| o.id.as_str()).collect();
    let met: HashSet<&str> = sent
        .iter()
        .map(|(o, _)| o.as_str())
        .filter(|o| o.starts_with("session_") && !open_ids.contains(o))
        .filter(|o| !sent.contains(&(o.to_string(), "closed".to_string())))
        .collect();
    for ob in met {
        let Some((kind, subject)) = ob.split_once(':') else {
            continue;
        };
        let prefix = format!("{subject}:{kind}:");
        let fired = store.call(move |db| db.alerts_with_prefix(&prefix)).await?;
        let triggers: Vec<Trigger> = fired
            .into_iter()
            .map(|(sink, payload)| Trigger {
                drift_id: ob.to_string(),
                sink,
                payload,
            })
            .collect();
        let alerts = resolve_items(&triggers, &now.to_string(), |_| {
            format!("{kind} obligation for {subject} met")
        });
        tracing::info!(obligation = %ob, "obligation met");
        writes.push(ObligationWrite {
            obligation: ob.to_string(),
            step: "closed".into(),
            event: LedgerEvent::ObligationClosed {
                obligation: ob.to_string(),
                subject: subject.to_string(),
            },
            alerts,
        });
    }
    if writes.is_empty() {
        return Ok(0);
    }
    store
        .call(move |db| db.record_obligation_steps(now, &writes))
        .await
}

//! Pure obligations: the clocks a change process puts on a change after it happens. Given the
//! open drifts, the emergency (break-glass) records, what was already sent and `now`, say which
//! reminders, overdue escalations and "still not done" alerts are due. No IO, no clock.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};

use crate::model::{ChangeRecord, RecordType, Severity};

/// When reminders fall.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// A retrospective record is owed within this long of the change (default 24 h).
    pub deadline: SignedDuration,
    /// Reminders before the deadline, and repeats after a missed `revert_by` or session end
    /// (default 4 h, 12 h, 20 h).
    pub reminders: Vec<SignedDuration>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            deadline: SignedDuration::from_hours(24),
            reminders: vec![
                SignedDuration::from_hours(4),
                SignedDuration::from_hours(12),
                SignedDuration::from_hours(20),
            ],
        }
    }
}

/// An open drift, as the scheduler sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftState {
    pub drift_id: String,
    pub scope: String,
    pub kind: String,
    pub resource_name: String,
    pub observed_at: Timestamp,
    pub severity: Severity,
    /// `None` for an unmatched change; the covering record otherwise.
    pub record_id: Option<String>,
    /// Matched by a record with `revert_by`: a temporary change that must be undone.
    pub revert_by: Option<Timestamp>,
    /// True for an unmatched or violating change (it owes a retrospective).
    pub needs_retrospective: bool,
}

/// What an obligation is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An unplanned change owes a retrospective record naming its drift id.
    Retrospective,
    /// A temporary change must be back to its pre-change state by `revert_by`.
    Revert,
    /// A break-glass (emergency) session owes a retrospective within the deadline of opening.
    SessionRetrospective,
    /// A break-glass session past its planned end that nobody closed.
    SessionOpen,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Retrospective => "retrospective",
            Kind::Revert => "revert",
            Kind::SessionRetrospective => "session_retrospective",
            Kind::SessionOpen => "session_open",
        }
    }
}

/// One step of an obligation's clock.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// The n-th reminder (1-based).
    Reminder(usize),
    /// The deadline passed: escalate.
    Overdue,
    /// The moment itself (`revert_by`, a session's planned end).
    Due,
}

impl Step {
    pub fn as_str(&self) -> String {
        match self {
            Step::Reminder(n) => format!("reminder-{n}"),
            Step::Overdue => "overdue".into(),
            Step::Due => "due".into(),
        }
    }
}

/// An obligation with its clock.
#[derive(Clone, Debug, PartialEq)]
pub struct Obligation {
    /// Stable id: `retrospective:d-…`, `revert:d-…`, `session_retrospective:BG-…`, …
    pub id: String,
    pub kind: Kind,
    /// The drift id or the record id it is about.
    pub subject: String,
    pub scope: String,
    pub opened_at: Timestamp,
    /// When it must be satisfied.
    pub due_at: Timestamp,
    pub severity: Severity,
    /// A sentence for people: what is owed.
    pub what: String,
    /// Every step with its time, in order.
    pub steps: Vec<(Step, Timestamp)>,
}

impl Obligation {
    /// Steps whose time has come and that were not sent yet.
    pub fn due_steps(&self, now: Timestamp, sent: &HashSet<(String, String)>) -> Vec<Step> {
        self.steps
            .iter()
            .filter(|(step, at)| *at <= now && !sent.contains(&(self.id.clone(), step.as_str())))
            .map(|(s, _)| s.clone())
            .collect()
    }

    pub fn is_overdue(&self, now: Timestamp) -> bool {
        now >= self.due_at
    }

    /// The next step still to come after `now`.
    pub fn next_step(&self, now: Timestamp) -> Option<&(Step, Timestamp)> {
        self.steps.iter().find(|(_, at)| *at > now)
    }
}

fn add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(t)
}

/// Reminders before a deadline, then the overdue step.
fn before_deadline(opened: Timestamp, s: &Schedule) -> Vec<(Step, Timestamp)> {
    let mut steps: Vec<(Step, Timestamp)> = s
        .reminders
        .iter()
        .filter(|d| **d < s.deadline)
        .enumerate()
        .map(|(i, d)| (Step::Reminder(i + 1), add(opened, *d)))
        .collect();
    steps.push((Step::Overdue, add(opened, s.deadline)));
    steps
}

/// The moment, then repeats on the reminder offsets after it.
fn after_moment(moment: Timestamp, s: &Schedule) -> Vec<(Step, Timestamp)> {
    let mut steps = vec![(Step::Due, moment)];
    steps.extend(
        s.reminders
            .iter()
            .enumerate()
            .map(|(i, d)| (Step::Reminder(i + 1), add(moment, *d))),
    );
    steps
}

/// Every open obligation. `records` are the records in force (for sessions, retrospectives
/// filed for sessions, and `revert_by` extensions); `drifts` are the open drifts.
pub fn open_obligations(
    drifts: &[DriftState],
    records: &[ChangeRecord],
    schedule: &Schedule,
    now: Timestamp,
) -> Vec<Obligation> {
    let filed: HashSet<&str> = records
        .iter()
        .flat_map(|r| r.retrospective_for.iter().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    for d in drifts {
        if d.needs_retrospective && !filed.contains(d.drift_id.as_str()) {
            out.push(Obligation {
                id: format!("retrospective:{}", d.drift_id),
                kind: Kind::Retrospective,
                subject: d.drift_id.clone(),
                scope: d.scope.clone(),
                opened_at: d.observed_at,
                due_at: add(d.observed_at, schedule.deadline),
                severity: d.severity,
                what: format!(
                    "a change record with `retrospective_for: [{}]` for {} {}",
                    d.drift_id, d.kind, d.resource_name
                ),
                steps: before_deadline(d.observed_at, schedule),
            });
        }
        // A newer version of the record may extend the deadline.
        let revert_by = d
            .record_id
            .as_ref()
            .and_then(|id| records.iter().find(|r| &r.id == id))
            .and_then(|r| r.revert_by)
            .or(d.revert_by);
        if let Some(rb) = revert_by {
            out.push(Obligation {
                id: format!("revert:{}", d.drift_id),
                kind: Kind::Revert,
                subject: d.drift_id.clone(),
                scope: d.scope.clone(),
                opened_at: d.observed_at,
                due_at: rb,
                severity: d.severity.max(Severity::Medium),
                what: format!(
                    "{} {} back to its state before {} (temporary change under {})",
                    d.kind,
                    d.resource_name,
                    d.drift_id,
                    d.record_id.as_deref().unwrap_or("a record")
                ),
                steps: after_moment(rb, schedule),
            });
        }
    }
    for r in records
        .iter()
        .filter(|r| r.record_type == RecordType::Emergency)
    {
        let Some(w) = r.window else { continue };
        if w.start > now {
            continue;
        }
        if !filed.contains(r.id.as_str()) {
            out.push(Obligation {
                id: format!("session_retrospective:{}", r.id),
                kind: Kind::SessionRetrospective,
                subject: r.id.clone(),
                scope: String::new(),
                opened_at: w.start,
                due_at: add(w.start, schedule.deadline),
                severity: Severity::High,
                what: format!(
                    "a retrospective record with `retrospective_for: [{}]` for break-glass session \"{}\" ({})",
                    r.id, r.title, r.requested_by
                ),
                steps: before_deadline(w.start, schedule),
            });
        }
        if r.closed_at.is_none() {
            out.push(Obligation {
                id: format!("session_open:{}", r.id),
                kind: Kind::SessionOpen,
                subject: r.id.clone(),
                scope: String::new(),
                opened_at: w.start,
                due_at: w.end,
                severity: Severity::High,
                what: format!(
                    "close break-glass session {} (`driftwatch break-glass close {}`), planned to end {}",
                    r.id, r.id, w.end
                ),
                steps: after_moment(w.end, schedule),
            });
        }
    }
    out.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.id.cmp(&b.id)));
    out
}

/// A record skeleton an engineer can paste, fill and commit to close a retrospective.
pub fn retrospective_skeleton(d: &DriftState, now: Timestamp) -> String {
    let id = format!("RETRO-{}", d.drift_id.trim_start_matches("d-"));
    format!(
        "id: {id}\n\
         title: \"Retrospective: {kind} {name}\"\n\
         type: emergency\n\
         purpose: \"<why the change was needed>\"\n\
         impact: \"<what it exposed, for how long>\"\n\
         resources: \"<who, how long>\"\n\
         requested_by: \"<you@example.com>\"\n\
         approved_by:\n  - {{ name: \"<approver@example.com>\", at: {now} }}\n\
         window: {{ start: {start}, end: {now} }}\n\
         scope:\n  - {{ provider: {provider}, target: \"<resource id or name>\" }}\n\
         retrospective_for: [{drift}]\n",
        kind = d.kind,
        name = d.resource_name.replace('"', "'"),
        start = d.observed_at,
        provider = d.scope.split(':').next().unwrap_or("aws"),
        drift = d.drift_id,
    )
}

#[cfg(test)]
mod tests;

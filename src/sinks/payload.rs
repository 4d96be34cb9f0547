//! The alert every sink receives: a versioned document (docs/webhook.md). Built from ledger
//! entries, never from core types directly, so the wire format is stable.

use serde::{Deserialize, Serialize};

use super::EventKind;
use crate::model::{Action, Severity};
use crate::store::ledger::{ChangeEntry, LedgerAttribution, LedgerField, LedgerFinding};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Payload schema version.
    pub version: u32,
    pub event: EventKind,
    pub status: AlertStatus,
    /// Stable per alert and status: the same alert is never delivered under two keys.
    pub idempotency_key: String,
    pub severity: Severity,
    /// One line a person reads first.
    pub title: String,
    /// `aws` or `kubernetes`; absent for alerts about driftwatch itself.
    pub provider: Option<String>,
    pub scope: String,
    pub drift_id: Option<String>,
    pub kind: Option<String>,
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    pub action: Option<Action>,
    pub fields: Vec<LedgerField>,
    pub findings: Vec<LedgerFinding>,
    pub record_id: Option<String>,
    pub reason: String,
    pub actor: Option<String>,
    pub observed_at: String,
    /// When a resolved alert's subject closed.
    pub resolved_at: Option<String>,
    /// Alerts about the same thing share it (PagerDuty dedup_key, Alertmanager labels); the
    /// drift id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// A change record to paste, fill and commit (retrospective reminders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_skeleton: Option<String>,
    /// The covering record's ticket, when it was imported from GitHub, Jira or Linear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_url: Option<String>,
    /// Who made the change and the CloudTrail event that proves it (`actor` is its label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<LedgerAttribution>,
}

impl Alert {
    /// The key that groups an alert's firing and resolved messages (PagerDuty dedup_key,
    /// Alertmanager identity): the drift id, or the idempotency key for other events.
    pub fn dedup_key(&self) -> String {
        self.group
            .clone()
            .or_else(|| self.drift_id.clone())
            .unwrap_or_else(|| self.idempotency_key.clone())
    }

    /// The resolve that ends this (firing) alert.
    pub fn resolved(&self, at: &str, reason: &str) -> Alert {
        Alert {
            status: AlertStatus::Resolved,
            idempotency_key: format!("{}:resolved", self.dedup_key()),
            title: format!("Resolved: {}", self.title),
            reason: reason.to_string(),
            resolved_at: Some(at.to_string()),
            ..self.clone()
        }
    }
}

fn provider_of(scope: &str) -> Option<String> {
    scope
        .split(':')
        .next()
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

pub fn alert_for_change(c: &ChangeEntry, event: EventKind) -> Alert {
    let verdict = match event {
        EventKind::Unmatched => "Unplanned change",
        EventKind::Violation => "Change violates its record",
        _ => "Planned change",
    };
    Alert {
        version: 1,
        event,
        status: AlertStatus::Firing,
        idempotency_key: format!("{}:{}", c.drift_id, event.as_str()),
        severity: c.severity,
        title: format!(
            "{verdict} [{}]: {} {} {} in {}",
            c.severity, c.action, c.kind, c.name, c.scope
        ),
        provider: provider_of(&c.scope),
        scope: c.scope.clone(),
        drift_id: Some(c.drift_id.clone()),
        kind: Some(c.kind.clone()),
        resource_id: Some(c.resource_id.clone()),
        resource_name: Some(c.name.clone()),
        action: Some(c.action),
        fields: c.fields.clone(),
        findings: c.findings.clone(),
        record_id: c.record_id.clone(),
        record_url: c.record_url.clone(),
        reason: c.reason.clone(),
        actor: c.actor.clone(),
        observed_at: c.observed_at.clone(),
        resolved_at: None,
        group: None,
        record_skeleton: None,
        attribution: c.attribution.clone(),
    }
}

/// An alert about driftwatch itself (a blind scope, a rejected record, a sink that is down).
pub fn alert_for_system(
    event: EventKind,
    severity: Severity,
    scope: &str,
    key: String,
    title: String,
    reason: String,
    at: &str,
) -> Alert {
    Alert {
        version: 1,
        event,
        status: AlertStatus::Firing,
        idempotency_key: key,
        severity,
        title,
        provider: provider_of(scope),
        scope: scope.to_string(),
        drift_id: None,
        kind: None,
        resource_id: None,
        resource_name: None,
        action: None,
        fields: Vec::new(),
        findings: Vec::new(),
        record_id: None,
        record_url: None,
        reason,
        actor: None,
        observed_at: at.to_string(),
        resolved_at: None,
        group: None,
        record_skeleton: None,
        attribution: None,
    }
}

/// A change-record file was rejected. The key is derived from the error itself, so the same
/// problem alerts once, however many cycles (or restarts) see it.
pub fn alert_for_record(e: &crate::records::RecordError, at: &str) -> Alert {
    let key = crate::model::sha256_hex(e.to_string().as_bytes());
    alert_for_system(
        EventKind::RecordRejected,
        Severity::Medium,
        "",
        format!("record:{}", key.get(..16).unwrap_or(&key)),
        format!("Change record rejected: {e}"),
        "the file's last valid version (if any) stays active; fix the file to load the new one"
            .into(),
        at,
    )
}

/// A ticket system holding change records has been unreachable for too long. `episode` (the
/// last good poll's time, or the start) makes the key and the group one per outage, so the
/// alert fires once and its resolve closes that outage only.
pub fn alert_for_records_source(
    source: &str,
    system: &str,
    episode: &str,
    age_secs: i64,
    error: &str,
    at: &str,
) -> Alert {
    let group = format!("records_source_stale:{source}:{episode}");
    let mut a = alert_for_system(
        EventKind::RecordsSourceStale,
        Severity::High,
        "",
        group.clone(),
        format!("Change records from {source} ({system}) are stale: no good poll for {age_secs} s"),
        format!(
            "last error: {error}; its last good set (from {episode}) stays in force, but new, changed or withdrawn records are not seen, so planned changes may alert as unplanned"
        ),
        at,
    );
    a.group = Some(group);
    a
}

/// The alert that a scope went blind at `since`. Its group (`source_blind:SCOPE:SINCE`) is
/// what its recovery resolves.
pub fn alert_for_blind(scope: &str, reason: String, since: &str) -> Alert {
    // The key starts with the group, so the outbox keeps the recovery (a resolve keyed
    // `GROUP:resolved`) behind this alert on each sink.
    let group = format!("source_blind:{scope}:{since}");
    let mut a = alert_for_system(
        EventKind::SourceBlind,
        Severity::High,
        scope,
        group.clone(),
        format!("driftwatch is blind on {scope}: changes there are not being seen"),
        reason,
        since,
    );
    a.group = Some(group);
    a
}

/// The recovery of a scope blind since `since`: the resolve of that blind alert (same group,
/// labels and dedup key, so PagerDuty closes its incident and Alertmanager its alert), sent
/// as a `source_recovered` event.
pub fn alert_for_recovery(scope: &str, since: &str, reason: &str, at: &str) -> Alert {
    let blind = alert_for_blind(scope, String::new(), since);
    let mut a = blind.resolved(at, reason);
    a.event = EventKind::SourceRecovered;
    a.title = format!("driftwatch sees {scope} again (blind since {since})");
    a
}

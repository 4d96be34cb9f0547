//! Prometheus Alertmanager API v2: POST `/api/v2/alerts`. A firing alert carries
//! `endsAt` = now + `active_secs`, and is posted again after half of that while its drift
//! stays open (`refresh_after`), so Alertmanager never lets it expire; the resolve posts the
//! same labels with `endsAt` = the closing time.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{Alert, AlertStatus, BuildError, DeliveryError, DeliveryFuture, Sink, http};
use crate::config::AlertmanagerSinkConfig;

pub struct AlertmanagerSink {
    name: String,
    url: String,
    active: SignedDuration,
    client: reqwest::Client,
    max_attempts: u32,
}

impl AlertmanagerSinkConfig {
    /// The sink this section describes.
    pub fn build(&self) -> Result<AlertmanagerSink, BuildError> {
        Ok(AlertmanagerSink {
            name: self.name.clone(),
            url: format!("{}/api/v2/alerts", self.url.trim_end_matches('/')),
            active: self.active(),
            client: http::client(self.timeout())?,
            max_attempts: self.max_attempts,
        })
    }
}

fn alertname(a: &Alert) -> &'static str {
    match a.event {
        super::EventKind::Unmatched => "DriftwatchUnplannedChange",
        super::EventKind::Violation => "DriftwatchChangeViolation",
        super::EventKind::Matched => "DriftwatchPlannedChange",
        super::EventKind::SourceBlind | super::EventKind::SourceRecovered => {
            "DriftwatchSourceBlind"
        }
        super::EventKind::RecordRejected => "DriftwatchRecordRejected",
        super::EventKind::DeliveryFailed => "DriftwatchDeliveryFailed",
        super::EventKind::Reminder => "DriftwatchRetrospectiveDue",
        super::EventKind::Overdue => "DriftwatchRetrospectiveOverdue",
        super::EventKind::NotReverted => "DriftwatchTemporaryChangeNotReverted",
        super::EventKind::BreakGlassOpen => "DriftwatchBreakGlassStillOpen",
        super::EventKind::RecordsSourceStale => "DriftwatchRecordsSourceStale",
        super::EventKind::StoreFailed => "DriftwatchStoreFailed",
    }
}

/// The alert list Alertmanager takes. `now` is the sending time (for `endsAt`).
pub fn alerts(a: &Alert, now: Timestamp, active: SignedDuration) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), json!(alertname(a)));
    labels.insert("severity".into(), json!(a.severity.as_str()));
    labels.insert("dedup_key".into(), json!(a.dedup_key()));
    if !a.scope.is_empty() {
        labels.insert("scope".into(), json!(a.scope));
    }
    if let Some(p) = &a.provider {
        labels.insert("provider".into(), json!(p));
    }
    if let Some(k) = &a.kind {
        labels.insert("kind".into(), json!(k));
    }
    if let Some(d) = &a.drift_id {
        labels.insert("drift_id".into(), json!(d));
    }
    let findings: Vec<&str> = a.findings.iter().map(|f| f.message.as_str()).collect();
    let fields: Vec<&str> = a.fields.iter().map(|f| f.path.as_str()).collect();
    let ends = match a.status {
        AlertStatus::Firing => now.checked_add(active).unwrap_or(now),
        AlertStatus::Resolved => a
            .resolved_at
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(now),
    };
    json!([{
        "labels": labels,
        "annotations": {
            "summary": a.title,
            "description": a.reason,
            "resource": a.resource_name.clone().unwrap_or_default(),
            "findings": findings.join("; "),
            "changed_fields": fields.join(", "),
            "expected_record": a.record_id.clone().unwrap_or_default(),
            "actor": a.actor.clone().unwrap_or_default(),
            "actor_evidence": a.attribution.as_ref().map(|e| e.evidence()).unwrap_or_default(),
        },
        "startsAt": a.observed_at,
        "endsAt": ends.to_string(),
    }])
}

impl Sink for AlertmanagerSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, _key: &'a str, alert: &'a Alert) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(&alerts(alert, crate::clock::now(), self.active))
                .map_err(|e| DeliveryError {
                    retryable: false,
                    retry_after: None,
                    message: format!("cannot encode the alert: {e}"),
                })?;
            http::post_json(&self.client, &self.url, &[], body).await
        })
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    fn refresh_after(&self) -> Option<SignedDuration> {
        // Half the active period: a refresh that has to wait out a short outage still lands
        // before `endsAt`. At least a second, so `active_secs = 1` cannot loop.
        Some((self.active / 2).max(SignedDuration::from_secs(1)))
    }
}

//! PagerDuty Events API v2: `trigger` when a drift fires, `resolve` when it closes, both with
//! `dedup_key` = the drift id so PagerDuty keeps one incident per drift.

use serde_json::{Value, json};

use super::{Alert, AlertStatus, BuildError, DeliveryFuture, Sink, http};
use crate::config::{PagerDutySinkConfig, Secret};
use crate::model::Severity;

pub struct PagerDutySink {
    name: String,
    url: String,
    routing_key: Secret,
    client: reqwest::Client,
    max_attempts: u32,
}

impl PagerDutySinkConfig {
    /// The sink this section describes; its routing key is read now.
    pub fn build(&self) -> Result<PagerDutySink, BuildError> {
        Ok(PagerDutySink {
            name: self.name.clone(),
            url: self.url.clone(),
            routing_key: self.routing_key.resolve()?,
            client: http::client(self.timeout())?,
            max_attempts: self.max_attempts,
        })
    }
}

fn pd_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

/// The Events API v2 body (without the routing key, added at delivery).
pub fn event(a: &Alert) -> Value {
    match a.status {
        AlertStatus::Resolved => json!({
            "event_action": "resolve",
            "dedup_key": a.dedup_key(),
        }),
        AlertStatus::Firing => {
            let summary: String = a.title.chars().take(1024).collect();
            json!({
                "event_action": "trigger",
                "dedup_key": a.dedup_key(),
                "payload": {
                    "summary": summary,
                    "source": if a.scope.is_empty() { "driftwatch" } else { a.scope.as_str() },
                    "severity": pd_severity(a.severity),
                    "timestamp": a.observed_at,
                    "component": a.resource_name,
                    "group": a.kind,
                    "class": a.event.as_str(),
                    "custom_details": {
                        "drift_id": a.drift_id,
                        "resource_id": a.resource_id,
                        "action": a.action,
                        "findings": a.findings.iter().map(|f| f.message.as_str()).collect::<Vec<_>>(),
                        "changed_fields": a.fields.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
                        "expected_record": a.record_id,
                        "actor": a.actor,
                        "attribution": a.attribution,
                        "reason": a.reason,
                    }
                }
            })
        }
    }
}

impl Sink for PagerDutySink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, _key: &'a str, alert: &'a Alert) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let mut body = event(alert);
            if let Value::Object(m) = &mut body {
                m.insert(
                    "routing_key".into(),
                    Value::String(self.routing_key.expose().to_string()),
                );
            }
            http::post_json(&self.client, &self.url, &[], body.to_string().into_bytes()).await
        })
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
}

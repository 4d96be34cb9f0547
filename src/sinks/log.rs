//! The log sink: one structured `tracing` event per alert.

use super::{Alert, AlertStatus, DeliveryFuture, Sink};
use crate::config::LogSinkConfig;

pub struct LogSink {
    name: String,
}

impl LogSinkConfig {
    /// The sink this section describes.
    pub fn build(&self) -> LogSink {
        LogSink {
            name: self.name.clone(),
        }
    }
}

impl Sink for LogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, key: &'a str, alert: &'a Alert) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let findings: Vec<&str> = alert.findings.iter().map(|f| f.message.as_str()).collect();
            let status = match alert.status {
                AlertStatus::Firing => "firing",
                AlertStatus::Resolved => "resolved",
            };
            tracing::warn!(
                target: "driftwatch::alert",
                sink = %self.name,
                event = alert.event.as_str(),
                status,
                severity = %alert.severity,
                drift_id = alert.drift_id.as_deref().unwrap_or("-"),
                record = alert.record_id.as_deref().unwrap_or("-"),
                actor = alert.actor.as_deref().unwrap_or("-"),
                actor_event = alert.attribution.as_ref().map_or("-", |e| e.event_id.as_str()),
                findings = %findings.join("; "),
                reason = %alert.reason,
                key,
                "{}", alert.title
            );
            Ok(())
        })
    }

    fn max_attempts(&self) -> u32 {
        1
    }
}

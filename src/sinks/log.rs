//! The log sink: one structured `tracing` event per alert.

use super::{DeliveryError, DeliveryFuture, Sink};

pub struct LogSink {
    name: String,
}

impl LogSink {
    pub fn new(name: String) -> Self {
        LogSink { name }
    }
}

impl Sink for LogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, idempotency_key: &'a str, payload: &'a str) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let alert: super::Alert = serde_json::from_str(payload).map_err(|e| DeliveryError {
                retryable: false,
                retry_after: None,
                message: format!("outbox payload is not an alert: {e}"),
            })?;
            let findings: Vec<&str> = alert.findings.iter().map(|f| f.message.as_str()).collect();
            tracing::warn!(
                target: "driftwatch::alert",
                sink = %self.name,
                event = alert.event.as_str(),
                severity = %alert.severity,
                drift_id = alert.drift_id.as_deref().unwrap_or("-"),
                record = alert.record_id.as_deref().unwrap_or("-"),
                findings = %findings.join("; "),
                reason = %alert.reason,
                key = idempotency_key,
                "{}", alert.title
            );
            Ok(())
        })
    }

    fn max_attempts(&self) -> u32 {
        1
    }
}

//! Alert delivery: the alert payload (the documented wire format), the sinks built from their
//! config sections, and the dispatcher that drains the persisted outbox.

mod dispatcher;
mod log;
mod payload;
mod webhook;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use dispatcher::{DispatchStats, Dispatcher};
pub use log::LogSink;
pub use payload::{Alert, alert_for_change, alert_for_record, alert_for_source};
pub use webhook::WebhookSink;

use crate::config::{ConfigError, SinkConfig};
use crate::model::Severity;

/// What an alert is about; sinks subscribe to a subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Unmatched,
    Violation,
    Matched,
    SourceBlind,
    SourceRecovered,
    RecordRejected,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Unmatched,
        EventKind::Violation,
        EventKind::Matched,
        EventKind::SourceBlind,
        EventKind::SourceRecovered,
        EventKind::RecordRejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Unmatched => "unmatched",
            EventKind::Violation => "violation",
            EventKind::Matched => "matched",
            EventKind::SourceBlind => "source_blind",
            EventKind::SourceRecovered => "source_recovered",
            EventKind::RecordRejected => "record_rejected",
        }
    }
}

/// A failed delivery: retried later unless `retryable` is false.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub retryable: bool,
    /// The receiver asked us to wait (HTTP Retry-After).
    pub retry_after: Option<Duration>,
    pub message: String,
}

pub type DeliveryFuture<'a> = Pin<Box<dyn Future<Output = Result<(), DeliveryError>> + Send + 'a>>;

/// One alert destination.
pub trait Sink: Send + Sync {
    fn name(&self) -> &str;
    /// Deliver one payload (JSON text) with its idempotency key.
    fn deliver<'a>(&'a self, idempotency_key: &'a str, payload: &'a str) -> DeliveryFuture<'a>;
    /// Attempts before a row is abandoned.
    fn max_attempts(&self) -> u32;
}

/// A configured sink with its subscription.
pub struct Route {
    pub sink: Arc<dyn Sink>,
    pub events: Vec<EventKind>,
    pub min_severity: Severity,
}

/// Every configured sink, by name.
#[derive(Default, Clone)]
pub struct Sinks {
    routes: Arc<BTreeMap<String, Route>>,
}

impl Sinks {
    pub fn from_config(configs: &[SinkConfig]) -> Result<Sinks, ConfigError> {
        let mut routes = BTreeMap::new();
        for c in configs {
            let route = match c {
                SinkConfig::Log {
                    name,
                    events,
                    min_severity,
                } => Route {
                    sink: Arc::new(LogSink::new(name.clone())),
                    events: events.clone(),
                    min_severity: *min_severity,
                },
                SinkConfig::Webhook {
                    name,
                    events,
                    min_severity,
                    timeout_secs,
                    max_attempts,
                    ..
                } => {
                    let url = c.resolve_url().map_err(|message| ConfigError::Parse {
                        path: format!("sinks.{name}").into(),
                        message,
                    })?;
                    let sink = WebhookSink::new(
                        name.clone(),
                        url,
                        Duration::from_secs(*timeout_secs),
                        *max_attempts,
                    )
                    .map_err(|e| ConfigError::Parse {
                        path: format!("sinks.{name}").into(),
                        message: format!("cannot build the HTTP client: {e}"),
                    })?;
                    Route {
                        sink: Arc::new(sink),
                        events: events.clone(),
                        min_severity: *min_severity,
                    }
                }
            };
            routes.insert(c.name().to_string(), route);
        }
        Ok(Sinks {
            routes: Arc::new(routes),
        })
    }

    /// Names of the sinks that want this event at this severity.
    pub fn subscribers(&self, event: EventKind, severity: Severity) -> Vec<String> {
        self.routes
            .iter()
            .filter(|(_, r)| r.events.contains(&event) && severity >= r.min_severity)
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Sink>> {
        self.routes.get(name).map(|r| r.sink.clone())
    }

    pub fn names(&self) -> Vec<String> {
        self.routes.keys().cloned().collect()
    }
}

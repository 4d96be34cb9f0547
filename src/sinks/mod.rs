//! Alert delivery: the alert payload (the documented wire format), the sinks built from their
//! config sections (log, webhook, Slack, PagerDuty, Alertmanager), the routes that choose
//! sinks for an alert, and the dispatcher that drains the persisted outbox.

mod alertmanager;
mod dispatcher;
mod http;
mod log;
mod pagerduty;
mod payload;
mod slack;
mod webhook;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};

pub use alertmanager::{AlertmanagerSink, alerts as alertmanager_alerts};
pub use dispatcher::{DispatchStats, Dispatcher, Waker};
pub use log::LogSink;
pub use pagerduty::{PagerDutySink, event as pagerduty_event};
pub use payload::{
    Alert, AlertStatus, alert_for_blind, alert_for_change, alert_for_record,
    alert_for_records_source, alert_for_recovery, alert_for_system,
};
pub use slack::{SlackSink, message as slack_message};
pub use webhook::{WebhookSink, signature as webhook_signature};

use crate::config::{AlertingConfig, ConfigError, RouteConfig, SecretError, SinkConfig};
use crate::http_client::HttpError;
pub use crate::model::EventKind;
use crate::model::{Provider, Severity};
use crate::store::{OutboxEvent, OutboxItem, Trigger};

/// A failed delivery: retried later unless `retryable` is false.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub retryable: bool,
    /// The receiver asked us to wait (HTTP Retry-After).
    pub retry_after: Option<Duration>,
    pub message: String,
}

/// Why a sink could not be built from its section.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A secret (URL, key) cannot be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Client(#[from] HttpError),
}

pub type DeliveryFuture<'a> = Pin<Box<dyn Future<Output = Result<(), DeliveryError>> + Send + 'a>>;

/// One alert destination.
pub trait Sink: Send + Sync {
    fn name(&self) -> &str;
    /// Deliver one alert with its idempotency key.
    fn deliver<'a>(&'a self, idempotency_key: &'a str, alert: &'a Alert) -> DeliveryFuture<'a>;
    /// Attempts before a row is abandoned.
    fn max_attempts(&self) -> u32;
    /// For receivers that expire a firing alert (Alertmanager's `endsAt`): how long after a
    /// delivered post an open drift's alert is posted again.
    fn refresh_after(&self) -> Option<jiff::SignedDuration> {
        None
    }
}

/// A compiled routing rule.
struct Route {
    sinks: Vec<String>,
    events: Vec<EventKind>,
    min_severity: Severity,
    providers: Vec<Provider>,
    scopes: Option<GlobSet>,
}

impl Route {
    /// A route from its section (the scope globs compiled once).
    fn build(c: &RouteConfig) -> Result<Route, globset::Error> {
        let scopes = if c.scopes.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for g in &c.scopes {
                b.add(Glob::new(g)?);
            }
            Some(b.build()?)
        };
        Ok(Route {
            sinks: c.sinks.clone(),
            events: c.events.clone().unwrap_or_else(EventKind::alerting),
            min_severity: c.min_severity,
            providers: c.providers.clone(),
            scopes,
        })
    }

    fn matches(&self, a: &Alert) -> bool {
        self.events.contains(&a.event)
            && a.severity >= self.min_severity
            && (self.providers.is_empty()
                || a.provider
                    .as_deref()
                    .is_some_and(|p| self.providers.iter().any(|q| q.as_str() == p)))
            && self.scopes.as_ref().is_none_or(|g| g.is_match(&a.scope))
    }
}

/// A built sink and how many deliveries to it may run at once.
pub type Built = (Arc<dyn Sink>, usize);

/// Every configured sink by name, with its concurrency, and the routes.
#[derive(Default, Clone)]
pub struct Sinks {
    sinks: Arc<BTreeMap<String, Built>>,
    routes: Arc<Vec<Route>>,
    default_route: Arc<Option<Route>>,
}

fn build_err(name: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Parse {
        path: format!("sinks.{name}").into(),
        message: e.to_string(),
    }
}

impl SinkConfig {
    /// The sink this section describes, with how many deliveries to it may run at once.
    pub fn build(&self) -> Result<Built, BuildError> {
        Ok(match self {
            SinkConfig::Log(c) => (Arc::new(c.build()), 1),
            SinkConfig::Webhook(c) => (Arc::new(c.build()?), c.concurrency),
            SinkConfig::Slack(c) => (Arc::new(c.build()?), c.concurrency),
            SinkConfig::Pagerduty(c) => (Arc::new(c.build()?), c.concurrency),
            SinkConfig::Alertmanager(c) => (Arc::new(c.build()?), c.concurrency),
        })
    }
}

impl Sinks {
    /// Every sink built from its section, and the routes of `[alerting]`.
    pub fn from_config(
        configs: &[SinkConfig],
        alerting: &AlertingConfig,
    ) -> Result<Sinks, ConfigError> {
        let mut sinks: BTreeMap<String, Built> = BTreeMap::new();
        for c in configs {
            let built = c.build().map_err(|e| match e {
                // The secret's own message, as `config check` words it.
                BuildError::Secret(s) => build_err(c.name(), s.problem),
                other => build_err(c.name(), other),
            })?;
            sinks.insert(c.name().to_string(), built);
        }
        let routes = alerting
            .routes
            .iter()
            .map(Route::build)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| build_err("routes", e))?;
        let default_route = alerting
            .default_route
            .as_ref()
            .map(Route::build)
            .transpose()
            .map_err(|e| build_err("default_route", e))?;
        Ok(Sinks {
            sinks: Arc::new(sinks),
            routes: Arc::new(routes),
            default_route: Arc::new(default_route),
        })
    }

    /// Names of the sinks this alert goes to: the union of every matching route, else the
    /// default route (by default every sink, for every event but `matched`).
    pub fn route(&self, a: &Alert) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.routes.iter().filter(|r| r.matches(a)) {
            for s in &r.sinks {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        if !out.is_empty() {
            return out;
        }
        match self.default_route.as_ref() {
            Some(r) if r.matches(a) => r.sinks.clone(),
            Some(_) => Vec::new(),
            None if a.event == EventKind::Matched => Vec::new(),
            None => self.sinks.keys().cloned().collect(),
        }
    }

    /// Deliver an alert straight to its routed sinks, one attempt each, bypassing the outbox:
    /// only for news about the outbox's own store failing. Returns how many sinks took it.
    pub async fn deliver_now(&self, alert: &Alert) -> usize {
        let mut delivered = 0;
        for name in self.route(alert) {
            let Some(sink) = self.get(&name) else {
                continue;
            };
            match sink.deliver(&alert.idempotency_key, alert).await {
                Ok(()) => delivered += 1,
                Err(e) => {
                    tracing::error!(sink = %name, error = %e, "direct alert delivery failed")
                }
            }
        }
        delivered
    }

    /// Outbox rows for an alert: one per routed sink, minus `exclude`.
    pub fn outbox_items(
        &self,
        alert: &Alert,
        subject: Option<String>,
        exclude: &[&str],
    ) -> Vec<OutboxItem> {
        let payload = match serde_json::to_value(alert) {
            Ok(p) => p,
            // Serializing a struct of strings and enums cannot fail; log if it ever does.
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize alert");
                return Vec::new();
            }
        };
        self.route(alert)
            .into_iter()
            .filter(|s| !exclude.contains(&s.as_str()))
            .map(|sink| OutboxItem {
                sink,
                idempotency_key: alert.idempotency_key.clone(),
                payload: payload.clone(),
                subject: subject.clone(),
                event: OutboxEvent::Alert(alert.event),
            })
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Sink>> {
        self.sinks.get(name).map(|(s, _)| s.clone())
    }

    /// How many deliveries to this sink may be in flight at once.
    pub fn concurrency(&self, name: &str) -> usize {
        self.sinks.get(name).map(|(_, c)| *c).unwrap_or(1).max(1)
    }

    pub fn names(&self) -> Vec<String> {
        self.sinks.keys().cloned().collect()
    }
}

/// Resolves for the sinks that received each drift's firing alert.
pub fn resolve_items(
    triggers: &[Trigger],
    at: &str,
    reason: impl Fn(&str) -> String,
) -> Vec<OutboxItem> {
    let mut out = Vec::new();
    for t in triggers {
        // The payload was written by this sink layer; one that no longer parses cannot be
        // resolved, and says so rather than vanishing.
        let fired: Alert = match serde_json::from_str(&t.payload) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(drift_id = %t.drift_id, sink = %t.sink, error = %e, "stored alert does not parse; its resolve cannot be sent");
                continue;
            }
        };
        let resolved = fired.resolved(at, &reason(&t.drift_id));
        match serde_json::to_value(&resolved) {
            Ok(payload) => out.push(OutboxItem {
                sink: t.sink.clone(),
                idempotency_key: resolved.idempotency_key.clone(),
                payload,
                subject: None,
                event: OutboxEvent::Resolved,
            }),
            Err(e) => {
                tracing::error!(drift_id = %t.drift_id, sink = %t.sink, error = %e, "cannot encode a resolve")
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;

//! What a cycle saw, as metrics and log lines: per poll (count, failures by kind, duration),
//! per scope (blindness, resources, changes by decision and severity), obligations open and
//! overdue, and one log line per change with its decision and reason.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Daemon, ScopeHealth, ScopeReport, ScopeStatus, is_pure_revert, scheduler};
use crate::metrics::{ChangeLabels, ErrorLabels, FailureLabels, PollLabels, ScopeLabels};
use crate::model::Outcome;

impl Daemon {
    /// A config reload that did not apply: counted and logged; the running config stays.
    pub(super) fn config_reload_failed(&self, error: &dyn std::fmt::Display) {
        self.metrics
            .config_reloads
            .get_or_create(&ErrorLabels {
                kind: "failed".into(),
            })
            .inc();
        tracing::error!(error = %error, "config reload failed; keeping the running config");
    }

    /// A store error, counted by its kind.
    pub(super) fn count_store_error(&self, kind: &'static str) {
        self.metrics
            .store_errors
            .get_or_create(&ErrorLabels { kind: kind.into() })
            .inc();
    }

    pub(super) fn beat(&self) {
        self.heartbeat
            .store(jiff::Timestamp::now().as_second(), Ordering::SeqCst);
    }

    pub(super) async fn update_obligation_gauges(&self) {
        let Ok(open) = self.store.call(|db| db.all_open_drifts()).await else {
            return;
        };
        let now = crate::clock::now();
        let (obs, _) = scheduler::current(
            &open,
            self.records.active(),
            &self.cfg.obligations.schedule(),
            now,
        );
        self.metrics.obligations_open.set(obs.len() as i64);
        self.metrics
            .obligations_overdue
            .set(obs.iter().filter(|o| o.is_overdue(now)).count() as i64);
    }

    pub(super) fn record_poll(
        &self,
        outcome: &Outcome,
        scope: &str,
        service: &str,
        took: Duration,
    ) {
        let (result, failure) = match outcome {
            Outcome::Complete(_) => ("complete", None),
            Outcome::Part(_) => ("part", None),
            Outcome::Failed { kind, .. } => ("failed", Some(kind.as_str())),
        };
        self.metrics
            .polls
            .get_or_create(&PollLabels {
                scope: scope.into(),
                service: service.into(),
                outcome: result.into(),
            })
            .inc();
        if let Some(kind) = failure {
            self.metrics
                .poll_failures
                .get_or_create(&FailureLabels {
                    scope: scope.into(),
                    service: service.into(),
                    kind: kind.into(),
                })
                .inc();
        }
        let sl = ScopeLabels {
            scope: scope.into(),
            service: service.into(),
        };
        self.metrics
            .poll_duration
            .get_or_create(&sl)
            .observe(took.as_secs_f64());
    }

    pub(super) fn record_scope(&self, r: &ScopeReport, service: &str) {
        let scope = r.scope.to_string();
        let sl = ScopeLabels {
            scope: scope.clone(),
            service: service.into(),
        };
        match &r.status {
            ScopeStatus::Failed { blind, .. } => {
                self.metrics
                    .scope_blind
                    .get_or_create(&sl)
                    .set(i64::from(*blind));
                if *blind {
                    self.health.set_scope(&scope, ScopeHealth::Blind);
                }
            }
            ScopeStatus::Held { .. } => {
                self.metrics.polls_held.get_or_create(&sl).inc();
                self.health.set_scope(&scope, ScopeHealth::Polled);
            }
            _ => {
                self.metrics.scope_blind.get_or_create(&sl).set(0);
                self.metrics
                    .resources
                    .get_or_create(&sl)
                    .set(r.resources as i64);
                self.health.set_scope(&scope, ScopeHealth::Polled);
            }
        }
        self.record_changes(r);
    }

    /// The changes a scope's cycle (or targeted re-read) decided, by decision and severity.
    pub(super) fn record_changes(&self, r: &ScopeReport) {
        let scope = r.scope.to_string();
        for c in &r.changes {
            self.metrics
                .changes
                .get_or_create(&ChangeLabels {
                    scope: scope.clone(),
                    decision: c.decision.kind().as_str().into(),
                    severity: c.severity.as_str().into(),
                })
                .inc();
        }
    }
}

pub(super) fn log_scope(r: &ScopeReport) {
    let scope = r.scope.to_string();
    match &r.status {
        ScopeStatus::Baseline => {
            tracing::info!(scope = %scope, resources = r.resources, exposures = r.exposures.len(), "baseline recorded (no alerts for existing state)");
            for e in &r.exposures {
                for f in &e.findings {
                    tracing::warn!(scope = %scope, resource = %e.resource.name, severity = %f.severity, rule = f.rule.as_str(), "pre-existing exposure: {}", f.message);
                }
            }
        }
        ScopeStatus::Held { deletes, stored } => {
            tracing::warn!(scope = %scope, deletes, stored, "poll held by the mass-delete guard: it would delete more than sources.max_delete_fraction of the scope; nothing recorded until the next poll agrees");
        }
        ScopeStatus::Failed {
            kind,
            message,
            consecutive,
            blind,
        } => {
            tracing::error!(scope = %scope, failure = kind.as_str(), consecutive_failures = consecutive, blind, "poll failed, state kept (no deletes inferred): {message}");
        }
        ScopeStatus::Compared | ScopeStatus::Recovered => {
            if r.status == ScopeStatus::Recovered {
                tracing::info!(scope = %scope, "source recovered");
            }
            for c in &r.changes {
                let findings: Vec<&str> = c.findings.iter().map(|f| f.message.as_str()).collect();
                let drift = c.change.drift_id();
                if is_pure_revert(c) {
                    tracing::info!(scope = %scope, drift_id = %drift, reverts = ?c.reverts, "{} (undoes an unplanned change)", c.change.summary());
                } else if c.decision.needs_alert() {
                    tracing::warn!(scope = %scope, drift_id = %drift, decision = c.decision.kind().as_str(), severity = %c.severity, record = c.decision.record_id().unwrap_or("-"), findings = %findings.join("; "), reason = %c.decision.reason(), "{}", c.change.summary());
                } else {
                    tracing::info!(scope = %scope, drift_id = %drift, decision = c.decision.kind().as_str(), severity = %c.severity, record = c.decision.record_id().unwrap_or("-"), reason = %c.decision.reason(), "{}", c.change.summary());
                }
            }
        }
    }
}

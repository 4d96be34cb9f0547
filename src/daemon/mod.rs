//! The daemon: builds sources, store, records and sinks from the config, runs poll cycles on
//! an interval, and shuts down on request after finishing the cycle in flight and draining
//! the outbox.

pub mod pipeline;

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, ConfigError};
use crate::matcher::{MatchSettings, RecordIndex};
use crate::records::{RecordError, RecordSet, ValidationSettings};
use crate::rules::{RuleSettings, default_sensitive_ports, port_label};
use crate::sinks::{Dispatcher, EventKind, Sinks, alert_for_record};
use crate::sources::Source;
use crate::store::{Db, LedgerEvent, OutboxItem, StoreError, StoreHandle};
pub use pipeline::{ScopeReport, ScopeStatus};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create state directory {path}: {source}")]
    StateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the store thread: {0}")]
    Thread(std::io::Error),
}

/// The result of one cycle over every source.
#[derive(Debug, Default)]
pub struct CycleReport {
    pub scopes: Vec<ScopeReport>,
    pub record_errors: Vec<RecordError>,
    pub records_active: usize,
    /// Scopes whose result could not be stored.
    pub store_errors: Vec<String>,
}

impl CycleReport {
    pub fn unplanned(&self) -> usize {
        self.scopes
            .iter()
            .flat_map(|s| &s.changes)
            .filter(|c| c.decision.needs_alert())
            .count()
    }

    pub fn failed(&self) -> usize {
        self.scopes
            .iter()
            .filter(|s| matches!(s.status, ScopeStatus::Failed { .. }))
            .count()
            + self.store_errors.len()
    }
}

pub fn rule_settings(cfg: &Config) -> RuleSettings {
    let mut s = RuleSettings::default();
    if let Some(ports) = &cfg.rules.sensitive_ports {
        s.sensitive_ports = ports.iter().map(|p| (*p, port_label(*p))).collect();
    }
    let defaults = default_sensitive_ports();
    for p in &cfg.rules.extra_sensitive_ports {
        let label = defaults.get(p).cloned().unwrap_or_else(|| "custom".into());
        s.sensitive_ports.insert(*p, label);
    }
    if let Some(v) = cfg.rules.world_open_severity {
        s.world_open_severity = v;
    }
    if let Some(v) = cfg.rules.sensitive_severity {
        s.sensitive_severity = v;
    }
    s
}

pub fn validation_settings(cfg: &Config) -> ValidationSettings {
    let hours = cfg.records.max_revert_after_window_hours as i64;
    let max = SignedDuration::from_hours(hours);
    match &cfg.records.bot_patterns {
        // Patterns were validated with the config.
        Some(p) => ValidationSettings::new(p.clone(), max).unwrap_or_default(),
        None => {
            let mut v = ValidationSettings::default();
            v.max_revert_after_window = max;
            v
        }
    }
}

pub struct Daemon {
    cfg: Config,
    store: StoreHandle,
    store_thread: Option<std::thread::JoinHandle<()>>,
    sources: Vec<Arc<dyn Source>>,
    records: RecordSet,
    validation: ValidationSettings,
    pipeline: pipeline::Pipeline,
    sinks: Sinks,
}

impl Daemon {
    pub async fn build(cfg: Config) -> Result<Daemon, DaemonError> {
        std::fs::create_dir_all(&cfg.state_dir).map_err(|source| DaemonError::StateDir {
            path: cfg.state_dir.clone(),
            source,
        })?;
        let db = Db::open(&cfg.database_path())?;
        let (store, thread) = StoreHandle::spawn(db).map_err(DaemonError::Thread)?;
        let sinks = Sinks::from_config(&cfg.sinks)?;
        let sources = crate::sources::aws::build_sources(&cfg)
            .await
            .into_iter()
            .map(Arc::from)
            .collect();
        let pipeline = pipeline::Pipeline {
            store: store.clone(),
            sinks: sinks.clone(),
            rules: rule_settings(&cfg),
            matching: MatchSettings {
                grace: SignedDuration::from_secs(cfg.records.grace_secs as i64),
            },
            blind_after_failures: cfg.sources.blind_after_failures,
        };
        Ok(Daemon {
            validation: validation_settings(&cfg),
            cfg,
            store,
            store_thread: Some(thread),
            sources,
            records: RecordSet::new(),
            pipeline,
            sinks,
        })
    }

    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    pub fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(self.store.clone(), self.sinks.clone())
    }

    /// One poll of every source, each result committed as it arrives.
    pub async fn cycle(&mut self) -> CycleReport {
        let load = self.records.reload(&self.cfg.records.dir, &self.validation);
        for e in &load.errors {
            tracing::error!(file = %e.file, line = e.line, field = %e.field, error = %e.message, "change record rejected");
        }
        for f in &load.kept_previous {
            tracing::warn!(file = %f, "keeping the last valid version of this record file");
        }
        let at = crate::clock::now();
        self.report_rejections(&load.errors, at).await;
        let index = RecordIndex::new(self.records.active().to_vec());
        let mut polls = JoinSet::new();
        for s in &self.sources {
            let s = s.clone();
            polls.spawn(async move { s.poll(at).await });
        }
        let mut report = CycleReport {
            record_errors: load.errors,
            records_active: load.records_active,
            ..Default::default()
        };
        while let Some(joined) = polls.join_next().await {
            let obs = match joined {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "a source task ended abnormally");
                    report.store_errors.push(format!("source task: {e}"));
                    continue;
                }
            };
            let scope = obs.scope.to_string();
            match self.pipeline.process(obs, &index).await {
                Ok(r) => {
                    log_scope(&r);
                    report.scopes.push(r);
                }
                Err(e) => {
                    tracing::error!(scope = %scope, error = %e, "cannot store the cycle's result");
                    report.store_errors.push(format!("{scope}: {e}"));
                }
            }
        }
        report.scopes.sort_by(|a, b| a.scope.cmp(&b.scope));
        report
    }

    /// Ledger and alert each distinct record-file error once.
    async fn report_rejections(&self, errors: &[RecordError], at: jiff::Timestamp) {
        if errors.is_empty() {
            return;
        }
        let at_s = at.to_string();
        let items: Vec<_> = errors
            .iter()
            .map(|e| {
                let alert = alert_for_record(e, &at_s);
                let outbox = self
                    .sinks
                    .subscribers(EventKind::RecordRejected, alert.severity)
                    .into_iter()
                    .filter_map(|sink| {
                        Some(OutboxItem {
                            sink,
                            idempotency_key: alert.idempotency_key.clone(),
                            payload: serde_json::to_value(&alert).ok()?,
                        })
                    })
                    .collect();
                let event = LedgerEvent::RecordRejected {
                    file: e.file.clone(),
                    line: e.line,
                    field: e.field.clone(),
                    message: e.message.clone(),
                };
                (alert.idempotency_key.clone(), event, outbox)
            })
            .collect();
        match self
            .store
            .call(move |db| db.record_rejections(at, &items))
            .await
        {
            Ok(n) if n > 0 => tracing::warn!(
                new_rejections = n,
                "change-record problems written to the ledger and alerted"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot record change-record rejections"),
        }
    }

    /// Poll on the interval until `stop` turns true. A stop request never interrupts a cycle:
    /// the one in flight is finished and committed, then the outbox is drained.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<(), DaemonError> {
        let dispatcher = self.dispatcher();
        let wake = dispatcher.waker();
        let (dispatch_stop_tx, dispatch_stop_rx) = watch::channel(false);
        let dispatch = tokio::spawn(dispatcher.run(dispatch_stop_rx));
        let interval = Duration::from_secs(self.cfg.interval_secs);
        tracing::info!(
            sources = self.sources.len(),
            interval_secs = self.cfg.interval_secs,
            sinks = ?self.sinks.names(),
            records_dir = %self.cfg.records.dir.display(),
            database = %self.cfg.database_path().display(),
            "driftwatch started"
        );
        loop {
            let report = self.cycle().await;
            wake.notify_one();
            tracing::info!(
                scopes = report.scopes.len(),
                failed = report.failed(),
                unplanned = report.unplanned(),
                records = report.records_active,
                "cycle complete"
            );
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
        }
        tracing::info!("shutting down: cycle finished, draining the outbox");
        let _ = dispatch_stop_tx.send(true);
        match tokio::time::timeout(Duration::from_secs(15), dispatch).await {
            Ok(_) => {}
            Err(_) => tracing::warn!(
                "outbox drain timed out; undelivered alerts stay queued for the next start"
            ),
        }
        self.close();
        tracing::info!("driftwatch stopped");
        Ok(())
    }

    /// Drop the store handles and wait for the store thread to finish queued writes.
    pub fn close(mut self) {
        let thread = self.store_thread.take();
        drop(self);
        if let Some(t) = thread {
            // The thread only runs queued closures; a panic there has already been reported.
            let _ = t.join();
        }
    }
}

fn log_scope(r: &ScopeReport) {
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
                if c.decision.needs_alert() {
                    tracing::warn!(scope = %scope, drift_id = %drift, decision = c.decision.kind().as_str(), severity = %c.severity, record = c.decision.record_id().unwrap_or("-"), findings = %findings.join("; "), reason = %c.decision.reason(), "{}", c.change.summary());
                } else {
                    tracing::info!(scope = %scope, drift_id = %drift, decision = c.decision.kind().as_str(), severity = %c.severity, record = c.decision.record_id().unwrap_or("-"), reason = %c.decision.reason(), "{}", c.change.summary());
                }
            }
        }
    }
}

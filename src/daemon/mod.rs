//! The daemon: builds sources, store, records and sinks from the config, runs poll cycles on
//! an interval, serves `/metrics`, `/healthz` and `/readyz`, tells systemd when it is ready and
//! alive, reloads its config on request and its records on file change, and shuts down on
//! request after finishing the cycle in flight and draining the outbox within a bound.

pub mod health;
pub mod http;
pub mod pipeline;
mod record_sources;
pub mod scheduler;
mod watch_records;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::{Config, ConfigError};
use crate::matcher::{MatchSettings, RecordIndex};
use crate::metrics::{ChangeLabels, ErrorLabels, FailureLabels, Metrics, PollLabels, ScopeLabels};
use crate::model::Outcome;
use crate::records::remote::{RemoteRecords, cache_dir, source_names};
use crate::records::{LoadReport, RecordError, RecordSet, ValidationSettings};
use crate::rules::{RuleSettings, default_sensitive_ports, port_label};
use crate::sinks::{Dispatcher, Sinks, alert_for_record};
use crate::sources::Source;
use crate::sources::kubernetes::Touched;
use crate::store::{Db, LedgerEvent, StoreError, StoreHandle};
pub use health::{Health, ScopeHealth};
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
    #[error("cannot listen on {addr} (http.listen): {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// The result of one cycle over every source.
#[derive(Debug, Default)]
pub struct CycleReport {
    pub scopes: Vec<ScopeReport>,
    pub record_errors: Vec<RecordError>,
    pub records_active: usize,
    /// Scopes whose result could not be stored.
    pub store_errors: Vec<String>,
    /// Reminders, overdue escalations and other obligation steps sent this cycle.
    pub obligation_steps: usize,
}

impl CycleReport {
    /// Changes that need attention: unmatched or violating, except those that only undo an
    /// earlier unplanned change.
    pub fn unplanned(&self) -> usize {
        self.scopes
            .iter()
            .flat_map(|s| &s.changes)
            .filter(|c| c.decision.needs_alert() && !is_pure_revert(c))
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

/// An unmatched change that restores the state before an open drift: nobody is paged for it.
pub fn is_pure_revert(c: &crate::engine::Evaluated) -> bool {
    !c.reverts.is_empty() && c.decision.kind() == crate::model::DecisionKind::Unmatched
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
    s.trusted_accounts = match &cfg.rules.trusted_accounts {
        Some(t) => t.clone(),
        None => cfg
            .aws
            .iter()
            .flat_map(|a| a.accounts.iter().map(|x| x.id.clone()))
            .collect(),
    };
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

fn pipeline_for(cfg: &Config, store: StoreHandle, sinks: Sinks) -> pipeline::Pipeline {
    pipeline::Pipeline {
        store,
        sinks,
        rules: rule_settings(cfg),
        matching: MatchSettings {
            grace: SignedDuration::from_secs(cfg.records.grace_secs as i64),
        },
        blind_after_failures: cfg.sources.blind_after_failures,
        quiet_period: SignedDuration::from_secs(cfg.alerting.quiet_period_secs as i64),
    }
}

/// What the daemon listens to while it runs.
pub struct Control {
    /// Turns true on SIGTERM/SIGINT.
    pub stop: watch::Receiver<bool>,
    /// A freshly loaded config on SIGHUP (or the reason it could not be loaded).
    pub reload: mpsc::Receiver<Result<Config, ConfigError>>,
}

pub struct Daemon {
    cfg: Config,
    store: StoreHandle,
    store_thread: Option<std::thread::JoinHandle<()>>,
    sources: Vec<Arc<dyn Source>>,
    records: RecordSet,
    /// Loaders of change records kept in GitHub, Jira and Linear (`record_sources.rs`).
    remote: RemoteRecords,
    validation: ValidationSettings,
    pipeline: pipeline::Pipeline,
    sinks: watch::Sender<Sinks>,
    metrics: Metrics,
    health: Arc<Health>,
    /// Seconds since the epoch of the main loop's last sign of life (systemd watchdog).
    heartbeat: Arc<AtomicI64>,
    /// Kubernetes watches report changes here; the run loop decides them at once.
    touched_tx: mpsc::Sender<Touched>,
    touched_rx: Option<mpsc::Receiver<Touched>>,
}

/// Every source the config asks for: AWS (polled) and Kubernetes (watched).
async fn build_sources(
    cfg: &Config,
    metrics: &Metrics,
    touched: &mpsc::Sender<Touched>,
) -> Vec<Arc<dyn Source>> {
    let mut sources: Vec<Arc<dyn Source>> = crate::sources::aws::build_sources(cfg, metrics)
        .await
        .into_iter()
        .map(Arc::from)
        .collect();
    sources.extend(
        crate::sources::kubernetes::build_sources(cfg, metrics, Some(touched.clone()))
            .await
            .into_iter()
            .map(Arc::<dyn Source>::from),
    );
    sources
}

impl Daemon {
    pub async fn build(cfg: Config) -> Result<Daemon, DaemonError> {
        let secrets = cfg.secret_errors();
        if !secrets.is_empty() {
            return Err(ConfigError::Invalid {
                path: "the secrets".into(),
                errors: secrets,
            }
            .into());
        }
        std::fs::create_dir_all(&cfg.state_dir).map_err(|source| DaemonError::StateDir {
            path: cfg.state_dir.clone(),
            source,
        })?;
        let db = Db::open(&cfg.database_path())?;
        let (store, thread) = StoreHandle::spawn(db).map_err(DaemonError::Thread)?;
        let sinks = Sinks::from_config(&cfg.sinks, &cfg.alerting)?;
        let metrics = Metrics::new();
        // Bounded: a full channel already holds a wake-up, and each cycle reads whole states.
        let (touched_tx, touched_rx) = mpsc::channel(64);
        let sources = build_sources(&cfg, &metrics, &touched_tx).await;
        let remote = build_remote(&cfg)?;
        let health = Arc::new(Health::default());
        health.set_store_open(true);
        health.set_scopes(sources.iter().map(|s| s.scope().to_string()));
        let (sinks_tx, _) = watch::channel(sinks.clone());
        Ok(Daemon {
            validation: validation_settings(&cfg),
            pipeline: pipeline_for(&cfg, store.clone(), sinks),
            cfg,
            store,
            store_thread: Some(thread),
            sources,
            records: RecordSet::new(),
            remote,
            sinks: sinks_tx,
            metrics,
            health,
            heartbeat: Arc::new(AtomicI64::new(jiff::Timestamp::now().as_second())),
            touched_tx,
            touched_rx: Some(touched_rx),
        })
    }

    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(
            self.store.clone(),
            self.sinks.subscribe(),
            self.metrics.clone(),
            self.cfg.alerting.escalate_after_failures,
        )
    }

    /// Close every open drift that a loaded record names in `retrospective_for`, and resolve
    /// its alerts.
    async fn close_retrospectives(&self) {
        let pairs = crate::engine::retrospectives(self.records.active());
        if pairs.is_empty() {
            return;
        }
        let ids: Vec<String> = pairs.iter().map(|(d, _)| d.clone()).collect();
        let found = self
            .store
            .call(move |db| {
                let open = db.open_drifts_among(&ids)?;
                let open_ids: Vec<String> = open.iter().map(|(d, _)| d.clone()).collect();
                Ok((open, db.triggers_for(&open_ids)?))
            })
            .await;
        let (open, triggers) = match found {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "cannot look up drifts named by retrospective records");
                return;
            }
        };
        if open.is_empty() {
            return;
        }
        let at = crate::clock::now();
        let record_for = |d: &str| {
            pairs
                .iter()
                .find(|(x, _)| x == d)
                .map(|(_, r)| r.clone())
                .unwrap_or_default()
        };
        let events: Vec<LedgerEvent> = open
            .iter()
            .map(|(d, scope)| LedgerEvent::DriftClosed {
                drift_id: d.clone(),
                scope: scope.clone(),
                reason: crate::store::ledger::CloseReason::RetrospectiveFiled,
                by: record_for(d),
            })
            .collect();
        let outbox = crate::sinks::resolve_items(&triggers, &at.to_string(), |d| {
            format!("retrospective record {} filed", record_for(d))
        });
        for (d, _) in &open {
            tracing::info!(drift_id = %d, record = %record_for(d), "drift closed by a retrospective record");
        }
        if let Err(e) = self
            .store
            .call(move |db| db.commit_events(at, &events, &outbox))
            .await
        {
            tracing::error!(error = %e, "cannot close drifts named by retrospective records");
        }
    }

    fn beat(&self) {
        self.heartbeat
            .store(jiff::Timestamp::now().as_second(), Ordering::SeqCst);
    }

    /// Re-read the records directory, log what was rejected, and ledger/alert new problems.
    async fn reload_records(&mut self) -> LoadReport {
        let load = self.records.reload(&self.cfg.records.dir, &self.validation);
        for e in &load.errors {
            tracing::error!(file = %e.file, line = e.line, field = %e.field, error = %e.message, "change record rejected");
        }
        for f in &load.kept_previous {
            tracing::warn!(file = %f, "keeping the last valid version of this record file");
        }
        self.metrics.record_reloads.inc();
        self.metrics.records_active.set(load.records_active as i64);
        self.metrics.record_errors.set(load.errors.len() as i64);
        self.health.set_records_loaded();
        self.report_rejections(&load.errors, crate::clock::now())
            .await;
        load
    }

    /// One poll of every source, each result committed as it arrives.
    pub async fn cycle(&mut self) -> CycleReport {
        self.cycle_for(None).await
    }

    /// A cycle over the sources of `only` (every source when `None`): the same records,
    /// retrospectives, pipeline and obligations as a full cycle.
    async fn cycle_for(
        &mut self,
        only: Option<&std::collections::BTreeSet<String>>,
    ) -> CycleReport {
        let started = Instant::now();
        // A watch-driven cycle decides against the records in force: record files are
        // reloaded on their own change (notify) and ticket systems on their own timer, so it
        // neither re-reads the directory nor waits on a ticket system.
        let load = if only.is_none() {
            self.refresh_record_sources().await;
            self.reload_records().await
        } else {
            LoadReport {
                records_active: self.records.active().len(),
                ..Default::default()
            }
        };
        self.close_retrospectives().await;
        let index = RecordIndex::new(self.records.active().to_vec());
        let at = crate::clock::now();
        let mut polls = JoinSet::new();
        for s in &self.sources {
            if only.is_some_and(|o| !o.contains(&s.scope().to_string())) {
                continue;
            }
            let s = s.clone();
            polls.spawn(async move {
                let t = Instant::now();
                let obs = s.poll(at).await;
                (obs, s.service(), t.elapsed())
            });
        }
        let mut report = CycleReport {
            record_errors: load.errors,
            records_active: load.records_active,
            ..Default::default()
        };
        while let Some(joined) = polls.join_next().await {
            self.beat();
            let (obs, service, took) = match joined {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "a source task ended abnormally");
                    report.store_errors.push(format!("source task: {e}"));
                    continue;
                }
            };
            let scope = obs.scope.to_string();
            self.record_poll(&obs.outcome, &scope, service, took);
            match self.pipeline.process(obs, &index).await {
                Ok(r) => {
                    self.record_scope(&r, service);
                    log_scope(&r);
                    report.scopes.push(r);
                }
                Err(e) => {
                    self.metrics
                        .store_errors
                        .get_or_create(&ErrorLabels {
                            kind: e.label().into(),
                        })
                        .inc();
                    tracing::error!(scope = %scope, error = %e, "cannot store the cycle's result");
                    report.store_errors.push(format!("{scope}: {e}"));
                }
            }
        }
        report.scopes.sort_by(|a, b| a.scope.cmp(&b.scope));
        let sinks = self.sinks.borrow().clone();
        match scheduler::run(
            &self.store,
            &sinks,
            self.records.active(),
            &self.cfg.obligations.schedule(),
            crate::clock::now(),
        )
        .await
        {
            Ok(n) => report.obligation_steps = n,
            Err(e) => {
                self.metrics
                    .store_errors
                    .get_or_create(&ErrorLabels {
                        kind: e.label().into(),
                    })
                    .inc();
                tracing::error!(error = %e, "obligations scheduler failed");
            }
        }
        self.update_obligation_gauges().await;
        self.metrics.cycles.inc();
        self.metrics
            .cycle_duration
            .observe(started.elapsed().as_secs_f64());
        if let Ok((n, _)) = self.store.call(|db| db.ledger_head()).await {
            self.metrics.ledger_entries.set(n as i64);
        }
        report
    }

    async fn update_obligation_gauges(&self) {
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

    fn record_poll(&self, outcome: &Outcome, scope: &str, service: &str, took: Duration) {
        let (result, failure) = match outcome {
            Outcome::Complete(_) => ("complete", None),
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

    fn record_scope(&self, r: &ScopeReport, service: &str) {
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
            _ => {
                self.metrics.scope_blind.get_or_create(&sl).set(0);
                self.metrics
                    .resources
                    .get_or_create(&sl)
                    .set(r.resources as i64);
                self.health.set_scope(&scope, ScopeHealth::Polled);
            }
        }
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

    /// Ledger and alert each distinct record-file error once.
    async fn report_rejections(&self, errors: &[RecordError], at: jiff::Timestamp) {
        if errors.is_empty() {
            return;
        }
        let at_s = at.to_string();
        let sinks = self.sinks.borrow().clone();
        let items: Vec<_> = errors
            .iter()
            .map(|e| {
                let alert = alert_for_record(e, &at_s);
                let outbox = sinks.outbox_items(&alert, Some(e.file.clone()), &[]);
                let event = LedgerEvent::RecordRejected {
                    file: e.file.clone(),
                    line: e.line,
                    field: e.field.clone(),
                    message: e.message.clone(),
                    rule: Some(e.rule),
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

    /// Apply a config loaded on SIGHUP. What cannot change while running (state_dir,
    /// http.listen) is kept and named in the log; everything else is rebuilt.
    async fn apply_config(&mut self, new: Config) {
        if new.state_dir != self.cfg.state_dir {
            tracing::warn!(running = %self.cfg.state_dir.display(), requested = %new.state_dir.display(), "state_dir changes need a restart; keeping the running one");
        }
        if new.http.listen != self.cfg.http.listen || new.http.enabled != self.cfg.http.enabled {
            tracing::warn!(running = %self.cfg.http.listen, "http changes need a restart; keeping the running listener");
        }
        let sinks = match Sinks::from_config(&new.sinks, &new.alerting) {
            Ok(s) => s,
            Err(e) => {
                self.metrics
                    .config_reloads
                    .get_or_create(&ErrorLabels {
                        kind: "failed".into(),
                    })
                    .inc();
                tracing::error!(error = %e, "config reload failed; keeping the running config");
                return;
            }
        };
        // The old sources (and their watches) stop when replaced below.
        let sources = build_sources(&new, &self.metrics, &self.touched_tx).await;
        let mut cfg = new;
        cfg.state_dir = self.cfg.state_dir.clone();
        match build_remote(&cfg) {
            Ok(remote) => {
                self.records.retain_imported(&source_names(&cfg));
                self.remote = remote;
            }
            Err(e) => {
                tracing::error!(error = %e, "records sources not rebuilt; keeping the running ones")
            }
        }
        cfg.http = self.cfg.http.clone();
        self.health
            .set_scopes(sources.iter().map(|s| s.scope().to_string()));
        self.sources = sources;
        self.validation = validation_settings(&cfg);
        self.pipeline = pipeline_for(&cfg, self.store.clone(), sinks.clone());
        self.sinks.send_replace(sinks);
        self.cfg = cfg;
        self.metrics
            .config_reloads
            .get_or_create(&ErrorLabels { kind: "ok".into() })
            .inc();
        tracing::info!(
            sources = self.sources.len(),
            sinks = ?self.sinks.borrow().names(),
            interval_secs = self.cfg.interval_secs,
            "config reloaded"
        );
    }

    /// Poll on the interval until `stop` turns true. A stop request never interrupts a cycle:
    /// the one in flight is finished and committed, then the outbox is drained within
    /// `shutdown_drain_secs`.
    pub async fn run(mut self, mut control: Control) -> Result<(), DaemonError> {
        let (bg_stop_tx, bg_stop_rx) = watch::channel(false);
        let mut background = JoinSet::new();
        if self.cfg.http.enabled {
            let addr = self.cfg.http.listen.clone();
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|source| DaemonError::Listen {
                    addr: addr.clone(),
                    source,
                })?;
            tracing::info!(listen = %addr, "serving /metrics, /healthz, /readyz");
            background.spawn(http::serve(
                listener,
                self.metrics.clone(),
                self.health.clone(),
                bg_stop_rx.clone(),
            ));
        }
        if let Some(every) = sd_notify::watchdog_enabled() {
            let heartbeat = self.heartbeat.clone();
            let stall = Duration::from_secs(self.cfg.interval_secs.saturating_mul(3).max(600));
            background.spawn(watchdog(every, heartbeat, stall, bg_stop_rx.clone()));
        }
        let dispatcher = self.dispatcher();
        let wake = dispatcher.waker();
        let (dispatch_stop_tx, dispatch_stop_rx) = watch::channel(false);
        let dispatch = tokio::spawn(dispatcher.run(dispatch_stop_rx));
        let (records_tx, mut records_rx) = mpsc::channel::<()>(16);
        let mut watcher = watch_records::watch(&self.cfg.records.dir, records_tx.clone());
        let (_idle_tx, idle_rx) = mpsc::channel::<Touched>(1);
        let mut touched_rx = self.touched_rx.take().unwrap_or(idle_rx);
        let debounce = Duration::from_millis(
            self.cfg
                .kubernetes
                .as_ref()
                .map(|k| k.debounce_ms)
                .unwrap_or(250),
        );
        tracing::info!(
            sources = self.sources.len(),
            interval_secs = self.cfg.interval_secs,
            sinks = ?self.sinks.borrow().names(),
            records_dir = %self.cfg.records.dir.display(),
            database = %self.cfg.database_path().display(),
            "driftwatch started"
        );
        let mut first = true;
        'run: loop {
            self.beat();
            let report = self.cycle().await;
            wake.notify_one();
            tracing::info!(
                scopes = report.scopes.len(),
                failed = report.failed(),
                unplanned = report.unplanned(),
                records = report.records_active,
                "cycle complete"
            );
            let status = format!(
                "watching {} scopes; last cycle {} failed, {} unplanned",
                report.scopes.len(),
                report.failed(),
                report.unplanned()
            );
            if first {
                notify_systemd(&[
                    sd_notify::NotifyState::Ready,
                    sd_notify::NotifyState::Status(&status),
                ]);
                first = false;
            } else {
                notify_systemd(&[sd_notify::NotifyState::Status(&status)]);
            }
            if *control.stop.borrow() {
                break;
            }
            let next = tokio::time::Instant::now() + Duration::from_secs(self.cfg.interval_secs);
            loop {
                self.beat();
                let remote_due = self.remote.next_due();
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => break,
                    _ = sleep_until_some(remote_due) => {
                        self.refresh_record_sources().await;
                        self.reload_records().await;
                    }
                    _ = control.stop.changed() => {
                        if *control.stop.borrow() {
                            break 'run;
                        }
                    }
                    Some(loaded) = control.reload.recv() => {
                        notify_systemd(&[sd_notify::NotifyState::Reloading]);
                        match loaded {
                            Ok(cfg) => {
                                let dir_changed = cfg.records.dir != self.cfg.records.dir;
                                self.apply_config(cfg).await;
                                if dir_changed {
                                    watcher = watch_records::watch(&self.cfg.records.dir, records_tx.clone());
                                }
                            }
                            Err(e) => {
                                self.metrics.config_reloads.get_or_create(&ErrorLabels { kind: "failed".into() }).inc();
                                tracing::error!(error = %e, "config reload failed; keeping the running config");
                            }
                        }
                        notify_systemd(&[sd_notify::NotifyState::Ready]);
                    }
                    Some(first) = touched_rx.recv() => {
                        // Let a burst (one `kubectl apply` of many objects) settle, then decide
                        // every touched cluster in one cycle.
                        tokio::time::sleep(debounce).await;
                        let mut scopes = std::collections::BTreeSet::from([first.scope.to_string()]);
                        let earliest = first.at;
                        while let Ok(t) = touched_rx.try_recv() {
                            scopes.insert(t.scope.to_string());
                        }
                        let report = self.cycle_for(Some(&scopes)).await;
                        self.metrics.kube_detection.observe(earliest.elapsed().as_secs_f64());
                        wake.notify_one();
                        tracing::debug!(scopes = ?scopes, changes = report.scopes.iter().map(|s| s.changes.len()).sum::<usize>(), after_ms = earliest.elapsed().as_millis() as u64, "watch events decided");
                    }
                    Some(()) = records_rx.recv() => {
                        // Debounce: editors write a file in several steps.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        while records_rx.try_recv().is_ok() {}
                        let load = self.reload_records().await;
                        tracing::info!(records = load.records_active, errors = load.errors.len(), "change records reloaded after a file change");
                    }
                }
            }
        }
        drop(watcher);
        notify_systemd(&[sd_notify::NotifyState::Stopping]);
        tracing::info!("shutting down: cycle finished, draining the outbox");
        let _ = dispatch_stop_tx.send(true);
        let bound = Duration::from_secs(self.cfg.shutdown_drain_secs);
        let drained = tokio::time::timeout(bound, async {
            match dispatch.await {
                Ok(d) => d.drain_all().await.map(|s| s.delivered).unwrap_or(0),
                Err(_) => 0,
            }
        })
        .await;
        match drained {
            Ok(n) => tracing::info!(delivered = n, "outbox drained"),
            Err(_) => tracing::warn!(
                bound_secs = bound.as_secs(),
                "outbox drain hit its bound; undelivered alerts stay queued for the next start"
            ),
        }
        let _ = bg_stop_tx.send(true);
        while tokio::time::timeout(Duration::from_secs(2), background.join_next())
            .await
            .ok()
            .flatten()
            .is_some()
        {}
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

/// The record-source loaders, each reading its token now.
fn build_remote(cfg: &Config) -> Result<RemoteRecords, ConfigError> {
    RemoteRecords::from_config(cfg, Some(&cache_dir(cfg)), crate::clock::now()).map_err(|errors| {
        ConfigError::Invalid {
            path: "records sources".into(),
            errors,
        }
    })
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn notify_systemd(state: &[sd_notify::NotifyState<'_>]) {
    // Without NOTIFY_SOCKET (not under systemd) this does nothing.
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// Send WATCHDOG=1 at half the watchdog interval while the main loop shows signs of life.
async fn watchdog(
    every: Duration,
    heartbeat: Arc<AtomicI64>,
    stall: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let half = every / 2;
    loop {
        let age = jiff::Timestamp::now().as_second() - heartbeat.load(Ordering::SeqCst);
        if age >= 0 && (age as u64) < stall.as_secs() {
            notify_systemd(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!(
                stalled_secs = age,
                "main loop stalled; withholding the watchdog keep-alive"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(half) => {}
            _ = stop.changed() => if *stop.borrow() { return },
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

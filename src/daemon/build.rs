//! Making the daemon from its config: the store on its thread, sources, sinks, record
//! loaders and the settings the pipeline decides with; and applying a config reloaded on
//! SIGHUP (everything rebuilt but what needs a restart).

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use tokio::sync::{mpsc, watch};

use super::{Daemon, DaemonError, Health, pipeline};
use crate::config::{Config, ConfigError};
use crate::metrics::{ErrorLabels, Metrics};
use crate::records::RecordSet;
use crate::records::remote::{RemoteRecords, cache_dir, source_names};
use crate::sinks::{Dispatcher, Sinks};
use crate::sources::Source;
use crate::sources::kubernetes::Touched;
use crate::store::{Db, StoreError, StoreHandle};

fn pipeline_for(cfg: &Config, store: StoreHandle, sinks: Sinks) -> pipeline::Pipeline {
    pipeline::Pipeline {
        store,
        sinks,
        rules: cfg.rules.settings(cfg.aws.as_ref()),
        matching: cfg.records.match_settings(),
        blind_after_failures: cfg.sources.blind_after_failures,
        delete_guard: cfg.sources.delete_guard(),
        // Unattributed AWS changes wait for a lookup, or (event path only) for a late event.
        lookup_delay: cfg.aws.as_ref().and_then(|a| match (&a.lookup, &a.events) {
            (Some(l), _) => Some(
                jiff::SignedDuration::try_from(l.delay()).unwrap_or(jiff::SignedDuration::ZERO),
            ),
            (None, Some(_)) => Some(super::lookup::LATE_EVENT_WAIT),
            (None, None) => None,
        }),
        quiet_period: cfg.alerting.quiet_period(),
    }
}

/// Every source the config asks for: AWS (polled) and Kubernetes (watched).
async fn build_sources(
    cfg: &Config,
    metrics: &Metrics,
    touched: &mpsc::Sender<Touched>,
) -> Vec<Arc<dyn Source>> {
    crate::sources::build(cfg, metrics, Some(touched.clone())).await
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
        let lock = lock_state_dir(&cfg.state_dir)?;
        let db = open_store(&cfg)?;
        let (store, thread) = StoreHandle::spawn(db).map_err(DaemonError::Thread)?;
        let sinks = Sinks::from_config(&cfg.sinks, &cfg.alerting)?;
        let metrics = Metrics::new();
        // Bounded: a full channel already holds a wake-up, and each cycle reads whole states.
        let (touched_tx, touched_rx) = mpsc::channel(64);
        let sources = build_sources(&cfg, &metrics, &touched_tx).await;
        let remote = build_remote(&cfg)?;
        let events = match cfg.aws.as_ref().and_then(|a| Some((a, a.events.as_ref()?))) {
            Some((aws, e)) => Some(Arc::new(e.build(aws, &metrics).await)),
            None => None,
        };
        let health = Arc::new(Health::default());
        health.set_store_open(true);
        health.set_scopes(sources.iter().map(|s| s.scope().to_string()));
        let (sinks_tx, _) = watch::channel(sinks.clone());
        Ok(Daemon {
            _lock: lock,
            validation: cfg.records.validation(),
            pipeline: pipeline_for(&cfg, store.clone(), sinks),
            cfg,
            store,
            store_thread: Some(thread),
            sources,
            records: RecordSet::new(),
            remote,
            remote_poll: None,
            background_remote: false,
            sinks: sinks_tx,
            metrics,
            health,
            heartbeat: Arc::new(AtomicI64::new(jiff::Timestamp::now().as_second())),
            touched_tx,
            touched_rx: Some(touched_rx),
            events,
            lookup_task: None,
            leader_loss: None,
            leading: true,
            member: None,
            owned: None,
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
            self.cfg.alerting.give_up_after(),
        )
    }

    /// Apply a config loaded on SIGHUP. What cannot change while running (state_dir,
    /// http.listen) is kept and named in the log; everything else is rebuilt.
    pub(super) async fn apply_config(&mut self, new: Config) {
        if new.state_dir != self.cfg.state_dir {
            tracing::warn!(running = %self.cfg.state_dir.display(), requested = %new.state_dir.display(), "state_dir changes need a restart; keeping the running one");
        }
        let queue = |c: &Config| {
            c.aws
                .as_ref()
                .and_then(|a| a.events.as_ref())
                .map(|e| e.queue_url.clone())
        };
        if queue(&new) != queue(&self.cfg) {
            tracing::warn!(running = ?queue(&self.cfg), requested = ?queue(&new), "aws.events changes need a restart; keeping the running event queue");
        }
        if new.http.listen != self.cfg.http.listen || new.http.enabled != self.cfg.http.enabled {
            tracing::warn!(running = %self.cfg.http.listen, "http changes need a restart; keeping the running listener");
        }
        let sinks = match Sinks::from_config(&new.sinks, &new.alerting) {
            Ok(s) => s,
            Err(e) => {
                self.config_reload_failed(&e);
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
                // A poll of the old sources still running is of no use now.
                if let Some(poll) = self.remote_poll.take() {
                    poll.abort();
                }
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
        self.validation = cfg.records.validation();
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

    /// Drop the store handles and wait for the store thread to finish queued writes.
    pub fn close(mut self) {
        // A ticket-system poll still running would only fill a cache nobody reads now.
        if let Some(poll) = self.remote_poll.take() {
            poll.abort();
        }
        // A lookup not committed is looked up again after the next start.
        if let Some(task) = self.lookup_task.take() {
            task.abort();
        }
        let thread = self.store_thread.take();
        drop(self);
        if let Some(t) = thread {
            // The thread only runs queued closures; a panic there has already been reported.
            let _ = t.join();
        }
    }
}

/// The record-source loaders, each reading its token now.
pub(super) fn build_remote(cfg: &Config) -> Result<RemoteRecords, ConfigError> {
    RemoteRecords::from_config(&cfg.records, Some(&cache_dir(cfg)), crate::clock::now()).map_err(
        |errors| ConfigError::Invalid {
            path: "records sources".into(),
            errors,
        },
    )
}

/// Open the configured store: PostgreSQL with `[store]` (its password read now), else the
/// SQLite database in `state_dir` (created when missing).
pub fn open_store(cfg: &Config) -> Result<Db, StoreError> {
    match &cfg.store {
        Some(s) => connect(s),
        None => Db::open(&cfg.database_path()),
    }
}

/// Open the configured store for a command that reads it: a SQLite database must exist
/// already (a mistyped `state_dir` is an error, not a new empty store).
pub fn open_existing_store(cfg: &Config) -> Result<Db, StoreError> {
    match &cfg.store {
        Some(s) => connect(s),
        None => Db::open_existing(&cfg.database_path()),
    }
}

fn connect(s: &crate::config::StoreConfig) -> Result<Db, StoreError> {
    let password = s
        .password()
        .map_err(|e| StoreError::Secret(e.to_string()))?;
    Db::connect_tls(
        &s.url,
        password.as_ref().map(|p| p.expose()),
        s.ca_file.as_deref(),
    )
}

/// Hold an exclusive lock on `state_dir/lock` for the daemon's life (or a scan's): two
/// processes writing one store would decide every change twice and page twice. The lock is
/// the kernel's (flock), so it goes with the process, even one killed with SIGKILL.
pub fn lock_state_dir(dir: &std::path::Path) -> Result<std::fs::File, DaemonError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join("lock");
    let io = |source| DaemonError::StateDir {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(DaemonError::Locked {
                path: dir.to_path_buf(),
                holder: holder.trim().to_string(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    // Who holds it, for the next one's message.
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "pid {}", std::process::id()).map_err(io)?;
    Ok(file)
}

//! The daemon: builds sources, store, records and sinks from the config, runs poll cycles on
//! an interval, serves `/metrics`, `/healthz` and `/readyz`, tells systemd when it is ready and
//! alive, reloads its config on request and its records on file change, and shuts down on
//! request after finishing the cycle in flight and draining the outbox within a bound.
//!
//! Layout: `build.rs` makes the daemon from its config (and rebuilds it on SIGHUP), `cycle.rs`
//! runs one cycle (records, polls, `pipeline.rs` per observation: load, then the pure
//! `plan.rs`, then commit; obligations), `run.rs` is the loop between cycles and the staged
//! shutdown, `telemetry.rs` turns what a cycle saw into metrics and log lines.

mod build;
mod cycle;
mod events;
pub mod health;
pub mod http;
pub mod leader;
mod lookup;
pub mod pipeline;
pub mod plan;
mod record_sources;
mod refresh;
mod run;
pub mod scheduler;
mod telemetry;
mod watch_records;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::records::remote::{Loader, PollOutcome, RemoteRecords};

/// A poll of ticket systems running on its own task; its loaders come back when it ends.
type RemotePoll = tokio::task::JoinHandle<Vec<(Loader, PollOutcome)>>;
use crate::records::{RecordError, RecordSet, ValidationSettings};
use crate::sinks::Sinks;
use crate::sources::Source;
use crate::sources::kubernetes::Touched;
use crate::store::{StoreError, StoreHandle};
pub use build::{lock_state_dir, open_existing_store, open_store};
pub use health::{Health, ScopeHealth};
pub use plan::{ScopeReport, ScopeStatus, is_pure_revert};
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
    #[error(
        "state directory {path} is in use by another driftwatch ({holder}); one process per state directory"
    )]
    Locked {
        path: std::path::PathBuf,
        holder: String,
    },
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
    #[error("lost leadership ({0}); restarting makes this replica a standby")]
    LostLeadership(String),
    #[error(
        "{0} leads this HA pair ([ha]): a scan beside it would decide every change twice; read its results with `drifts`, `report` or `scan` once the replicas are stopped"
    )]
    NotLeader(String),
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

    /// Scopes whose poll the mass-delete guard held.
    pub fn held(&self) -> usize {
        self.scopes
            .iter()
            .filter(|s| matches!(s.status, ScopeStatus::Held { .. }))
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

/// What the daemon listens to while it runs.
pub struct Control {
    /// Cancelled on SIGTERM/SIGINT: the cycle in flight finishes, then the daemon shuts
    /// down. The daemon's own tasks hang off a token tree of their own (`run.rs`), stopped in
    /// order after the last cycle.
    pub shutdown: CancellationToken,
    /// A freshly loaded config on SIGHUP (or the reason it could not be loaded).
    pub reload: mpsc::Receiver<Result<Config, ConfigError>>,
}

pub struct Daemon {
    /// The exclusive lock on the state directory, released when the daemon is dropped.
    _lock: std::fs::File,
    cfg: Config,
    store: StoreHandle,
    store_thread: Option<std::thread::JoinHandle<()>>,
    sources: Vec<Arc<dyn Source>>,
    records: RecordSet,
    /// Loaders of change records kept in GitHub, Jira and Linear (`record_sources.rs`).
    remote: RemoteRecords,
    /// The task polling due ticket systems while the daemon runs (`record_sources.rs`).
    remote_poll: Option<RemotePoll>,
    /// Ticket systems are polled on their own task (`run`) rather than at the start of each
    /// cycle (`scan`).
    background_remote: bool,
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
    /// The CloudTrail event queue (`[aws.events]`), read by a task of `run` (`events.rs`).
    events: Option<Arc<crate::sources::aws::events::EventQueue>>,
    /// The CloudTrail LookupEvents task started after a cycle (`lookup.rs`).
    lookup_task: Option<tokio::task::JoinHandle<()>>,
    /// With `[ha]`, once leading: set when the leadership is lost (`leader.rs`).
    leader_loss: Option<Arc<leader::LeaderLoss>>,
    /// False while this replica waits for leadership: then it runs no shared work
    /// (delivery, obligations, retrospectives, lookups), only its own scopes' cycles.
    leading: bool,
    /// This replica's name in a sharded set (`[ha] replicas` above 1).
    member: Option<String>,
    /// The scopes this member owns, refreshed before each cycle; `None`: every scope.
    owned: Option<std::collections::BTreeSet<String>>,
}

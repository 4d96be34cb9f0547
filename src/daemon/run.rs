//! The daemon's life between cycles, and its shutdown.
//!
//! `run` starts the daemon's own tasks, runs a cycle, then waits for whatever comes first: the
//! next interval, a ticket source falling due, a reloaded config, a Kubernetes watch event, a
//! record file change, or the stop request. Each is one small handler.
//!
//! Shutdown is one token tree, stopped in order (mini-redis' way): the stop request
//! (`Control::shutdown`, cancelled by SIGTERM/SIGINT) ends the loop once the cycle in flight is
//! committed; then the dispatcher's token (a child of the daemon's root token) stops regular
//! delivery, one attempt is made for every pending alert within `shutdown_drain_secs`, and
//! only then is the root cancelled, which stops the HTTP listener and the watchdog: systemd
//! keeps hearing from a daemon that is still draining.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::{Control, Daemon, DaemonError, http, watch_records};
use crate::config::{Config, ConfigError};
use crate::records::remote::{Loader, PollOutcome};
use crate::sinks::Dispatcher;
use crate::sources::aws::events::Delivered;
use crate::sources::kubernetes::Touched;

/// The daemon's own tasks and the tokens that stop them.
struct Tasks {
    /// Cancelled last: the HTTP listener and the watchdog.
    root: CancellationToken,
    /// A child of `root`, cancelled first: regular outbox delivery.
    dispatch_stop: CancellationToken,
    dispatch: JoinHandle<Dispatcher>,
    /// Wakes the dispatcher after a cycle enqueued alerts.
    wake: crate::sinks::Waker,
    background: JoinSet<()>,
}

/// What the loop listens to between cycles besides `Control`.
struct Inputs {
    records_tx: mpsc::Sender<()>,
    records_rx: mpsc::Receiver<()>,
    /// Keeps the records directory watched; replaced when `records.dir` changes.
    watcher: Option<notify::RecommendedWatcher>,
    touched: mpsc::Receiver<Touched>,
    /// Keeps `touched` open when there is no Kubernetes source.
    _idle: mpsc::Sender<Touched>,
    /// Batches of CloudTrail events from the queue reader (`[aws.events]`).
    events: mpsc::Receiver<Vec<Delivered>>,
    _idle_events: Option<mpsc::Sender<Vec<Delivered>>>,
}

/// What ended a wait between cycles.
enum Wake {
    /// The interval passed: run the next cycle.
    Interval,
    Stop,
    /// A ticket system holding change records is due for a poll.
    RecordsSourceDue,
    /// The ticket-system poll task ended (boxed: its loaders come back with it).
    RecordsPolled(Box<Result<Vec<(Loader, PollOutcome)>, tokio::task::JoinError>>),
    /// Boxed: a whole config, rare next to the other wake-ups.
    Reload(Box<Result<Config, ConfigError>>),
    Touched(Touched),
    RecordFileChanged,
    /// CloudTrail events arrived from the queue.
    Events(Vec<Delivered>),
}

impl Daemon {
    /// Poll on the interval until the stop request. A stop request never interrupts a cycle:
    /// the one in flight is finished and committed, then the outbox is drained within
    /// `shutdown_drain_secs`.
    pub async fn run(mut self, mut control: Control) -> Result<(), DaemonError> {
        let Some(mut tasks) = self.start_tasks(&control).await? else {
            // Stopped while a standby: nothing was polled, delivered or written.
            self.close();
            tracing::info!("driftwatch stopped (standby)");
            return Ok(());
        };
        let mut inputs = self.inputs(&mut tasks);
        // Ticket systems are polled on their own task from now on, the first poll at once.
        self.background_remote = true;
        self.start_record_polls();
        tracing::info!(
            sources = self.sources.len(),
            interval_secs = self.cfg.interval_secs,
            sinks = ?self.sinks.borrow().names(),
            records_dir = %self.cfg.records.dir.display(),
            store = %self.cfg.store_location(),
            "driftwatch started"
        );
        let mut first = true;
        'run: loop {
            self.beat();
            let report = if first {
                // Ready once the store is open and the records are loaded, not after the
                // first cycle: polling a large account can outlast systemd's
                // TimeoutStartSec. Whether every scope was polled is /readyz's to say.
                let prepared = self.prepare(None).await;
                notify_systemd(&[
                    sd_notify::NotifyState::Ready,
                    sd_notify::NotifyState::Status("records loaded; first poll running"),
                ]);
                self.poll_and_decide(prepared, None).await
            } else {
                self.cycle().await
            };
            first = false;
            tasks.wake.wake();
            self.start_lookups().await;
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
            notify_systemd(&[sd_notify::NotifyState::Status(&status)]);
            if control.shutdown.is_cancelled() {
                break;
            }
            let next = tokio::time::Instant::now() + self.cfg.interval();
            loop {
                self.beat();
                match self.wait(&mut control, &mut inputs, next).await {
                    Wake::Interval => break,
                    Wake::Stop => break 'run,
                    Wake::RecordsSourceDue => self.start_record_polls(),
                    Wake::RecordsPolled(joined) => {
                        self.finish_record_polls(*joined).await;
                        self.reload_records().await;
                    }
                    Wake::Reload(loaded) => self.on_reload(*loaded, &mut inputs).await,
                    Wake::Touched(first) => {
                        self.on_touched(first, &mut inputs.touched, &tasks.wake)
                            .await
                    }
                    Wake::RecordFileChanged => self.on_record_file_changed(&mut inputs).await,
                    Wake::Events(batch) => {
                        self.on_events(batch, &mut inputs.events, &tasks.wake).await
                    }
                }
            }
        }
        drop(inputs);
        self.shutdown(&mut tasks).await;
        let lost = self
            .leader_loss
            .as_ref()
            .filter(|l| l.is_lost())
            .map(|l| l.reason());
        self.close();
        if let Some(reason) = lost {
            return Err(DaemonError::LostLeadership(reason));
        }
        tracing::info!("driftwatch stopped");
        Ok(())
    }

    /// The HTTP listener, the watchdog and the dispatcher, under one root token. With `[ha]`
    /// the dispatcher starts once this replica leads; `None` when the stop request came while
    /// it was a standby.
    async fn start_tasks(&mut self, control: &Control) -> Result<Option<Tasks>, DaemonError> {
        let root = CancellationToken::new();
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
                root.child_token(),
            ));
        }
        if let Some(every) = sd_notify::watchdog_enabled() {
            let heartbeat = self.heartbeat.clone();
            let stall = Duration::from_secs(self.cfg.interval_secs.saturating_mul(3).max(600));
            background.spawn(watchdog(every, heartbeat, stall, root.child_token()));
        }
        match self
            .lead(&control.shutdown, root.child_token(), &mut background)
            .await
        {
            Ok(true) => {}
            stopped_or_failed => {
                root.cancel();
                while background.join_next().await.is_some() {}
                return stopped_or_failed.map(|_| None);
            }
        }
        let dispatcher = self.dispatcher();
        let wake = dispatcher.waker();
        let dispatch_stop = root.child_token();
        let dispatch = tokio::spawn(dispatcher.run(dispatch_stop.clone()));
        Ok(Some(Tasks {
            root,
            dispatch_stop,
            dispatch,
            wake,
            background,
        }))
    }

    /// What the loop waits on; the event queue's reader starts here, under the root token
    /// (it stops with the listener, after the last cycle).
    fn inputs(&mut self, tasks: &mut Tasks) -> Inputs {
        let (records_tx, records_rx) = mpsc::channel::<()>(16);
        let watcher = watch_records::watch(&self.cfg.records.dir, records_tx.clone());
        let (idle, idle_rx) = mpsc::channel::<Touched>(1);
        // Bounded: a batch waits here while the loop decides the one before.
        let (events_tx, events_rx) = mpsc::channel::<Vec<Delivered>>(4);
        let idle_events = match &self.events {
            Some(queue) => {
                tracing::info!("reading CloudTrail events from the queue (aws.events)");
                tasks.background.spawn(crate::sources::aws::events::run(
                    queue.clone(),
                    events_tx,
                    tasks.root.child_token(),
                ));
                None
            }
            None => Some(events_tx),
        };
        Inputs {
            records_tx,
            records_rx,
            watcher,
            touched: self.touched_rx.take().unwrap_or(idle_rx),
            _idle: idle,
            events: events_rx,
            _idle_events: idle_events,
        }
    }

    /// Wait until the next thing to do.
    async fn wait(
        &mut self,
        control: &mut Control,
        inputs: &mut Inputs,
        next: tokio::time::Instant,
    ) -> Wake {
        // While a poll task runs, its sources are out of `remote`: the others' next due time.
        let remote_due = self.remote.next_due();
        let polling = self.remote_poll.is_some();
        let polled = async {
            match self.remote_poll.as_mut() {
                Some(task) => task.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(next) => Wake::Interval,
            _ = sleep_until_some(remote_due), if !polling => Wake::RecordsSourceDue,
            joined = polled => {
                self.remote_poll = None;
                Wake::RecordsPolled(Box::new(joined))
            }
            _ = control.shutdown.cancelled() => Wake::Stop,
            Some(loaded) = control.reload.recv() => Wake::Reload(Box::new(loaded)),
            Some(first) = inputs.touched.recv() => Wake::Touched(first),
            Some(()) = inputs.records_rx.recv() => Wake::RecordFileChanged,
            Some(batch) = inputs.events.recv() => Wake::Events(batch),
        }
    }

    async fn on_reload(&mut self, loaded: Result<Config, ConfigError>, inputs: &mut Inputs) {
        notify_systemd(&[sd_notify::NotifyState::Reloading]);
        match loaded {
            Ok(cfg) => {
                let dir_changed = cfg.records.dir != self.cfg.records.dir;
                self.apply_config(cfg).await;
                if dir_changed {
                    inputs.watcher =
                        watch_records::watch(&self.cfg.records.dir, inputs.records_tx.clone());
                }
            }
            Err(e) => self.config_reload_failed(&e),
        }
        notify_systemd(&[sd_notify::NotifyState::Ready]);
    }

    /// Let a burst (one `kubectl apply` of many objects) settle, then decide every touched
    /// cluster in one cycle.
    async fn on_touched(
        &mut self,
        first: Touched,
        touched: &mut mpsc::Receiver<Touched>,
        wake: &crate::sinks::Waker,
    ) {
        let debounce = self
            .cfg
            .kubernetes
            .as_ref()
            .map(|k| k.debounce())
            .unwrap_or(Duration::from_millis(250));
        tokio::time::sleep(debounce).await;
        let mut scopes = BTreeSet::from([first.scope.to_string()]);
        let earliest = first.at;
        while let Ok(t) = touched.try_recv() {
            scopes.insert(t.scope.to_string());
        }
        let report = self.cycle_for(Some(&scopes)).await;
        self.metrics
            .kube_detection
            .observe(earliest.elapsed().as_secs_f64());
        wake.wake();
        tracing::debug!(
            scopes = ?scopes,
            changes = report.scopes.iter().map(|s| s.changes.len()).sum::<usize>(),
            after_ms = u64::try_from(earliest.elapsed().as_millis()).unwrap_or(u64::MAX),
            "watch events decided"
        );
    }

    async fn on_record_file_changed(&mut self, inputs: &mut Inputs) {
        // Debounce: editors write a file in several steps.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while inputs.records_rx.try_recv().is_ok() {}
        let load = self.reload_records().await;
        tracing::info!(
            records = load.records_active,
            errors = load.errors.len(),
            "change records reloaded after a file change"
        );
    }

    /// Stop the daemon's tasks in order: delivery, a bounded final drain, then the rest.
    async fn shutdown(&self, tasks: &mut Tasks) {
        notify_systemd(&[sd_notify::NotifyState::Stopping]);
        tasks.dispatch_stop.cancel();
        if self.leader_loss.as_ref().is_some_and(|l| l.is_lost()) {
            // The outbox is the new leader's to deliver now.
            tracing::info!(
                "shutting down after losing leadership; the new leader delivers the outbox"
            );
            let _ = (&mut tasks.dispatch).await;
        } else {
            tracing::info!("shutting down: cycle finished, draining the outbox");
            let bound = self.cfg.shutdown_drain();
            let dispatch = &mut tasks.dispatch;
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
        }
        tasks.root.cancel();
        while tokio::time::timeout(Duration::from_secs(2), tasks.background.join_next())
            .await
            .ok()
            .flatten()
            .is_some()
        {}
    }
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub(super) fn notify_systemd(state: &[sd_notify::NotifyState<'_>]) {
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
    stop: CancellationToken,
) {
    let half = every / 2;
    loop {
        let age = jiff::Timestamp::now().as_second() - heartbeat.load(Ordering::SeqCst);
        if u64::try_from(age).is_ok_and(|a| a < stall.as_secs()) {
            notify_systemd(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!(
                stalled_secs = age,
                "main loop stalled; withholding the watchdog keep-alive"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(half) => {}
            _ = stop.cancelled() => return,
        }
    }
}

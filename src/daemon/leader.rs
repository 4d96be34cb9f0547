//! Leader election for an HA pair (`[ha]`): several replicas on one PostgreSQL store, one of
//! them active. A replica starts as a standby: its store is open, its HTTP listener answers
//! (`/readyz` says `standby`), and it polls nothing, delivers nothing and writes nothing. It
//! tries to win the election every second; the winner takes the next generation in the
//! store (`store/leader.rs`), which fences the previous leader's transactions, and only then
//! starts the dispatcher and the cycles. The leader renews every `retry_period` and gives up
//! (ending the process, exit 2, so its supervisor restarts it as a standby) when another
//! replica holds the election or it could not renew within `renew_deadline`; a cycle fenced
//! by a successor ends it the same way, without paging anyone.
//!
//! Two elections:
//! - `postgres`: a session advisory lock on the store's server ([`AdvisoryLock`]), released by
//!   the server the moment the leader's connection closes (a SIGKILL included) or its TCP
//!   keepalives fail.
//! - `kubernetes`: a `coordination.k8s.io/v1` Lease, acquired and renewed with optimistic
//!   concurrency (the `resourceVersion` of what was read). A standby takes it over when it has
//!   seen no renewal for `lease_duration - retry_period`, measured on its own monotonic clock
//!   (as client-go does, so clock skew between nodes does not matter); the leader gives up
//!   after `lease_duration - 2 * retry_period` without a renewal, before any standby may take
//!   over. Renewals come every `retry_period` and a standby looks every second, so a killed
//!   leader is replaced within `lease_duration`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio_util::sync::CancellationToken;

use super::{Daemon, DaemonError};
use crate::config::{Config, Election, HaConfig};
use crate::store::StoreError;
use crate::store::leader::AdvisoryLock;

/// How often a standby tries to win.
const STANDBY_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("leader lock on the store's PostgreSQL server: {0}")]
    Lock(#[from] StoreError),
    #[error("Lease {lease}: {message}")]
    Lease { lease: String, message: String },
    #[error("Kubernetes client for the Lease: {0}")]
    Client(String),
    #[error("the leader lock's task failed: {0}")]
    Task(String),
}

impl LeaderError {
    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            LeaderError::Lock(_) => "lock",
            LeaderError::Lease { .. } => "lease",
            LeaderError::Client(_) => "client",
            LeaderError::Task(_) => "task",
        }
    }
}

/// What one round of the election found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    Leading,
    /// Another replica leads (named when the election says who).
    Standby {
        leader: Option<String>,
    },
}

/// The configured election.
pub enum Elector {
    Postgres(Arc<AdvisoryLock>),
    Kubernetes(Box<LeaseLock>),
}

impl Elector {
    pub async fn build(
        cfg: &Config,
        ha: &HaConfig,
        identity: &str,
    ) -> Result<Elector, LeaderError> {
        match ha.election {
            Election::Postgres => {
                let store = cfg.store.as_ref().ok_or_else(|| {
                    LeaderError::Lock(StoreError::Migrate(
                        "[ha] election = \"postgres\" needs [store]".into(),
                    ))
                })?;
                let url = store.url.clone();
                let password = store
                    .password()
                    .map_err(|e| LeaderError::Lock(StoreError::Secret(e.to_string())))?
                    .map(|p| p.expose().to_string());
                let name = ha.lease_name.clone();
                let ca_file = store.ca_file.clone();
                let keepalive = (ha.lease_duration_secs / 3).max(1);
                let lock = blocking(move || {
                    AdvisoryLock::connect(
                        &url,
                        password.as_deref(),
                        ca_file.as_deref(),
                        &name,
                        keepalive,
                    )
                })
                .await?;
                Ok(Elector::Postgres(Arc::new(lock)))
            }
            Election::Kubernetes => Ok(Elector::Kubernetes(Box::new(
                LeaseLock::connect(ha, identity).await?,
            ))),
        }
    }

    /// Take or keep the leadership, once.
    pub async fn round(&mut self) -> Result<Round, LeaderError> {
        match self {
            Elector::Postgres(lock) => {
                let lock = lock.clone();
                if blocking(move || lock.try_lock()).await? {
                    Ok(Round::Leading)
                } else {
                    Ok(Round::Standby { leader: None })
                }
            }
            Elector::Kubernetes(lease) => lease.round().await,
        }
    }

    /// Give the leadership up at once (graceful shutdown), so a standby need not wait.
    pub async fn release(self) {
        match self {
            // Closing the session releases its lock.
            Elector::Postgres(lock) => drop(lock),
            Elector::Kubernetes(lease) => lease.release().await,
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, LeaderError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LeaderError::Task(e.to_string()))?
        .map_err(LeaderError::Lock)
}

/// The Lease election.
pub struct LeaseLock {
    api: Api<Lease>,
    /// `namespace/name`, for messages.
    shown: String,
    name: String,
    identity: String,
    lease_duration: Duration,
    /// A standby takes over after seeing no renewal for this long.
    takeover_after: Duration,
    /// The holder and renew time last seen, and when they were first seen (monotonic).
    observed: Option<(Option<String>, Option<jiff::Timestamp>, Instant)>,
}

impl LeaseLock {
    async fn connect(ha: &HaConfig, identity: &str) -> Result<LeaseLock, LeaderError> {
        let config = match &ha.kubeconfig {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                    LeaderError::Client(format!("kubeconfig {}: {e}", path.display()))
                })?;
                kube::Config::from_custom_kubeconfig(kc, &Default::default())
                    .await
                    .map_err(|e| {
                        LeaderError::Client(format!("kubeconfig {}: {e}", path.display()))
                    })?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| LeaderError::Client(e.to_string()))?,
        };
        let client =
            kube::Client::try_from(config).map_err(|e| LeaderError::Client(e.to_string()))?;
        let namespace = ha.namespace();
        Ok(LeaseLock {
            api: Api::namespaced(client, &namespace),
            shown: format!("{namespace}/{}", ha.lease_name),
            name: ha.lease_name.clone(),
            identity: identity.to_string(),
            lease_duration: ha.lease_duration(),
            takeover_after: ha.lease_duration().saturating_sub(ha.retry_period()),
            observed: None,
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> LeaderError {
        LeaderError::Lease {
            lease: self.shown.clone(),
            message: e.to_string(),
        }
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }

    async fn round(&mut self) -> Result<Round, LeaderError> {
        let now = MicroTime(crate::clock::now());
        let Some(mut lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.error(e))?
        else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(self.duration_secs()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Round::Leading),
                // Another replica created it first.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Round::Standby { leader: None }),
                Err(e) => Err(self.error(e)),
            };
        };
        let mut spec = lease.spec.take().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.as_deref() == Some(self.identity.as_str()) {
            spec.renew_time = Some(now);
            spec.lease_duration_seconds = Some(self.duration_secs());
        } else {
            let renewed = spec.renew_time.as_ref().map(|t| t.0);
            let since = match &self.observed {
                Some((h, r, at)) if *h == holder && *r == renewed => *at,
                _ => {
                    let at = Instant::now();
                    self.observed = Some((holder.clone(), renewed, at));
                    at
                }
            };
            if holder.is_some() && since.elapsed() < self.takeover_after {
                return Ok(Round::Standby { leader: holder });
            }
            spec.holder_identity = Some(self.identity.clone());
            spec.lease_duration_seconds = Some(self.duration_secs());
            spec.acquire_time = Some(now.clone());
            spec.renew_time = Some(now);
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        lease.spec = Some(spec);
        // The resourceVersion read above: a replica that wrote in between makes this a 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Round::Leading),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Round::Standby { leader: None }),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Clear the holder, so a standby takes over at its next look.
    async fn release(self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.acquire_time = None;
        spec.renew_time = None;
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.shown, "leadership released"),
            Err(e) => {
                tracing::warn!(lease = %self.shown, error = %e, "cannot release the Lease; a standby takes over when it expires")
            }
        }
    }
}

/// Why this replica stopped leading, shared by the renew task and the cycles.
#[derive(Default)]
pub struct LeaderLoss {
    lost: AtomicBool,
    reason: Mutex<String>,
    /// The stop request: losing leadership ends the loop like SIGTERM does.
    shutdown: CancellationToken,
}

impl LeaderLoss {
    pub fn lose(&self, reason: String) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            tracing::error!(reason = %reason, "lost leadership: stopping without polling or delivering again");
            if let Ok(mut r) = self.reason.lock() {
                *r = reason;
            }
        }
        self.shutdown.cancel();
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> String {
        self.reason.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Daemon {
    /// With `[ha]`: wait as a standby until this replica wins, take the next generation in
    /// the store, and keep renewing on a task under `stop`. `false` when the stop request came
    /// first.
    pub(super) async fn lead(
        &mut self,
        shutdown: &CancellationToken,
        stop: CancellationToken,
        background: &mut tokio::task::JoinSet<()>,
    ) -> Result<bool, DaemonError> {
        let Some(ha) = self.cfg.ha.clone() else {
            return Ok(true);
        };
        let identity = ha.identity();
        let mut elector = Elector::build(&self.cfg, &ha, &identity).await?;
        if ha.sharded() {
            self.join_shard(&ha, &identity, stop.clone(), background)
                .await?;
        }
        self.leading = false;
        self.health.set_standby(Some(String::new()));
        self.metrics.leader.set(0);
        super::run::notify_systemd(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status("standby: waiting for leadership"),
        ]);
        tracing::info!(identity = %identity, election = ?ha.election, "standby: waiting for leadership");
        let mut next_cycle = tokio::time::Instant::now();
        loop {
            self.beat();
            if ha.sharded() && tokio::time::Instant::now() >= next_cycle {
                // A member that does not lead polls its own scopes all the same.
                let report = self.cycle().await;
                tracing::info!(
                    scopes = report.scopes.len(),
                    failed = report.failed(),
                    unplanned = report.unplanned(),
                    "cycle complete (member)"
                );
                next_cycle = tokio::time::Instant::now() + self.cfg.interval();
            }
            match elector.round().await {
                Ok(Round::Leading) => break,
                Ok(Round::Standby { leader }) => {
                    let leader = match leader {
                        Some(l) => l,
                        None => self.stored_leader().await.unwrap_or_default(),
                    };
                    self.health.set_standby(Some(leader));
                }
                Err(e) => {
                    tracing::warn!(error = %e, kind = e.label(), "leader election round failed")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(STANDBY_POLL) => {}
                _ = shutdown.cancelled() => {
                    elector.release().await;
                    return Ok(false);
                }
            }
        }
        let holder = identity.clone();
        let taken = self
            .store
            .call(move |db| db.take_leadership(&holder, crate::clock::now()))
            .await;
        let generation = match taken {
            Ok(g) => g,
            Err(e) => {
                elector.release().await;
                return Err(e.into());
            }
        };
        self.leading = true;
        self.health.set_standby(None);
        self.metrics.leader.set(1);
        self.metrics.leader_elections.inc();
        tracing::info!(identity = %identity, generation, "leading: this replica polls and alerts");
        let loss = Arc::new(LeaderLoss {
            shutdown: shutdown.clone(),
            ..Default::default()
        });
        self.leader_loss = Some(loss.clone());
        background.spawn(renew(elector, ha, loss, self.metrics.leader.clone(), stop));
        Ok(true)
    }

    /// With `[ha]`, for a one-shot command that writes (`scan`): win the election in one
    /// round and take the next generation, or fail naming who leads (a scan beside a running
    /// leader would decide every change twice). Release the returned elector afterwards.
    pub async fn lead_once(&mut self) -> Result<Option<Elector>, DaemonError> {
        let Some(ha) = self.cfg.ha.clone() else {
            return Ok(None);
        };
        let identity = ha.identity();
        let mut elector = Elector::build(&self.cfg, &ha, &identity).await?;
        match elector.round().await? {
            Round::Leading => {}
            Round::Standby { leader } => {
                let leader = match leader {
                    Some(l) => Some(l),
                    None => self.stored_leader().await,
                };
                return Err(DaemonError::NotLeader(
                    leader.unwrap_or_else(|| "another replica".into()),
                ));
            }
        }
        let holder = identity.clone();
        if let Err(e) = self
            .store
            .call(move |db| db.take_leadership(&holder, crate::clock::now()))
            .await
        {
            elector.release().await;
            return Err(e.into());
        }
        Ok(Some(elector))
    }

    /// Register in the sharded set and keep the registration alive on a task under `stop`
    /// (which leaves the set, handing the scopes over at once).
    async fn join_shard(
        &mut self,
        ha: &HaConfig,
        identity: &str,
        stop: CancellationToken,
        background: &mut tokio::task::JoinSet<()>,
    ) -> Result<(), DaemonError> {
        let id = identity.to_string();
        let ttl = i64::try_from(ha.lease_duration_secs).unwrap_or(i64::MAX);
        self.store
            .call(move |db| db.join_shard(&id, ttl, crate::clock::now()))
            .await?;
        self.member = Some(identity.to_string());
        tracing::info!(identity = %identity, replicas = ha.replicas, "joined the sharded set");
        let store = self.store.clone();
        let every = ha.retry_period();
        background.spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.cancelled() => break,
                }
                if let Err(e) = store.call(|db| db.heartbeat()).await {
                    tracing::warn!(error = %e, "shard heartbeat failed");
                }
            }
            match store.call(|db| db.leave_shard()).await {
                Ok(()) => tracing::info!("left the sharded set"),
                Err(e) => tracing::warn!(error = %e, "cannot leave the sharded set; the others take over when its heartbeat expires"),
            }
        });
        // Replicas started together (a new Deployment) all register within this wait, so the
        // first assignment already spreads the scopes instead of every member polling them
        // all once (a burst of API calls against the accounts' quotas).
        tokio::time::sleep(ha.retry_period()).await;
        Ok(())
    }

    /// The scopes this member owns among the live members (sharded sets only).
    pub(super) async fn refresh_owned(&mut self) {
        let Some(me) = self.member.clone() else {
            return;
        };
        let members = match self.store.call(|db| db.live_members()).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the sharded set's members; keeping the scopes owned so far");
                return;
            }
        };
        let owned: std::collections::BTreeSet<String> = self
            .sources
            .iter()
            .map(|s| s.scope().to_string())
            .filter(|s| driftwatch_core::shard::owner(s, &members) == Some(me.as_str()))
            .collect();
        if self.owned.as_ref() != Some(&owned) {
            tracing::info!(
                members = ?members,
                owned = owned.len(),
                scopes = self.sources.len(),
                "scopes assigned"
            );
        }
        // Readiness covers the scopes this member polls (also after a config reload).
        self.health.set_scopes(owned.iter().cloned());
        let wanted = self.cfg.ha.as_ref().map_or(1, |h| h.replicas as usize);
        if members.len() < wanted {
            tracing::debug!(
                live = members.len(),
                wanted,
                "fewer live members than replicas"
            );
        }
        self.metrics.shard_members.set(members.len() as i64);
        self.metrics.shard_scopes.set(owned.len() as i64);
        self.owned = Some(owned);
    }

    /// The last elected replica as the store has it (the election does not always say).
    async fn stored_leader(&self) -> Option<String> {
        self.store
            .call(|db| db.leadership())
            .await
            .ok()
            .flatten()
            .map(|l| l.holder)
    }

    /// A cycle's write was refused because a successor took over.
    pub(super) fn fenced(&self, e: &StoreError) -> bool {
        if !matches!(e, StoreError::Fenced { .. }) {
            return false;
        }
        if let Some(loss) = &self.leader_loss {
            loss.lose(e.to_string());
        }
        true
    }
}

/// The leader's renewals, until the daemon's tasks stop (then the leadership is released)
/// or it is lost.
async fn renew(
    mut elector: Elector,
    ha: HaConfig,
    loss: Arc<LeaderLoss>,
    gauge: prometheus_client::metrics::gauge::Gauge,
    stop: CancellationToken,
) {
    let retry = ha.retry_period();
    let deadline = ha
        .lease_duration()
        .saturating_sub(retry * 2)
        .max(Duration::from_secs(1));
    let mut last_ok = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = stop.cancelled() => {
                elector.release().await;
                return;
            }
        }
        match elector.round().await {
            Ok(Round::Leading) => last_ok = Instant::now(),
            Ok(Round::Standby { leader }) => {
                gauge.set(0);
                loss.lose(format!(
                    "{} holds the election now",
                    leader.unwrap_or_else(|| "another replica".into())
                ));
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, kind = e.label(), "cannot renew leadership");
                if last_ok.elapsed() >= deadline {
                    gauge.set(0);
                    loss.lose(format!(
                        "no renewal for {} s: {e}",
                        last_ok.elapsed().as_secs()
                    ));
                    return;
                }
            }
        }
    }
}

//! The Kubernetes source: one per configured cluster (its scope). It watches instead of
//! polling: a task per kind runs `kube::runtime::watcher` with backoff and keeps the cluster's
//! normalized objects in memory, and after each event it tells the daemon, which decides
//! within the debounce. `poll` answers from that state, so the daemon's pipeline (diff against
//! the stored snapshot, rules, matching, ledger, outbox) is the same as for AWS: a relist after
//! a 410 Gone or a reconnect is compared with the stored state, never replayed as creates and
//! deletes. A poll fails (the scope keeps its state, and goes blind after repeated failures)
//! while a kind has not finished its first list or its watch keeps failing.
//!
//! Objects are read through the dynamic API (`DynamicObject`), so CRDs work the same way as
//! built-in kinds; Secrets are refused by config validation and never listed.

pub mod audit;
pub mod normalize;
mod watch;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::config::{ClusterConfig, KindConfig, KubernetesConfig};
use crate::metrics::Metrics;
use crate::model::{FailureKind, Kind, Resource, Scope};
use crate::sources::{PollFuture, Source, observation};
use watch::Watch;
pub use watch::WatchErrorKind;

/// The kinds watched by default: (group, version, kind, plural, namespaced). The ClusterRole
/// in `deploy/kubernetes/clusterrole.yaml` grants get/list/watch on exactly these.
pub const DEFAULT_KINDS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Namespace", "namespaces"),
    ("", "v1", "Service", "services"),
    ("", "v1", "ServiceAccount", "serviceaccounts"),
    ("networking.k8s.io", "v1", "Ingress", "ingresses"),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
    ),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
    ),
];

/// A kind to watch: known plural, or resolved through discovery (CRDs).
#[derive(Clone, Debug)]
struct KindSpec {
    gvk: GroupVersionKind,
    plural: Option<&'static str>,
}

impl KindSpec {
    fn model(&self) -> Kind {
        Kind::kubernetes(&self.gvk.group, &self.gvk.version, &self.gvk.kind)
    }
}

fn kinds_for(c: &ClusterConfig) -> Vec<KindSpec> {
    let mut out: Vec<KindSpec> = Vec::new();
    if c.default_kinds {
        out.extend(DEFAULT_KINDS.iter().map(|(g, v, k, p)| KindSpec {
            gvk: GroupVersionKind::gvk(g, v, k),
            plural: Some(p),
        }));
    }
    for KindConfig {
        group,
        version,
        kind,
    } in &c.kinds
    {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if !out.iter().any(|k| k.gvk == gvk) {
            out.push(KindSpec { gvk, plural: None });
        }
    }
    out
}

/// One kind's watched state.
#[derive(Debug, Default)]
struct KindState {
    label: String,
    /// The first list completed.
    synced: bool,
    objects: BTreeMap<String, Resource>,
    /// Objects of a relist in progress; swapped in whole at its end.
    pending: Option<BTreeMap<String, Resource>>,
    last_ok: Option<Instant>,
    last_error: Option<(Instant, WatchErrorKind, String)>,
    /// The resolved API resource, for a recovery probe.
    api: Option<ApiResource>,
}

impl KindState {
    /// A watch error newer than the last event, within the window, that a successful list
    /// may show to be over (not for RBAC refusals: a list can work where a watch may not).
    fn probe_candidate(&self, window: Duration) -> Option<ApiResource> {
        let (at, kind, _) = self.last_error.as_ref()?;
        let recovered = self.last_ok.is_some_and(|ok| ok >= *at);
        (self.synced && !recovered && at.elapsed() < window && *kind != WatchErrorKind::Forbidden)
            .then(|| self.api.clone())
            .flatten()
    }

    /// Why a poll cannot vouch for this kind, if it cannot.
    fn problem(&self, window: Duration) -> Option<(FailureKind, String)> {
        if !self.synced {
            let why = match &self.last_error {
                Some((_, k, m)) => format!("{}: {m}", k.as_str()),
                None => "initial list not complete".into(),
            };
            let kind = self
                .last_error
                .as_ref()
                .map(|(_, k, _)| k.failure())
                .unwrap_or(FailureKind::Timeout);
            return Some((kind, format!("{}: not listed yet ({why})", self.label)));
        }
        let (at, kind, message) = self.last_error.as_ref()?;
        let recovered = self.last_ok.is_some_and(|ok| ok >= *at);
        if recovered || at.elapsed() >= window || kind.skips_object() {
            return None;
        }
        Some((
            kind.failure(),
            format!(
                "{}: watch failing ({}): {message}",
                self.label,
                kind.as_str()
            ),
        ))
    }
}

struct Shared {
    kinds: Mutex<Vec<KindState>>,
    synced: Notify,
}

impl Shared {
    /// Lock the state. A panic while holding the lock cannot leave it half-written in a way
    /// that matters (each update is one map operation), so a poisoned lock is used as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<KindState>> {
        self.kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A change seen by a watch, for the daemon: which scope, and when it was received.
#[derive(Clone, Debug)]
pub struct Touched {
    pub scope: Scope,
    pub at: Instant,
}

/// Stops the watch tasks when the source is dropped (a config reload builds new ones).
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

pub struct KubeSource {
    scope: Scope,
    client: Option<kube::Client>,
    shared: Arc<Shared>,
    sync_timeout: Duration,
    error_window: Duration,
    /// The kinds a complete observation covers (rows of other kinds are purged).
    watched: Vec<Kind>,
    /// The API server's audit log, when configured (`audit.rs`).
    audit: Option<audit::AuditTail>,
    _tasks: Tasks,
}

/// Why a cluster's client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("in-cluster config: {0}")]
    InCluster(String),
    #[error("client: {0}")]
    Client(String),
}

pub async fn client_for(c: &ClusterConfig) -> Result<kube::Client, ClientError> {
    let config = match &c.kubeconfig {
        Some(path) => {
            let shown = path.display().to_string();
            let kc =
                kube::config::Kubeconfig::read_from(path).map_err(|e| ClientError::Kubeconfig {
                    path: shown.clone(),
                    message: e.to_string(),
                })?;
            let opts = kube::config::KubeConfigOptions {
                context: c.context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| ClientError::Kubeconfig {
                    path: shown,
                    message: e.to_string(),
                })?
        }
        None => kube::Config::incluster().map_err(|e| ClientError::InCluster(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| ClientError::Client(e.to_string()))
}

impl KubernetesConfig {
    /// A source per configured cluster, its watches started. `touched` receives a message
    /// after each change a watch sees (after the first list); `metrics` counts watch events.
    pub async fn build(
        &self,
        metrics: &Metrics,
        touched: Option<mpsc::Sender<Touched>>,
    ) -> Vec<Box<dyn Source>> {
        let mut out: Vec<Box<dyn Source>> = Vec::new();
        for c in &self.clusters {
            let scope = Scope::Kubernetes {
                cluster: c.name.as_str().into(),
            };
            let client = match client_for(c).await {
                Ok(cl) => Some(cl),
                Err(e) => {
                    tracing::error!(scope = %scope, error = %e, "cannot build a Kubernetes client; the cluster is blind until the config is fixed");
                    None
                }
            };
            out.push(Box::new(
                KubeSource::start(
                    scope,
                    client,
                    kinds_for(c),
                    self.sync_timeout(),
                    self.error_window(),
                    metrics.clone(),
                    touched.clone(),
                )
                .with_audit_log(c.audit_log.clone()),
            ));
        }
        out
    }
}

impl KubeSource {
    fn start(
        scope: Scope,
        client: Option<kube::Client>,
        kinds: Vec<KindSpec>,
        sync_timeout: Duration,
        error_window: Duration,
        metrics: Metrics,
        touched: Option<mpsc::Sender<Touched>>,
    ) -> KubeSource {
        let watched: Vec<Kind> = kinds.iter().map(KindSpec::model).collect();
        let states = kinds
            .iter()
            .map(|k| KindState {
                label: k.model().to_string(),
                last_error: client.is_none().then(|| {
                    (
                        Instant::now(),
                        WatchErrorKind::ListFailed,
                        "no client (see the log)".to_string(),
                    )
                }),
                ..Default::default()
            })
            .collect();
        let shared = Arc::new(Shared {
            kinds: Mutex::new(states),
            synced: Notify::new(),
        });
        let mut tasks = Vec::new();
        if let Some(client) = client.clone() {
            for (i, spec) in kinds.into_iter().enumerate() {
                let kind = spec.model();
                let w = Watch {
                    client: client.clone(),
                    scope: scope.clone(),
                    index: i,
                    label: kind.to_string(),
                    kind,
                    spec,
                    shared: shared.clone(),
                    metrics: metrics.clone(),
                    touched: touched.clone(),
                };
                tasks.push(tokio::spawn(w.run()));
            }
        }
        KubeSource {
            scope,
            client,
            shared,
            sync_timeout,
            error_window,
            watched,
            audit: None,
            _tasks: Tasks(tasks),
        }
    }

    /// Attribute changes from the API server's audit log at `path`.
    pub fn with_audit_log(mut self, path: Option<std::path::PathBuf>) -> Self {
        let Scope::Kubernetes { cluster } = &self.scope else {
            return self;
        };
        self.audit = path.map(|p| audit::AuditTail::new(p, cluster.to_string()));
        self
    }

    /// The state as a listing: complete when every kind is listed and no watch is failing.
    fn snapshot(&self) -> Result<Vec<Resource>, (FailureKind, String)> {
        let kinds = self.shared.lock();
        let problems: Vec<(FailureKind, String)> = kinds
            .iter()
            .filter_map(|k| k.problem(self.error_window))
            .collect();
        if let Some((kind, _)) = problems.first() {
            let message = problems
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            return Err((*kind, message));
        }
        Ok(kinds
            .iter()
            .flat_map(|k| k.objects.values().cloned())
            .collect())
    }

    fn all_synced(&self) -> bool {
        self.shared.lock().iter().all(|k| k.synced)
    }

    /// After watch errors the watcher reconnects silently (no event until something
    /// changes): a one-item list of each such kind tells whether the API server is back. The
    /// watch resumes from its last resourceVersion (or relists after 410 Gone), so nothing
    /// that changed meanwhile is lost.
    async fn probe_recovered(&self) {
        let Some(client) = &self.client else { return };
        let candidates: Vec<(usize, ApiResource)> = {
            let kinds = self.shared.lock();
            kinds
                .iter()
                .enumerate()
                .filter_map(|(i, k)| k.probe_candidate(self.error_window).map(|a| (i, a)))
                .collect()
        };
        for (i, ar) in candidates {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            let probe = tokio::time::timeout(
                Duration::from_secs(5),
                api.list_metadata(&kube::api::ListParams::default().limit(1)),
            )
            .await;
            if let Ok(Ok(_)) = probe {
                let mut kinds = self.shared.lock();
                kinds[i].last_ok = Some(Instant::now());
                tracing::info!(scope = %self.scope, kind = %kinds[i].label, "API server answers again; the watch resumes where it stopped");
            }
        }
    }
}

impl Source for KubeSource {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn service(&self) -> &'static str {
        "kubernetes"
    }

    fn watched_kinds(&self) -> Option<&[Kind]> {
        Some(&self.watched)
    }

    fn poll(&self, observed_at: jiff::Timestamp) -> PollFuture<'_> {
        Box::pin(async move {
            // The first poll after start waits for the initial lists (bounded).
            let deadline = tokio::time::Instant::now() + self.sync_timeout;
            loop {
                let notified = self.shared.synced.notified();
                if self.all_synced() {
                    break;
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    break;
                }
            }
            self.probe_recovered().await;
            observation(&self.scope, observed_at, self.snapshot())
        })
    }

    fn audit_events(&self) -> Option<crate::sources::AuditFuture<'_>> {
        let tail = self.audit.as_ref()?;
        Some(Box::pin(tail.catch_up()))
    }
}

#[cfg(test)]
mod tests;

//! The `[kubernetes]` section: clusters to watch (kubeconfig + context, or the in-cluster
//! service account), each its own scope, and the kinds to watch beyond the defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::FieldError;
use super::bounds::{self, DAY, HOUR, Unit};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// How long a poll waits for every watch's initial list before it reports the scope as
    /// not (yet) observable.
    #[serde(default = "default_sync_timeout")]
    pub sync_timeout_secs: u64,
    /// After a watch event, wait this long for more before deciding (a `kubectl apply` of
    /// many objects becomes one cycle).
    #[serde(default = "default_debounce")]
    pub debounce_ms: u64,
    /// A watch whose last error is more recent than this, with no event since, makes its
    /// cluster's poll fail (the watcher retries with backoff meanwhile).
    #[serde(default = "default_error_window")]
    pub error_window_secs: u64,
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
}

fn default_sync_timeout() -> u64 {
    30
}
fn default_debounce() -> u64 {
    250
}
fn default_error_window() -> u64 {
    65
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The scope name (`kubernetes:NAME`), used in records' `scope` and in alerts.
    pub name: String,
    /// A kubeconfig file; `context` picks one of its contexts (default: its current one).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    #[serde(default)]
    pub context: Option<String>,
    /// Use the pod's service account (a Deployment in the watched cluster).
    #[serde(default)]
    pub in_cluster: bool,
    /// Watch the default kinds (Namespace, Service, Ingress, NetworkPolicy, Role, ClusterRole,
    /// RoleBinding, ClusterRoleBinding, ServiceAccount).
    #[serde(default = "default_true")]
    pub default_kinds: bool,
    /// More kinds by group/version/kind, CRDs included (resolved through API discovery).
    #[serde(default)]
    pub kinds: Vec<KindConfig>,
    /// The API server's audit log (its log backend's JSON file, `--audit-log-path`): each
    /// change is attributed to the user who made it rather than to the field manager.
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
}

fn default_true() -> bool {
    true
}

/// A kind by group, version and kind (`group = ""` for the core API).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindConfig {
    #[serde(default)]
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// The longest debounce: a minute of gathering events is already a slow detection.
const MAX_DEBOUNCE_MS: u64 = 60_000;

impl KubernetesConfig {
    /// How long a poll waits for the first list of every kind.
    pub fn sync_timeout(&self) -> Duration {
        bounds::secs(self.sync_timeout_secs)
    }

    /// How long to gather watch events before deciding.
    pub fn debounce(&self) -> Duration {
        Duration::from_millis(self.debounce_ms)
    }

    /// How long a watch error keeps its cluster's poll failing.
    pub fn error_window(&self) -> Duration {
        bounds::secs(self.error_window_secs)
    }

    pub(super) fn resolve_paths(&mut self, base: &Path) {
        for c in &mut self.clusters {
            if let Some(p) = &mut c.kubeconfig
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
            if let Some(p) = &mut c.audit_log
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        }
    }

    pub(super) fn validate(&self, errs: &mut Vec<FieldError>) {
        let mut err = |field: String, message: String| errs.push(FieldError { field, message });
        if self.clusters.is_empty() {
            err(
                "kubernetes.clusters".into(),
                "at least one [[kubernetes.clusters]] entry is required".into(),
            );
        }
        let numbers = [
            (
                "sync_timeout_secs",
                bounds::range(self.sync_timeout_secs, 1, HOUR, Unit::Seconds),
            ),
            (
                "debounce_ms",
                bounds::range(self.debounce_ms, 0, MAX_DEBOUNCE_MS, Unit::Milliseconds),
            ),
            (
                "error_window_secs",
                bounds::range(self.error_window_secs, 1, DAY, Unit::Seconds),
            ),
        ];
        for (field, r) in numbers {
            if let Err(m) = r {
                err(format!("kubernetes.{field}"), m);
            }
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, c) in self.clusters.iter().enumerate() {
            let at = format!("kubernetes.clusters[{i}]");
            if c.name.is_empty() || c.name.contains(':') || c.name.contains(char::is_whitespace) {
                err(
                    format!("{at}.name"),
                    format!(
                        "`{}` is not a cluster name (non-empty, no `:` or spaces)",
                        c.name
                    ),
                );
            } else if names.contains(&c.name.as_str()) {
                err(
                    format!("{at}.name"),
                    format!("cluster `{}` is listed twice", c.name),
                );
            }
            names.push(&c.name);
            match (&c.kubeconfig, c.in_cluster) {
                (Some(_), true) => err(
                    format!("{at}.in_cluster"),
                    "set either kubeconfig or in_cluster = true, not both".into(),
                ),
                (None, false) => err(
                    format!("{at}.kubeconfig"),
                    "set a kubeconfig path, or in_cluster = true inside the cluster".into(),
                ),
                _ => {}
            }
            if c.context.is_some() && c.in_cluster {
                err(
                    format!("{at}.context"),
                    "a context only applies to a kubeconfig".into(),
                );
            }
            if !c.default_kinds && c.kinds.is_empty() {
                err(
                    format!("{at}.kinds"),
                    "no kinds to watch: keep default_kinds or list kinds".into(),
                );
            }
            for (j, k) in c.kinds.iter().enumerate() {
                let kat = format!("{at}.kinds[{j}]");
                if k.version.is_empty() {
                    err(format!("{kat}.version"), "must not be empty".into());
                }
                if k.kind.is_empty() || !k.kind.starts_with(|ch: char| ch.is_ascii_uppercase()) {
                    err(
                        format!("{kat}.kind"),
                        format!("`{}` is not a kind (e.g. AuthorizationPolicy)", k.kind),
                    );
                }
                if k.group.is_empty() && k.kind == "Secret" {
                    err(
                        format!("{kat}.kind"),
                        "Secrets are never read: their data is credentials".into(),
                    );
                }
            }
        }
    }
}

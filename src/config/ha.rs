//! The `[ha]` section: several replicas on one PostgreSQL store, one of them active. The
//! replicas elect the active one through an advisory lock on the store's server or a
//! Kubernetes `Lease`; the others wait, and take over when the leader is gone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::FieldError;
use super::bounds::{self, Unit};

/// How the replicas elect the active one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Election {
    /// A session advisory lock on the `[store]` PostgreSQL server.
    Postgres,
    /// A `coordination.k8s.io/v1` Lease.
    Kubernetes,
}

/// `[ha]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaConfig {
    pub election: Election,
    /// This replica's name in the election; default: the host name and the process id.
    #[serde(default)]
    pub identity: Option<String>,
    /// How long a leader that stopped renewing keeps the lease: the standby takes over
    /// within this long after the leader dies.
    #[serde(default = "default_lease")]
    pub lease_duration_secs: u64,
    /// The Lease's (or the advisory lock's) name.
    #[serde(default = "default_lease_name")]
    pub lease_name: String,
    /// The Lease's namespace; default: the pod's own (its service account's namespace file),
    /// else `default`.
    #[serde(default)]
    pub lease_namespace: Option<String>,
    /// Kubeconfig for the Lease; default: in-cluster config, then `KUBECONFIG`.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// How many replicas run. 1 (the default): one leads, the others wait. More: the scopes
    /// are spread over every live replica (rendezvous hashing), and the leader also runs the
    /// shared work (delivery, obligations, lookups).
    #[serde(default = "default_replicas")]
    pub replicas: u32,
}

fn default_replicas() -> u32 {
    1
}

fn default_lease() -> u64 {
    15
}

fn default_lease_name() -> String {
    "driftwatch".into()
}

/// Where a pod finds its namespace.
const POD_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

impl HaConfig {
    /// Scopes are spread over the replicas.
    pub fn sharded(&self) -> bool {
        self.replicas > 1
    }

    pub(super) fn validate(&self, has_store: bool, has_events: bool, errs: &mut Vec<FieldError>) {
        bounds::check(errs, "ha.replicas", self.replicas, 1, 100, Unit::Count);
        if self.sharded() && has_events {
            errs.push(FieldError {
                field: "ha.replicas".into(),
                message: "sharded replicas do not read [aws.events] yet: use replicas = 1 (one active, the others waiting) with the event path".into(),
            });
        }
        if !has_store {
            errs.push(FieldError {
                field: "ha".into(),
                message: "the replicas must share a PostgreSQL store: add [store] url (SQLite is one process's file)".into(),
            });
        }
        bounds::check(
            errs,
            "ha.lease_duration_secs",
            self.lease_duration_secs,
            3,
            3_600,
            Unit::Seconds,
        );
        if let Some(id) = &self.identity
            && (id.is_empty() || id.len() > 128)
        {
            errs.push(FieldError {
                field: "ha.identity".into(),
                message: "must be 1 to 128 characters".into(),
            });
        }
        // A Lease is named like any Kubernetes object (a DNS subdomain); the same rule keeps
        // the lock's name readable.
        let name_ok = !self.lease_name.is_empty()
            && self.lease_name.len() <= 253
            && self
                .lease_name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !name_ok {
            errs.push(FieldError {
                field: "ha.lease_name".into(),
                message: "must be lowercase letters, digits, '-' or '.' (a Kubernetes object name)"
                    .into(),
            });
        }
        if self.election == Election::Postgres
            && (self.lease_namespace.is_some() || self.kubeconfig.is_some())
        {
            errs.push(FieldError {
                field: "ha.election".into(),
                message: "lease_namespace and kubeconfig are for election = \"kubernetes\"".into(),
            });
        }
    }

    pub(super) fn locate(&mut self, base: &Path) {
        if let Some(k) = &mut self.kubeconfig
            && k.is_relative()
        {
            *k = base.join(&*k);
        }
    }

    pub fn lease_duration(&self) -> Duration {
        Duration::from_secs(self.lease_duration_secs)
    }

    /// How often the leader renews and a standby tries: a fifth of the lease (client-go's
    /// 2 s for 15 s is in the same proportion), at least a second.
    pub fn retry_period(&self) -> Duration {
        Duration::from_millis((self.lease_duration_secs * 1000 / 5).max(1000))
    }

    /// This replica's name: the configured one, else `HOST-PID`.
    pub fn identity(&self) -> String {
        if let Some(id) = &self.identity {
            return id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "driftwatch".into());
        format!("{host}-{}", std::process::id())
    }

    /// The Lease's namespace (see `lease_namespace`).
    pub fn namespace(&self) -> String {
        if let Some(ns) = &self.lease_namespace {
            return ns.clone();
        }
        std::fs::read_to_string(POD_NAMESPACE_FILE)
            .map(|n| n.trim().to_string())
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into())
    }
}

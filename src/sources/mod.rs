//! Sources: components that list one scope's resources and return an `Observation`. Each is
//! built from its own config section (`AwsConfig::build`, `KubernetesConfig::build`; `build`
//! goes through the sections of a config); the daemon polls them (a Kubernetes source answers from its
//! watches and also wakes the daemon when they see a change). A listing that does not complete is
//! returned as `Outcome::Failed` with no resources, never as a short list.

pub mod aws;
pub mod kubernetes;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::model::{Observation, Scope};
use kubernetes::Touched;

pub type PollFuture<'a> = Pin<Box<dyn Future<Output = Observation> + Send + 'a>>;

/// A targeted re-read's answer: the current state of what the coverage names, or why the
/// read failed (the event that asked for it is then kept for another try; the scope's health
/// is the complete polls' to judge).
pub type RereadFuture<'a> = Pin<
    Box<
        dyn Future<
                Output = Result<
                    (crate::model::Coverage, Vec<crate::model::Resource>),
                    (crate::model::FailureKind, String),
                >,
            > + Send
            + 'a,
    >,
>;

/// CloudTrail events that name a resource, for a change no event attributed.
pub type LookupFuture<'a> = Pin<
    Box<
        dyn Future<
                Output = Result<
                    Vec<crate::cloudtrail::TrailEvent>,
                    (crate::model::FailureKind, String),
                >,
            > + Send
            + 'a,
    >,
>;

/// The API server's recent completed writes (Kubernetes audit log), for attribution.
pub type AuditFuture<'a> =
    Pin<Box<dyn Future<Output = Vec<crate::k8s_audit::AuditEvent>> + Send + 'a>>;

/// What an event asks a source to re-read: the resource it names, and access keys it names
/// (a deleted key is gone from the user's listing, yet the read must answer for it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RereadRequest {
    pub target: crate::cloudtrail::Target,
    pub access_keys: Vec<String>,
}

/// An observation from a listing's result: complete, or failed with its kind and message.
pub fn observation(
    scope: &Scope,
    observed_at: jiff::Timestamp,
    listed: Result<Vec<crate::model::Resource>, (crate::model::FailureKind, String)>,
) -> Observation {
    Observation {
        scope: scope.clone(),
        observed_at,
        outcome: match listed {
            Ok(r) => crate::model::Outcome::Complete(r),
            Err((kind, message)) => crate::model::Outcome::Failed { kind, message },
        },
    }
}

pub trait Source: Send + Sync {
    fn scope(&self) -> &Scope;
    /// A short label for metrics and logs (`aws.ec2`).
    fn service(&self) -> &'static str;
    /// List the scope. `observed_at` is the time the daemon stamps on the result.
    fn poll(&self, observed_at: jiff::Timestamp) -> PollFuture<'_>;
    /// The kinds a complete observation covers, when the config chooses them (Kubernetes):
    /// stored rows of any other kind were watched under an older config and are purged
    /// without being reported deleted. `None`: the source always covers its whole scope.
    fn watched_kinds(&self) -> Option<&[crate::model::Kind]> {
        None
    }
    /// Re-read just what `request` names (one security group, one IAM entity), when this
    /// source holds that kind of resource; `None` otherwise.
    fn reread(
        &self,
        request: &RereadRequest,
        observed_at: jiff::Timestamp,
    ) -> Option<RereadFuture<'_>> {
        let _ = (request, observed_at);
        None
    }
    /// The audit log's recent writes, read up to now (a Kubernetes cluster with
    /// `audit_log`); `None` otherwise.
    fn audit_events(&self) -> Option<AuditFuture<'_>> {
        None
    }
    /// Look up the CloudTrail events naming `resource` (`cloudtrail::lookup_name`) between
    /// `start` and `end`, when this source's scope has `[aws.lookup]`; `None` otherwise.
    fn lookup(
        &self,
        resource: &str,
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> Option<LookupFuture<'_>> {
        let _ = (resource, start, end);
        None
    }
}

/// Every source the config's sections ask for: AWS (polled) and Kubernetes (watched; each
/// change a watch sees is sent on `touched`).
pub async fn build(
    cfg: &Config,
    metrics: &Metrics,
    touched: Option<mpsc::Sender<Touched>>,
) -> Vec<Arc<dyn Source>> {
    let mut sources: Vec<Arc<dyn Source>> = Vec::new();
    if let Some(aws) = &cfg.aws {
        sources.extend(aws.build(metrics).await.into_iter().map(Arc::from));
    }
    if let Some(k) = &cfg.kubernetes {
        sources.extend(k.build(metrics, touched).await.into_iter().map(Arc::from));
    }
    sources
}

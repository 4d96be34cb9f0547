//! The LookupEvents fallback (`[aws.lookup]`): AWS changes no event attributed wait in the
//! store's `lookups` table (written with their change); after each cycle a task of its own
//! looks the due ones up in CloudTrail through their scope's source (`Source::lookup`, on its
//! own token bucket), attributes each to the latest event that explains it
//! (`cloudtrail::best`), and writes an `attributed` ledger entry with the row's removal in one
//! transaction. Not there yet: looked at again after `retry_secs`, until
//! `give_up_after_secs`. A failed call is retried the same way.

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;

use super::Daemon;
use crate::config::AwsLookupConfig;
use crate::metrics::{AwsEventLabels, Metrics};
use crate::model::ChangeRecord;
use crate::sources::Source;
use crate::store::ledger::LedgerAttribution;
use crate::store::{LedgerEvent, StoreHandle, StoredLookup};

/// Without `[aws.lookup]`, how long an unattributed AWS change waits for a late CloudTrail
/// event (one that arrives after a poll decided the change).
pub(super) const LATE_EVENT_WAIT: SignedDuration = SignedDuration::from_hours(1);

/// Lookups one task takes on (at 2 calls per second, about half a minute's worth).
const BATCH: usize = 50;

impl Daemon {
    /// Start a lookup task after a cycle, unless one is still running or none is due.
    pub(super) async fn start_lookups(&mut self) {
        let Some(cfg) = self.cfg.aws.as_ref().and_then(|a| a.lookup.clone()) else {
            // Only the event path waits for late events: changes older than the wait are
            // nobody's to attribute any more.
            if self.pipeline.lookup_delay.is_some() {
                let before = crate::clock::now()
                    .checked_sub(LATE_EVENT_WAIT)
                    .unwrap_or_else(|_| crate::clock::now());
                let store = self.store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.call(move |db| db.lookups_expire(before)).await {
                        tracing::error!(error = %e, "cannot expire changes waiting for a late event");
                    }
                });
            }
            return;
        };
        if self.lookup_task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        // Most cycles have nothing due: ask before copying the records the task needs.
        let now = crate::clock::now();
        match self.store.call(move |db| db.lookups_due(now, 1)).await {
            Ok(due) if due.is_empty() => return,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot read the changes waiting for a CloudTrail lookup");
                return;
            }
        }
        // The window a change's call lies in: since about one interval before its poll.
        let lookback = self.cfg.interval() + Duration::from_secs(300);
        self.lookup_task = Some(tokio::spawn(run(
            self.store.clone(),
            self.sources.clone(),
            self.records.active().to_vec(),
            cfg,
            lookback,
            self.metrics.clone(),
        )));
    }
}

fn count(metrics: &Metrics, outcome: &str) {
    metrics
        .aws_lookups
        .get_or_create(&AwsEventLabels {
            outcome: outcome.into(),
        })
        .inc();
}

fn sd(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

async fn run(
    store: StoreHandle,
    sources: Vec<Arc<dyn Source>>,
    records: Vec<ChangeRecord>,
    cfg: AwsLookupConfig,
    lookback: Duration,
    metrics: Metrics,
) {
    let now = crate::clock::now();
    let due = match store.call(move |db| db.lookups_due(now, BATCH)).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the changes waiting for a CloudTrail lookup");
            return;
        }
    };
    for l in due {
        let outcome = look(&sources, &records, lookback, &l).await;
        let at = crate::clock::now();
        let id = l.drift_id.clone();
        let given_up = at.duration_since(l.observed_at) >= sd(cfg.give_up_after());
        let written = match outcome {
            Look::Found(event) => {
                count(&metrics, "found");
                tracing::info!(drift_id = %id, "change attributed by CloudTrail LookupEvents");
                store.call(move |db| db.lookup_found(at, &id, *event)).await
            }
            Look::Unusable => {
                count(&metrics, "unusable");
                tracing::warn!(drift_id = %id, "no source can look this change up in CloudTrail (its scope is no longer configured with aws.lookup); dropped");
                store.call(move |db| db.lookup_drop(&id)).await
            }
            Look::NotYet | Look::Failed if given_up => {
                count(&metrics, "not_found");
                tracing::info!(drift_id = %id, attempts = l.attempts + 1, "no CloudTrail event explains this change; stopped looking");
                store.call(move |db| db.lookup_drop(&id)).await
            }
            Look::NotYet | Look::Failed => {
                let next = at.checked_add(sd(cfg.retry())).unwrap_or(at);
                store.call(move |db| db.lookup_retry(&id, next)).await
            }
        };
        if let Err(e) = written {
            tracing::error!(drift_id = %l.drift_id, error = %e, "cannot record a CloudTrail lookup");
        }
    }
    if let Ok(n) = store.call(|db| db.lookups_pending()).await {
        metrics.aws_lookups_pending.set(n);
    }
}

enum Look {
    Found(Box<LedgerEvent>),
    NotYet,
    Failed,
    /// Nothing CloudTrail could name, or no source looks this scope up (config changed).
    Unusable,
}

async fn look(
    sources: &[Arc<dyn Source>],
    records: &[ChangeRecord],
    lookback: Duration,
    l: &StoredLookup,
) -> Look {
    let Some(name) = crate::cloudtrail::lookup_name(&l.resource) else {
        return Look::Unusable;
    };
    let start = l
        .observed_at
        .checked_sub(sd(lookback))
        .unwrap_or(l.observed_at);
    // Clocks differ a little: a call stamped just after the poll's time still counts.
    let end = l
        .observed_at
        .checked_add(SignedDuration::from_secs(60))
        .unwrap_or(l.observed_at);
    let scope = &l.resource.key.scope;
    let Some(call) = sources
        .iter()
        .filter(|s| s.scope() == scope)
        .find_map(|s| s.lookup(&name, start, end))
    else {
        return Look::Unusable;
    };
    let events = match call.await {
        Ok(e) => e,
        Err((kind, message)) => {
            tracing::warn!(drift_id = %l.drift_id, kind = kind.as_str(), error = %message, "CloudTrail LookupEvents failed; retrying later");
            return Look::Failed;
        }
    };
    let change = l.change();
    let Some(e) = crate::cloudtrail::best(&events, &change) else {
        return Look::NotYet;
    };
    let attribution = e.attribution("lookup");
    let actor_role = match (&l.record_id, &attribution.person) {
        (Some(r), Some(p)) => records
            .iter()
            .find(|x| &x.id == r)
            .and_then(|x| x.role_of(p)),
        _ => None,
    };
    Look::Found(Box::new(LedgerEvent::Attributed {
        drift_id: l.drift_id.clone(),
        scope: scope.to_string(),
        attribution: LedgerAttribution::from(&attribution),
        actor_role,
    }))
}

//! CloudTrail events from the queue (`[aws.events]`), decided between cycles: each batch is
//! grouped by the resource its events name, each resource re-read once by its source
//! (`Source::reread`: one security group, one IAM entity) and run through the pipeline as an
//! `Outcome::Part`, whose changes are attributed to the events that explain them. A message
//! is deleted once its re-read is committed; one whose re-read failed stays on the queue and
//! comes back after its visibility timeout. Events that name nothing driftwatch watches are
//! deleted; messages that are not CloudTrail events are left to the queue's redrive policy.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use tokio::sync::mpsc;

use super::{Daemon, telemetry};
use crate::cloudtrail::{Target, TrailEvent};
use crate::matcher::RecordIndex;
use crate::model::{Observation, Outcome, Part, Scope};
use crate::sources::RereadRequest;
use crate::sources::aws::events::Delivered;

/// The events of one batch that name one resource.
#[derive(Default)]
struct Group {
    events: Vec<TrailEvent>,
    access_keys: BTreeSet<String>,
    receipts: Vec<String>,
    /// The earliest arrival among them (the decision latency's start).
    first_received: Option<Instant>,
}

impl Daemon {
    /// Attribute the scope's decided but unattributed changes (waiting in the store's
    /// `lookups`) that `events` explain: an `attributed` ledger entry each. Returns the ids of
    /// the events that explained one.
    async fn attribute_late(&self, scope: &Scope, events: &[TrailEvent]) -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        if events.is_empty() || self.pipeline.lookup_delay.is_none() {
            return used;
        }
        let since = crate::clock::now()
            .checked_sub(super::lookup::LATE_EVENT_WAIT)
            .unwrap_or_else(|_| crate::clock::now());
        let s = scope.clone();
        let waiting = match self
            .store
            .call(move |db| db.lookups_of_scope(&s, since))
            .await
        {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the changes waiting for attribution");
                return used;
            }
        };
        for l in waiting {
            let Some(e) = crate::cloudtrail::best(events, &l.change()) else {
                continue;
            };
            let attribution = e.attribution("event");
            let actor_role = match (&l.record_id, &attribution.person) {
                (Some(r), Some(p)) => self
                    .records
                    .active()
                    .iter()
                    .find(|x| &x.id == r)
                    .and_then(|x| x.role_of(p)),
                _ => None,
            };
            let entry = crate::store::LedgerEvent::Attributed {
                drift_id: l.drift_id.clone(),
                scope: scope.to_string(),
                attribution: crate::store::ledger::LedgerAttribution::from(&attribution),
                actor_role,
            };
            let id = l.drift_id.clone();
            let at = crate::clock::now();
            match self
                .store
                .call(move |db| db.lookup_found(at, &id, entry))
                .await
            {
                Ok(()) => {
                    tracing::info!(drift_id = %l.drift_id, event_id = %e.event_id, "a late CloudTrail event attributed a decided change");
                    used.insert(e.event_id.clone());
                }
                Err(err) => {
                    tracing::error!(drift_id = %l.drift_id, error = %err, "cannot record a late event's attribution")
                }
            }
        }
        used
    }

    /// Decide a batch of events (and any batches queued behind it).
    pub(super) async fn on_events(
        &mut self,
        first: Vec<Delivered>,
        more: &mut mpsc::Receiver<Vec<Delivered>>,
        wake: &crate::sinks::Waker,
    ) {
        let Some(queue) = self.events.clone() else {
            return;
        };
        let mut batch = first;
        while let Ok(b) = more.try_recv() {
            batch.extend(b);
        }
        let lag_warn = self
            .cfg
            .aws
            .as_ref()
            .and_then(|a| a.events.as_ref())
            .map(|e| e.lag_warn())
            .unwrap_or(std::time::Duration::from_secs(300));
        let mut handled: Vec<String> = Vec::new();
        let mut groups: BTreeMap<(Scope, Target), Group> = BTreeMap::new();
        for d in batch {
            let event = match d.event {
                Ok(e) => e,
                Err(e) => {
                    queue.count("invalid");
                    tracing::warn!(message_id = %d.message_id, error = %e, "a queue message is not a CloudTrail event; left on the queue for its redrive policy");
                    continue;
                }
            };
            let lag = d.received_at.duration_since(event.event_time);
            let lag_secs = lag.as_secs_f64().max(0.0);
            self.metrics.aws_event_lag.observe(lag_secs);
            if lag_secs > lag_warn.as_secs_f64() {
                queue.count("lagging");
                tracing::warn!(event_id = %event.event_id, event = %event.event_name, lag_secs = lag_secs as u64, "a CloudTrail event arrived late");
            }
            let (Some(target), Some(scope)) = (event.target.clone(), event.scope()) else {
                queue.count("ignored");
                tracing::debug!(event_id = %event.event_id, event = %event.event_name, "event changes nothing driftwatch watches");
                handled.push(d.receipt);
                continue;
            };
            let g = groups.entry((scope, target)).or_default();
            g.access_keys.extend(event.access_key_id.clone());
            g.events.push(event);
            g.receipts.push(d.receipt);
            g.first_received = Some(g.first_received.map_or(d.received, |t| t.min(d.received)));
        }
        let index = RecordIndex::new(self.records.active().to_vec());
        let deadline = self.cfg.sources.poll_deadline();
        let mut uncommitted = Vec::new();
        for ((scope, target), g) in groups {
            let request = RereadRequest {
                target: target.clone(),
                access_keys: g.access_keys.into_iter().collect(),
            };
            let at = crate::clock::now();
            let found = self
                .sources
                .iter()
                .filter(|s| *s.scope() == scope)
                .find_map(|s| Some((s.clone(), s.reread(&request, at)?)));
            let Some((source, read)) = found else {
                for _ in &g.events {
                    queue.count("ignored");
                }
                tracing::debug!(scope = %scope, target = ?target, "no source watches what these events name");
                handled.extend(g.receipts);
                continue;
            };
            let t = Instant::now();
            let read = match tokio::time::timeout(deadline, read).await {
                Ok(r) => r,
                Err(_) => Err((
                    crate::model::FailureKind::Timeout,
                    format!(
                        "the re-read did not finish within sources.poll_deadline_secs ({} s)",
                        deadline.as_secs()
                    ),
                )),
            };
            let (coverage, resources) = match read {
                Ok(x) => x,
                Err((kind, message)) => {
                    for _ in &g.events {
                        queue.count("reread_failed");
                    }
                    tracing::warn!(scope = %scope, target = ?target, kind = kind.as_str(), error = %message, "re-read for a CloudTrail event failed; the event stays on the queue and comes back");
                    continue;
                }
            };
            let outcome = Outcome::Part(Part {
                coverage,
                resources,
            });
            self.record_poll(&outcome, &scope.to_string(), source.service(), t.elapsed());
            let obs = Observation {
                scope: scope.clone(),
                observed_at: at,
                outcome,
            };
            match self
                .pipeline
                .process(
                    obs,
                    &index,
                    None,
                    &super::pipeline::Evidence::Trail(&g.events),
                )
                .await
            {
                Ok(report) => {
                    let mut late = Vec::new();
                    for e in &g.events {
                        let explained = report
                            .changes
                            .iter()
                            .any(|c| crate::cloudtrail::explains(e, &c.change));
                        if explained {
                            queue.count("matched");
                        } else {
                            late.push(e.clone());
                        }
                    }
                    // An event that arrives after a poll decided its change finds nothing new
                    // to re-read; it may still name who made the decided change.
                    let attributed = self.attribute_late(&scope, &late).await;
                    for e in &late {
                        queue.count(if attributed.contains(&e.event_id) {
                            "matched_late"
                        } else {
                            "unmatched"
                        });
                    }
                    if let Some(first) = g.first_received {
                        self.metrics
                            .aws_event_decision
                            .observe(first.elapsed().as_secs_f64());
                    }
                    self.record_changes(&report);
                    telemetry::log_scope(&report);
                    tracing::info!(scope = %scope, target = ?target, events = g.events.len(), changes = report.changes.len(), "CloudTrail events decided");
                    handled.extend(g.receipts);
                }
                Err(e) => {
                    self.count_store_error(e.label());
                    tracing::error!(scope = %scope, error = %e, "cannot store a re-read's result; its events stay on the queue");
                    uncommitted.push(format!("{scope}: {e}"));
                }
            }
        }
        if !uncommitted.is_empty() {
            self.store_health(&uncommitted).await;
        }
        wake.wake();
        if !handled.is_empty() {
            match queue.delete(&handled).await {
                Ok(n) => tracing::debug!(deleted = n, "handled events deleted from the queue"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot delete handled events; they will be delivered again (harmless)")
                }
            }
        }
    }
}

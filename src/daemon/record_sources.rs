//! The daemon's side of the ticket-system loaders: poll the sources that are due, hand their
//! last good sets to the record set, count and log what happened, and raise
//! `records_source_stale` once per outage (ledger entry and alert in one transaction) and
//! its resolve when the source answers again.

use jiff::Timestamp;

use super::Daemon;
use crate::metrics::{RecordSourceErrorLabels, RecordSourceLabels, RecordSourcePollLabels};
use crate::records::remote::{Loader, PollOutcome};
use crate::sinks::alert_for_records_source;
use crate::store::LedgerEvent;

impl Daemon {
    /// Poll the due sources here and now, then apply what they did (one-shot commands: a
    /// `scan` decides against the sets it just fetched).
    pub(super) async fn refresh_record_sources(&mut self) {
        if self.remote.is_empty() {
            return;
        }
        let at = crate::clock::now();
        let outcomes = self.remote.refresh_due(&self.validation, at).await;
        self.apply_record_polls(&outcomes).await;
    }

    /// The running daemon's way: start polling the due sources on a task of their own (one
    /// at a time), so a slow ticket system holds up no cycle.
    pub(super) fn start_record_polls(&mut self) {
        if self.remote_poll.is_some() {
            return;
        }
        self.remote_poll = self.remote.start_due(&self.validation, crate::clock::now());
    }

    /// The polling task ended: put its sources back and apply what they did. A task that
    /// panicked took its sources with it; they are rebuilt from the config (and their cache).
    pub(super) async fn finish_record_polls(
        &mut self,
        joined: Result<Vec<(Loader, PollOutcome)>, tokio::task::JoinError>,
    ) {
        match joined {
            Ok(polled) => {
                let outcomes = self.remote.finish(polled);
                self.apply_record_polls(&outcomes).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "the records-source poll task ended abnormally; rebuilding the sources");
                match super::build::build_remote(&self.cfg) {
                    Ok(remote) => self.remote = remote,
                    Err(e) => tracing::error!(error = %e, "cannot rebuild the records sources"),
                }
            }
        }
    }

    /// Count and log each poll, hand the sources' last good sets to the record set, update
    /// their metrics, and raise or resolve staleness.
    async fn apply_record_polls(&mut self, outcomes: &[PollOutcome]) {
        for o in outcomes {
            self.count_poll(o);
        }
        let now = crate::clock::now();
        let mut stale_events = Vec::new();
        for l in self.remote.loaders_mut() {
            // Id clashes come back with the reload that follows.
            let _ = self.records.set_imported(
                &l.name,
                l.snapshot.records.clone(),
                l.snapshot.rejected.clone(),
            );
            let labels = RecordSourceLabels {
                source: l.name.clone(),
                system: l.system.as_str().into(),
            };
            let m = &self.metrics.record_sources;
            m.records
                .get_or_create(&labels)
                .set(l.snapshot.records.len() as i64);
            m.rejected
                .get_or_create(&labels)
                .set(l.snapshot.rejected.len() as i64);
            m.last_success_age
                .get_or_create(&labels)
                .set(l.age(now).as_secs());
            let polled_ok = outcomes
                .iter()
                .any(|o| o.source == l.name && o.result.is_ok());
            match (&l.stale_episode, polled_ok, l.is_stale(now)) {
                (Some(episode), true, _) => {
                    stale_events.push(recovered(l, episode.clone(), now));
                    l.stale_episode = None;
                }
                (None, false, true) => {
                    let episode = l.snapshot.fetched_at.unwrap_or(l.since).to_string();
                    stale_events.push(stale(l, &episode, now));
                    l.stale_episode = Some(episode);
                }
                _ => {}
            }
            m.stale
                .get_or_create(&labels)
                .set(i64::from(l.stale_episode.is_some()));
        }
        let sinks = self.sinks.borrow().clone();
        for (key, event, alert) in stale_events {
            let items = match alert {
                Some(a) => sinks.outbox_items(&a, None, &[]),
                None => Vec::new(),
            };
            let item = (key, event, items);
            // Written once per key: a restart during the same outage does not alert again.
            if let Err(e) = self
                .store
                .call(move |db| db.record_rejections(now, std::slice::from_ref(&item)))
                .await
            {
                tracing::error!(error = %e, "cannot record a records-source state change");
            }
        }
    }

    fn count_poll(&self, o: &PollOutcome) {
        let m = &self.metrics.record_sources;
        let system = o.system.as_str().to_string();
        let outcome = if o.result.is_ok() { "ok" } else { "failed" };
        m.polls
            .get_or_create(&RecordSourcePollLabels {
                source: o.source.clone(),
                system: system.clone(),
                outcome: outcome.into(),
            })
            .inc();
        match &o.result {
            Ok(s) => {
                m.unchanged
                    .get_or_create(&RecordSourceLabels {
                        source: o.source.clone(),
                        system,
                    })
                    .inc_by(s.unchanged);
                tracing::info!(source = %o.source, system = o.system.as_str(), tickets = s.tickets, records = s.records, rejected = s.rejected, unchanged_answers = s.unchanged, "change records imported");
            }
            Err(e) => {
                m.errors
                    .get_or_create(&RecordSourceErrorLabels {
                        source: o.source.clone(),
                        system,
                        kind: e.kind.as_str().into(),
                    })
                    .inc();
                tracing::warn!(source = %o.source, system = o.system.as_str(), failure = e.kind.as_str(), error = %e.message, "records source poll failed; keeping its last good set");
            }
        }
    }
}

type StateChange = (String, LedgerEvent, Option<crate::sinks::Alert>);

fn stale(l: &Loader, episode: &str, now: Timestamp) -> StateChange {
    let age = l.age(now).as_secs();
    let error = l
        .last_error
        .as_ref()
        .map(|e| e.to_string())
        .unwrap_or_else(|| "no poll has succeeded yet".into());
    tracing::error!(source = %l.name, system = l.system.as_str(), age_secs = age, error = %error, "records source stale: its last good set stays in force");
    let alert = alert_for_records_source(
        &l.name,
        l.system.as_str(),
        episode,
        age,
        &error,
        &now.to_string(),
    );
    let event = LedgerEvent::RecordsSourceStale {
        source: l.name.clone(),
        system: l.system.as_str().into(),
        last_success: l.snapshot.fetched_at.map(|t| t.to_string()),
        age_secs: age,
        error,
    };
    (alert.idempotency_key.clone(), event, Some(alert))
}

fn recovered(l: &Loader, episode: String, now: Timestamp) -> StateChange {
    tracing::info!(source = %l.name, system = l.system.as_str(), "records source answers again");
    // The resolve of the alert raised for this outage (same group, so the same dedup key).
    let firing = alert_for_records_source(&l.name, l.system.as_str(), &episode, 0, "", "");
    let resolved = firing.resolved(&now.to_string(), &format!("{} answers again", l.name));
    let event = LedgerEvent::RecordsSourceRecovered {
        source: l.name.clone(),
        system: l.system.as_str().into(),
        stale_since: episode,
    };
    (resolved.idempotency_key.clone(), event, Some(resolved))
}

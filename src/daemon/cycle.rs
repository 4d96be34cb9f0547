//! One cycle: reload the records, close drifts that records explain, poll the sources
//! concurrently and run each observation through the pipeline as it arrives, then the
//! obligations scheduler. Also the record-file problems a reload finds (ledgered and alerted
//! once each).

use std::collections::BTreeSet;
use std::time::Instant;

use tokio::task::JoinSet;

use super::{CycleReport, Daemon, scheduler, telemetry};
use crate::matcher::RecordIndex;
use crate::model::{FailureKind, Observation, Outcome};
use crate::records::{LoadReport, RecordError};
use crate::sinks::alert_for_record;
use crate::store::LedgerEvent;

/// A cycle between its two halves (`prepare`, `poll_and_decide`).
pub(super) struct Prepared {
    started: Instant,
    index: RecordIndex,
    load: LoadReport,
}

impl Daemon {
    /// Close every open drift that a loaded record names in `retrospective_for`, and resolve
    /// its alerts.
    pub(super) async fn close_retrospectives(&self) {
        let pairs = crate::engine::retrospectives(self.records.active());
        if pairs.is_empty() {
            return;
        }
        let ids: Vec<String> = pairs.iter().map(|(d, _)| d.clone()).collect();
        let found = self
            .store
            .call(move |db| {
                let open = db.open_drifts_among(&ids)?;
                let open_ids: Vec<String> = open.iter().map(|(d, _)| d.clone()).collect();
                Ok((open, db.triggers_for(&open_ids)?))
            })
            .await;
        let (open, triggers) = match found {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "cannot look up drifts named by retrospective records");
                return;
            }
        };
        if open.is_empty() {
            return;
        }
        let at = crate::clock::now();
        let record_for = |d: &str| {
            pairs
                .iter()
                .find(|(x, _)| x == d)
                .map(|(_, r)| r.clone())
                .unwrap_or_default()
        };
        let events: Vec<LedgerEvent> = open
            .iter()
            .map(|(d, scope)| LedgerEvent::DriftClosed {
                drift_id: d.clone(),
                scope: scope.clone(),
                reason: crate::store::ledger::CloseReason::RetrospectiveFiled,
                by: record_for(d),
            })
            .collect();
        let outbox = crate::sinks::resolve_items(&triggers, &at.to_string(), |d| {
            format!("retrospective record {} filed", record_for(d))
        });
        for (d, _) in &open {
            tracing::info!(drift_id = %d, record = %record_for(d), "drift closed by a retrospective record");
        }
        if let Err(e) = self
            .store
            .call(move |db| db.commit_events(at, &events, &outbox))
            .await
        {
            tracing::error!(error = %e, "cannot close drifts named by retrospective records");
        }
    }

    /// Re-read the records directory, log what was rejected, and ledger/alert new problems.
    pub(super) async fn reload_records(&mut self) -> LoadReport {
        let load = self.records.reload(&self.cfg.records.dir, &self.validation);
        for e in &load.errors {
            tracing::error!(file = %e.file, line = e.line, field = %e.field, error = %e.message, "change record rejected");
        }
        for f in &load.kept_previous {
            tracing::warn!(file = %f, "keeping the last valid version of this record file");
        }
        for w in &load.warnings {
            tracing::warn!(file = %w.file, line = w.line, plan = %w.plan, address = %w.address, warning = %w.message, "planned change not reconciled");
        }
        self.metrics
            .record_plan_warnings
            .set(load.warnings.len() as i64);
        self.metrics.record_reloads.inc();
        self.metrics.records_active.set(load.records_active as i64);
        self.metrics.record_errors.set(load.errors.len() as i64);
        self.health.set_records_loaded();
        self.report_rejections(&load.errors, crate::clock::now())
            .await;
        load
    }

    /// One poll of every source, each result committed as it arrives.
    pub async fn cycle(&mut self) -> CycleReport {
        self.cycle_for(None).await
    }

    /// A cycle over the sources of `only` (every source when `None`): the same records,
    /// retrospectives, pipeline and obligations as a full cycle.
    pub(super) async fn cycle_for(&mut self, only: Option<&BTreeSet<String>>) -> CycleReport {
        let prepared = self.prepare(only).await;
        self.poll_and_decide(prepared, only).await
    }

    /// The first half of a cycle: the records in force and the drifts they explain. The run
    /// loop tells systemd it is ready after this half of the first cycle.
    pub(super) async fn prepare(&mut self, only: Option<&BTreeSet<String>>) -> Prepared {
        let started = Instant::now();
        // A watch-driven cycle decides against the records in force: record files are
        // reloaded on their own change (notify) and ticket systems on their own timer, so it
        // neither re-reads the directory nor waits on a ticket system.
        let load = if only.is_none() {
            if !self.background_remote {
                self.refresh_record_sources().await;
            }
            self.reload_records().await
        } else {
            LoadReport {
                records_active: self.records.active().len(),
                ..Default::default()
            }
        };
        if self.leading {
            self.close_retrospectives().await;
        }
        Prepared {
            started,
            index: RecordIndex::new(self.records.active().to_vec()),
            load,
        }
    }

    /// The second half: poll, decide and commit each scope, then the obligations.
    pub(super) async fn poll_and_decide(
        &mut self,
        prepared: Prepared,
        only: Option<&BTreeSet<String>>,
    ) -> CycleReport {
        let Prepared {
            started,
            index,
            load,
        } = prepared;
        self.refresh_owned().await;
        let at = crate::clock::now();
        let mut polls = JoinSet::new();
        for s in &self.sources {
            let name = s.scope().to_string();
            if only.is_some_and(|o| !o.contains(&name))
                || self.owned.as_ref().is_some_and(|o| !o.contains(&name))
            {
                continue;
            }
            let s = s.clone();
            let deadline = self.cfg.sources.poll_deadline();
            polls.spawn(async move {
                let t = Instant::now();
                let obs = match tokio::time::timeout(deadline, s.poll(at)).await {
                    Ok(obs) => obs,
                    // Dropping the poll cancels it; the scope's stored state stays.
                    Err(_) => Observation {
                        scope: s.scope().clone(),
                        observed_at: at,
                        outcome: Outcome::Failed {
                            kind: FailureKind::Timeout,
                            message: format!(
                                "the poll did not finish within sources.poll_deadline_secs ({} s)",
                                deadline.as_secs()
                            ),
                        },
                    },
                };
                let watched = s.watched_kinds().map(<[_]>::to_vec);
                // The audit log read after the poll holds the writes the poll saw.
                let audit = match s.audit_events() {
                    Some(read) => read.await,
                    None => Vec::new(),
                };
                (obs, s.service(), t.elapsed(), watched, audit)
            });
        }
        let mut report = CycleReport {
            record_errors: load.errors,
            records_active: load.records_active,
            ..Default::default()
        };
        // Scopes whose results the store could not commit (not source task failures).
        let mut uncommitted = Vec::new();
        while let Some(joined) = polls.join_next().await {
            self.beat();
            let (obs, service, took, watched, audit) = match joined {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "a source task ended abnormally");
                    report.store_errors.push(format!("source task: {e}"));
                    continue;
                }
            };
            let scope = obs.scope.to_string();
            self.record_poll(&obs.outcome, &scope, service, took);
            let cluster = match &obs.scope {
                crate::model::Scope::Kubernetes { cluster } => cluster.clone(),
                crate::model::Scope::Aws { .. } => "".into(),
            };
            let evidence = if audit.is_empty() {
                super::pipeline::Evidence::None
            } else {
                super::pipeline::Evidence::Audit {
                    cluster: &cluster,
                    events: &audit,
                }
            };
            match self.pipeline.process(obs, &index, watched, &evidence).await {
                Ok(r) => {
                    self.record_scope(&r, service);
                    telemetry::log_scope(&r);
                    report.scopes.push(r);
                }
                Err(super::pipeline::PipelineError::Store(e)) if e.is_refused_by_peer() => {
                    // A successor leads (the loop ends after this cycle), or the scope moved
                    // to another member: nothing was written and nobody is paged.
                    self.fenced(&e);
                    self.count_store_error(e.label());
                    tracing::warn!(scope = %scope, error = %e, "cycle not committed: another replica has it");
                }
                Err(e) => {
                    self.count_store_error(e.label());
                    tracing::error!(scope = %scope, error = %e, "cannot store the cycle's result");
                    report.store_errors.push(format!("{scope}: {e}"));
                    uncommitted.push(format!("{scope}: {e}"));
                }
            }
        }
        report.scopes.sort_by(|a, b| a.scope.cmp(&b.scope));
        self.store_health(&uncommitted).await;
        let sinks = self.sinks.borrow().clone();
        if !self.leading {
            // A sharded member that does not lead: the leader runs the shared work.
            self.metrics.cycles.inc();
            self.metrics
                .cycle_duration
                .observe(started.elapsed().as_secs_f64());
            return report;
        }
        match scheduler::run(
            &self.store,
            &sinks,
            self.records.active(),
            &self.cfg.obligations.schedule(),
            crate::clock::now(),
        )
        .await
        {
            Ok(n) => report.obligation_steps = n,
            Err(e) => {
                self.count_store_error(e.label());
                tracing::error!(error = %e, "obligations scheduler failed");
            }
        }
        if let Err(e) = super::refresh::run(&self.store, &sinks, crate::clock::now()).await {
            self.count_store_error(e.label());
            tracing::error!(error = %e, "cannot queue the refresh of firing alerts");
        }
        self.update_obligation_gauges().await;
        self.metrics.cycles.inc();
        self.metrics
            .cycle_duration
            .observe(started.elapsed().as_secs_f64());
        if let Ok((n, _)) = self.store.call(|db| db.ledger_head()).await {
            self.metrics.ledger_entries.set(n as i64);
        }
        report
    }

    /// A cycle whose results could not be committed makes the daemon not ready, and the
    /// first one of an outage is told to on-call straight away: the outbox lives in the store
    /// that is failing. A cycle that commits everything ends the outage.
    pub(super) async fn store_health(&self, uncommitted: &[String]) {
        let first = uncommitted.first().cloned();
        if !self.health.set_store_error(first.clone()) {
            return;
        }
        let Some(error) = first else { return };
        let at = crate::clock::now().to_string();
        let alert = crate::sinks::alert_for_system(
            crate::model::EventKind::StoreFailed,
            crate::model::Severity::Critical,
            "",
            format!("store_failed:{at}"),
            "driftwatch cannot record changes: its store fails".into(),
            format!(
                "{} scope(s) could not be committed, first: {error}; changes there are neither recorded nor alerted until the store works again",
                uncommitted.len()
            ),
            &at,
        );
        let sinks = self.sinks.borrow().clone();
        let told = sinks.deliver_now(&alert).await;
        tracing::error!(error = %error, sinks_told = told, "the store failed a cycle; told on-call directly");
    }

    /// Ledger and alert each distinct record-file error once.
    async fn report_rejections(&self, errors: &[RecordError], at: jiff::Timestamp) {
        if errors.is_empty() {
            return;
        }
        let at_s = at.to_string();
        let sinks = self.sinks.borrow().clone();
        let items: Vec<_> = errors
            .iter()
            .map(|e| {
                let alert = alert_for_record(e, &at_s);
                let outbox = sinks.outbox_items(&alert, Some(e.file.clone()), &[]);
                let event = LedgerEvent::RecordRejected {
                    file: e.file.clone(),
                    line: e.line,
                    field: e.field.clone(),
                    message: e.message.clone(),
                    rule: Some(e.rule),
                };
                (alert.idempotency_key.clone(), event, outbox)
            })
            .collect();
        match self
            .store
            .call(move |db| db.record_rejections(at, &items))
            .await
        {
            Ok(n) if n > 0 => tracing::warn!(
                new_rejections = n,
                "change-record problems written to the ledger and alerted"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot record change-record rejections"),
        }
    }
}

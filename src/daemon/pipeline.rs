//! One observation through the pipeline, in three steps: **load** everything the scope's
//! cycle needs in one store call (`store::ScopeLoad`), **decide** with the pure engine and
//! the pure plan (`plan.rs`), **commit** the plan's `CycleWrite` in one transaction. The one
//! other store call, only on a cycle with changes, checks that each change's drift id is
//! free (`Change::make_id_unique`).

use jiff::SignedDuration;

use super::plan::{self, InconsistentEvaluation, PlanSettings, ScopeFacts, ScopeReport};
use std::collections::HashSet;

use crate::cloudtrail::TrailEvent;
use crate::engine::{self, Evaluation, OpenDrift};
use crate::matcher::{MatchSettings, RecordIndex};
use crate::model::{Kind, Observation};
use crate::rules::RuleSettings;
use crate::sinks::Sinks;
use crate::store::{StoreError, StoreHandle};

/// What can prove who made a cycle's changes.
#[derive(Clone, Copy)]
pub enum Evidence<'a> {
    None,
    /// The CloudTrail events that asked for a targeted re-read.
    Trail(&'a [TrailEvent]),
    /// A Kubernetes cluster's recent audit events.
    Audit {
        cluster: &'a str,
        events: &'a [crate::k8s_audit::AuditEvent],
    },
}

impl Evidence<'_> {
    fn attribution(&self, c: &crate::model::Change) -> Option<crate::model::Attribution> {
        match self {
            Evidence::None => None,
            Evidence::Trail(events) => {
                crate::cloudtrail::best(events, c).map(|e| e.attribution("event"))
            }
            Evidence::Audit { cluster, events } => {
                crate::k8s_audit::best(events, cluster, c).map(|e| e.attribution())
            }
        }
    }
}

pub struct Pipeline {
    pub store: StoreHandle,
    pub sinks: Sinks,
    pub rules: RuleSettings,
    pub matching: MatchSettings,
    pub blind_after_failures: u32,
    pub delete_guard: crate::engine::DeleteGuard,
    /// With `[aws.lookup]`: when to look up an unattributed AWS change.
    pub lookup_delay: Option<SignedDuration>,
    /// A repeat alert for the same resource and event within this period is held back.
    pub quiet_period: SignedDuration,
}

/// Why a scope's cycle could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Inconsistent(#[from] InconsistentEvaluation),
}

impl PipelineError {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            PipelineError::Store(e) => e.label(),
            PipelineError::Inconsistent(_) => "inconsistent",
        }
    }
}

impl Pipeline {
    /// `watched`: the kinds the source covers when its config chooses them
    /// (`Source::watched_kinds`); stored rows of other kinds are purged, not deleted.
    /// `evidence`: what can name who made each change (the CloudTrail events that asked
    /// for a targeted re-read, a cluster's audit log); each change is attributed to the
    /// latest event that explains it.
    pub async fn process(
        &self,
        obs: Observation,
        index: &RecordIndex,
        watched: Option<Vec<Kind>>,
        evidence: &Evidence<'_>,
    ) -> Result<ScopeReport, PipelineError> {
        // Load: one store call. The observation travels to the store thread (moved, not
        // copied) so the rows it needs are chosen there, and comes back with the load.
        let quiet_since = obs
            .observed_at
            .checked_sub(self.quiet_period)
            .unwrap_or(obs.observed_at);
        let (load, obs) = self
            .store
            .call(move |db| {
                let load = db.load_scope(&obs.scope, &obs, quiet_since, watched.as_deref())?;
                Ok((load, obs))
            })
            .await?;
        // Decide: pure.
        let open: Vec<OpenDrift> = load
            .open
            .iter()
            .map(|d| OpenDrift {
                drift_id: d.drift_id.clone(),
                kind: d.kind.clone(),
                resource_id: d.resource_id.clone(),
                before_hash: d.before_hash.clone(),
            })
            .collect();
        let settings = engine::Settings {
            rules: &self.rules,
            matching: &self.matching,
            records: index,
            open: &open,
        };
        let mut evaluation = engine::evaluate(load.previous.as_ref(), &obs, &settings);
        if let Evaluation::Compared { changes } = &mut evaluation {
            for ev in changes.iter_mut() {
                if let Some(a) = evidence.attribution(&ev.change) {
                    ev.change.attribute(a);
                }
            }
        }
        // Only when something changed: give each change a drift id no other drift holds (a
        // short id can clash with an old one, and the same change seen twice within a second
        // has the same fingerprint), so no alert is lost to the outbox's unique key.
        if let Evaluation::Compared { changes } = &mut evaluation
            && !changes.is_empty()
        {
            let mut batch = std::mem::take(changes);
            *changes = self
                .store
                .call(move |db| {
                    let mut given = HashSet::new();
                    for ev in &mut batch {
                        ev.change.make_id_unique(|id| -> Result<bool, StoreError> {
                            Ok(given.contains(id) || db.drift_exists(id)?)
                        })?;
                        given.insert(ev.change.drift_id().0);
                    }
                    Ok(batch)
                })
                .await?;
        }
        let facts = ScopeFacts {
            state: &load.state,
            stored: load.previous.as_ref().map_or(0, |p| p.len()),
            open: &load.open,
            triggers: &load.triggers,
            recent: &load.recent,
            unwatched: &load.unwatched,
        };
        let plan_settings = PlanSettings {
            sinks: &self.sinks,
            records: index,
            blind_after_failures: self.blind_after_failures,
            delete_guard: self.delete_guard,
            lookup_delay: self.lookup_delay,
        };
        let (mut write, report) = plan::plan(&plan_settings, &facts, obs, evaluation)?;
        write.read_revision = load.revision;
        drop(load);
        // Commit: one transaction.
        self.store.call(move |db| db.commit_cycle(&write)).await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::config::Config;
    use crate::model::aws::fixtures::{res, rule, scope};
    use crate::model::{Outcome, Resource};
    use crate::store::LedgerEvent;

    fn obs(resources: Vec<Resource>, at: Timestamp) -> Observation {
        Observation {
            scope: scope(),
            observed_at: at,
            outcome: Outcome::Complete(resources),
        }
    }

    /// A port opened, closed and opened again within one second: the reopening has the same
    /// fingerprint as the first opening, yet it gets its own drift and its own alert (the
    /// outbox's unique key used to drop it, and the drift row was overwritten).
    #[tokio::test]
    async fn the_same_change_twice_in_one_second_is_two_drifts_and_two_alerts() {
        for (db, _keep) in crate::store::sql::testing::fresh_stores() {
            eprintln!("engine: {}", db.engine_name());
            let (store, thread) = StoreHandle::spawn(db).expect("store thread");
            let cfg = Config::parse(
            std::path::Path::new("/x/driftwatch.toml"),
            "[aws]\nregions = [\"eu-west-1\"]\n[[aws.accounts]]\nid = \"123456789012\"\n[[sinks]]\ntype = \"log\"\n",
        )
        .expect("config");
            let pipeline = Pipeline {
                store: store.clone(),
                sinks: Sinks::from_config(&cfg.sinks, &cfg.alerting).expect("sinks"),
                rules: RuleSettings::default(),
                matching: MatchSettings::default(),
                blind_after_failures: 3,
                delete_guard: crate::engine::DeleteGuard::default(),
                lookup_delay: None,
                quiet_period: SignedDuration::from_secs(900),
            };
            let index = RecordIndex::new(Vec::new());
            let t0: Timestamp = "2026-11-21T10:00:00Z".parse().expect("ts");
            let t: Timestamp = "2026-11-21T10:05:00Z".parse().expect("ts");
            let port = res(rule("sg-1", "tcp", 22, 22, "0.0.0.0/0"));
            for (resources, at) in [
                (Vec::new(), t0),
                (vec![port.clone()], t),
                (Vec::new(), t),
                (vec![port.clone()], t),
            ] {
                pipeline
                    .process(obs(resources, at), &index, None, &Evidence::None)
                    .await
                    .expect("cycle");
            }
            let (entries, outbox) = store
                .call(|db| Ok((db.ledger_entries()?, db.outbox_entries(true)?)))
                .await
                .expect("read");
            let ids: Vec<String> = entries
                .iter()
                .filter_map(|e| match e.event() {
                    Ok(LedgerEvent::Change(c)) => Some(c.drift_id),
                    _ => None,
                })
                .collect();
            assert_eq!(ids.len(), 3, "{ids:?}");
            assert_ne!(
                ids[0], ids[2],
                "the reopening is a drift of its own: {ids:?}"
            );
            let keys: Vec<&str> = outbox.iter().map(|r| r.idempotency_key.as_str()).collect();
            assert!(
                keys.contains(&format!("{}:unmatched", ids[0]).as_str())
                    && keys.contains(&format!("{}:unmatched", ids[2]).as_str()),
                "both openings alerted: {keys:?}"
            );
            let open = store
                .call(|db| db.all_open_drifts())
                .await
                .expect("open drifts");
            assert_eq!(
                open.iter().map(|d| d.drift_id.as_str()).collect::<Vec<_>>(),
                [ids[2].as_str()],
                "the first drift stays closed (reverted); the reopening is open"
            );
            drop((pipeline, store));
            let _ = thread.join();
        }
    }
}

//! One observation through the pipeline, in three steps: **load** everything the scope's
//! cycle needs in one store call (`store::ScopeLoad`), **decide** with the pure engine and
//! the pure plan (`plan.rs`), **commit** the plan's `CycleWrite` in one transaction. Nothing
//! between the load and the commit touches the store.

use jiff::SignedDuration;

use super::plan::{self, InconsistentEvaluation, PlanSettings, ScopeFacts, ScopeReport};
use crate::engine::{self, OpenDrift};
use crate::matcher::{MatchSettings, RecordIndex};
use crate::model::Observation;
use crate::rules::RuleSettings;
use crate::sinks::Sinks;
use crate::store::{StoreError, StoreHandle};

pub struct Pipeline {
    pub store: StoreHandle,
    pub sinks: Sinks,
    pub rules: RuleSettings,
    pub matching: MatchSettings,
    pub blind_after_failures: u32,
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
    pub async fn process(
        &self,
        obs: Observation,
        index: &RecordIndex,
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
                let load = db.load_scope(&obs.scope, &obs, quiet_since)?;
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
        let evaluation = engine::evaluate(load.previous.as_ref(), &obs, &settings);
        let facts = ScopeFacts {
            state: &load.state,
            open: &load.open,
            triggers: &load.triggers,
            recent: &load.recent,
        };
        let plan_settings = PlanSettings {
            sinks: &self.sinks,
            records: index,
            blind_after_failures: self.blind_after_failures,
        };
        let (write, report) = plan::plan(&plan_settings, &facts, obs, evaluation)?;
        drop(load);
        // Commit: one transaction.
        self.store.call(move |db| db.commit_cycle(&write)).await?;
        Ok(report)
    }
}

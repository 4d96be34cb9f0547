//! Pure evaluation of one observation: diff against the last complete state, risk rules on
//! each change, and the matcher's decision. No IO, no clock, no async.

use crate::diff::diff;
use crate::matcher::{MatchSettings, RecordIndex, decide};
use crate::model::{Change, Decision, Finding, Observation, Outcome, Resource, Severity};
use crate::rules::{RuleSettings, assess_change, assess_resource, max_severity};

/// A change with what the rules and the matcher made of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluated {
    pub change: Change,
    pub findings: Vec<Finding>,
    pub severity: Severity,
    pub decision: Decision,
}

/// An exposure that already existed when a scope was first seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Exposure {
    pub resource: Resource,
    pub findings: Vec<Finding>,
}

/// What one observation means for its scope.
#[derive(Clone, Debug, PartialEq)]
pub enum Evaluation {
    /// First complete observation of the scope: it becomes the baseline, no alerts.
    Baseline {
        resources: Vec<Resource>,
        exposures: Vec<Exposure>,
    },
    /// A complete observation compared with the stored state.
    Compared {
        resources: Vec<Resource>,
        changes: Vec<Evaluated>,
    },
    /// The listing failed; the stored state stays as it is.
    Failed,
}

pub struct Settings<'a> {
    pub rules: &'a RuleSettings,
    pub matching: &'a MatchSettings,
    pub records: &'a RecordIndex,
}

/// Evaluate one observation. `previous` is `None` when the scope has no baseline yet.
pub fn evaluate(
    previous: Option<&[Resource]>,
    observation: &Observation,
    s: &Settings<'_>,
) -> Evaluation {
    let resources = match &observation.outcome {
        Outcome::Failed { .. } => return Evaluation::Failed,
        Outcome::Complete(r) => r,
    };
    let Some(previous) = previous else {
        let exposures = resources
            .iter()
            .filter_map(|r| {
                let findings = assess_resource(r, s.rules);
                (!findings.is_empty()).then(|| Exposure {
                    resource: r.clone(),
                    findings,
                })
            })
            .collect();
        return Evaluation::Baseline {
            resources: resources.clone(),
            exposures,
        };
    };
    let changes = diff(previous, observation)
        .into_iter()
        .map(|change| {
            let findings = assess_change(&change, s.rules);
            let severity = max_severity(&findings);
            let decision = decide(&change, s.records, s.matching);
            Evaluated {
                change,
                findings,
                severity,
                decision,
            }
        })
        .collect();
    Evaluation::Compared {
        resources: resources.clone(),
        changes,
    }
}

//! A record's plan becomes its scope: each planned resource one scope entry (with the
//! record's account, region or cluster for the plan), appended after the entries written by
//! hand. What the plan changes that driftwatch does not reconcile comes back as warnings.

use std::fmt;

use super::{PlanError, parse, planned};
use crate::model::record::ScopeEntry;
use crate::model::{ChangeRecord, Provider};
use crate::records::{RecordError, RejectionRule};

/// A planned change driftwatch will not reconcile, named for `records check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanWarning {
    /// The record file and its `plan` line.
    pub file: String,
    pub line: u32,
    pub plan: String,
    pub address: String,
    pub message: String,
}

impl fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: plan {}: {}: {}",
            self.file, self.line, self.plan, self.address, self.message
        )
    }
}

/// What attaching a plan added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attached {
    /// Scope entries made from the plan.
    pub entries: usize,
    pub warnings: Vec<PlanWarning>,
}

/// Parse `text` (the file `plan_file` names) and append its planned resources to the
/// record's scope. A plan that cannot be read or mapped rejects the record, naming the
/// record's `plan` line and, inside the plan, the JSON path or resource address.
pub fn attach(
    record: &mut ChangeRecord,
    plan_file: &str,
    text: &str,
) -> Result<Attached, RecordError> {
    let Some(plan_ref) = record.plan.clone() else {
        return Ok(Attached::default());
    };
    let reject = |message: String| RecordError {
        file: record.origin.file.clone(),
        line: plan_ref.line,
        field: "plan".into(),
        message: format!("{plan_file}: {message}"),
        rule: RejectionRule::InvalidPlan,
    };
    let plan = parse(text).map_err(|e: PlanError| reject(e.to_string()))?;
    let warn = |address: &str, message: String| PlanWarning {
        file: record.origin.file.clone(),
        line: plan_ref.line,
        plan: plan_file.to_string(),
        address: address.to_string(),
        message,
    };
    let mut out = Attached::default();
    for (address, resource_type) in &plan.unmapped {
        out.warnings.push(warn(
            address,
            format!(
                "{resource_type} is not a type driftwatch reconciles: its change is neither matched nor checked"
            ),
        ));
    }
    let mut entries = Vec::new();
    for c in &plan.changes {
        let resources = planned(c).map_err(|e| reject(e.to_string()))?;
        if resources.is_empty() {
            out.warnings.push(warn(
                &c.address,
                "changes nothing driftwatch observes".into(),
            ));
        }
        for p in resources {
            let provider = p.kind.provider();
            let (account, region, cluster) = match provider {
                Provider::Aws => (plan_ref.account.clone(), plan_ref.region.clone(), None),
                Provider::Kubernetes => (None, None, plan_ref.cluster.clone()),
            };
            entries.push(ScopeEntry {
                provider,
                account,
                region,
                cluster,
                kind: Some(p.kind.clone()),
                target: None,
                actions: Vec::new(),
                matches: Vec::new(),
                planned: Some(Box::new(p)),
            });
        }
    }
    if entries.is_empty() && record.scope.is_empty() {
        out.warnings.push(warn(
            "(plan)",
            "plans no change driftwatch observes, and the record has no other scope: it covers nothing".into(),
        ));
    }
    out.entries = entries.len();
    record.scope.extend(entries);
    Ok(out)
}

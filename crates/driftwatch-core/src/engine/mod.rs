//! Pure evaluation of one observation: diff against the last complete state, risk rules on
//! each change, and the matcher's decision. No IO, no clock, no async.

mod guard;

pub use guard::{DeleteGuard, GuardVerdict};

use crate::diff::{Previous, diff};
use crate::matcher::{MatchSettings, RecordIndex, decide};
use crate::model::{
    Change, ChangeRecord, Decision, Finding, Kind, Observation, Outcome, Provider, Resource,
    Severity,
};
use crate::rules::{RuleSettings, ScopeContext, assess_change, assess_resource, max_severity};

/// A change with what the rules and the matcher made of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluated {
    pub change: Change,
    pub findings: Vec<Finding>,
    pub severity: Severity,
    pub decision: Decision,
    /// Open drifts this change undoes: the resource is back to their pre-change state.
    pub reverts: Vec<String>,
}

/// An unmatched or violating drift that is still open, in observation order.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenDrift {
    pub drift_id: String,
    pub kind: Kind,
    pub resource_id: String,
    /// Content hash before the drift (`None`: the drift created the resource).
    pub before_hash: Option<String>,
}

/// The open drifts a change undoes. When the resource is back to the state before an open
/// drift, that drift and every later open drift on the same resource are reverted.
pub fn reverted_by(change: &Change, open: &[OpenDrift]) -> Vec<String> {
    let now = change.after.as_ref().map(|r| r.hash().to_string());
    let on_key: Vec<&OpenDrift> = open
        .iter()
        .filter(|d| d.kind == change.key.kind && d.resource_id == change.key.id)
        .collect();
    match on_key.iter().position(|d| d.before_hash == now) {
        Some(first) => on_key[first..].iter().map(|d| d.drift_id.clone()).collect(),
        None => Vec::new(),
    }
}

/// A new access key for a user whose deletion a record in force plans (offboarding): the
/// records are the signal, so this rule lives here rather than in `rules`.
fn departing_user_key(change: &Change, s: &Settings<'_>) -> Option<Finding> {
    if change.key.kind != Kind::IamAccessKey || change.action != crate::model::Action::Create {
        return None;
    }
    let user = change
        .after
        .as_ref()?
        .attributes()
        .get("user")?
        .as_str()?
        .to_string();
    let key = crate::model::ResourceKey {
        scope: change.key.scope.clone(),
        kind: Kind::IamUser,
        id: user.clone(),
    };
    let removal = Change::new(
        key.clone(),
        crate::model::Action::Delete,
        Some(Resource::new(
            key,
            user.clone(),
            vec![user.clone()],
            Default::default(),
            serde_json::Value::Null,
        )),
        None,
        Vec::new(),
        change.observed_at,
    );
    match decide(&removal, s.records, s.matching) {
        Decision::Matched { record_id, .. } => Some(Finding {
            rule: crate::model::RuleId::IamKeyForDepartingUser,
            severity: Severity::High,
            message: format!("new access key for {user}, whose removal {record_id} plans"),
        }),
        _ => None,
    }
}

/// (drift id, record id) for every drift a loaded record names in `retrospective_for`.
pub fn retrospectives(records: &[ChangeRecord]) -> Vec<(String, String)> {
    records
        .iter()
        .flat_map(|r| {
            r.retrospective_for
                .iter()
                .map(move |d| (d.clone(), r.id.clone()))
        })
        .collect()
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
    /// First complete observation of the scope: it becomes the baseline (the observation's
    /// resources), no alerts.
    Baseline { exposures: Vec<Exposure> },
    /// A complete observation compared with the stored state.
    Compared { changes: Vec<Evaluated> },
    /// The listing failed; the stored state stays as it is.
    Failed,
}

pub struct Settings<'a> {
    pub rules: &'a RuleSettings,
    pub matching: &'a MatchSettings,
    pub records: &'a RecordIndex,
    /// The scope's open drifts, for revert detection.
    pub open: &'a [OpenDrift],
}

/// Evaluate one observation. `previous` is `None` when the scope has no baseline yet; it holds
/// the full rows of the keys `diff::rows_needed` names (none in steady state).
pub fn evaluate(
    previous: Option<&Previous>,
    observation: &Observation,
    s: &Settings<'_>,
) -> Evaluation {
    let resources = match &observation.outcome {
        Outcome::Failed { .. } => return Evaluation::Failed,
        Outcome::Complete(r) => r,
        // A targeted re-read of a scope without a baseline changes nothing: the first
        // complete poll makes the baseline. Only AWS sources read parts, whose rules need
        // no scope context.
        Outcome::Part(_) if previous.is_none() => {
            return Evaluation::Compared {
                changes: Vec::new(),
            };
        }
        Outcome::Part(p) => &p.resources,
    };
    // Only Kubernetes rules look across the scope (which roles grant everything, which
    // namespaces have a NetworkPolicy); AWS scopes skip the pass.
    let ctx = match observation.scope.provider() {
        Provider::Kubernetes => ScopeContext::from_resources(resources),
        Provider::Aws => ScopeContext::default(),
    };
    let Some(previous) = previous else {
        let exposures = resources
            .iter()
            .filter_map(|r| {
                let findings = assess_resource(r, s.rules, &ctx);
                (!findings.is_empty()).then(|| Exposure {
                    resource: r.clone(),
                    findings,
                })
            })
            .collect();
        return Evaluation::Baseline { exposures };
    };
    let changes = diff(previous, observation)
        .into_iter()
        .map(|change| {
            let mut findings = assess_change(&change, s.rules, &ctx);
            findings.extend(departing_user_key(&change, s));
            let decision = decide(&change, s.records, s.matching);
            let reverts = reverted_by(&change, s.open);
            let severity = max_severity(&findings);
            Evaluated {
                change,
                findings,
                severity,
                decision,
                reverts,
            }
        })
        .collect();
    Evaluation::Compared { changes }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::model::aws::fixtures::{res, rule, scope};

    fn diff(before: &[Resource], obs: &Observation) -> Vec<Change> {
        crate::diff::diff(&Previous::from_resources(before.to_vec()), obs)
    }

    fn obs(resources: Vec<Resource>, at: &str) -> Observation {
        Observation {
            scope: scope(),
            observed_at: at.parse::<Timestamp>().expect("ts"),
            outcome: Outcome::Complete(resources),
        }
    }

    fn open(c: &Change) -> OpenDrift {
        OpenDrift {
            drift_id: c.drift_id().0,
            kind: c.key.kind.clone(),
            resource_id: c.key.id.clone(),
            before_hash: c.before.as_ref().map(|r| r.hash().to_string()),
        }
    }

    #[test]
    fn removing_an_unplanned_rule_reverts_its_drift() {
        let ssh = res(rule("sg-1", "tcp", 22, 22, "0.0.0.0/0"));
        let opened = diff(&[], &obs(vec![ssh.clone()], "2026-11-21T10:00:00Z"));
        let closed = diff(&[ssh], &obs(vec![], "2026-11-21T10:05:00Z"));
        assert_eq!(
            reverted_by(&closed[0], &[open(&opened[0])]),
            vec![opened[0].drift_id().0]
        );
    }

    #[test]
    fn restoring_a_description_reverts_the_modify_and_later_drifts() {
        let a = rule("sg-1", "tcp", 22, 22, "10.0.0.0/8");
        let mut b = a.clone();
        b.description = Some("temp".into());
        let mut c = a.clone();
        c.description = Some("temp 2".into());
        let d1 = diff(
            &[res(a.clone())],
            &obs(vec![res(b.clone())], "2026-11-21T10:00:00Z"),
        );
        let d2 = diff(
            &[res(b)],
            &obs(vec![res(c.clone())], "2026-11-21T10:01:00Z"),
        );
        let back = diff(&[res(c)], &obs(vec![res(a)], "2026-11-21T10:02:00Z"));
        let open = [open(&d1[0]), open(&d2[0])];
        assert_eq!(
            reverted_by(&back[0], &open),
            vec![d1[0].drift_id().0, d2[0].drift_id().0]
        );
    }

    #[test]
    fn a_different_state_reverts_nothing() {
        let a = res(rule("sg-1", "tcp", 22, 22, "0.0.0.0/0"));
        let opened = diff(&[], &obs(vec![a.clone()], "2026-11-21T10:00:00Z"));
        let mut r = rule("sg-1", "tcp", 22, 22, "0.0.0.0/0");
        r.description = Some("still open".into());
        let modified = diff(&[a], &obs(vec![res(r)], "2026-11-21T10:05:00Z"));
        assert!(reverted_by(&modified[0], &[open(&opened[0])]).is_empty());
    }
}

#[cfg(test)]
mod offboarding_tests {
    use std::collections::BTreeMap;

    use jiff::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::matcher::{MatchSettings, RecordIndex};
    use crate::model::{ResourceKey, RuleId, Scope};
    use crate::records::{ValidationSettings, parse_file};
    use crate::rules::RuleSettings;

    fn key_resource(user: &str) -> Resource {
        Resource::new(
            ResourceKey {
                scope: Scope::Aws {
                    account: "123456789012".into(),
                    region: "global".into(),
                },
                kind: Kind::IamAccessKey,
                id: "AKIA1".into(),
            },
            format!("access key AKIA1 of {user}"),
            vec![user.into()],
            BTreeMap::new(),
            json!({ "user": user, "status": "Active" }),
        )
    }

    #[test]
    fn a_key_for_a_user_being_offboarded_is_flagged() {
        let records = parse_file(
            "r.yaml",
            "id: CHG-OFF-1\ntitle: Offboard bob\ntype: normal\npurpose: leaving\nimpact: bob only\nresources: it\nrequested_by: hr@example.com\napproved_by: [{ name: sec@example.com, at: 2026-11-01T00:00:00Z }]\nwindow: { start: 2026-11-28T00:00:00Z, end: 2026-11-30T00:00:00Z }\nscope: [{ provider: aws, kind: aws.iam.user, target: bob, actions: [delete] }]\n",
            &ValidationSettings::default(),
        )
        .expect("record");
        let index = RecordIndex::new(records);
        let settings = Settings {
            rules: &RuleSettings::default(),
            matching: &MatchSettings::default(),
            records: &index,
            open: &[],
        };
        let at: Timestamp = "2026-11-29T10:00:00Z".parse().expect("ts");
        let obs = |r: Resource| Observation {
            scope: r.key.scope.clone(),
            observed_at: at,
            outcome: Outcome::Complete(vec![r]),
        };
        for (user, want) in [
            (
                "bob",
                vec![RuleId::IamNewAccessKey, RuleId::IamKeyForDepartingUser],
            ),
            ("alice", vec![RuleId::IamNewAccessKey]),
        ] {
            let Evaluation::Compared { changes, .. } = evaluate(
                Some(&Previous::default()),
                &obs(key_resource(user)),
                &settings,
            ) else {
                panic!("compared")
            };
            let got: Vec<RuleId> = changes[0].findings.iter().map(|f| f.rule).collect();
            assert_eq!(got, want, "user {user}");
        }
    }
}

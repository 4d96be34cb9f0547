//! Data-driven diff cases: each names its previous state, its observation and the expected
//! (action, key) list.

use jiff::Timestamp;

use super::*;
use crate::model::aws::fixtures::{res, rule, scope};
use crate::model::{FailureKind, Observation};

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn complete(resources: Vec<Resource>) -> Observation {
    Observation {
        scope: scope(),
        observed_at: at("2026-11-21T10:00:00Z"),
        outcome: Outcome::Complete(resources),
    }
}

/// The diff against a previous state held in full.
fn diff(before: &[Resource], obs: &Observation) -> Vec<Change> {
    super::diff(&Previous::from_resources(before.to_vec()), obs)
}

fn summary(changes: &[Change]) -> Vec<(Action, String)> {
    changes
        .iter()
        .map(|c| (c.action, c.key.id.clone()))
        .collect()
}

#[test]
fn table() {
    let ssh = || rule("sg-1", "tcp", 22, 22, "10.0.0.0/8");
    let web = || rule("sg-1", "tcp", 443, 443, "0.0.0.0/0");
    let mut ssh_described = ssh();
    ssh_described.description = Some("office VPN".into());
    struct Case {
        name: &'static str,
        before: Vec<Resource>,
        after: Vec<Resource>,
        expect: Vec<(Action, &'static str)>,
    }
    let cases = vec![
        Case {
            name: "no change",
            before: vec![res(ssh()), res(web())],
            after: vec![res(ssh()), res(web())],
            expect: vec![],
        },
        Case {
            name: "reordered rules are not a change",
            before: vec![res(ssh()), res(web())],
            after: vec![res(web()), res(ssh())],
            expect: vec![],
        },
        Case {
            name: "a new rule is a create",
            before: vec![res(ssh())],
            after: vec![res(ssh()), res(web())],
            expect: vec![(Action::Create, "sg-1/ingress/tcp/443/ipv4:0.0.0.0/0")],
        },
        Case {
            name: "a removed rule is a delete",
            before: vec![res(ssh()), res(web())],
            after: vec![res(web())],
            expect: vec![(Action::Delete, "sg-1/ingress/tcp/22/ipv4:10.0.0.0/8")],
        },
        Case {
            name: "a key listed twice counts once",
            before: vec![res(ssh())],
            after: vec![res(ssh()), res(web()), res(ssh())],
            expect: vec![(Action::Create, "sg-1/ingress/tcp/443/ipv4:0.0.0.0/0")],
        },
        Case {
            name: "a description-only change is a modify",
            before: vec![res(ssh())],
            after: vec![res(ssh_described.clone())],
            expect: vec![(Action::Modify, "sg-1/ingress/tcp/22/ipv4:10.0.0.0/8")],
        },
    ];
    for case in cases {
        let got = diff(&case.before, &complete(case.after));
        let want: Vec<(Action, String)> = case
            .expect
            .iter()
            .map(|(a, k)| (*a, k.to_string()))
            .collect();
        assert_eq!(summary(&got), want, "case: {}", case.name);
    }
}

#[test]
fn description_change_names_the_field() {
    let before = rule("sg-1", "tcp", 22, 22, "10.0.0.0/8");
    let mut after = before.clone();
    after.description = Some("office VPN".into());
    let got = diff(&[res(before)], &complete(vec![res(after)]));
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].fields,
        vec![FieldChange {
            path: "attributes.description".into(),
            before: None,
            after: Some(serde_json::json!("office VPN")),
        }]
    );
}

#[test]
fn failed_observation_never_yields_deletes() {
    let obs = Observation {
        scope: scope(),
        observed_at: at("2026-11-21T10:00:00Z"),
        outcome: Outcome::Failed {
            kind: FailureKind::Throttled,
            message: "Throttling: rate exceeded".into(),
        },
    };
    assert!(diff(&[res(rule("sg-1", "tcp", 22, 22, "10.0.0.0/8"))], &obs).is_empty());
}

#[test]
fn drift_ids_are_short_and_stable() {
    let obs = complete(vec![res(rule("sg-1", "tcp", 22, 22, "0.0.0.0/0"))]);
    let a = diff(&[], &obs);
    let b = diff(&[], &obs);
    assert_eq!(a[0].drift_id(), b[0].drift_id());
    let id = a[0].drift_id().0;
    assert!(id.starts_with("d-") && id.len() == 10, "{id}");
}

/// The steady-state path: digests of everything, full rows only for what `rows_needed` names.
/// It gives the same changes, field by field, as the diff against the whole state.
#[test]
fn digests_and_needed_rows_give_the_same_changes_as_the_full_state() {
    let rules: Vec<_> = (0..50)
        .map(|i| {
            rule(
                &format!("sg-{}", i % 7),
                "tcp",
                1000 + i,
                1000 + i,
                "10.0.0.0/8",
            )
        })
        .collect();
    let before: Vec<Resource> = rules.iter().cloned().map(res).collect();
    let mut after_rules = rules.clone();
    after_rules[3].description = Some("changed".into());
    after_rules.remove(10);
    after_rules.push(rule("sg-9", "tcp", 22, 22, "0.0.0.0/0"));
    after_rules.reverse();
    let obs = complete(after_rules.into_iter().map(res).collect());
    // Digests in the store's order (any order: `Previous` sorts them).
    let mut digests: Vec<Digest> = before.iter().map(Resource::digest).collect();
    digests.reverse();
    let needed = rows_needed(&digests, &obs);
    assert_eq!(needed.len(), 2, "{needed:?}");
    let rows: Vec<Resource> = before
        .iter()
        .filter(|r| needed.contains(&(r.key.kind.clone(), r.key.id.clone())))
        .cloned()
        .collect();
    let slim = super::diff(&Previous::new(digests, rows), &obs);
    let full = diff(&before, &obs);
    assert_eq!(summary(&slim).len(), 3);
    assert_eq!(slim, full);
}

#[test]
fn steady_state_needs_no_rows() {
    let before: Vec<Resource> = (0..20)
        .map(|i| res(rule("sg-1", "tcp", i, i, "10.0.0.0/8")))
        .collect();
    let digests: Vec<Digest> = before.iter().map(Resource::digest).collect();
    assert!(rows_needed(&digests, &complete(before.clone())).is_empty());
    assert!(super::diff(&Previous::new(digests, Vec::new()), &complete(before)).is_empty());
}

/// A row the caller failed to load still yields its change (from the digest), never nothing.
#[test]
fn a_missing_row_still_reports_the_change() {
    let ssh = res(rule("sg-1", "tcp", 22, 22, "10.0.0.0/8"));
    let got = super::diff(
        &Previous::new(vec![ssh.digest()], Vec::new()),
        &complete(vec![]),
    );
    assert_eq!(summary(&got), vec![(Action::Delete, ssh.key.id.clone())]);
    assert_eq!(got[0].before.as_ref().map(Resource::hash), Some(ssh.hash()));
}

fn part(resources: Vec<Resource>, coverage: crate::model::Coverage) -> Observation {
    Observation {
        scope: scope(),
        observed_at: at("2026-11-21T10:00:00Z"),
        outcome: Outcome::Part(crate::model::Part {
            coverage,
            resources,
        }),
    }
}

fn group_coverage(g: &str) -> crate::model::Coverage {
    use crate::model::{IdMatch, Kind};
    crate::model::Coverage::new()
        .with(Kind::Ec2SecurityGroup, IdMatch::Exact(g.into()))
        .with(Kind::Ec2SecurityGroupRule, IdMatch::Prefix(format!("{g}/")))
}

/// A targeted re-read of one group compares that group only: the other group's rules are
/// neither deleted nor compared, and the group's own missing rule is deleted.
#[test]
fn a_targeted_read_answers_for_its_coverage_only() {
    let other = res(rule("sg-2", "tcp", 5432, 5432, "10.0.0.0/8"));
    let kept = res(rule("sg-1", "tcp", 443, 443, "0.0.0.0/0"));
    let gone = res(rule("sg-1", "tcp", 80, 80, "0.0.0.0/0"));
    let opened = res(rule("sg-1", "tcp", 22, 22, "0.0.0.0/0"));
    // A resource outside the coverage in the answer is not the read's to report.
    let stray = res(rule("sg-3", "tcp", 25, 25, "0.0.0.0/0"));
    let before = [other.clone(), kept.clone(), gone.clone()];
    let obs = part(
        vec![kept.clone(), opened.clone(), stray],
        group_coverage("sg-1"),
    );
    let changes = diff(&before, &obs);
    assert_eq!(
        summary(&changes),
        vec![
            (Action::Create, opened.key.id.clone()),
            (Action::Delete, gone.key.id.clone()),
        ]
    );
    let digests: Vec<Digest> = before.iter().map(Resource::digest).collect();
    assert_eq!(
        rows_needed(&digests, &obs),
        vec![(gone.key.kind.clone(), gone.key.id.clone())],
        "only the covered delete needs its row"
    );
    // A read of a group that is gone (empty answer) deletes just that group's rules.
    let changes = diff(&before, &part(Vec::new(), group_coverage("sg-2")));
    assert_eq!(
        summary(&changes),
        vec![(Action::Delete, other.key.id.clone())]
    );
}

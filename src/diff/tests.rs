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

//! Data-driven matcher cases: records written as users write them (YAML), changes built from
//! rule fixtures, expected decision kind and reason.

use jiff::Timestamp;

use super::*;
use crate::model::aws::fixtures::{res, rule, scope};
use crate::model::{Action, DecisionKind};
use crate::records::{ValidationSettings, parse_file};

const RECORDS: &str = r#"
- id: CHG-1
  title: SSH from the VPN to the training cluster
  type: normal
  purpose: p
  impact: i
  resources: r
  requested_by: alice@example.com
  approved_by: [{ name: bob@example.com, at: 2026-11-20T10:00:00Z }]
  window: { start: 2026-11-21T09:00:00Z, end: 2026-11-21T18:00:00Z }
  scope:
    - provider: aws
      account: "123456789012"
      kind: aws.ec2.security_group_rule
      target: training-*
      actions: [create]
      match: { port: 22, peer: 10.0.0.0/8 }
- id: STD-1
  title: Inference API ingress edits
  type: standard
  requested_by: platform@example.com
  approved_by: [{ name: carol@example.com, at: 2026-01-01T00:00:00Z }]
  scope:
    - provider: aws
      kind: aws.ec2.security_group_rule
      target: inference-*
- id: EMG-1
  title: Break glass on Jupyter
  type: emergency
  purpose: p
  impact: i
  resources: r
  requested_by: dave@example.com
  window: { start: 2026-11-22T01:00:00Z, end: 2026-11-22T03:00:00Z }
  scope: [{ provider: aws, target: jupyter-* }]
- id: LATE-1
  title: Approved after the fact
  type: normal
  purpose: p
  impact: i
  resources: r
  requested_by: erin@example.com
  approved_by: [{ name: frank@example.com, at: 2026-11-25T00:00:00Z }]
  window: { start: 2026-11-24T00:00:00Z, end: 2026-11-26T00:00:00Z }
  scope: [{ provider: aws, target: mlflow-* }]
"#;

fn change(group_name: &str, port: i32, cidr: &str, at: &str) -> Change {
    let mut r = rule("sg-1", "tcp", port, port, cidr);
    r.group_name = group_name.into();
    let after = res(r);
    Change::new(
        after.key.clone(),
        Action::Create,
        None,
        Some(after),
        vec![],
        at.parse::<Timestamp>().expect("ts"),
    )
}

#[test]
fn table() {
    let records =
        parse_file("records.yaml", RECORDS, &ValidationSettings::default()).expect("valid");
    let index = RecordIndex::new(records);
    let settings = MatchSettings::default();
    let cases: Vec<(&str, Change, DecisionKind, Option<&str>)> = vec![
        (
            "in window, in scope",
            change(
                "training-cluster",
                22,
                "10.8.0.0/16",
                "2026-11-21T10:00:00Z",
            ),
            DecisionKind::Matched,
            Some("CHG-1"),
        ),
        (
            "within grace after the window",
            change(
                "training-cluster",
                22,
                "10.8.0.0/16",
                "2026-11-21T18:05:00Z",
            ),
            DecisionKind::Matched,
            Some("CHG-1"),
        ),
        (
            "after window plus grace",
            change(
                "training-cluster",
                22,
                "10.8.0.0/16",
                "2026-11-21T19:00:00Z",
            ),
            DecisionKind::Violation,
            Some("CHG-1"),
        ),
        (
            "peer outside the match",
            change("training-cluster", 22, "0.0.0.0/0", "2026-11-21T10:00:00Z"),
            DecisionKind::Unmatched,
            None,
        ),
        (
            "port outside the match",
            change(
                "training-cluster",
                8888,
                "10.8.0.0/16",
                "2026-11-21T10:00:00Z",
            ),
            DecisionKind::Unmatched,
            None,
        ),
        (
            "target glob does not match",
            change("billing", 22, "10.8.0.0/16", "2026-11-21T10:00:00Z"),
            DecisionKind::Unmatched,
            None,
        ),
        (
            "standard record, any time",
            change("inference-api", 443, "0.0.0.0/0", "2026-06-01T00:00:00Z"),
            DecisionKind::Matched,
            Some("STD-1"),
        ),
        (
            "standard record approved after the change",
            change("inference-api", 443, "0.0.0.0/0", "2025-12-01T00:00:00Z"),
            DecisionKind::Violation,
            Some("STD-1"),
        ),
        (
            "emergency record matches provisionally",
            change("jupyter-lab", 8888, "0.0.0.0/0", "2026-11-22T02:00:00Z"),
            DecisionKind::Matched,
            Some("EMG-1"),
        ),
        (
            "approved after the change",
            change("mlflow-server", 5000, "10.0.0.0/8", "2026-11-24T12:00:00Z"),
            DecisionKind::Violation,
            Some("LATE-1"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, c, kind, record) in cases {
        let d = decide(&c, &index, &settings);
        if d.kind() != kind || d.record_id() != record {
            failures.push(format!("{name}: want {kind:?} {record:?}, got {d:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn reasons_say_why() {
    let index = RecordIndex::new(
        parse_file("r.yaml", RECORDS, &ValidationSettings::default()).expect("valid"),
    );
    let s = MatchSettings::default();
    let d = decide(
        &change(
            "training-cluster",
            22,
            "10.8.0.0/16",
            "2026-11-21T10:00:00Z",
        ),
        &index,
        &s,
    );
    assert_eq!(
        d.reason(),
        "CHG-1 scope[0] (aws, account 123456789012, aws.ec2.security_group_rule, target training-*, actions create, peer 10.0.0.0/8, port 22) covers create aws.ec2.security_group_rule training-cluster ingress tcp/22 from 10.8.0.0/16; observed 2026-11-21T10:00:00Z inside its window 2026-11-21T09:00:00Z .. 2026-11-21T18:00:00Z"
    );
    let d = decide(
        &change(
            "training-cluster",
            22,
            "10.8.0.0/16",
            "2026-11-21T19:00:00Z",
        ),
        &index,
        &s,
    );
    assert!(d.reason().ends_with("but observed at 2026-11-21T19:00:00Z, outside its window 2026-11-21T09:00:00Z .. 2026-11-21T18:00:00Z (grace 10 min)"), "{}", d.reason());
    let d = decide(
        &change("billing", 22, "0.0.0.0/0", "2026-11-21T10:00:00Z"),
        &index,
        &s,
    );
    assert_eq!(
        d.reason(),
        "no active change record covers create aws.ec2.security_group_rule billing ingress tcp/22 from 0.0.0.0/0 in aws:123456789012:eu-west-1 (4 records checked)"
    );
    let _ = scope();
}

#[test]
fn other_account_is_not_covered() {
    let index = RecordIndex::new(
        parse_file("r.yaml", RECORDS, &ValidationSettings::default()).expect("valid"),
    );
    let mut c = change(
        "training-cluster",
        22,
        "10.8.0.0/16",
        "2026-11-21T10:00:00Z",
    );
    c.key.scope = crate::model::Scope::Aws {
        account: "999999999999".into(),
        region: "eu-west-1".into(),
    };
    assert_eq!(
        decide(&c, &index, &MatchSettings::default()).kind(),
        DecisionKind::Unmatched
    );
}

#[test]
fn the_index_narrows_candidates_to_matching_targets() {
    let yaml: String = (0..2000)
        .map(|i| {
            format!("- id: STD-{i}\n  title: t\n  type: standard\n  requested_by: a@x\n  approved_by: [{{ name: b@x, at: 2026-01-01T00:00:00Z }}]\n  scope: [{{ provider: aws, kind: aws.ec2.security_group_rule, target: svc-{i}-* }}]\n")
        })
        .collect::<String>()
        + "- id: ANY-AWS\n  title: t\n  type: standard\n  requested_by: a@x\n  approved_by: [{ name: b@x, at: 2026-01-01T00:00:00Z }]\n  scope: [{ provider: aws }]\n";
    let index = RecordIndex::new(
        parse_file("r.yaml", &yaml, &ValidationSettings::default()).expect("valid"),
    );
    let c = change("svc-1234-api", 443, "10.0.0.0/8", "2026-11-21T10:00:00Z");
    let ids: Vec<&str> = index
        .candidates(&c)
        .into_iter()
        .map(|e| index.records[e.record].id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec!["STD-1234", "ANY-AWS"],
        "only the matching glob and the untargeted entry"
    );
    assert_eq!(
        decide(&c, &index, &MatchSettings::default()).record_id(),
        Some("STD-1234")
    );
}

mod plans {
    //! A record whose scope is a plan (the security-group fixture plan): changes equal to a
    //! planned after-state match naming the plan's address; other values or another action
    //! on a planned resource are violations, beyond plan; the record's window still applies.
    use super::*;
    use crate::records::plan::attach;

    const RECORD: &str = r#"
id: CHG-77
title: PR 77, web tier security groups
type: normal
purpose: p
impact: i
resources: r
requested_by: alice@example.com
approved_by: [{ name: bob@example.com, at: 2026-11-20T10:00:00Z }]
window: { start: 2026-11-21T09:00:00Z, end: 2026-11-21T18:00:00Z }
plan: { path: plans/pr-77.json, account: "123456789012" }
"#;

    fn index() -> RecordIndex {
        let mut r = parse_file("chg-77.yaml", RECORD, &ValidationSettings::default())
            .expect("valid")
            .remove(0);
        let text = include_str!("../../tests/fixtures/plans/security-groups.json");
        let attached = attach(&mut r, "plans/pr-77.json", text).expect("attached");
        assert_eq!(attached.entries, 10);
        assert!(attached.warnings.is_empty(), "{:?}", attached.warnings);
        RecordIndex::new(vec![r])
    }

    fn rule_change(
        group: (&str, &str),
        action: Action,
        port: i32,
        cidr: &str,
        description: Option<&str>,
        at: &str,
    ) -> Change {
        let mut r = rule(group.0, "tcp", port, port, cidr);
        r.group_name = group.1.into();
        r.description = description.map(String::from);
        let res = res(r);
        let (before, after) = match action {
            Action::Delete => (Some(res.clone()), None),
            _ => (None, Some(res.clone())),
        };
        Change::new(
            res.key.clone(),
            action,
            before,
            after,
            vec![],
            at.parse::<Timestamp>().expect("ts"),
        )
    }

    #[test]
    fn planned_versus_applied() {
        let index = index();
        let settings = MatchSettings::default();
        let t = "2026-11-21T10:00:00Z";
        let vpn = ("sg-0a1b2c3d", "app");
        let web = ("sg-0new", "web");
        let cases = [
            (
                "the planned rule, as planned",
                rule_change(vpn, Action::Create, 22, "10.8.0.0/16", Some("VPN"), t),
                DecisionKind::Matched,
                "(plan aws_security_group_rule.ssh_vpn) covers create",
            ),
            (
                "the planned rule, another description",
                rule_change(vpn, Action::Create, 22, "10.8.0.0/16", Some("temp"), t),
                DecisionKind::Violation,
                r#"applied beyond plan aws_security_group_rule.ssh_vpn: description planned "VPN", observed "temp""#,
            ),
            (
                "a planned create observed as a delete",
                rule_change(vpn, Action::Delete, 22, "10.8.0.0/16", Some("VPN"), t),
                DecisionKind::Violation,
                "the plan would create it, it was observed deleted",
            ),
            (
                "the planned delete",
                rule_change(vpn, Action::Delete, 80, "0.0.0.0/0", None, t),
                DecisionKind::Matched,
                "(plan aws_vpc_security_group_ingress_rule.http) covers delete",
            ),
            (
                "a rule of the new group, as planned",
                rule_change(web, Action::Create, 443, "0.0.0.0/0", Some("https"), t),
                DecisionKind::Matched,
                "(plan aws_security_group.web) covers create",
            ),
            (
                "a rule of the new group the plan does not have",
                rule_change(web, Action::Create, 22, "0.0.0.0/0", None, t),
                DecisionKind::Violation,
                "applied beyond plan aws_security_group.web: ",
            ),
            (
                "a rule whose group apply decides, by its shape",
                rule_change(
                    ("sg-0lb", "lb"),
                    Action::Create,
                    8080,
                    "10.9.0.0/16",
                    None,
                    t,
                ),
                DecisionKind::Matched,
                "(plan aws_security_group_rule.web_from_lb)",
            ),
            (
                "another shape is not that rule",
                rule_change(
                    ("sg-0lb", "lb"),
                    Action::Create,
                    8081,
                    "10.9.0.0/16",
                    None,
                    t,
                ),
                DecisionKind::Unmatched,
                "no active change record covers",
            ),
            (
                "as planned, but after the window",
                rule_change(
                    vpn,
                    Action::Create,
                    22,
                    "10.8.0.0/16",
                    Some("VPN"),
                    "2026-11-22T10:00:00Z",
                ),
                DecisionKind::Violation,
                "outside its window",
            ),
        ];
        for (what, change, want, reason) in cases {
            let d = decide(&change, &index, &settings);
            assert_eq!(d.kind(), want, "{what}: {}", d.reason());
            assert!(
                d.reason().contains(reason),
                "{what}: `{}` lacks `{reason}`",
                d.reason()
            );
        }
        let beyond = decide(
            &rule_change(vpn, Action::Create, 22, "10.8.0.0/16", Some("temp"), t),
            &index,
            &settings,
        );
        assert!(
            matches!(
                beyond,
                Decision::Violation {
                    violation: ViolationKind::BeyondPlan,
                    ..
                }
            ),
            "{beyond:?}"
        );
    }
}

#[test]
fn a_difference_in_a_list_names_the_items_one_side_has() {
    let cases = [
        (
            r#"[1,2]"#,
            serde_json::json!([1, 3]),
            "f: observed also 3; planned but missing 2",
        ),
        (
            r#"[1,2]"#,
            serde_json::json!([2, 1]),
            "f: the same items in another order",
        ),
        (
            r#""VPN""#,
            serde_json::json!("temp"),
            r#"f planned "VPN", observed "temp""#,
        ),
    ];
    for (planned, observed, want) in cases {
        let text = canonical_json(&observed);
        assert_eq!(describe_difference("f", planned, &observed, &text), want);
    }
}

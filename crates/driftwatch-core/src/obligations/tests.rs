//! Table tests with an injected clock for every transition.

use std::collections::HashSet;

use super::*;
use crate::records::{ValidationSettings, parse_file};

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn drift(
    id: &str,
    at: &str,
    needs_retro: bool,
    record: Option<&str>,
    revert_by: Option<&str>,
) -> DriftState {
    DriftState {
        drift_id: id.into(),
        scope: "aws:123456789012:us-east-1".into(),
        kind: "aws.ec2.security_group_rule".into(),
        resource_name: "jupyter ingress tcp/22 from 0.0.0.0/0".into(),
        observed_at: t(at),
        severity: Severity::Critical,
        record_id: record.map(String::from),
        revert_by: revert_by.map(t),
        needs_retrospective: needs_retro,
    }
}

fn records(yaml: &str) -> Vec<ChangeRecord> {
    parse_file("r.yaml", yaml, &ValidationSettings::default()).expect("valid records")
}

/// (obligation id, step) pairs due at `now` given what was sent.
fn due(obs: &[Obligation], now: &str, sent: &HashSet<(String, String)>) -> Vec<String> {
    obs.iter()
        .flat_map(|o| {
            o.due_steps(t(now), sent)
                .into_iter()
                .map(move |s| format!("{} {}", o.id, s.as_str()))
        })
        .collect()
}

#[test]
fn retrospective_reminders_then_overdue() {
    let d = [drift(
        "d-00000001",
        "2026-11-29T00:00:00Z",
        true,
        None,
        None,
    )];
    let obs = open_obligations(&d, &[], &Schedule::default(), t("2026-11-29T00:00:00Z"));
    assert_eq!(obs.len(), 1);
    assert_eq!(obs[0].due_at, t("2026-11-30T00:00:00Z"));
    let none = HashSet::new();
    let cases = [
        ("2026-11-29T03:59:59Z", vec![]),
        (
            "2026-11-29T04:00:00Z",
            vec!["retrospective:d-00000001 reminder-1"],
        ),
        (
            "2026-11-29T12:00:00Z",
            vec![
                "retrospective:d-00000001 reminder-1",
                "retrospective:d-00000001 reminder-2",
            ],
        ),
        (
            "2026-11-30T00:00:00Z",
            vec![
                "retrospective:d-00000001 reminder-1",
                "retrospective:d-00000001 reminder-2",
                "retrospective:d-00000001 reminder-3",
                "retrospective:d-00000001 overdue",
            ],
        ),
    ];
    for (now, want) in cases {
        assert_eq!(due(&obs, now, &none), want, "at {now}");
    }
    // What was sent is not due again.
    let sent: HashSet<(String, String)> = [(
        "retrospective:d-00000001".to_string(),
        "reminder-1".to_string(),
    )]
    .into();
    assert_eq!(
        due(&obs, "2026-11-29T04:30:00Z", &sent),
        Vec::<String>::new()
    );
    assert!(!obs[0].is_overdue(t("2026-11-29T23:59:59Z")));
    assert!(obs[0].is_overdue(t("2026-11-30T00:00:00Z")));
    assert_eq!(
        obs[0]
            .next_step(t("2026-11-29T05:00:00Z"))
            .map(|(s, _)| s.clone()),
        Some(Step::Reminder(2))
    );
}

#[test]
fn closed_by_a_retrospective_record() {
    let d = [drift(
        "d-00000001",
        "2026-11-29T00:00:00Z",
        true,
        None,
        None,
    )];
    let r = records(
        "id: RETRO-1\ntitle: t\ntype: standard\nrequested_by: a@x\napproved_by: [{ name: b@x, at: 2026-11-29T01:00:00Z }]\nscope: [{ provider: aws }]\nretrospective_for: [d-00000001]\n",
    );
    assert!(open_obligations(&d, &r, &Schedule::default(), t("2026-11-29T05:00:00Z")).is_empty());
}

#[test]
fn configurable_schedule() {
    let s = Schedule {
        deadline: SignedDuration::from_secs(10),
        reminders: vec![SignedDuration::from_secs(3), SignedDuration::from_secs(30)],
    };
    let d = [drift(
        "d-00000001",
        "2026-11-29T00:00:00Z",
        true,
        None,
        None,
    )];
    let obs = open_obligations(&d, &[], &s, t("2026-11-29T00:00:00Z"));
    let steps: Vec<String> = obs[0]
        .steps
        .iter()
        .map(|(st, at)| format!("{} {at}", st.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            "reminder-1 2026-11-29T00:00:03Z",
            "overdue 2026-11-29T00:00:10Z"
        ],
        "reminders after the deadline are dropped"
    );
}

#[test]
fn revert_by_missed_and_extended() {
    let d = [drift(
        "d-00000002",
        "2026-11-29T09:00:00Z",
        false,
        Some("CHG-1"),
        Some("2026-11-29T18:00:00Z"),
    )];
    let s = Schedule::default();
    let obs = open_obligations(&d, &[], &s, t("2026-11-29T10:00:00Z"));
    assert_eq!(obs.len(), 1);
    assert_eq!(obs[0].kind, Kind::Revert);
    let none = HashSet::new();
    assert!(
        due(&obs, "2026-11-29T17:59:59Z", &none).is_empty(),
        "met if reverted before"
    );
    assert_eq!(
        due(&obs, "2026-11-29T18:00:00Z", &none),
        vec!["revert:d-00000002 due"]
    );
    assert_eq!(
        due(&obs, "2026-11-29T22:00:00Z", &none),
        vec!["revert:d-00000002 due", "revert:d-00000002 reminder-1"]
    );
    // A newer version of CHG-1 moves revert_by later: nothing is due yet.
    let r = records(
        "id: CHG-1\ntitle: t\ntype: normal\npurpose: p\nimpact: i\nresources: r\nrequested_by: a@x\napproved_by: [{ name: b@x, at: 2026-11-28T00:00:00Z }]\nwindow: { start: 2026-11-29T08:00:00Z, end: 2026-11-29T20:00:00Z }\nrevert_by: 2026-11-30T12:00:00Z\nscope: [{ provider: aws }]\n",
    );
    let obs = open_obligations(&d, &r, &s, t("2026-11-29T22:00:00Z"));
    assert!(due(&obs, "2026-11-29T22:00:00Z", &none).is_empty());
    assert_eq!(obs[0].due_at, t("2026-11-30T12:00:00Z"));
}

const SESSION: &str = "id: BG-20261129-0900\ntitle: break glass\ntype: emergency\npurpose: incident\nimpact: prod\nresources: on-call\nrequested_by: dave@x\nwindow: { start: 2026-11-29T09:00:00Z, end: 2026-11-29T11:00:00Z }\nscope: [{ provider: aws }]\n";

#[test]
fn break_glass_session_expiry_and_retrospective() {
    let s = Schedule::default();
    let none = HashSet::new();
    let r = records(SESSION);
    assert!(
        open_obligations(&[], &r, &s, t("2026-11-29T08:00:00Z")).is_empty(),
        "not open yet"
    );
    let obs = open_obligations(&[], &r, &s, t("2026-11-29T10:00:00Z"));
    let ids: Vec<&str> = obs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "session_open:BG-20261129-0900",
            "session_retrospective:BG-20261129-0900"
        ]
    );
    assert!(due(&obs, "2026-11-29T10:59:59Z", &none).is_empty());
    assert_eq!(
        due(&obs, "2026-11-29T11:00:00Z", &none),
        vec!["session_open:BG-20261129-0900 due"]
    );
    assert_eq!(
        due(&obs, "2026-11-30T09:00:00Z", &none),
        vec![
            "session_open:BG-20261129-0900 due",
            "session_open:BG-20261129-0900 reminder-1",
            "session_open:BG-20261129-0900 reminder-2",
            "session_open:BG-20261129-0900 reminder-3",
            "session_retrospective:BG-20261129-0900 reminder-1",
            "session_retrospective:BG-20261129-0900 reminder-2",
            "session_retrospective:BG-20261129-0900 reminder-3",
            "session_retrospective:BG-20261129-0900 overdue",
        ]
    );
    // Closed, and its retrospective filed: nothing left.
    let closed = SESSION.replace("scope:", "closed_at: 2026-11-29T10:30:00Z\nscope:");
    let retro = "id: RETRO-BG\ntitle: t\ntype: standard\nrequested_by: a@x\napproved_by: [{ name: b@x, at: 2026-11-29T12:00:00Z }]\nscope: [{ provider: aws }]\nretrospective_for: [BG-20261129-0900]\n";
    let r = records(&format!("- {}\n- {}", indent(&closed), indent(retro)));
    assert!(open_obligations(&[], &r, &s, t("2026-11-30T09:00:00Z")).is_empty());
}

fn indent(yaml: &str) -> String {
    yaml.trim_end().replace('\n', "\n  ")
}

#[test]
fn the_skeleton_is_a_valid_record_once_filled() {
    let d = drift("d-0123abcd", "2026-11-29T00:00:00Z", true, None, None);
    let text = retrospective_skeleton(&d, t("2026-11-29T06:00:00Z"));
    let recs = records(&text);
    assert_eq!(recs[0].retrospective_for, vec!["d-0123abcd".to_string()]);
    assert_eq!(recs[0].id, "RETRO-0123abcd");
}

//! Each change's retrospective status, the records and sessions that used them, totals.

use std::collections::HashMap;

use super::*;

#[test]
fn retrospective_status_of_each_change() {
    let mut reverting = change(
        "d-00000007",
        "2026-06-03T05:00:00Z",
        DecisionKind::Unmatched,
        None,
    );
    reverting["reverts"] = serde_json::json!(["d-00000003"]);
    let entries = chain(vec![
        chg(2, "2026-06-03T00:00:00Z", Matched, Some("CHG-1")),
        chg(3, "2026-06-03T00:00:00Z", Unmatched, None),
        chg(4, "2026-06-03T00:00:00Z", Violation, Some("CHG-1")),
        chg(5, "2026-06-03T00:00:00Z", Unmatched, None),
        chg(6, "2026-06-03T00:00:00Z", Unmatched, None),
        ("2026-06-03T05:00:00Z", reverting),
        chg(8, "2026-06-30T00:00:00Z", Unmatched, None),
    ]);
    let records = records();
    let mut i = inputs(entries, &records);
    i.drifts = HashMap::from([
        (
            "d-00000003".to_string(),
            closed("2026-06-03T06:00:00Z", "reverted", Some("d-00000007")),
        ),
        (
            "d-00000004".to_string(),
            closed(
                "2026-06-04T00:00:00Z",
                "retrospective_filed",
                Some("RETRO-1"),
            ),
        ),
        (
            "d-00000005".to_string(),
            closed(
                "2026-06-04T00:00:01Z",
                "retrospective_filed",
                Some("RETRO-1"),
            ),
        ),
    ]);
    // `now` is the day after d-00000008: its deadline has not passed.
    i.now = t("2026-06-30T12:00:00Z");
    let r = fold(i);
    let status: Vec<(&str, &str, Option<&str>)> = r
        .changes
        .iter()
        .map(|c| {
            (
                c.entry.drift_id.as_str(),
                c.retrospective.status.as_str(),
                c.retrospective.due_at.as_deref(),
            )
        })
        .collect();
    let due = Some("2026-06-04T00:00:00Z");
    assert_eq!(
        status,
        vec![
            ("d-00000002", "not_required", None),
            ("d-00000003", "reverted", due),
            ("d-00000004", "filed_on_time", due),
            ("d-00000005", "filed_late", due),
            ("d-00000006", "missing", due),
            ("d-00000007", "not_required", None),
            ("d-00000008", "open", Some("2026-07-01T00:00:00Z")),
        ]
    );
    assert_eq!(
        r.changes[2].retrospective.filed_by.as_deref(),
        Some("RETRO-1")
    );
    assert_eq!(
        r.changes[2].retrospective.filed_at.as_deref(),
        Some("2026-06-04T00:00:00Z")
    );
    assert_eq!(
        r.changes[1].closed.as_ref().map(|c| c.reason.as_str()),
        Some("reverted")
    );
    let late_or_missing: Vec<&str> = r.compliance[1]
        .exceptions
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        late_or_missing,
        vec!["d-00000005", "d-00000006"],
        "missing or late"
    );
}

#[test]
fn records_show_what_used_them_and_sessions_their_changes() {
    let entries = chain(vec![
        chg(2, "2026-06-03T00:00:00Z", Matched, Some("CHG-1")),
        chg(3, "2026-06-03T01:00:00Z", Matched, Some("BG-1")),
        // Outside the period: uses nothing.
        chg(4, "2026-07-03T00:00:00Z", Matched, Some("CHG-2")),
    ]);
    let records = records();
    let mut i = inputs(entries, &records);
    i.deliveries = vec![
        Delivery {
            sink: "webhook".into(),
            key: "d-00000002:matched".into(),
            delivered_at: Some("2026-06-03T00:00:05Z".into()),
        },
        Delivery {
            sink: "slack".into(),
            key: "d-00000009:unmatched".into(),
            delivered_at: None,
        },
    ];
    let r = fold(i);
    let m = &r.changes[0];
    assert_eq!(m.requester.as_deref(), Some("alice"));
    assert_eq!(m.approvers, vec!["bob (2026-06-01T00:00:00Z)"]);
    assert_eq!(
        m.window.as_deref(),
        Some("2026-06-02T00:00:00Z .. 2026-06-04T00:00:00Z")
    );
    assert_eq!(m.evidence, vec!["https://ci.example.com/1"]);
    assert_eq!(alerts_summary(m), "webhook 2026-06-03T00:00:05Z");
    assert!(r.changes[1].alerts.is_empty());
    let uses: Vec<(&str, Vec<&str>, bool, bool)> = r
        .records
        .iter()
        .map(|u| {
            (
                u.id.as_str(),
                u.used_by.iter().map(String::as_str).collect(),
                u.standard_never_used,
                u.window_passed_unused,
            )
        })
        .collect();
    assert_eq!(
        uses,
        vec![
            ("CHG-1", vec!["d-00000002"], false, false),
            ("STD-1", vec![], true, false),
            ("CHG-2", vec![], false, true),
            ("BG-1", vec!["d-00000003"], false, false),
            ("RETRO-1", vec![], false, true),
        ]
    );
    assert_eq!(record_use_summary(&r.records[1]), "unused (standard)");
    let sessions: Vec<(&str, i64, Vec<&str>, Option<&str>)> = r
        .break_glass
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                s.duration_minutes,
                s.changes.iter().map(String::as_str).collect(),
                s.retrospective.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        sessions,
        vec![
            ("BG-1", 150, vec!["d-00000003"], Some("RETRO-1")),
            ("RETRO-1", 240, vec![], None),
        ]
    );
}

#[test]
fn totals_by_provider_kind_severity_and_month() {
    let entries = chain(vec![
        chg(2, "2026-06-03T00:00:00Z", Matched, Some("CHG-1")),
        chg(3, "2026-06-03T00:00:00Z", Unmatched, None),
        chg(4, "2026-06-04T00:00:00Z", Violation, Some("CHG-1")),
    ]);
    let records = records();
    let mut i = inputs(entries, &records);
    i.period = Period::new(t("2026-05-01T00:00:00Z"), t("2026-08-01T00:00:00Z")).expect("period");
    i.drifts = HashMap::from([(
        "d-00000003".to_string(),
        closed("2026-06-03T06:00:00Z", "reverted", None),
    )]);
    let r = fold(i);
    let all = &r.totals.all;
    assert_eq!(
        (
            all.changes,
            all.matched,
            all.unmatched,
            all.violations,
            all.reverted
        ),
        (3, 1, 1, 1, 1)
    );
    assert_eq!(r.totals.by_provider["aws"].changes, 3);
    assert_eq!(r.totals.by_kind["aws.ec2.security_group_rule"].changes, 3);
    let severities: Vec<(&str, u64)> = r
        .totals
        .by_severity
        .iter()
        .map(|(k, v)| (k.as_str(), v.changes))
        .collect();
    assert_eq!(
        severities,
        vec![
            ("critical", 0),
            ("high", 2),
            ("info", 1),
            ("low", 0),
            ("medium", 0)
        ]
    );
    let months: Vec<&str> = r.totals.by_month.keys().map(String::as_str).collect();
    assert_eq!(months, vec!["2026-06"]);
    assert!(r.compliance[0].evidence.starts_with("1 of 3 changes"));
}

/// A plan's resources never observed by its record's window end are listed, one per planned
/// resource; one observed (even applied beyond plan, or before the period) is not; a window
/// still open at `now` or closing outside the period lists nothing.
#[test]
fn planned_resources_never_observed_are_approved_not_applied() {
    let text = "id: CHG-9\ntitle: t\ntype: normal\npurpose: p\nimpact: i\nresources: r\nrequested_by: alice\napproved_by: [{ name: bob, at: 2026-06-01T00:00:00Z }]\nwindow: { start: 2026-05-31T00:00:00Z, end: 2026-06-04T00:00:00Z }\nplan: plans/pr-9.json\n";
    let plan = r#"{"format_version": "1.2", "resource_changes": [
      {"address": "aws_iam_group.ops", "type": "aws_iam_group", "mode": "managed",
       "change": {"actions": ["create"], "before": null, "after": {"name": "ops", "path": "/"}, "after_unknown": {}}},
      {"address": "aws_iam_group.dev", "type": "aws_iam_group", "mode": "managed",
       "change": {"actions": ["create"], "before": null, "after": {"name": "dev", "path": "/"}, "after_unknown": {}}},
      {"address": "aws_iam_group.qa", "type": "aws_iam_group", "mode": "managed",
       "change": {"actions": ["create"], "before": null, "after": {"name": "qa", "path": "/"}, "after_unknown": {}}}
    ]}"#;
    let mut rec = parse_file("r.yaml", text, &ValidationSettings::default())
        .expect("valid")
        .remove(0);
    driftwatch_core::records::plan::attach(&mut rec, "plans/pr-9.json", plan).expect("plan");
    let planned = |n: u32, at: &'static str, d: DecisionKind, entry: usize| {
        let mut v = change(&format!("d-{n:08x}"), at, d, Some("CHG-9"));
        v["plan"] = serde_json::json!({"address": "x", "scope_entry": entry});
        (at, v)
    };
    // ops applied before the period, dev applied beyond plan in it, qa never.
    let entries = chain(vec![
        planned(1, "2026-05-31T12:00:00Z", Matched, 0),
        planned(2, "2026-06-02T12:00:00Z", Violation, 1),
    ]);
    let records = vec![rec.clone()];
    let r = fold(inputs(entries.clone(), &records));
    let got: Vec<(&str, &str, &str, &str)> = r
        .not_applied
        .iter()
        .map(|n| {
            (
                n.record_id.as_str(),
                n.address.as_str(),
                n.resource.as_str(),
                n.window_end.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("CHG-9", "aws_iam_group.qa", "qa", "2026-06-04T00:00:00Z")]
    );
    assert_eq!(r.not_applied[0].plan, "plans/pr-9.json");
    assert_eq!(r.not_applied[0].action, "create");

    let mut open = inputs(entries.clone(), &records);
    open.now = t("2026-06-03T00:00:00Z");
    assert!(
        fold(open).not_applied.is_empty(),
        "the window is still open"
    );
    let mut later = inputs(entries, &records);
    later.period = Period::new(t("2026-07-01T00:00:00Z"), t("2026-08-01T00:00:00Z")).expect("p");
    assert!(
        fold(later).not_applied.is_empty(),
        "its window closed in another period"
    );
}

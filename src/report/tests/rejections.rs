//! Segregation of duties by the typed rule (and the legacy message), rejections by rule, how a
//! rejection is stored, and verification of the chain.

use super::*;

#[test]
fn segregation_of_duties_by_typed_rule_and_legacy_message() {
    let legacy_body = serde_json::json!({
        "type": "record_rejected",
        "file": "legacy.yaml",
        "line": 7,
        "field": "approved_by[0].name",
        "message": "approver alice is also the requester; a change needs a second person",
    });
    let legacy_other = serde_json::json!({
        "type": "record_rejected",
        "file": "legacy-syntax.yaml",
        "line": 1,
        "field": "",
        "message": "invalid type: expected a mapping",
    });
    let entries = chain(vec![
        // Typed: counted by its rule, whatever the message says.
        (
            "2026-06-02T00:00:00Z",
            rejected(
                "typed.yaml",
                "approver deploy is not a person",
                Some(RejectionRule::BotApprover),
            ),
        ),
        ("2026-06-02T00:00:00Z", legacy_body),
        // Typed and not SoD, even with words the old substring rule matched.
        (
            "2026-06-02T00:00:00Z",
            rejected(
                "other.yaml",
                "the bot account field is empty",
                Some(RejectionRule::MissingField),
            ),
        ),
        ("2026-06-02T00:00:00Z", legacy_other),
        // Outside the period.
        (
            "2026-07-02T00:00:00Z",
            rejected("late.yaml", "x", Some(RejectionRule::SelfApproval)),
        ),
    ]);
    let r = fold(inputs(entries, &[]));
    assert!(
        r.ledger.verified,
        "legacy bodies verify: {:?}",
        r.ledger.problems
    );
    let sod: Vec<(&str, RejectionRule)> = r
        .sod_violations
        .iter()
        .map(|v| (v.file.as_str(), v.rule))
        .collect();
    assert_eq!(
        sod,
        vec![
            ("typed.yaml", RejectionRule::BotApprover),
            ("legacy.yaml", RejectionRule::SelfApproval)
        ]
    );
    assert_eq!(r.sod_violations[1].line, 7);
    assert_eq!(
        rejections_summary(&r.rejections_by_rule),
        "missing_field 1, self_approval 1, bot_approver 1, other 1"
    );
    assert_eq!(
        r.compliance[2].exceptions,
        vec!["typed.yaml:3", "legacy.yaml:7"]
    );
    let json: Value = serde_json::from_str(&render_json(&r)).expect("json");
    assert_eq!(json["sod_violations"][0]["rule"], "bot_approver");
    assert_eq!(json["rejections_by_rule"]["self_approval"], 1);
}

#[test]
fn a_rejection_without_a_rule_is_stored_as_before() {
    let v = event(LedgerEvent::RecordRejected {
        file: "a.yaml".into(),
        line: 1,
        field: "id".into(),
        message: "m".into(),
        rule: None,
    });
    assert_eq!(
        canonical_json(&v),
        r#"{"field":"id","file":"a.yaml","line":1,"message":"m","type":"record_rejected"}"#
    );
    let typed = rejected("a.yaml", "m", Some(RejectionRule::SelfApproval));
    assert_eq!(typed["rule"], "self_approval");
}

#[test]
fn an_edited_entry_fails_verification() {
    let mut entries = chain(vec![
        chg(2, "2026-06-03T00:00:00Z", Unmatched, None),
        chg(3, "2026-06-03T00:00:00Z", Unmatched, None),
    ]);
    entries[0].body = entries[0].body.replace("unmatched", "matched");
    let r = fold(inputs(entries, &[]));
    assert!(!r.ledger.verified);
    assert!(!r.ledger.problems.is_empty());
    assert_eq!(
        r.totals.all.matched, 1,
        "the report shows what is stored, flagged"
    );
}

#[test]
fn the_schema_names_every_rule() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json");
    let names: Vec<&str> = schema["$defs"]["rejection_rule"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let rules: Vec<&str> = RejectionRule::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(names, rules);
}

/// A change CloudTrail proves bob made, under CHG-1 that bob approved: listed as a
/// segregation-of-duties problem, in the compliance exceptions and the Who column.
#[test]
fn a_change_made_by_its_records_approver_is_listed() {
    let mut by_approver = change("d-000000b0", "2026-06-03T00:00:00Z", Matched, Some("CHG-1"));
    by_approver["actor"] = "bob via role Admin".into();
    by_approver["actor_role"] = "approver".into();
    by_approver["attribution"] = serde_json::json!({
        "actor": "bob via role Admin", "person": "bob", "identity_type": "assumed_role",
        "client": "console", "event_name": "AuthorizeSecurityGroupIngress",
        "event_id": "ev-bob", "event_time": "2026-06-02T23:59:58Z", "via": "event"
    });
    let mut by_requester = change("d-000000a0", "2026-06-03T00:00:00Z", Matched, Some("CHG-1"));
    by_requester["actor"] = "alice".into();
    by_requester["actor_role"] = "requester".into();
    let entries = chain(vec![
        ("2026-06-03T00:00:00Z", by_approver),
        ("2026-06-03T00:00:00Z", by_requester),
    ]);
    let records = records();
    let r = fold(inputs(entries, &records));
    assert!(r.ledger.verified, "{:?}", r.ledger.problems);
    let listed: Vec<(&str, &str, &str, &str)> = r
        .sod_changes
        .iter()
        .map(|c| {
            (
                c.drift_id.as_str(),
                c.actor.as_str(),
                c.record_id.as_str(),
                c.event_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![("d-000000b0", "bob via role Admin", "CHG-1", "ev-bob")]
    );
    let sod = r
        .compliance
        .iter()
        .find(|c| c.control == "Annex A 5.3")
        .expect("segregation of duties control");
    assert_eq!(sod.exceptions, vec!["d-000000b0".to_string()]);
    let md = crate::report::render_markdown(&r);
    assert!(
        md.contains("made by bob via role Admin, who approved CHG-1 (CloudTrail event ev-bob)"),
        "{md}"
    );
}

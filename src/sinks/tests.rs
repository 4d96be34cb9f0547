//! Routing table and the exact wire formats of each sink for one fixture alert.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::*;
use crate::config::Config;
use crate::store::ledger::{ChangeEntry, LedgerField, LedgerFinding};

fn entry() -> ChangeEntry {
    ChangeEntry {
        drift_id: "d-0123abcd".into(),
        scope: "aws:123456789012:us-east-1".into(),
        kind: "aws.ec2.security_group_rule".into(),
        resource_id: "sg-1/ingress/tcp/22/ipv4:0.0.0.0/0".into(),
        name: "jupyter <lab> ingress tcp/22 from 0.0.0.0/0".into(),
        action: crate::model::Action::Create,
        observed_at: "2026-11-29T10:00:00Z".into(),
        fields: vec![LedgerField {
            path: "attributes.from_port".into(),
            before: None,
            after: Some(json!(22)),
        }],
        findings: vec![LedgerFinding {
            rule: "world_open_sensitive_port".into(),
            severity: Severity::Critical,
            message: "jupyter (sg-1) opens tcp 22 to 0.0.0.0/0: sensitive port 22 (SSH)".into(),
        }],
        severity: Severity::Critical,
        decision: crate::model::DecisionKind::Unmatched,
        record_id: None,
        violation: None,
        provisional: false,
        reason: "no active change record covers it".into(),
        actor: None,
        before_hash: None,
        after_hash: Some("ab".into()),
        reverts: Vec::new(),
        alert_suppressed: false,
        revert_by: None,
        record_url: None,
        attribution: None,
        actor_role: None,
        plan: None,
    }
}

fn alert() -> Alert {
    alert_for_change(&entry(), EventKind::Unmatched)
}

fn sinks(toml: &str) -> Sinks {
    let cfg = Config::parse(std::path::Path::new("/x/driftwatch.toml"), toml).expect("config");
    Sinks::from_config(&cfg.sinks, &cfg.alerting).expect("sinks")
}

const BASE: &str = r#"
[aws]
regions = ["us-east-1"]
[[aws.accounts]]
id = "123456789012"
[[sinks]]
type = "log"
[[sinks]]
type = "webhook"
name = "hook"
url = "http://127.0.0.1:9/x"
[[sinks]]
type = "pagerduty"
name = "pd"
routing_key = "R0UTINGKEY"
"#;

#[test]
fn routing_table() {
    let with_routes = format!(
        "{BASE}\n[[alerting.routes]]\nsinks = [\"pd\"]\nmin_severity = \"critical\"\nscopes = [\"aws:123456789012:*\"]\n[[alerting.routes]]\nsinks = [\"log\"]\nevents = [\"matched\"]\n[alerting.default_route]\nsinks = [\"hook\"]\n"
    );
    let routed = sinks(&with_routes);
    let default_only = sinks(BASE);
    let mut high = alert();
    high.severity = Severity::High;
    let mut other_account = alert();
    other_account.scope = "aws:999999999999:us-east-1".into();
    let matched = alert_for_change(&entry(), EventKind::Matched);
    let cases: Vec<(&str, &Sinks, Alert, Vec<&str>)> = vec![
        (
            "critical in the account goes to pd",
            &routed,
            alert(),
            vec!["pd"],
        ),
        (
            "high falls to the default route",
            &routed,
            high,
            vec!["hook"],
        ),
        (
            "other account falls to the default route",
            &routed,
            other_account,
            vec!["hook"],
        ),
        (
            "matched goes only where a route asks",
            &routed,
            matched.clone(),
            vec!["log"],
        ),
        (
            "no routes: every sink",
            &default_only,
            alert(),
            vec!["hook", "log", "pd"],
        ),
        (
            "no routes: matched goes nowhere",
            &default_only,
            matched,
            vec![],
        ),
    ];
    for (name, s, a, want) in cases {
        assert_eq!(s.route(&a), want, "case: {name}");
    }
}

#[test]
fn pagerduty_trigger_and_resolve() {
    assert_eq!(
        pagerduty_event(&alert()),
        json!({
            "event_action": "trigger",
            "dedup_key": "d-0123abcd",
            "payload": {
                "summary": "Unplanned change [critical]: create aws.ec2.security_group_rule jupyter <lab> ingress tcp/22 from 0.0.0.0/0 in aws:123456789012:us-east-1",
                "source": "aws:123456789012:us-east-1",
                "severity": "critical",
                "timestamp": "2026-11-29T10:00:00Z",
                "component": "jupyter <lab> ingress tcp/22 from 0.0.0.0/0",
                "group": "aws.ec2.security_group_rule",
                "class": "unmatched",
                "custom_details": {
                    "drift_id": "d-0123abcd",
                    "resource_id": "sg-1/ingress/tcp/22/ipv4:0.0.0.0/0",
                    "action": "create",
                    "findings": ["jupyter (sg-1) opens tcp 22 to 0.0.0.0/0: sensitive port 22 (SSH)"],
                    "changed_fields": ["attributes.from_port"],
                    "expected_record": null,
                    "actor": null,
                    "attribution": null,
                    "reason": "no active change record covers it"
                }
            }
        })
    );
    let resolved = alert().resolved("2026-11-29T10:05:00Z", "reverted");
    assert_eq!(resolved.idempotency_key, "d-0123abcd:resolved");
    assert_eq!(
        pagerduty_event(&resolved),
        json!({ "event_action": "resolve", "dedup_key": "d-0123abcd" })
    );
}

#[test]
fn alertmanager_firing_and_resolved() {
    let now: Timestamp = "2026-11-29T10:00:30Z".parse().expect("ts");
    let body = alertmanager_alerts(&alert(), now, SignedDuration::from_hours(24));
    assert_eq!(
        body,
        json!([{
            "labels": {
                "alertname": "DriftwatchUnplannedChange",
                "severity": "critical",
                "dedup_key": "d-0123abcd",
                "scope": "aws:123456789012:us-east-1",
                "provider": "aws",
                "kind": "aws.ec2.security_group_rule",
                "drift_id": "d-0123abcd"
            },
            "annotations": {
                "summary": "Unplanned change [critical]: create aws.ec2.security_group_rule jupyter <lab> ingress tcp/22 from 0.0.0.0/0 in aws:123456789012:us-east-1",
                "description": "no active change record covers it",
                "resource": "jupyter <lab> ingress tcp/22 from 0.0.0.0/0",
                "findings": "jupyter (sg-1) opens tcp 22 to 0.0.0.0/0: sensitive port 22 (SSH)",
                "changed_fields": "attributes.from_port",
                "expected_record": "",
                "actor": "",
                "actor_evidence": ""
            },
            "startsAt": "2026-11-29T10:00:00Z",
            "endsAt": "2026-11-30T10:00:30Z"
        }])
    );
    let resolved = alert().resolved("2026-11-29T10:05:00Z", "reverted");
    let body = alertmanager_alerts(&resolved, now, SignedDuration::from_hours(24));
    assert_eq!(body[0]["endsAt"], "2026-11-29T10:05:00Z");
    assert_eq!(
        body[0]["labels"]["drift_id"], "d-0123abcd",
        "same labels: the same alert"
    );
}

#[test]
fn slack_message_blocks_and_escaping() {
    let m = slack_message(&alert());
    assert_eq!(m["text"], alert().title);
    let blocks = m["blocks"].as_array().expect("blocks");
    assert_eq!(
        blocks[0],
        json!({"type": "section", "text": {"type": "mrkdwn", "text": ":rotating_light: *Unplanned change [critical]: create aws.ec2.security_group_rule jupyter &lt;lab&gt; ingress tcp/22 from 0.0.0.0/0 in aws:123456789012:us-east-1*"}})
    );
    assert_eq!(
        blocks[1]["fields"],
        json!([
            {"type": "mrkdwn", "text": "*Event*\nunmatched (firing)"},
            {"type": "mrkdwn", "text": "*Severity*\ncritical"},
            {"type": "mrkdwn", "text": "*Scope*\naws:123456789012:us-east-1"},
            {"type": "mrkdwn", "text": "*Resource*\naws.ec2.security_group_rule `jupyter &lt;lab&gt; ingress tcp/22 from 0.0.0.0/0`"},
            {"type": "mrkdwn", "text": "*Action*\ncreate"},
            {"type": "mrkdwn", "text": "*Drift*\n`d-0123abcd`"},
            {"type": "mrkdwn", "text": "*Expected record*\nnone"},
            {"type": "mrkdwn", "text": "*Actor*\nunknown"}
        ])
    );
    assert_eq!(
        blocks[2]["text"]["text"],
        "*Findings*\n• *critical* jupyter (sg-1) opens tcp 22 to 0.0.0.0/0: sensitive port 22 (SSH)"
    );
    assert_eq!(
        blocks[3]["text"]["text"],
        "*Diff*\n```attributes.from_port: ∅ → 22```"
    );
    assert_eq!(
        blocks[4]["elements"][0]["text"],
        "no active change record covers it · File a record with `retrospective_for: [d-0123abcd]` to close it."
    );
    let resolved = slack_message(&alert().resolved("2026-11-29T10:05:00Z", "reverted"));
    assert!(
        resolved["blocks"][0]["text"]["text"]
            .as_str()
            .expect("text")
            .starts_with(":white_check_mark: *Resolved: ")
    );
}

/// An attributed change: every sink names the actor and the CloudTrail evidence.
#[test]
fn every_sink_carries_the_actor_and_its_evidence() {
    let mut e = entry();
    e.actor = Some("alice via role Admin".into());
    e.attribution = Some(crate::store::ledger::LedgerAttribution {
        actor: "alice via role Admin".into(),
        person: Some("alice".into()),
        identity_type: "assumed_role".into(),
        arn: Some("arn:aws:sts::123456789012:assumed-role/Admin/alice".into()),
        source_ip: Some("203.0.113.7".into()),
        client: "aws-cli".into(),
        user_agent: Some("aws-cli/2.22.10".into()),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_id: "ev-22".into(),
        event_time: "2026-11-29T09:59:58Z".into(),
        via: "event".into(),
    });
    let a = alert_for_change(&e, EventKind::Unmatched);
    let evidence = "from 203.0.113.7 with aws-cli, CloudTrail AuthorizeSecurityGroupIngress at 2026-11-29T09:59:58Z (event ev-22)";
    let webhook = serde_json::to_value(&a).expect("payload");
    assert_eq!(webhook["actor"], "alice via role Admin");
    assert_eq!(webhook["attribution"]["event_id"], "ev-22");
    assert_eq!(webhook["attribution"]["person"], "alice");
    let pd = pagerduty_event(&a);
    assert_eq!(
        pd["payload"]["custom_details"]["actor"],
        "alice via role Admin"
    );
    assert_eq!(
        pd["payload"]["custom_details"]["attribution"]["source_ip"],
        "203.0.113.7"
    );
    let now: Timestamp = "2026-11-29T10:00:30Z".parse().expect("ts");
    let am = alertmanager_alerts(&a, now, SignedDuration::from_hours(24));
    assert_eq!(am[0]["annotations"]["actor"], "alice via role Admin");
    assert_eq!(am[0]["annotations"]["actor_evidence"], evidence);
    let slack = slack_message(&a);
    assert_eq!(
        slack["blocks"][1]["fields"][7]["text"],
        format!("*Actor*\nalice via role Admin\n_{evidence}_")
    );
}

/// A scope's recovery closes its blind alert everywhere: PagerDuty by dedup key, Alertmanager
/// by identical labels (so the resolve matches the firing alert).
#[test]
fn a_recovery_resolves_the_blind_alert_by_group_and_labels() {
    let scope = "aws:123456789012:us-east-1";
    let since = "2026-11-29T10:00:00Z";
    let blind = alert_for_blind(scope, "3 polls in a row failed".into(), since);
    let recovered =
        alert_for_recovery(scope, since, "polls complete again", "2026-11-29T10:20:00Z");
    assert_eq!(recovered.event, EventKind::SourceRecovered);
    assert_eq!(recovered.status, AlertStatus::Resolved);
    assert_eq!(recovered.dedup_key(), blind.dedup_key());
    let now: Timestamp = "2026-11-29T10:20:00Z".parse().expect("ts");
    let day = SignedDuration::from_hours(24);
    let fired = alertmanager_alerts(&blind, now, day);
    let closed = alertmanager_alerts(&recovered, now, day);
    assert_eq!(fired[0]["labels"], closed[0]["labels"]);
    assert_eq!(closed[0]["endsAt"], "2026-11-29T10:20:00Z");
    let pd_fired = pagerduty_event(&blind);
    let pd_closed = pagerduty_event(&recovered);
    assert_eq!(pd_closed["event_action"], "resolve");
    assert_eq!(pd_fired["dedup_key"], pd_closed["dedup_key"]);
}

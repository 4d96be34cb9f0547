//! The fold, tested on hand-built inputs: a chained ledger, drift closures, deliveries and
//! records, no store. Here the helpers and the period; `status.rs` the rows (retrospective,
//! records, sessions, totals), `rejections.rs` segregation of duties and the ledger.

mod rejections;
mod status;

use std::collections::HashMap;

use driftwatch_core::records::RejectionRule;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::*;
use crate::model::DecisionKind::{self, Matched, Unmatched, Violation};
use crate::model::{Action, ChangeRecord, Severity, canonical_json};
use crate::store::LedgerEntry;
use crate::store::LedgerEvent;
use crate::store::ledger::{ChangeEntry, GENESIS, entry_hash};
use driftwatch_core::records::{ValidationSettings, parse_file};

const SCOPE: &str = "aws:123456789012:eu-west-1";

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

/// Ledger entries as the store writes them: canonical bodies with seq and at, hash-chained.
fn chain(events: Vec<(&str, Value)>) -> Vec<LedgerEntry> {
    let mut prev = GENESIS.to_string();
    let mut out = Vec::new();
    for (i, (at, mut v)) in events.into_iter().enumerate() {
        let seq = i as i64 + 1;
        let event_type = v["type"].as_str().unwrap_or("").to_string();
        v["seq"] = Value::from(seq);
        v["at"] = Value::from(at);
        let body = canonical_json(&v);
        let hash = entry_hash(&prev, &body);
        out.push(LedgerEntry {
            seq,
            at: at.into(),
            event_type,
            body,
            prev_hash: prev,
            hash: hash.clone(),
        });
        prev = hash;
    }
    out
}

fn event(e: LedgerEvent) -> Value {
    serde_json::to_value(e).expect("event")
}

fn change(id: &str, at: &str, decision: DecisionKind, record: Option<&str>) -> Value {
    event(LedgerEvent::Change(Box::new(ChangeEntry {
        drift_id: id.into(),
        scope: SCOPE.into(),
        kind: "aws.ec2.security_group_rule".into(),
        resource_id: format!("sg-1/{id}"),
        name: format!("rule {id}"),
        action: Action::Create,
        observed_at: at.into(),
        fields: Vec::new(),
        findings: Vec::new(),
        severity: if decision == DecisionKind::Matched {
            Severity::Info
        } else {
            Severity::High
        },
        decision,
        record_id: record.map(String::from),
        violation: None,
        provisional: false,
        reason: "test".into(),
        actor: None,
        before_hash: None,
        after_hash: Some("00".into()),
        reverts: Vec::new(),
        alert_suppressed: false,
        revert_by: None,
        record_url: None,
        attribution: None,
        actor_role: None,
        plan: None,
    })))
}

/// A change observed and ledgered at `at`, drift `d-0000000n`.
fn chg<'a>(n: u32, at: &'a str, decision: DecisionKind, record: Option<&str>) -> (&'a str, Value) {
    (at, change(&format!("d-{n:08x}"), at, decision, record))
}

fn blind(since: &str) -> Value {
    event(LedgerEvent::SourceBlind {
        scope: SCOPE.into(),
        consecutive_failures: 3,
        since: since.into(),
    })
}

fn recovered(since: &str) -> Value {
    event(LedgerEvent::SourceRecovered {
        scope: SCOPE.into(),
        blind_since: since.into(),
    })
}

fn rejected(file: &str, message: &str, rule: Option<RejectionRule>) -> Value {
    event(LedgerEvent::RecordRejected {
        file: file.into(),
        line: 3,
        field: "approved_by[0].name".into(),
        message: message.into(),
        rule,
    })
}

fn closed(at: &str, reason: &str, by: Option<&str>) -> Closed {
    Closed {
        at: at.into(),
        reason: reason.into(),
        by: by.map(String::from),
    }
}

const RECORDS: &str = "- id: CHG-1\n  title: t\n  type: normal\n  purpose: p\n  impact: i\n  resources: r\n  requested_by: alice\n  approved_by: [{ name: bob, at: 2026-06-01T00:00:00Z }]\n  window: { start: 2026-06-02T00:00:00Z, end: 2026-06-04T00:00:00Z }\n  scope: [{ provider: aws }]\n  evidence: [https://ci.example.com/1]\n- id: STD-1\n  title: s\n  type: standard\n  requested_by: alice\n  approved_by: [{ name: bob, at: 2026-06-01T00:00:00Z }]\n  scope: [{ provider: aws }]\n- id: CHG-2\n  title: u\n  type: normal\n  purpose: p\n  impact: i\n  resources: r\n  requested_by: alice\n  approved_by: [{ name: bob, at: 2026-06-01T00:00:00Z }]\n  window: { start: 2026-06-02T00:00:00Z, end: 2026-06-04T00:00:00Z }\n  scope: [{ provider: aws }]\n- id: BG-1\n  title: b\n  type: emergency\n  purpose: p\n  impact: i\n  resources: r\n  requested_by: carol\n  window: { start: 2026-06-03T00:00:00Z, end: 2026-06-03T04:00:00Z }\n  closed_at: 2026-06-03T02:30:00Z\n  scope: [{ provider: aws }]\n- id: RETRO-1\n  title: r\n  type: emergency\n  purpose: p\n  impact: i\n  resources: r\n  requested_by: carol\n  window: { start: 2026-06-03T00:00:00Z, end: 2026-06-03T04:00:00Z }\n  scope: [{ provider: aws }]\n  retrospective_for: [BG-1]\n";

fn records() -> Vec<ChangeRecord> {
    parse_file("r.yaml", RECORDS, &ValidationSettings::default()).expect("valid records")
}

/// June 2026, a 24 h retrospective deadline, `now` on 2026-07-10.
fn inputs(entries: Vec<LedgerEntry>, records: &[ChangeRecord]) -> ReportInputs<'_> {
    ReportInputs {
        entries,
        drifts: HashMap::new(),
        deliveries: Vec::new(),
        scopes: vec![KnownScope {
            scope: SCOPE.into(),
            baseline_at: Some(t("2026-05-01T00:00:00Z")),
        }],
        records,
        period: Period::new(t("2026-06-01T00:00:00Z"), t("2026-07-01T00:00:00Z")).expect("period"),
        now: t("2026-07-10T00:00:00Z"),
        deadline: SignedDuration::from_hours(24),
    }
}

fn drift_ids(r: &Report) -> Vec<&str> {
    r.changes
        .iter()
        .map(|c| c.entry.drift_id.as_str())
        .collect()
}

#[test]
fn an_empty_period_is_refused() {
    let at = t("2026-06-01T00:00:00Z");
    assert!(matches!(
        Period::new(at, at),
        Err(ReportError::EmptyPeriod { .. })
    ));
}

#[test]
fn only_the_period_counts_since_inclusive_until_exclusive() {
    let failed = event(LedgerEvent::SourceFailed {
        scope: SCOPE.into(),
        failure: "throttled".into(),
        message: "x".into(),
        consecutive_failures: 1,
    });
    let entries = chain(vec![
        chg(1, "2026-05-31T23:59:59Z", Unmatched, None),
        ("2026-05-31T23:59:59Z", failed.clone()),
        chg(2, "2026-06-01T00:00:00Z", Unmatched, None),
        ("2026-06-15T00:00:00Z", failed.clone()),
        chg(3, "2026-06-30T23:59:59Z", Matched, Some("CHG-1")),
        chg(4, "2026-07-01T00:00:00Z", Unmatched, None),
        ("2026-07-01T00:00:00Z", failed),
    ]);
    let records = records();
    let r = fold(inputs(entries, &records));
    assert_eq!(drift_ids(&r), vec!["d-00000002", "d-00000003"]);
    assert_eq!(r.scopes[0].failed_polls, 1);
    assert_eq!(
        (r.since.as_str(), r.until.as_str()),
        ("2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z")
    );
    assert!(r.ledger.verified, "{:?}", r.ledger.problems);
    assert_eq!(
        r.ledger.entries, 7,
        "the whole ledger is verified, not the period"
    );
    assert_eq!(r.generated_at, "2026-07-10T00:00:00Z");
}

#[test]
fn blind_periods_overlapping_the_period_are_listed() {
    let entries = chain(vec![
        // Ended before the period: not part of it.
        ("2026-05-10T00:00:00Z", blind("2026-05-09T00:00:00Z")),
        ("2026-05-11T00:00:00Z", recovered("2026-05-09T00:00:00Z")),
        // Began before, ended inside: listed with its real start.
        ("2026-05-30T00:00:00Z", blind("2026-05-29T00:00:00Z")),
        ("2026-06-02T00:00:00Z", recovered("2026-05-29T00:00:00Z")),
        // Inside and still blind.
        ("2026-06-20T00:00:00Z", blind("2026-06-19T00:00:00Z")),
        // A scope the store does not know is ignored.
        (
            "2026-06-21T00:00:00Z",
            event(LedgerEvent::SourceBlind {
                scope: "aws:999999999999:us-east-1".into(),
                consecutive_failures: 3,
                since: "2026-06-21T00:00:00Z".into(),
            }),
        ),
    ]);
    let r = fold(inputs(entries, &[]));
    let periods: Vec<(&str, Option<&str>)> = r.scopes[0]
        .blind_periods
        .iter()
        .map(|p| (p.since.as_str(), p.until.as_deref()))
        .collect();
    assert_eq!(
        periods,
        vec![
            ("2026-05-29T00:00:00Z", Some("2026-06-02T00:00:00Z")),
            ("2026-06-19T00:00:00Z", None)
        ]
    );
    assert_eq!(r.scopes.len(), 1);
    assert_eq!(
        r.scopes[0].baseline_at.as_deref(),
        Some("2026-05-01T00:00:00Z")
    );
    assert_eq!(r.compliance[4].exceptions, vec![format!("blind: {SCOPE}")]);
    // A blind period that begins after the period is not part of it either.
    let later = chain(vec![(
        "2026-07-02T00:00:00Z",
        blind("2026-07-02T00:00:00Z"),
    )]);
    assert!(fold(inputs(later, &[])).scopes[0].blind_periods.is_empty());
}

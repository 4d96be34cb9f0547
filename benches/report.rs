//! Report benchmark: a six-month ledger of 100 000 changes, then the report model (`load` from
//! the store, then the pure `fold`) and every renderer, timed. Prints figures; asserts nothing
//! (timing belongs here, not in tests).
//!
//!     cargo bench --bench report            # or: scripts/bench_report.sh

use std::time::Instant;

use driftwatch::model::{Action, DecisionKind, Severity};
use driftwatch::report;
use driftwatch::store::ledger::{ChangeEntry, LedgerField, LedgerFinding};
use driftwatch::store::{ClosedReason, CycleWrite, Db, DriftClosure, LedgerEvent, NewDrift};
use jiff::{SignedDuration, Timestamp};

fn entry(i: u64, at: Timestamp) -> ChangeEntry {
    let decision = match i % 10 {
        0 => DecisionKind::Unmatched,
        1 => DecisionKind::Violation,
        _ => DecisionKind::Matched,
    };
    ChangeEntry {
        drift_id: format!("d-{:08x}", i),
        scope: format!("aws:{:012}:eu-west-1", 100_000_000_000u64 + i % 20),
        kind: "aws.ec2.security_group_rule".into(),
        resource_id: format!("sg-{i:08x}/ingress/tcp/443/ipv4:10.{}.0.0/16", i % 250),
        name: format!(
            "service-{} ingress tcp/443 from 10.{}.0.0/16",
            i % 500,
            i % 250
        ),
        action: if i.is_multiple_of(3) {
            Action::Modify
        } else {
            Action::Create
        },
        observed_at: at.to_string(),
        fields: vec![LedgerField {
            path: "attributes.description".into(),
            before: Some(serde_json::json!("old")),
            after: Some(serde_json::json!("new")),
        }],
        findings: if decision == DecisionKind::Matched {
            Vec::new()
        } else {
            vec![LedgerFinding {
                rule: "world_open_port".into(),
                severity: Severity::High,
                message: "service opens tcp 443 to 0.0.0.0/0".into(),
            }]
        },
        severity: if decision == DecisionKind::Matched {
            Severity::Info
        } else {
            Severity::High
        },
        decision,
        record_id: (decision != DecisionKind::Unmatched).then(|| format!("CHG-{}", i % 300)),
        violation: None,
        provisional: false,
        reason: "benchmark".into(),
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
    }
}

/// The drift row the daemon's plan writes with a change entry: planned changes closed.
fn drift_row(e: &ChangeEntry, at: Timestamp) -> NewDrift {
    NewDrift {
        drift_id: e.drift_id.clone(),
        scope: e.scope.clone(),
        kind: e.kind.parse().expect("kind"),
        resource_id: e.resource_id.clone(),
        name: e.name.clone(),
        action: e.action,
        observed_at: at,
        decision: e.decision,
        record_id: e.record_id.clone(),
        severity: e.severity,
        before_hash: e.before_hash.clone(),
        after_hash: e.after_hash.clone(),
        revert_by: None,
        closed: (e.decision == DecisionKind::Matched).then_some(DriftClosure {
            at,
            reason: ClosedReason::Matched,
            by: None,
        }),
    }
}

fn main() {
    let n: u64 = std::env::var("DRIFTWATCH_BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = Db::open(&dir.path().join("bench.db")).expect("db");
    let start: Timestamp = "2026-06-01T00:00:00Z".parse().expect("ts");
    let step = SignedDuration::from_secs(180 * 86_400 / n as i64);
    let t = Instant::now();
    let mut at = start;
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let mut write = CycleWrite::new("aws:100000000000:eu-west-1".parse().expect("scope"), at);
        for i in chunk {
            at = at.checked_add(step).expect("time");
            let e = entry(*i, at);
            write.drifts.push(drift_row(&e, at));
            write.events.push(LedgerEvent::Change(Box::new(e)));
        }
        db.commit_cycle(&write).expect("write");
    }
    println!(
        "ledger of {n} changes written in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let until: Timestamp = "2026-12-01T00:00:00Z".parse().expect("ts");
    let t = Instant::now();
    let stored = report::load(&db).expect("load");
    let load = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let period = report::Period::new(start, until).expect("period");
    let inputs =
        report::ReportInputs::new(stored, &[], period, until, SignedDuration::from_hours(24));
    let r = report::fold(inputs);
    let fold = t.elapsed().as_secs_f64();
    let build = load + fold;
    println!(
        "report model: load {load:.2} s, fold (verify chain + {} rows) {fold:.2} s",
        r.changes.len()
    );
    let time = |name: &str, f: &dyn Fn() -> usize| {
        let t = Instant::now();
        let bytes = f();
        let s = t.elapsed().as_secs_f64();
        println!("  {name:<9} {s:>6.2} s  {:>7.1} MB", bytes as f64 / 1e6);
        s
    };
    let total = build
        + time("json", &|| report::render_json(&r).len())
        + time("csv", &|| report::render_csv(&r).len())
        + time("html", &|| report::render_html(&r).len())
        + time("markdown", &|| report::render_markdown(&r).len())
        + time("xlsx", &|| report::render_xlsx(&r).expect("xlsx").len());
    println!("total for every format: {total:.2} s (target: one format under 5 s)");
}

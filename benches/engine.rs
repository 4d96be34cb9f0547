//! Engine and store benchmark: diff + risk rules + matching for N synthetic security-group
//! rules against 10 000 change records, steady state (nothing changed) and 1 % changed; then
//! the store: a baseline of N resources persisted, and the rows a steady-state cycle writes.
//! Prints time per cycle and peak RSS; asserts nothing.
//!
//!     cargo bench --bench engine                      # N = 10k, 100k, 1M
//!     DRIFTWATCH_BENCH_SIZES=10000,100000 cargo bench --bench engine

use std::time::Instant;

use driftwatch::engine::{self, Evaluation, Settings};
use driftwatch::matcher::{MatchSettings, RecordIndex};
use driftwatch::model::aws::{Direction, Peer, SecurityGroupRule};
use driftwatch::model::{Observation, Outcome, Resource, Scope};
use driftwatch::records::{ValidationSettings, parse_file};
use driftwatch::rules::RuleSettings;
use driftwatch::store::{CycleWrite, Db, ScopeState};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn scope() -> Scope {
    Scope::Aws {
        account: "123456789012".into(),
        region: "eu-west-1".into(),
    }
}

fn rules(n: usize, changed_every: usize) -> Vec<Resource> {
    (0..n)
        .map(|i| {
            let g = i / 5;
            SecurityGroupRule {
                group_id: format!("sg-{g:08x}"),
                group_name: format!("svc-{}-{g}", g % 10_000),
                vpc_id: Some("vpc-1".into()),
                direction: Direction::Ingress,
                protocol: "tcp".into(),
                from_port: Some(1000 + (i % 5) as i32),
                to_port: Some(1000 + (i % 5) as i32),
                peer: Peer::Ipv4(if i % 97 == 0 {
                    "0.0.0.0/0".into()
                } else {
                    format!("10.{}.0.0/16", i % 250)
                }),
                description: Some(if changed_every > 0 && i % changed_every == 0 {
                    "changed".into()
                } else {
                    "service port".into()
                }),
            }
            .into_resource(&scope())
        })
        .collect()
}

/// `n` standard records, 500 per file (a YAML file has a node budget, as it should).
fn records(n: usize) -> RecordIndex {
    let mut all = Vec::new();
    for start in (0..n).step_by(500) {
        let yaml: String = (start..(start + 500).min(n))
            .map(|i| format!("- id: STD-{i}\n  title: t\n  type: standard\n  requested_by: a@x\n  approved_by: [{{ name: b@x, at: 2026-01-01T00:00:00Z }}]\n  scope: [{{ provider: aws, kind: aws.ec2.security_group_rule, target: svc-{i}-*, actions: [modify] }}]\n"))
            .collect();
        all.extend(
            parse_file("bench.yaml", &yaml, &ValidationSettings::default()).expect("records"),
        );
    }
    RecordIndex::new(all)
}

fn main() {
    let sizes: Vec<usize> = std::env::var("DRIFTWATCH_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let t = Instant::now();
    let index = records(10_000);
    println!(
        "10 000 change records parsed and indexed in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let rules_settings = RuleSettings::default();
    let matching = MatchSettings::default();
    let settings = Settings {
        rules: &rules_settings,
        matching: &matching,
        records: &index,
        open: &[],
    };
    let at = "2026-11-29T12:00:00Z".parse().expect("ts");
    println!(
        "{:>9}  {:>12}  {:>14}  {:>9}  {:>12}  {:>11}  {:>13}",
        "resources",
        "steady (s)",
        "1% changed (s)",
        "changes",
        "matched",
        "peak RSS MB",
        "baseline db s"
    );
    for n in sizes {
        let previous = rules(n, 0);
        let obs = |r: Vec<Resource>| Observation {
            scope: scope(),
            observed_at: at,
            outcome: Outcome::Complete(r),
        };
        let steady_obs = obs(rules(n, 0));
        let t = Instant::now();
        let steady = engine::evaluate(Some(&previous), &steady_obs, &settings);
        let steady_s = t.elapsed().as_secs_f64();
        let Evaluation::Compared { changes, .. } = &steady else {
            panic!("compared")
        };
        assert!(changes.is_empty());
        drop(steady);
        drop(steady_obs);
        let changed_obs = obs(rules(n, 100));
        let t = Instant::now();
        let changed = engine::evaluate(Some(&previous), &changed_obs, &settings);
        let changed_s = t.elapsed().as_secs_f64();
        let Evaluation::Compared { changes, .. } = &changed else {
            panic!("compared")
        };
        let matched = changes
            .iter()
            .filter(|c| c.decision.record_id().is_some())
            .count();
        let n_changes = changes.len();
        drop(changed);
        drop(changed_obs);
        // Store: the baseline persisted, then a steady-state cycle's writes.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = Db::open(&dir.path().join("bench.db")).expect("db");
        let t = Instant::now();
        db.commit_cycle(&CycleWrite {
            scope: scope(),
            at,
            upserts: previous,
            deletes: Vec::new(),
            scope_state: Some(ScopeState {
                baseline_at: Some(at),
                ..Default::default()
            }),
            events: Vec::new(),
            outbox: Vec::new(),
        })
        .expect("baseline");
        let baseline_s = t.elapsed().as_secs_f64();
        let before = db.total_changes();
        db.commit_cycle(&CycleWrite {
            scope: scope(),
            at,
            upserts: Vec::new(),
            deletes: Vec::new(),
            scope_state: None,
            events: Vec::new(),
            outbox: Vec::new(),
        })
        .expect("steady");
        let steady_rows = db.total_changes() - before;
        println!(
            "{n:>9}  {steady_s:>12.3}  {changed_s:>14.3}  {n_changes:>9}  {matched:>12}  {:>11.0}  {baseline_s:>13.2}   (steady-state cycle wrote {steady_rows} rows)",
            peak_rss_mb()
        );
    }
}

//! Engine and store benchmark, the daemon's cycle for one scope of N synthetic security-group
//! rules against 10 000 change records: the baseline persisted (time, bytes written), the
//! stored state read back as digests, then the engine (diff + risk rules + matching) on a
//! steady-state observation and on one with 1 % changed (the changed keys' full rows read
//! from the store), and what each cycle writes (rows, bytes). Prints figures; asserts nothing.
//!
//! Peak RSS is reported per phase (the kernel's high-water mark is reset in between): while
//! the baseline is persisted, and while the engine holds the stored digests and an observation.
//!
//!     cargo bench --bench engine                      # N = 10k, 100k, 1M
//!     DRIFTWATCH_BENCH_SIZES=10000,100000 cargo bench --bench engine

use std::time::Instant;

use driftwatch::diff::{Previous, rows_needed};
use driftwatch::engine::{self, Evaluation, Settings};
use driftwatch::matcher::{MatchSettings, RecordIndex};
use driftwatch::model::aws::{Direction, Peer, SecurityGroupRule};
use driftwatch::model::{Observation, Outcome, Resource, Scope};
use driftwatch::records::{ValidationSettings, parse_file};
use driftwatch::rules::RuleSettings;
use driftwatch::store::{CycleWrite, Db, ScopeState};

/// The allocator the `driftwatch` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

// mimalloc's C library (linked through the `mimalloc` crate): frees what it holds cached now
// rather than after its purge delay.
unsafe extern "C" {
    safe fn mi_collect(force: bool);
}

/// Reset the peak-RSS mark to the current RSS (Linux `clear_refs`, value 5).
/// Memory the previous phase freed is returned to the system first (as the daemon's allocator
/// does after its purge delay), so that a phase's peak is its own.
fn reset_peak_rss() {
    mi_collect(true);
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Bytes this process has passed to write(2)/pwrite(2): SQLite's WAL and checkpoint writes.
fn bytes_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("wchar:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn human_bytes(b: u64) -> String {
    match b {
        0..1_000 => format!("{b} B"),
        1_000..1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        _ => format!("{:.1} MB", b as f64 / 1e6),
    }
}

/// Commit one cycle's state: (rows changed, bytes written).
fn write_state(db: &mut Db, w: CycleWrite) -> (u64, u64) {
    let (rows, bytes) = (db.total_changes(), bytes_written());
    db.commit_cycle(&w).expect("commit");
    (db.total_changes() - rows, bytes_written() - bytes)
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
        "10 000 change records parsed and indexed in {:.2} s, RSS {:.0} MiB",
        t.elapsed().as_secs_f64(),
        peak_rss_mb()
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
    let obs = |r: Vec<Resource>| Observation {
        scope: scope(),
        observed_at: at,
        outcome: Outcome::Complete(r),
    };
    let mut rows = Vec::new();
    for n in sizes {
        println!("\n== {n} resources");
        // The baseline persisted.
        reset_peak_rss();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = Db::open(&dir.path().join("bench.db")).expect("db");
        let baseline = rules(n, 0);
        let t = Instant::now();
        let (_, baseline_bytes) = write_state(
            &mut db,
            CycleWrite {
                upserts: baseline,
                scope_state: Some(ScopeState {
                    baseline_at: Some(at),
                    ..Default::default()
                }),
                ..CycleWrite::new(scope(), at)
            },
        );
        let baseline_s = t.elapsed().as_secs_f64();
        let baseline_rss = peak_rss_mb();
        println!(
            "baseline persisted      {baseline_s:>7.3} s   wrote {:>9}   peak RSS {baseline_rss:>5.0} MiB",
            human_bytes(baseline_bytes)
        );

        // Steady state: digests read back, an unchanged observation, nothing written.
        reset_peak_rss();
        let start_rss = rss_mb();
        let t = Instant::now();
        let digests = db.snapshot_digests(&scope()).expect("digests");
        let load_s = t.elapsed().as_secs_f64();
        let digests_rss = rss_mb();
        let steady_obs = obs(rules(n, 0));
        let obs_rss = rss_mb();
        let t = Instant::now();
        let needed = rows_needed(&digests, &steady_obs);
        assert!(needed.is_empty());
        let previous = Previous::new(digests, Vec::new());
        let steady = engine::evaluate(Some(&previous), &steady_obs, &settings);
        let steady_s = t.elapsed().as_secs_f64();
        let Evaluation::Compared { changes } = &steady else {
            panic!("compared")
        };
        assert!(changes.is_empty());
        let (steady_rows, steady_bytes) = write_state(&mut db, CycleWrite::new(scope(), at));
        let steady_rss = peak_rss_mb();
        println!(
            "state read (digests)    {load_s:>7.3} s   RSS {start_rss:.0} MiB before, {digests_rss:.0} MiB with the digests, {obs_rss:.0} MiB with the observation too"
        );
        println!(
            "steady cycle (engine)   {steady_s:>7.3} s   wrote {steady_rows} rows, {}   peak RSS {steady_rss:>5.0} MiB",
            human_bytes(steady_bytes)
        );
        drop(steady);
        drop(previous);
        drop(steady_obs);

        // 1 % changed: the changed keys' rows read (and checked) from the store.
        reset_peak_rss();
        let digests = db.snapshot_digests(&scope()).expect("digests");
        let changed_obs = obs(rules(n, 100));
        let t = Instant::now();
        let needed = rows_needed(&digests, &changed_obs);
        let needed_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let stored = db.snapshot_rows(&scope(), &needed).expect("rows");
        let fetch_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let previous = Previous::new(digests, stored);
        let changed = engine::evaluate(Some(&previous), &changed_obs, &settings);
        let changed_s = needed_s + t.elapsed().as_secs_f64();
        let Evaluation::Compared { changes } = changed else {
            panic!("compared")
        };
        let matched = changes
            .iter()
            .filter(|c| c.decision.record_id().is_some())
            .count();
        let n_changes = changes.len();
        let upserts: Vec<Resource> = changes.into_iter().filter_map(|c| c.change.after).collect();
        let (changed_rows, changed_bytes) = write_state(
            &mut db,
            CycleWrite {
                upserts,
                ..CycleWrite::new(scope(), at)
            },
        );
        let changed_rss = peak_rss_mb();
        println!(
            "1% changed (engine)     {changed_s:>7.3} s   {n_changes} changes, {matched} matched; {} rows read in {fetch_s:.3} s; wrote {changed_rows} state rows, {}   peak RSS {changed_rss:>5.0} MiB",
            needed.len(),
            human_bytes(changed_bytes)
        );
        drop(previous);
        drop(changed_obs);
        rows.push((
            n,
            steady_s,
            changed_s,
            steady_rss.max(changed_rss),
            baseline_s,
            baseline_bytes,
            steady_rows,
            steady_bytes,
            changed_bytes,
        ));
    }
    println!(
        "\n{:>9}  {:>9}  {:>9}  {:>13}  {:>10}  {:>10}  {:>12}  {:>12}",
        "resources",
        "steady s",
        "1% chg s",
        "engine RSS MiB",
        "baseline s",
        "baseline W",
        "steady W",
        "1% chg W"
    );
    for (n, st, ch, rss, bs, bb, sr, sb, cb) in rows {
        println!(
            "{n:>9}  {st:>9.3}  {ch:>9.3}  {rss:>13.0}  {bs:>10.2}  {:>10}  {:>12}  {:>12}",
            human_bytes(bb),
            format!("{sr} rows, {}", human_bytes(sb)),
            human_bytes(cb)
        );
    }
}

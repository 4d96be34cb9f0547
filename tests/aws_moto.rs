//! End-to-end scenarios against moto's server (started per test): baseline, unplanned and
//! planned changes, webhook delivery, outages, paging, and the ledger.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::*;

const STANDARD_8443: &str = r#"
id: STD-1
title: Internal load balancers may reach the inference API on 8443
type: standard
requested_by: priya@example.com
approved_by: [{ name: marcus@example.com, at: 2026-01-05T09:00:00Z }]
scope:
  - provider: aws
    account: "123456789012"
    kind: aws.ec2.security_group_rule
    target: inference-*
    actions: [create]
    match: { port: 8443, peer: 10.0.0.0/8 }
"#;

const EXPIRED_WINDOW: &str = r#"
id: CHG-9
title: Open MLflow to the VPN during the 2025 migration
type: normal
purpose: migration
impact: VPN only
resources: one engineer
requested_by: erin@example.com
approved_by: [{ name: frank@example.com, at: 2025-01-01T00:00:00Z }]
window: { start: 2025-01-02T00:00:00Z, end: 2025-01-03T00:00:00Z }
scope: [{ provider: aws, target: mlflow }]
"#;

#[tokio::test]
async fn unplanned_world_open_ssh_is_alerted_once_with_its_finding() {
    let (moto, hook, env) = moto_with_webhook();
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "jupyter-notebooks").await;
    authorize(&ec2, &sg, 8888, "10.8.0.0/16").await;

    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "baseline scan: {out}");
    assert!(out.stdout.contains("baseline"), "{out}");
    assert!(hook.requests().is_empty(), "the baseline alerts nobody");

    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "unplanned change: {out}");
    assert!(
        out.stdout
            .contains("UNMATCHED critical created jupyter-notebooks ingress tcp/22 from 0.0.0.0/0"),
        "{out}"
    );

    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1, "one alert: {reqs:?}");
    let a = reqs[0].json();
    let drift = a["drift_id"].as_str().expect("drift id").to_string();
    assert_eq!(
        reqs[0].headers.get("idempotency-key"),
        Some(&format!("{drift}:unmatched"))
    );
    assert_eq!(
        reqs[0].headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(a["version"], 1);
    assert_eq!(a["event"], "unmatched");
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["action"], "create");
    assert_eq!(a["kind"], "aws.ec2.security_group_rule");
    assert_eq!(a["scope"], "aws:123456789012:us-east-1");
    assert_eq!(
        a["resource_id"],
        format!("{sg}/ingress/tcp/22/ipv4:0.0.0.0/0")
    );
    assert_eq!(
        a["resource_name"],
        "jupyter-notebooks ingress tcp/22 from 0.0.0.0/0"
    );
    assert_eq!(a["record_id"], serde_json::Value::Null);
    assert_eq!(a["findings"][0]["rule"], "world_open_sensitive_port");
    assert_eq!(
        a["findings"][0]["message"],
        format!("jupyter-notebooks ({sg}) opens tcp 22 to 0.0.0.0/0: sensitive port 22 (SSH)")
    );
    assert_eq!(
        a["title"],
        "Unplanned change [critical]: create aws.ec2.security_group_rule jupyter-notebooks ingress tcp/22 from 0.0.0.0/0 in aws:123456789012:us-east-1"
    );
    let paths: Vec<&str> = a["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(
        paths.contains(&"attributes.peer.value") && paths.contains(&"attributes.from_port"),
        "{paths:?}"
    );
    assert!(
        a["reason"]
            .as_str()
            .expect("reason")
            .starts_with("no active change record covers create")
    );

    // A new process, nothing changed: no new alert, nothing re-sent.
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "steady state: {out}");
    assert_eq!(hook.requests().len(), 1, "a restart must not re-page");
}

#[tokio::test]
async fn planned_change_is_matched_and_out_of_window_is_a_violation() {
    let (moto, hook, env) = moto_with_webhook();
    env.record("std-1.yaml", STANDARD_8443);
    env.record("chg-9.yaml", EXPIRED_WINDOW);
    let ec2 = moto.ec2().await;
    let api = create_group(&ec2, "inference-api").await;
    let mlflow = create_group(&ec2, "mlflow").await;
    assert_eq!(env.run(&["scan"]).code, 0);

    authorize(&ec2, &api, 8443, "10.20.0.0/16").await;
    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 0, "a matched change is not unplanned: {out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("scan json");
    let c = &v["scopes"][0]["changes"][0];
    assert_eq!(c["decision"]["decision"], "matched", "{c}");
    assert_eq!(c["decision"]["record_id"], "STD-1");
    assert_eq!(c["decision"]["provisional"], false);
    let reason = c["decision"]["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("STD-1 scope[0] (aws, account 123456789012, aws.ec2.security_group_rule, target inference-*, actions create, peer 10.0.0.0/8, port 8443) covers create"),
        "{reason}"
    );
    assert!(
        reason.ends_with("a standard (pre-approved) record"),
        "{reason}"
    );
    assert!(hook.requests().is_empty(), "matched changes are not paged");

    authorize(&ec2, &mlflow, 5000, "10.8.0.0/16").await;
    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 1, "a violation needs attention: {out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("scan json");
    let d = &v["scopes"][0]["changes"][0]["decision"];
    assert_eq!(d["decision"], "violation");
    assert_eq!(d["violation"], "outside_window");
    assert_eq!(d["record_id"], "CHG-9");
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].json()["event"], "violation");
}

#[tokio::test]
async fn stopped_emulator_gives_failed_scope_no_deletes_then_recovery() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        timeout_secs: 1,
        blind_after_failures: 2,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "training-cluster").await;
    authorize(&ec2, &sg, 22, "10.8.0.0/16").await;

    let mut child = env
        .command(&["run"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start driftwatch run");
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::<String>::new();
    let mut wait_for = |needle: &str, limit: Duration| {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if log.iter().any(|l| l.contains(needle)) {
                return;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => log.push(l),
                Err(_) => panic!(
                    "no log line containing `{needle}` within {limit:?}; log:\n{}",
                    log.join("\n")
                ),
            }
        }
    };
    wait_for("baseline recorded", Duration::from_secs(30));
    moto.pause();
    wait_for("poll failed", Duration::from_secs(30));
    wait_until("the source_blind alert", Duration::from_secs(30), || {
        hook.requests()
            .iter()
            .any(|r| r.json()["event"] == "source_blind")
    });
    moto.resume();
    wait_for("source recovered", Duration::from_secs(30));
    wait_until(
        "the source_recovered alert",
        Duration::from_secs(30),
        || {
            hook.requests()
                .iter()
                .any(|r| r.json()["event"] == "source_recovered")
        },
    );
    common::signal(child.id(), "TERM");
    let status = child.wait().expect("wait");
    wait_for("driftwatch stopped", Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");

    let ledger = env.ledger();
    let types: Vec<&str> = ledger.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(
        types.contains(&"source_failed")
            && types.contains(&"source_blind")
            && types.contains(&"source_recovered"),
        "{types:?}"
    );
    assert!(
        !ledger.iter().any(|e| e["type"] == "change"),
        "a failed listing must never produce changes (deletes): {ledger:?}"
    );
    let blind = hook
        .requests()
        .into_iter()
        .find(|r| r.json()["event"] == "source_blind")
        .expect("blind alert");
    assert_eq!(blind.json()["severity"], "high");
    // The recovery is the blind alert's resolve, so PagerDuty and Alertmanager close it.
    let recovered = hook
        .requests()
        .into_iter()
        .find(|r| r.json()["event"] == "source_recovered")
        .expect("recovery alert");
    assert_eq!(recovered.json()["status"], "resolved");
    assert_eq!(recovered.json()["group"], blind.json()["group"]);
    assert!(
        blind.json()["group"]
            .as_str()
            .is_some_and(|g| g.starts_with("source_blind:aws:")),
        "{}",
        blind.json()
    );
    assert!(
        blind.json()["reason"]
            .as_str()
            .expect("reason")
            .contains("2 polls in a row failed")
    );
}

/// A scope whose poll hangs fails it at `sources.poll_deadline_secs` instead of holding up the
/// cycle (and every other scope's decisions) until the SDK gives up; nothing is deleted.
#[tokio::test]
async fn a_hanging_poll_fails_at_its_deadline_and_deletes_nothing() {
    let moto = Moto::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        timeout_secs: 120,
        poll_deadline_secs: 2,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    create_group(&ec2, "inference-api").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    moto.pause();
    let out = env.run(&["scan"]);
    moto.resume();
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stdout.contains("FAILED (timeout)")
            && out
                .stdout
                .contains("the poll did not finish within sources.poll_deadline_secs (2 s)"),
        "{out}"
    );
    assert!(
        !env.ledger().iter().any(|e| e["type"] == "change"),
        "a poll cut off at its deadline never yields deletes"
    );
}

#[tokio::test]
async fn sigterm_finishes_the_cycle_in_flight() {
    let moto = Moto::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        timeout_secs: 20,
        ..Default::default()
    });
    create_group(&moto.ec2().await, "inference-api").await;
    moto.pause();
    let child = env
        .command(&["run"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start");
    std::thread::sleep(Duration::from_millis(1500));
    common::signal(child.id(), "TERM");
    std::thread::sleep(Duration::from_millis(500));
    moto.resume();
    let out = child.wait_with_output().expect("wait");
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{log}");
    let stop = log.find("stop requested").expect("stop logged");
    let baseline = log
        .find("baseline recorded")
        .expect("the cycle in flight completed");
    assert!(
        stop < baseline,
        "the stop request came while the cycle was in flight:\n{log}"
    );
    assert!(log.contains("driftwatch stopped"), "{log}");
    let types: Vec<String> = env
        .ledger()
        .iter()
        .filter_map(|e| e["type"].as_str().map(String::from))
        .collect();
    assert_eq!(types, vec!["baseline"]);
}

#[tokio::test]
async fn webhook_outage_keeps_alerts_and_delivers_once_later() {
    let (moto, hook, env) = moto_with_webhook();
    hook.set_status(503);
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "ray-head").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    authorize(&ec2, &sg, 8265, "0.0.0.0/0").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("pending 1"), "{out}");
    assert_eq!(hook.requests().len(), 1, "one failed attempt");

    hook.set_status(200);
    // The first retry is due ~2 s (±20 %) after the failure.
    std::thread::sleep(Duration::from_secs(3));
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "{out}");
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 2, "delivered on retry");
    assert_eq!(
        reqs[0].headers.get("idempotency-key"),
        reqs[1].headers.get("idempotency-key")
    );
    assert_eq!(reqs[1].json()["event"], "unmatched");
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(hook.requests().len(), 2, "never delivered twice");
}

#[tokio::test]
async fn paging_reads_every_page_and_a_failed_page_deletes_nothing() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    for name in [
        "training-cluster",
        "inference-api",
        "jupyter-notebooks",
        "ray-head",
        "mlflow",
    ] {
        let sg = create_group(&ec2, name).await;
        authorize(&ec2, &sg, 443, "10.0.0.0/8").await;
    }
    // Direct: one page (moto ignores MaxResults).
    let direct = Env::new(&Settings {
        endpoint: &moto.url,
        ..Default::default()
    });
    let out = direct.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let want: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let want_resources = want["scopes"][0]["resources"].as_u64().expect("count");

    // Through the proxy: 2 groups per page, so 6 groups (5 + default) take 3 calls.
    let proxy = PagingProxy::start(&moto.url, 2, 0);
    let paged = Env::new(&Settings {
        endpoint: &proxy.url,
        page_size: 2,
        ..Default::default()
    });
    let out = paged.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let got: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(got["scopes"][0]["resources"].as_u64(), Some(want_resources));
    assert_eq!(proxy.stats()["describe_security_groups_calls"], 3);
    // The scan counts its own calls: the minimum, ceil(6 groups / 2 per page), after the
    // one identity check of the account.
    // In any order: the counters come from a metric family.
    let mut calls: Vec<(String, u64)> = got["aws_requests"]
        .as_array()
        .expect("aws_requests")
        .iter()
        .map(|c| {
            (
                c["operation"].as_str().unwrap_or("").to_string(),
                c["calls"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            ("DescribeSecurityGroups".to_string(), 3),
            ("GetCallerIdentity".to_string(), 1)
        ]
    );

    // Page 2 fails: the scope is Failed, exit 2, and nothing is reported deleted.
    let failing = PagingProxy::start(&moto.url, 2, 2);
    paged.write_config(&Settings {
        endpoint: &failing.url,
        page_size: 2,
        ..Default::default()
    });
    let out = paged.run(&["scan"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.contains("FAILED (throttled)"), "{out}");
    assert!(out.stdout.contains("RequestLimitExceeded"), "{out}");
    assert!(
        !paged.ledger().iter().any(|e| e["type"] == "change"),
        "no deletes from a partial listing"
    );
}

#[tokio::test]
async fn unreachable_endpoint_is_exit_2_and_keeps_state() {
    let moto = Moto::start();
    create_group(&moto.ec2().await, "jupyter-notebooks").await;
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        ..Default::default()
    });
    assert_eq!(env.run(&["scan"]).code, 0);
    let closed = format!("http://127.0.0.1:{}", free_port());
    env.write_config(&Settings {
        endpoint: &closed,
        ..Default::default()
    });
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.contains("FAILED (unreachable)"), "{out}");
    // Back on the real endpoint: no changes, the stored state was kept.
    env.write_config(&Settings {
        endpoint: &moto.url,
        ..Default::default()
    });
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!env.ledger().iter().any(|e| e["type"] == "change"));
}

#[tokio::test]
async fn ledger_verify_passes_then_fails_after_an_edit_with_sqlite3() {
    let moto = Moto::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "jupyter-notebooks").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    authorize(&ec2, &sg, 8888, "0.0.0.0/0").await;
    assert_eq!(env.run(&["scan"]).code, 1);

    let out = env.run(&["ledger", "verify"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with("ledger OK: 2 entries"), "{out}");

    // An auditor re-verifies an export with the 20-line script from ARCHITECTURE.md.
    let export = env.dir.path().join("ledger.jsonl");
    let out = env.run(&["ledger", "export", "-o", export.to_str().expect("utf-8")]);
    assert_eq!(out.code, 0, "{out}");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/verify_ledger.py");
    let py = std::process::Command::new("python3")
        .arg(&script)
        .arg(&export)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&py.stdout).to_string();
    assert!(
        py.status.success() && text.starts_with("OK: 2 entries"),
        "{text}"
    );

    // Downgrade the finding in place, as someone covering their tracks would.
    env.sql("UPDATE ledger SET body = replace(body, '\"critical\"', '\"low\"') WHERE seq = 2");
    let out = env.run(&["ledger", "verify"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout
            .contains("entry 2: content does not match its hash"),
        "{out}"
    );
    let out = env.run(&["ledger", "export", "-o", export.to_str().expect("utf-8")]);
    assert_eq!(out.code, 0, "{out}");
    let py = std::process::Command::new("python3")
        .arg(&script)
        .arg(&export)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&py.stdout).to_string();
    assert!(
        !py.status.success() && text.contains("line 2 (seq 2): hash mismatch"),
        "{text}"
    );

    // Removing an entry is found too.
    env.sql("DELETE FROM ledger WHERE seq = 1");
    let out = env.run(&["ledger", "verify"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout.contains("entry 2: expected sequence number 1"),
        "{out}"
    );
}

/// Cycles trust the stored hash of an unchanged resource (they read digests only); a row
/// altered in the database is found by `ledger verify`, and by the cycle that needs the row.
#[tokio::test]
async fn an_altered_snapshot_row_is_found_by_ledger_verify_and_by_the_cycle_that_reads_it() {
    let moto = Moto::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "payments").await;
    authorize(&ec2, &sg, 5432, "10.0.0.0/8").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    let out = env.run(&["ledger", "verify"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("stored state OK: "), "{out}");

    // Rewrite the stored group's name without its hash.
    env.sql(&format!(
        "UPDATE snapshots SET name = 'renamed' WHERE id = '{sg}'"
    ));
    // Nothing changed in AWS: the stored hash still describes the group, no change is made up.
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "{out}");
    let out = env.run(&["ledger", "verify"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.starts_with("ledger OK: "), "{out}");
    assert!(
        out.stdout.contains(&format!(
            "/aws.ec2.security_group/{sg} does not match its stored hash"
        )),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("stored state FAILED verification: 1 of "),
        "{out}"
    );

    // A change to the group needs the altered row: the cycle fails rather than report it.
    tag(&ec2, &sg, "team", "pay").await;
    let out = env.run(&["scan"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("does not match its stored hash"),
        "{out}"
    );
}

#[tokio::test]
async fn report_lists_changes_decisions_and_exposure() {
    let moto = Moto::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        ..Default::default()
    });
    env.record("std-1.yaml", STANDARD_8443);
    let ec2 = moto.ec2().await;
    let api = create_group(&ec2, "inference-api").await;
    authorize(&ec2, &api, 443, "0.0.0.0/0").await;
    let jup = create_group(&ec2, "jupyter-<script>").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    authorize(&ec2, &api, 8443, "10.20.0.0/16").await;
    authorize(&ec2, &jup, 22, "0.0.0.0/0").await;
    assert_eq!(env.run(&["scan"]).code, 1);

    let out = env.run(&["report", "--since", "1d", "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let r: serde_json::Value = serde_json::from_str(&out.stdout).expect("report json");
    assert_eq!(r["schema_version"], 2);
    assert_eq!(r["ledger"]["verified"], true);
    assert_eq!(r["totals"]["changes"], 2);
    assert_eq!(r["totals"]["matched"], 1);
    assert_eq!(r["totals"]["unmatched"], 1);
    assert_eq!(
        r["baseline_exposures"][0]["findings"][0]["rule"],
        "world_open_port"
    );
    assert_eq!(r["records"][0]["id"], "STD-1");
    assert_eq!(r["records"][0]["used_by"].as_array().map(Vec::len), Some(1));

    let out = env.run(&["report", "--since", "1d", "--format", "markdown"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("| 2 | 1 | 1 | 0 |"), "{}", out.stdout);
    assert!(
        out.stdout.contains("jupyter-&lt;script&gt;"),
        "names are escaped: {}",
        out.stdout
    );
    assert!(!out.stdout.contains("<script>"));
}

#[tokio::test]
async fn bad_record_file_is_alerted_once_and_the_others_still_match() {
    let (moto, hook, env) = moto_with_webhook();
    env.record("std-1.yaml", STANDARD_8443);
    env.record("broken.yaml", "id: CHG-X\ntitle: self approved\ntype: standard\nrequested_by: a@example.com\napproved_by: [{ name: a@example.com, at: 2026-01-01T00:00:00Z }]\nscope: [{ provider: aws }]\n");
    let ec2 = moto.ec2().await;
    let api = create_group(&ec2, "inference-api").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("record rejected: "), "{out}");
    assert!(
        out.stdout.contains(
            "broken.yaml:5: approved_by[0].name: approver a@example.com is also the requester"
        ),
        "{out}"
    );
    assert!(out.stdout.contains("1 change records active"), "{out}");
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let a = reqs[0].json();
    assert_eq!(a["event"], "record_rejected");
    assert!(
        a["title"]
            .as_str()
            .expect("title")
            .contains("broken.yaml:5: approved_by[0].name"),
        "{a}"
    );

    authorize(&ec2, &api, 8443, "10.1.0.0/16").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "the valid record still matches: {out}");
    assert_eq!(hook.requests().len(), 1, "the same problem is alerted once");
    let rejected = env
        .ledger()
        .into_iter()
        .filter(|e| e["type"] == "record_rejected")
        .count();
    assert_eq!(rejected, 1);
}

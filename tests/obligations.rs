//! The clocks after a change, against moto's server with shortened schedules: a temporary
//! change not reverted in time, a break-glass session opened by the CLI, retrospective
//! reminders with their record skeleton, and a restart in the middle.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use jiff::{SignedDuration, Timestamp};

const SECS: Duration = Duration::from_secs(40);

fn at(offset_secs: i64) -> String {
    let now = Timestamp::now();
    let t = now
        .checked_add(SignedDuration::from_secs(offset_secs))
        .expect("time");
    Timestamp::from_second(t.as_second())
        .expect("second")
        .to_string()
}

/// Events at a receiver, as `event:status` with the obligation step when present.
fn events(r: &Receiver) -> Vec<String> {
    r.requests()
        .iter()
        .map(|q| {
            let a = q.json();
            format!(
                "{}:{}",
                a["event"].as_str().unwrap_or(""),
                a["status"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test]
async fn temporary_change_not_reverted_alerts_then_resolves_when_closed() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let extra =
        "[obligations]\nretrospective_deadline_secs = 3600\nreminder_offsets_secs = [3600]\n";
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "training-cluster").await;
    env.record(
        "chg-temp.yaml",
        &format!(
            "id: CHG-TEMP\ntitle: SSH from the VPN for node maintenance\ntype: normal\npurpose: debug NCCL\nimpact: VPN only\nresources: 1 engineer\nrequested_by: alice@example.com\napproved_by: [{{ name: bob@example.com, at: {} }}]\nwindow: {{ start: {}, end: {} }}\nrevert_by: {}\nscope: [{{ provider: aws, target: training-*, actions: [create, delete], match: {{ port: 22 }} }}]\n",
            at(-3600),
            at(-3600),
            at(3600),
            at(4)
        ),
    );
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    authorize(&ec2, &sg, 22, "10.8.0.0/16").await;
    let i = d.wait_log("matched", SECS);
    assert!(d.log[i].contains("record=\"CHG-TEMP\""), "{}", d.log[i]);
    wait_until("the not-reverted alert", SECS, || {
        events(&hook).contains(&"not_reverted:firing".to_string())
    });
    let a = hook
        .requests()
        .into_iter()
        .map(|r| r.json())
        .find(|a| a["event"] == "not_reverted")
        .expect("alert");
    assert!(a["title"].as_str().expect("title").starts_with("Temporary change not reverted: aws.ec2.security_group_rule training-cluster ingress tcp/22 from 10.8.0.0/16 back to its state before"), "{a}");
    assert_eq!(a["record_id"], "CHG-TEMP");
    let drift = a["drift_id"].as_str().expect("drift").to_string();

    revoke(&ec2, &sg, 22, "10.8.0.0/16").await;
    wait_until("the resolve after the revert", SECS, || {
        hook.requests()
            .iter()
            .any(|r| r.headers.get("idempotency-key") == Some(&format!("{drift}:resolved")))
    });
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
    let out = env.run(&["obligations"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("no open obligations"), "{out}");
}

#[tokio::test]
async fn break_glass_session_owes_a_retrospective_and_must_be_closed() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let extra = "[obligations]\nretrospective_deadline_secs = 4\nreminder_offsets_secs = [1]\n";
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "inference-api").await;
    assert_eq!(env.run(&["scan"]).code, 0);

    let out = env.run(&[
        "break-glass",
        "open",
        "--reason",
        "INC-4711 inference API down",
        "--duration",
        "3s",
        "--by",
        "alice@example.com",
        "--scope",
        "provider=aws,target=inference-*",
        "--id",
        "BG-TEST-1",
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("break-glass session BG-TEST-1 open until"),
        "{out}"
    );
    let file = env.dir.path().join("changes/break-glass-bg-test-1.yaml");
    assert!(file.exists());
    let out = env.run(&[
        "records",
        "check",
        env.dir.path().join("changes").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.code, 0, "the session record is a valid record: {out}");

    authorize(&ec2, &sg, 8443, "0.0.0.0/0").await;
    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let dec = &v["scopes"][0]["changes"][0]["decision"];
    assert_eq!(dec["decision"], "matched");
    assert_eq!(dec["record_id"], "BG-TEST-1");
    assert_eq!(dec["provisional"], true);

    // The deadline (4 s) and the session end (3 s) pass with no retrospective and no close.
    std::thread::sleep(Duration::from_secs(5));
    let out = env.run(&["obligations"]);
    assert_eq!(out.code, 1, "overdue: {out}");
    assert!(
        out.stdout.contains("session_retrospective:BG-TEST-1") && out.stdout.contains("OVERDUE"),
        "{out}"
    );
    assert!(out.stdout.contains("session_open:BG-TEST-1"), "{out}");
    assert_eq!(env.run(&["scan"]).code, 0);
    // Every step is ledgered; steps that fell due together are sent as one message (the
    // latest), so the reminder may or may not have gone out before the overdue one.
    let e = events(&hook);
    for want in ["overdue:firing", "break_glass_open:firing"] {
        assert!(e.contains(&want.to_string()), "missing {want} in {e:?}");
    }
    assert_eq!(
        e.iter().filter(|x| *x == "break_glass_open:firing").count(),
        1,
        "{e:?}"
    );
    let steps: Vec<String> = env
        .ledger()
        .iter()
        .filter(|x| x["type"] == "obligation_step")
        .map(|x| {
            format!(
                "{} {}",
                x["obligation"].as_str().unwrap_or(""),
                x["step"].as_str().unwrap_or("")
            )
        })
        .collect();
    for want in [
        "session_retrospective:BG-TEST-1 reminder-1",
        "session_retrospective:BG-TEST-1 overdue",
        "session_open:BG-TEST-1 due",
    ] {
        assert!(
            steps.contains(&want.to_string()),
            "missing {want} in {steps:?}"
        );
    }

    // Closing the session and filing the retrospective resolve both.
    let out = env.run(&["break-glass", "close", "BG-TEST-1"]);
    assert_eq!(out.code, 0, "{out}");
    env.record(
        "retro-bg.yaml",
        "id: RETRO-BG-1\ntitle: Retrospective of INC-4711\ntype: standard\nrequested_by: alice@example.com\napproved_by: [{ name: bob@example.com, at: 2026-11-29T00:00:00Z }]\nscope: [{ provider: aws, target: inference-* }]\nretrospective_for: [BG-TEST-1]\n",
    );
    assert_eq!(env.run(&["scan"]).code, 0);
    let keys: Vec<String> = hook
        .requests()
        .iter()
        .filter_map(|r| r.headers.get("idempotency-key").cloned())
        .collect();
    assert!(
        keys.contains(&"session_retrospective:BG-TEST-1:resolved".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"session_open:BG-TEST-1:resolved".to_string()),
        "{keys:?}"
    );
    let out = env.run(&["obligations"]);
    assert_eq!(out.code, 0, "{out}");
    let kinds: Vec<String> = env
        .ledger()
        .iter()
        .filter_map(|e| e["type"].as_str().map(String::from))
        .collect();
    assert!(
        kinds.iter().filter(|k| *k == "obligation_step").count() >= 3,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "obligation_closed").count(),
        2,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn reminders_survive_a_restart_without_repeats() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let extra = "[obligations]\nretrospective_deadline_secs = 5\nreminder_offsets_secs = [1]\n";
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "ray-head").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    authorize(&ec2, &sg, 8265, "0.0.0.0/0").await;
    wait_until("the first reminder", SECS, || {
        events(&hook).contains(&"reminder:firing".to_string())
    });
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);

    // The reminder carries a record skeleton that closes the drift once filled.
    let reminder = hook
        .requests()
        .into_iter()
        .map(|r| r.json())
        .find(|a| a["event"] == "reminder")
        .expect("reminder");
    let drift = reminder["drift_id"].as_str().expect("drift").to_string();
    let skeleton = reminder["record_skeleton"]
        .as_str()
        .expect("skeleton")
        .to_string();
    assert!(
        skeleton.contains(&format!("retrospective_for: [{drift}]")),
        "{skeleton}"
    );

    std::thread::sleep(Duration::from_secs(5));
    let mut d = Running::start(env.command(&["run"]));
    wait_until("the overdue escalation after the restart", SECS, || {
        events(&hook).contains(&"overdue:firing".to_string())
    });
    env.record("retro.yaml", &skeleton);
    wait_until("the resolve once the retrospective is filed", SECS, || {
        hook.requests()
            .iter()
            .any(|r| r.headers.get("idempotency-key") == Some(&format!("{drift}:resolved")))
    });
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in hook.requests() {
        *counts
            .entry(
                r.headers
                    .get("idempotency-key")
                    .cloned()
                    .unwrap_or_default(),
            )
            .or_default() += 1;
    }
    assert!(
        counts.values().all(|n| *n == 1),
        "nothing sent twice: {counts:?}"
    );
    assert_eq!(
        counts.get(&format!("{drift}:retrospective:reminder-1")),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        counts.get(&format!("{drift}:retrospective:overdue")),
        Some(&1),
        "{counts:?}"
    );

    let out = env.run(&["drifts", "show", &drift]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("state      closed") && out.stdout.contains("retrospective_filed"),
        "{out}"
    );
    assert!(
        out.stdout.contains("attributes.from_port: ∅ -> 8265"),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!("{drift}:unmatched -> hook")),
        "{out}"
    );
}

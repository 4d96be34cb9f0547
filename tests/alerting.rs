//! Alert delivery end to end: exact Slack, PagerDuty and signed-webhook payloads at local
//! receivers, a real Alertmanager, resolves when a drift is reverted or explained by a
//! retrospective record, outages, escalation, and a crash with undelivered alerts.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECS: Duration = Duration::from_secs(40);

/// Checks a signed request as docs/webhook.md tells a receiver to: the timestamp header and
/// the signature's `t` agree, `v1` is the HMAC-SHA256 of `"<t>.<body>"` under `key`, and `t`
/// is within 300 s of now. Panics naming what does not hold.
fn verify_signed(key: &str, r: &Received) {
    let header = r
        .headers
        .get("x-driftwatch-signature")
        .unwrap_or_else(|| panic!("no signature: {:?}", r.headers));
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("not t=<ts>,v1=<hex>: {header}"));
    assert_eq!(
        r.headers.get("x-driftwatch-timestamp").map(String::as_str),
        Some(t)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("hmac key");
    mac.update(format!("{t}.{}", r.body).as_bytes());
    assert_eq!(v1, hex::encode(mac.finalize().into_bytes()), "{header}");
    let sent: i64 = t.parse().expect("unix seconds");
    let now = jiff::Timestamp::now().as_second();
    assert!(
        (now - sent).abs() <= 300,
        "timestamp {sent} is not now ({now})"
    );
}

#[tokio::test]
async fn slack_pagerduty_and_signed_webhook_fire_then_resolve() {
    let moto = Moto::start();
    let (slack, pd, hook) = (Receiver::start(), Receiver::start(), Receiver::start());
    let extra = format!(
        r#"[[sinks]]
type = "slack"
name = "slack"
url = "{}"
[[sinks]]
type = "pagerduty"
name = "pd"
url = "{}"
routing_key = "PDKEY123"
[[sinks]]
type = "webhook"
name = "signed"
url = "{}"
hmac_key = "s3cret"
"#,
        slack.url, pd.url, hook.url
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "jupyter-notebooks").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "{out}");

    // PagerDuty: a trigger with the drift id as dedup_key.
    let p = pd.requests();
    assert_eq!(p.len(), 1, "{p:?}");
    let t = p[0].json();
    let drift = t["dedup_key"].as_str().expect("dedup_key").to_string();
    assert!(drift.starts_with("d-"));
    assert_eq!(t["routing_key"], "PDKEY123");
    assert_eq!(t["event_action"], "trigger");
    assert_eq!(t["payload"]["severity"], "critical");
    assert_eq!(t["payload"]["source"], "aws:123456789012:us-east-1");
    assert_eq!(t["payload"]["class"], "unmatched");
    assert_eq!(
        t["payload"]["component"],
        "jupyter-notebooks ingress tcp/22 from 0.0.0.0/0"
    );
    assert_eq!(t["payload"]["custom_details"]["drift_id"], drift.as_str());
    assert_eq!(
        t["payload"]["custom_details"]["findings"][0],
        format!("jupyter-notebooks ({sg}) opens tcp 22 to 0.0.0.0/0: sensitive port 22 (SSH)")
    );
    assert_eq!(
        t["payload"]["summary"],
        "Unplanned change [critical]: create aws.ec2.security_group_rule jupyter-notebooks ingress tcp/22 from 0.0.0.0/0 in aws:123456789012:us-east-1"
    );

    // Slack: Block Kit with the resource, drift and findings.
    let s = slack.requests();
    assert_eq!(s.len(), 1);
    let m = s[0].json();
    assert_eq!(m["text"], t["payload"]["summary"]);
    assert_eq!(
        m["blocks"][1]["fields"][3]["text"],
        "*Resource*\naws.ec2.security_group_rule `jupyter-notebooks ingress tcp/22 from 0.0.0.0/0`"
    );
    assert_eq!(
        m["blocks"][1]["fields"][5]["text"],
        format!("*Drift*\n`{drift}`")
    );
    assert_eq!(
        m["blocks"][2]["text"]["text"],
        format!(
            "*Findings*\n• *critical* jupyter-notebooks ({sg}) opens tcp 22 to 0.0.0.0/0: sensitive port 22 (SSH)"
        )
    );

    // Webhook: the documented payload, signed over its timestamp and the exact body.
    let w = hook.requests();
    assert_eq!(w.len(), 1);
    verify_signed("s3cret", &w[0]);
    assert_eq!(
        w[0].headers.get("idempotency-key"),
        Some(&format!("{drift}:unmatched"))
    );
    assert_eq!(w[0].json()["status"], "firing");

    // Closing the port again reverts the drift: a resolve, and no new page.
    revoke(&ec2, &sg, 22, "0.0.0.0/0").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "a revert is not unplanned: {out}");
    let p = pd.requests();
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(
        p[1].json(),
        serde_json::json!({"routing_key": "PDKEY123", "event_action": "resolve", "dedup_key": drift})
    );
    let s = slack.requests();
    assert_eq!(s.len(), 2);
    assert!(
        s[1].json()["text"]
            .as_str()
            .expect("text")
            .starts_with("Resolved: Unplanned change")
    );
    let w = hook.requests();
    assert_eq!(w.len(), 2);
    let r = w[1].json();
    assert_eq!(r["status"], "resolved");
    assert_eq!(
        w[1].headers.get("idempotency-key"),
        Some(&format!("{drift}:resolved"))
    );
    assert!(
        r["reason"]
            .as_str()
            .expect("reason")
            .starts_with("reverted"),
        "{r}"
    );
    verify_signed("s3cret", &w[1]);

    let closed: Vec<_> = env
        .ledger()
        .into_iter()
        .filter(|e| e["type"] == "drift_closed")
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["drift_id"], drift.as_str());
    assert_eq!(closed[0]["reason"], "reverted");
}

#[tokio::test]
async fn a_retrospective_record_closes_the_drift_and_resolves() {
    let moto = Moto::start();
    let pd = Receiver::start();
    let extra = format!(
        "[[sinks]]\ntype = \"pagerduty\"\nname = \"pd\"\nurl = \"{}\"\nrouting_key_env = \"DW_TEST_PD_KEY\"\n",
        pd.url
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "ray-head").await;
    let scan = |env: &Env| {
        let out = env
            .command(&["scan"])
            .env("DW_TEST_PD_KEY", "KEY-FROM-ENV")
            .output()
            .expect("scan");
        Out::from(out)
    };
    assert_eq!(scan(&env).code, 0);
    authorize(&ec2, &sg, 8265, "0.0.0.0/0").await;
    assert_eq!(scan(&env).code, 1);
    let drift = pd.requests()[0].json()["dedup_key"]
        .as_str()
        .expect("drift")
        .to_string();
    assert_eq!(pd.requests()[0].json()["routing_key"], "KEY-FROM-ENV");

    env.record(
        "retro.yaml",
        &format!(
            "id: CHG-RETRO-1\ntitle: Ray dashboard opened during the incident\ntype: standard\nrequested_by: dave@example.com\napproved_by: [{{ name: erin@example.com, at: 2026-11-29T00:00:00Z }}]\nscope: [{{ provider: aws, target: ray-head }}]\nretrospective_for: [{drift}]\n"
        ),
    );
    let out = scan(&env);
    assert_eq!(out.code, 0, "{out}");
    let reqs = pd.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].json()["event_action"], "resolve");
    assert_eq!(reqs[1].json()["dedup_key"], drift.as_str());
    let closed: Vec<_> = env
        .ledger()
        .into_iter()
        .filter(|e| e["type"] == "drift_closed")
        .collect();
    assert_eq!(closed[0]["reason"], "retrospective_filed");
    assert_eq!(closed[0]["by"], "CHG-RETRO-1");
    // Once closed it stays closed: no second resolve.
    assert_eq!(scan(&env).code, 0);
    assert_eq!(pd.requests().len(), 2);
}

#[tokio::test]
async fn real_alertmanager_shows_and_resolves_the_drift() {
    let moto = Moto::start();
    let notified = Receiver::start();
    let am = Alertmanager::start(&notified.url);
    let extra = format!(
        "[[sinks]]\ntype = \"alertmanager\"\nname = \"am\"\nurl = \"{}\"\n",
        am.url
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "mlflow").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    authorize(&ec2, &sg, 5000, "0.0.0.0/0").await;
    assert_eq!(env.run(&["scan"]).code, 1);

    let active = am.alerts();
    assert_eq!(active.len(), 1, "{active:?}");
    let a = &active[0];
    let drift = a["labels"]["drift_id"]
        .as_str()
        .expect("drift_id label")
        .to_string();
    assert_eq!(a["labels"]["alertname"], "DriftwatchUnplannedChange");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["status"]["state"], "active");
    assert!(
        a["annotations"]["findings"]
            .as_str()
            .expect("findings")
            .contains("sensitive port 5000 (MLflow)")
    );
    wait_until("Alertmanager's firing notification", SECS, || {
        notified
            .requests()
            .iter()
            .any(|r| r.json()["status"] == "firing")
    });
    let n = notified
        .requests()
        .into_iter()
        .find(|r| r.json()["status"] == "firing")
        .expect("firing");
    assert_eq!(n.json()["alerts"][0]["labels"]["drift_id"], drift.as_str());

    revoke(&ec2, &sg, 5000, "0.0.0.0/0").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "{out}");
    wait_until(
        "the alert to leave Alertmanager's active list",
        SECS,
        || am.alerts().is_empty(),
    );
    wait_until("Alertmanager's resolved notification", SECS, || {
        notified
            .requests()
            .iter()
            .any(|r| r.json()["status"] == "resolved")
    });
}

#[tokio::test]
async fn outage_then_recovery_delivers_every_alert_once_and_escalates() {
    let moto = Moto::start();
    let (down, backup) = (Receiver::start(), Receiver::start());
    down.set_status(503);
    let extra = format!(
        "[[sinks]]\ntype = \"webhook\"\nname = \"down\"\nurl = \"{}\"\n[[sinks]]\ntype = \"webhook\"\nname = \"backup\"\nurl = \"{}\"\n[alerting]\nescalate_after_failures = 2\n[[alerting.routes]]\nsinks = [\"down\"]\nevents = [\"unmatched\"]\n[[alerting.routes]]\nsinks = [\"backup\"]\nevents = [\"delivery_failed\"]\n",
        down.url, backup.url
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "gpu-nodes").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    for port in [22, 6443, 10250] {
        authorize(&ec2, &sg, port, "0.0.0.0/0").await;
    }
    wait_until(
        "the delivery_failed escalation at the backup sink",
        SECS,
        || {
            backup
                .requests()
                .iter()
                .any(|r| r.json()["event"] == "delivery_failed")
        },
    );
    let esc = backup
        .requests()
        .into_iter()
        .find(|r| r.json()["event"] == "delivery_failed")
        .expect("escalation");
    assert!(
        esc.json()["title"]
            .as_str()
            .expect("title")
            .starts_with("Alert sink down is failing"),
        "{}",
        esc.body
    );

    down.set_status(200);
    wait_until("three alerts delivered after recovery", SECS, || {
        down.requests().iter().filter(|r| r.status == 200).count() >= 3
    });
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
    let mut ok: HashMap<String, usize> = HashMap::new();
    for r in down.requests().iter().filter(|r| r.status == 200) {
        *ok.entry(
            r.headers
                .get("idempotency-key")
                .cloned()
                .unwrap_or_default(),
        )
        .or_default() += 1;
    }
    assert_eq!(ok.len(), 3, "{ok:?}");
    assert!(
        ok.values().all(|n| *n == 1),
        "each alert delivered once: {ok:?}"
    );
    assert!(
        env.ledger()
            .iter()
            .any(|e| e["type"] == "delivery_failed" && e["sink"] == "down")
    );
}

#[tokio::test]
async fn sigkill_with_undelivered_alerts_delivers_after_restart_once() {
    let (moto, hook, env) = moto_with_webhook();
    hook.set_status(503);
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "tensorboard").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    authorize(&ec2, &sg, 6006, "0.0.0.0/0").await;
    d.wait_log("alert delivery failed; will retry", SECS);
    d.signal("KILL");
    let _ = d.wait_exit(SECS);

    hook.set_status(200);
    let mut d = Running::start(env.command(&["run"]));
    wait_until("delivery after the restart", SECS, || {
        hook.requests().iter().any(|r| r.status == 200)
    });
    d.wait_log("cycle complete", SECS);
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
    let delivered: Vec<_> = hook
        .requests()
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert_eq!(delivered.len(), 1, "delivered once: {delivered:?}");
    assert_eq!(delivered[0].json()["event"], "unmatched");
}

#[tokio::test]
async fn rate_limited_receiver_is_retried_after_its_retry_after() {
    let moto = Moto::start();
    let hook = Receiver::start();
    hook.set_status(429);
    hook.set_retry_after(1);
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "redis").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    authorize(&ec2, &sg, 6379, "0.0.0.0/0").await;
    let i = d.wait_log("alert delivery failed; will retry", SECS);
    assert!(
        d.log[i].contains("retry_in_secs=1"),
        "Retry-After honoured: {}",
        d.log[i]
    );
    assert!(d.log[i].contains("HTTP 429"), "{}", d.log[i]);
    hook.set_status(200);
    wait_until("delivery after the 429", SECS, || {
        hook.requests().iter().any(|r| r.status == 200)
    });
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
}

/// The quiet period must not hide a port reopened minutes after it was closed (the earlier
/// alert was resolved, so nobody would be told): it holds an alert back only while the
/// earlier drift on the resource is still open, and never a critical one.
#[tokio::test]
async fn a_port_reopened_after_its_revert_pages_again_and_a_repeat_while_open_is_held() {
    let (moto, hook, env) = moto_with_webhook();
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "bastion").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    assert_eq!(env.run(&["scan"]).code, 1);
    revoke(&ec2, &sg, 22, "0.0.0.0/0").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    // Often within the same second as the first opening: the same fingerprint, yet its own
    // drift id (Change::make_id_unique).
    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    let reopened = env.run(&["scan"]);
    assert_eq!(
        reopened.code, 1,
        "still unplanned, and reported: {reopened}"
    );
    let events = || -> Vec<String> {
        hook.requests()
            .iter()
            .map(|r| {
                format!(
                    "{}:{}:{}",
                    r.json()["event"],
                    r.json()["status"],
                    r.json()["drift_id"]
                )
            })
            .collect()
    };
    let seen = events();
    assert_eq!(
        seen.len(),
        3,
        "firing, resolved, firing again: {seen:?}\n{reopened}\n{:?}",
        env.ledger()
    );
    assert!(seen[0].starts_with("\"unmatched\":\"firing\""), "{seen:?}");
    assert!(
        seen[1].starts_with("\"unmatched\":\"resolved\""),
        "{seen:?}"
    );
    assert!(
        seen[2].starts_with("\"unmatched\":\"firing\"") && seen[2] != seen[0],
        "the reopened port pages again, as a new drift: {seen:?}"
    );

    // A repeat on a resource whose drift is still open (tags changed twice, nothing
    // critical) is held back: its first alert still stands.
    tag(&ec2, &sg, "owner", "alice").await;
    assert_eq!(env.run(&["scan"]).code, 1);
    tag(&ec2, &sg, "owner", "bob").await;
    assert_eq!(env.run(&["scan"]).code, 1);
    assert_eq!(
        events().len(),
        4,
        "one alert for the two tag changes: {:?}",
        events()
    );
    let changes: Vec<_> = env
        .ledger()
        .into_iter()
        .filter(|e| e["type"] == "change")
        .collect();
    assert_eq!(changes.len(), 5);
    assert_eq!(
        changes[2]["alert_suppressed"], false,
        "critical reopen: paged"
    );
    assert_eq!(changes[3]["alert_suppressed"], false);
    assert_eq!(
        changes[4]["alert_suppressed"], true,
        "the ledger says why nobody was paged"
    );
}

/// A sink outage longer than the retries used to last: alerts are retried until
/// `alerting.give_up_after_secs`, on-call is told once per outage (not once per alert), every
/// given-up alert is ledgered, `outbox list` shows them and `outbox retry` re-queues them
/// for the running daemon to deliver.
#[tokio::test]
async fn a_long_sink_outage_escalates_once_and_given_up_alerts_can_be_requeued() {
    let moto = Moto::start();
    let down = Receiver::start();
    down.set_status(503);
    let extra = format!(
        "[[sinks]]\ntype = \"webhook\"\nname = \"down\"\nurl = \"{}\"\ntimeout_secs = 2\n[alerting]\ngive_up_after_secs = 3\n",
        down.url
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "batch").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    for port in [5432, 6379, 9200] {
        authorize(&ec2, &sg, port, "0.0.0.0/0").await;
    }
    wait_until("three alerts given up", SECS, || {
        env.ledger()
            .iter()
            .filter(|e| e["type"] == "delivery_failed" && e["abandoned"] == true)
            .count()
            == 3
    });
    let out = env.run(&["outbox", "list"]);
    assert_eq!(out.code, 1, "given-up alerts are a finding: {out}");
    assert_eq!(out.stdout.matches(" abandoned ").count(), 3, "{out}");
    assert!(out.stdout.contains("HTTP 503"), "{out}");
    // One escalation for the outage, however many alerts it held up (the escalation rows
    // are written with the ledger entries, so this count is final).
    let all = env.run(&["outbox", "list", "--all", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&all.stdout).expect("json");
    let told: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| {
            r["sink"] == "log"
                && r["key"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("delivery_failed:"))
        })
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(
        rows.iter().filter(|r| r["sink"] == "down").count(),
        3,
        "{rows:?}"
    );

    down.set_status(200);
    let out = env.run(&["outbox", "retry", "--sink", "down"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("re-queued 3 given-up alert(s)"),
        "{out}"
    );
    wait_until("the re-queued alerts delivered", SECS, || {
        down.requests().iter().filter(|r| r.status == 200).count() == 3
    });
    let out = env.run(&["outbox", "list"]);
    assert_eq!(out.code, 0, "{out}");
    let out = env.run(&["outbox", "retry", "--sink", "nosuch"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("no sink named `nosuch`"), "{out}");
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
}

/// A receiver that answers an error with a body far larger than any excerpt (1 GiB declared,
/// written until the client hangs up): delivery fails as an ordinary retryable failure, its
/// message holds a 200-character excerpt, and driftwatch read only the start of the body.
#[tokio::test]
async fn a_huge_error_body_is_a_short_retryable_failure_and_is_not_read() {
    let moto = Moto::start();
    let hook = Receiver::start();
    hook.set_status(500);
    hook.flood_errors();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "etl").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "{out}");
    wait_until("driftwatch hung up on the flooded answer", SECS, || {
        hook.flooded().1 >= 1
    });
    let (sent, _) = hook.flooded();
    // The excerpt's 4 KiB, plus what the loopback socket buffers took before the close.
    assert!(
        sent < 64 * 1024 * 1024,
        "{sent} of {FLOOD_BYTES} bytes were written: the body was read"
    );
    let all = env.run(&["outbox", "list", "--all", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&all.stdout).expect("json");
    let row = rows
        .iter()
        .find(|r| r["sink"] == "hook")
        .unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!(row["state"], "pending", "a 500 is retried: {row}");
    assert_eq!(
        row["last_error"],
        format!("receiver answered HTTP 500: {}", "E".repeat(200)).as_str(),
        "{row}"
    );
}

/// `scripts/webhook_receiver.py` runs the verification docs/webhook.md shows; it stops with
/// the test.
struct PythonReceiver {
    child: std::process::Child,
    url: String,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl PythonReceiver {
    fn start(key: &str) -> PythonReceiver {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("alerts.jsonl");
        let port = free_port();
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/webhook_receiver.py");
        let child = std::process::Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(&out)
            .env("DRIFTWATCH_WEBHOOK_HMAC_KEY", key)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("python3");
        wait_until("the Python receiver listens", SECS, || {
            http_get(port, "/").is_some_and(|(s, _)| s == 200)
        });
        PythonReceiver {
            child,
            url: format!("http://127.0.0.1:{port}/alerts"),
            out,
            _dir: dir,
        }
    }

    fn accepted(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }
}

impl Drop for PythonReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The receiver-side check from docs/webhook.md, run by the shipped Python receiver, accepts
/// what driftwatch signs and refuses a signature made with another key (401: given up).
#[tokio::test]
async fn the_documented_receiver_check_accepts_the_signature_and_refuses_another_key() {
    let moto = Moto::start();
    let (good, other) = (
        PythonReceiver::start("s3cret"),
        PythonReceiver::start("s3cret"),
    );
    let extra = format!(
        "[[sinks]]\ntype = \"webhook\"\nname = \"good\"\nurl = \"{}\"\nhmac_key = \"s3cret\"\n\
         [[sinks]]\ntype = \"webhook\"\nname = \"wrong\"\nurl = \"{}\"\nhmac_key = \"not-the-key\"\n",
        good.url, other.url
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "notebooks").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "{out}");
    // The alert, and the escalation about the other sink giving it up: both verified.
    let mut events: Vec<String> = good
        .accepted()
        .iter()
        .map(|a| a["alert"]["event"].as_str().unwrap_or("").to_string())
        .collect();
    events.sort();
    assert_eq!(events, ["delivery_failed", "unmatched"]);
    assert!(other.accepted().is_empty());
    let all = env.run(&["outbox", "list", "--all", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&all.stdout).expect("json");
    let wrong = rows
        .iter()
        .find(|r| r["sink"] == "wrong")
        .unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!(wrong["state"], "abandoned", "{wrong}");
    assert!(
        wrong["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("receiver answered HTTP 401")),
        "{wrong}"
    );
}

/// One sink hanging on every request must not hold up another: each sink has its own
/// dispatch loop. The fast sink gets a second alert while the slow one still sits on the
/// first (a shared loop waited for the slow delivery before the next batch).
#[tokio::test]
async fn a_slow_sink_does_not_delay_the_others() {
    let moto = Moto::start();
    let (slow, fast) = (Receiver::start(), Receiver::start());
    slow.set_delay(Duration::from_secs(25));
    let extra = format!(
        "[[sinks]]\ntype = \"webhook\"\nname = \"slow\"\nurl = \"{}\"\ntimeout_secs = 60\n[[sinks]]\ntype = \"webhook\"\nname = \"fast\"\nurl = \"{}\"\n",
        slow.url, fast.url
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "etl-workers").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    wait_until("the slow sink to get the first alert", SECS, || {
        !slow.requests().is_empty()
    });
    authorize(&ec2, &sg, 3389, "0.0.0.0/0").await;
    wait_until(
        "the fast sink to get both alerts",
        Duration::from_secs(20),
        || fast.requests().len() >= 2,
    );
    assert_eq!(
        slow.answered(),
        0,
        "the fast sink was served while the slow one still held its first alert"
    );
    d.signal("KILL");
}

/// Alertmanager drops a firing alert at its `endsAt`: while the drift stays open driftwatch
/// posts it again after half of `active_secs`, so it is still active long after the first
/// post would have expired, and one resolve still ends it.
#[tokio::test]
async fn alertmanager_alerts_stay_active_while_the_drift_is_open() {
    let moto = Moto::start();
    let notified = Receiver::start();
    let am = Alertmanager::start(&notified.url);
    let extra = format!(
        "[[sinks]]\ntype = \"alertmanager\"\nname = \"am\"\nurl = \"{}\"\nactive_secs = 4\n",
        am.url
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "feature-store").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    authorize(&ec2, &sg, 6379, "0.0.0.0/0").await;
    wait_until("the alert in Alertmanager", SECS, || am.alerts().len() == 1);
    // Three times the active period: without re-posts it would have expired twice over.
    std::thread::sleep(Duration::from_secs(12));
    let active = am.alerts();
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0]["status"]["state"], "active", "{active:?}");
    revoke(&ec2, &sg, 6379, "0.0.0.0/0").await;
    wait_until("the resolve to clear it", SECS, || am.alerts().is_empty());
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
    let out = env.run(&["outbox", "list", "--all", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let keys: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["key"].as_str())
        .collect();
    let refreshes = keys.iter().filter(|k| k.contains(":refresh:")).count();
    assert!(refreshes >= 3, "re-posted every ~2 s: {keys:?}");
    assert!(
        keys.last().is_some_and(|k| k.ends_with(":resolved")),
        "{keys:?}"
    );
}

//! The event path against moto's server and its SQS: CloudTrail events (the documented
//! EventBridge shape) on a queue make driftwatch re-read just the group or IAM entity they
//! name and decide it within seconds, between polls; each change is attributed to the event
//! that explains it and to no other; re-reads of unchanged entities of every kind change
//! nothing; duplicates are harmless; handled messages are deleted and a message that is not
//! an event stays on the queue.

mod common;

use std::time::Duration;

use common::cloudtrail::*;
use common::*;
use serde_json::{Value, json};

const TRUST_EC2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const S3_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::datasets/*"]}]}"#;

fn events_metric(port: u16, outcome: &str) -> f64 {
    metric(
        port,
        &format!("driftwatch_aws_events_total{{outcome=\"{outcome}\"}}"),
    )
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .expect("round")
        .to_string()
}

/// The firing alerts the webhook got, by resource id.
fn alerts(hook: &Receiver) -> Vec<Value> {
    hook.requests()
        .iter()
        .map(|r| r.json())
        .filter(|a| a["status"] == "firing" && a["drift_id"].is_string())
        .collect()
}

fn alert_for<'a>(alerts: &'a [Value], resource: &str) -> &'a Value {
    alerts
        .iter()
        .find(|a| a["resource_id"] == resource)
        .unwrap_or_else(|| panic!("no alert for {resource} in {alerts:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudtrail_events_are_decided_between_polls_and_attributed() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let ec2 = moto.ec2().await;
    let iam = iam_client(&moto.url);
    let sqs = sqs_client(&moto.url);
    let queue = create_queue(&sqs, "driftwatch-events").await;
    let web = create_group(&ec2, "web").await;
    // One entity of every IAM kind, each with what it can own.
    iam.create_user()
        .user_name("alice")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("data")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("CreateUser");
    iam.put_user_policy()
        .user_name("alice")
        .policy_name("s3-read")
        .policy_document(S3_READ)
        .send()
        .await
        .expect("PutUserPolicy");
    iam.create_group()
        .group_name("analysts")
        .send()
        .await
        .expect("CreateGroup");
    iam.add_user_to_group()
        .group_name("analysts")
        .user_name("alice")
        .send()
        .await
        .expect("AddUserToGroup");
    iam.put_group_policy()
        .group_name("analysts")
        .policy_name("s3-read")
        .policy_document(S3_READ)
        .send()
        .await
        .expect("PutGroupPolicy");
    iam.create_role()
        .role_name("etl")
        .assume_role_policy_document(TRUST_EC2)
        .send()
        .await
        .expect("CreateRole");
    let policy_arn = iam
        .create_policy()
        .policy_name("data-read")
        .policy_document(S3_READ)
        .send()
        .await
        .expect("CreatePolicy")
        .policy()
        .and_then(|p| p.arn())
        .expect("policy arn")
        .to_string();
    iam.attach_role_policy()
        .role_name("etl")
        .policy_arn(&policy_arn)
        .send()
        .await
        .expect("AttachRolePolicy");
    let port = free_port();
    let extra = format!(
        "[aws.events]\nqueue_url = \"{queue}\"\nwait_secs = 1\nvisibility_timeout_secs = 5\n"
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        services: "\"ec2\", \"iam\"",
        http_port: Some(port),
        // No poll between the baseline and the end of the test: what is decided, the
        // events decided.
        interval_secs: 3600,
        timeout_secs: 5,
        extra: &extra,
        ..Default::default()
    });
    // A record for port 8080 on `web`, requested by dave and approved by alice.
    let window_start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let window_end = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(4);
    env.record(
        "chg-web.yaml",
        &format!(
            "id: CHG-WEB\ntitle: Admin port for the web tier\ntype: normal\npurpose: admin UI\nimpact: VPN only\nresources: one engineer\nrequested_by: dave@example.com\napproved_by: [{{ name: alice@example.com, at: {window_start} }}]\nwindow: {{ start: {window_start}, end: {window_end} }}\nscope: [{{ provider: aws, kind: aws.ec2.security_group_rule, target: web, actions: [create], match: {{ port: 8080 }} }}]\n"
        ),
    );
    let mut run = Running::start(env.command(&["run"]));
    run.wait_log("cycle complete", Duration::from_secs(60));

    // Events naming unchanged entities of every kind: each re-read equals what the poll
    // stored, so nothing is decided.
    let alice = || assumed("Admin", "alice");
    for body in [
        iam_event(
            "noop-user",
            "PutUserPolicy",
            json!({"userName": "alice", "policyName": "s3-read"}),
            Value::Null,
            alice(),
            &now(),
        ),
        iam_event(
            "noop-group",
            "PutGroupPolicy",
            json!({"groupName": "analysts", "policyName": "s3-read"}),
            Value::Null,
            alice(),
            &now(),
        ),
        iam_event(
            "noop-role",
            "UpdateAssumeRolePolicy",
            json!({"roleName": "etl"}),
            Value::Null,
            alice(),
            &now(),
        ),
        iam_event(
            "noop-policy",
            "CreatePolicyVersion",
            json!({"policyArn": policy_arn}),
            Value::Null,
            alice(),
            &now(),
        ),
        authorize_event("noop-sg", &web, 8443, "10.0.0.0/8", alice(), &now()),
    ] {
        send(&sqs, &queue, &body).await;
    }
    wait_until("five unmatched re-reads", Duration::from_secs(30), || {
        events_metric(port, "unmatched") >= 5.0
    });
    assert_eq!(events_metric(port, "unmatched"), 5.0);
    assert!(
        alerts(&hook).is_empty(),
        "re-reads of unchanged entities decided something: {:#?}\nlog:\n{}",
        alerts(&hook),
        run.log.join("\n")
    );

    // alice opens 22 and sends her event; bob opens 443 at the same moment, his event not
    // there yet. The one re-read sees both rules: only 22 is alice's.
    authorize(&ec2, &web, 22, "0.0.0.0/0").await;
    authorize(&ec2, &web, 443, "0.0.0.0/0").await;
    let t22 = now();
    send(
        &sqs,
        &queue,
        &authorize_event("ev-22", &web, 22, "0.0.0.0/0", alice(), &t22),
    )
    .await;
    wait_until("two alerts", Duration::from_secs(30), || {
        alerts(&hook).len() >= 2
    });
    let got = alerts(&hook);
    let ssh = alert_for(&got, &format!("{web}/ingress/tcp/22/ipv4:0.0.0.0/0"));
    assert_eq!(ssh["event"], "unmatched");
    assert_eq!(ssh["actor"], "alice via role Admin");
    assert_eq!(ssh["attribution"]["event_id"], "ev-22");
    assert_eq!(
        ssh["attribution"]["event_name"],
        "AuthorizeSecurityGroupIngress"
    );
    assert_eq!(ssh["attribution"]["client"], "aws-cli");
    assert_eq!(ssh["attribution"]["source_ip"], "203.0.113.7");
    assert_eq!(ssh["attribution"]["person"], "alice");
    assert_eq!(ssh["attribution"]["via"], "event");
    let shown = env.run(&[
        "drifts",
        "show",
        ssh["drift_id"].as_str().expect("drift id"),
    ]);
    assert!(
        shown.stdout.contains("actor      alice via role Admin")
            && shown.stdout.contains(
                "evidence   from 203.0.113.7 with aws-cli, CloudTrail AuthorizeSecurityGroupIngress"
            )
            && shown.stdout.contains("(event ev-22)"),
        "drifts show: {}",
        shown.stdout
    );
    let https = alert_for(&got, &format!("{web}/ingress/tcp/443/ipv4:0.0.0.0/0"));
    assert_eq!(
        https["actor"],
        Value::Null,
        "bob's rule is not alice's: {https:#}"
    );

    // Duplicates and late events: the same event again, and bob's arriving after the
    // change was decided, re-read and find nothing new.
    let bob = || assumed("Admin", "bob");
    send(
        &sqs,
        &queue,
        &authorize_event("ev-22", &web, 22, "0.0.0.0/0", alice(), &t22),
    )
    .await;
    send(
        &sqs,
        &queue,
        &authorize_event("ev-443", &web, 443, "0.0.0.0/0", bob(), &now()),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !(events_metric(port, "unmatched") >= 6.0 && events_metric(port, "matched_late") >= 1.0) {
        if std::time::Instant::now() > deadline {
            let rows =
                env.query("SELECT drift_id, kind, resource_id, action, observed_at FROM lookups");
            panic!(
                "the late event attributed nothing: unmatched {}, matched_late {}; waiting: {}\nlog:\n{}",
                events_metric(port, "unmatched"),
                events_metric(port, "matched_late"),
                rows,
                run.log.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        events_metric(port, "unmatched"),
        6.0,
        "the duplicate explains nothing new"
    );
    // bob's late event names who made the 443 rule the re-read had already decided.
    let https_drift = https["drift_id"].as_str().expect("drift id").to_string();
    let late = env
        .ledger()
        .into_iter()
        .find(|e| e["type"] == "attributed" && e["drift_id"] == https_drift.as_str())
        .unwrap_or_else(|| panic!("no attribution for {https_drift}"));
    assert_eq!(late["attribution"]["actor"], "bob via role Admin");
    assert_eq!(late["attribution"]["event_id"], "ev-443");
    let shown = env.run(&["drifts", "show", &https_drift]);
    assert!(
        shown.stdout.contains("actor      bob via role Admin"),
        "{}",
        shown.stdout
    );

    // IAM: a new access key (named in the response), then its deletion (the key is gone
    // from the user's listing; the event names it).
    let key = iam
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .expect("CreateAccessKey")
        .access_key()
        .map(|k| k.access_key_id().to_string())
        .expect("key id");
    send(
        &sqs,
        &queue,
        &iam_event(
            "ev-key",
            "CreateAccessKey",
            json!({"userName": "alice"}),
            json!({"accessKey": {"userName": "alice", "accessKeyId": key, "status": "Active"}}),
            bob(),
            &now(),
        ),
    )
    .await;
    wait_until("the access key alert", Duration::from_secs(30), || {
        alerts(&hook)
            .iter()
            .any(|a| a["resource_id"] == key.as_str())
    });
    let got = alerts(&hook);
    let created = alert_for(&got, &key);
    assert_eq!(created["action"], "create");
    assert_eq!(created["actor"], "bob via role Admin");
    iam.delete_access_key()
        .user_name("alice")
        .access_key_id(&key)
        .send()
        .await
        .expect("DeleteAccessKey");
    send(
        &sqs,
        &queue,
        &iam_event(
            "ev-key-gone",
            "DeleteAccessKey",
            json!({"userName": "alice", "accessKeyId": key}),
            Value::Null,
            alice(),
            &now(),
        ),
    )
    .await;
    wait_until(
        "the key's deletion decided",
        Duration::from_secs(30),
        || {
            env.ledger().iter().any(|e| {
                e["type"] == "change" && e["resource_id"] == key.as_str() && e["action"] == "delete"
            })
        },
    );
    let deleted = env
        .ledger()
        .into_iter()
        .find(|e| e["resource_id"] == key.as_str() && e["action"] == "delete")
        .expect("delete entry");
    assert_eq!(deleted["actor"], "alice via role Admin");
    assert_eq!(deleted["attribution"]["event_id"], "ev-key-gone");

    // alice makes the change she approved herself: matched, and a segregation-of-duties
    // problem the report lists.
    authorize(&ec2, &web, 8080, "10.0.0.0/8").await;
    send(
        &sqs,
        &queue,
        &authorize_event("ev-8080", &web, 8080, "10.0.0.0/8", alice(), &now()),
    )
    .await;
    wait_until("the 8080 change decided", Duration::from_secs(30), || {
        env.ledger()
            .iter()
            .any(|e| e["type"] == "change" && e["record_id"] == "CHG-WEB")
    });
    let own = env
        .ledger()
        .into_iter()
        .find(|e| e["record_id"] == "CHG-WEB")
        .expect("entry");
    assert_eq!(own["decision"], "matched");
    assert_eq!(own["actor_role"], "approver");
    assert!(
        own["reason"]
            .as_str()
            .unwrap_or("")
            .ends_with("made by alice, who approved CHG-WEB: segregation of duties"),
        "{own:#}"
    );
    let report = env.run(&["report", "--since", "1d", "--format", "json"]);
    assert_eq!(report.code, 0, "{report}");
    let report: Value = serde_json::from_str(&report.stdout).expect("report JSON");
    assert_eq!(report["sod_changes"][0]["record_id"], "CHG-WEB");
    assert_eq!(report["sod_changes"][0]["event_id"], "ev-8080");
    assert_eq!(report["sod_changes"].as_array().map(Vec::len), Some(1));

    // A message that is not an event is left for the queue's redrive policy; every handled
    // one is gone.
    send(&sqs, &queue, "this is not an event").await;
    wait_until(
        "the invalid message counted",
        Duration::from_secs(30),
        || events_metric(port, "invalid") >= 1.0,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (visible, in_flight) = queue_depth(&sqs, &queue).await;
        if visible + in_flight == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{visible} visible and {in_flight} in flight: handled messages were not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        events_metric(port, "matched"),
        4.0,
        "ev-22, ev-key, ev-key-gone, ev-8080"
    );
    assert!(metric(port, "driftwatch_aws_event_decision_seconds_count") >= 5.0);
    run.signal("TERM");
    assert_eq!(run.wait_exit(Duration::from_secs(20)), 0);
}

/// From a change's API call to its alert at the webhook, through the event path: N rules
/// opened one after another, each followed by its event on the queue (what CloudTrail and
/// EventBridge add in AWS is not in it). Prints median, p95 and max; asserts nothing about
/// time. Run: `scripts/bench_events_latency.sh [N]`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run by scripts/bench_events_latency.sh"]
async fn event_latency_benchmark() {
    let n: i32 = std::env::var("DRIFTWATCH_BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let moto = Moto::start();
    let hook = Receiver::start();
    let ec2 = moto.ec2().await;
    let sqs = sqs_client(&moto.url);
    let queue = create_queue(&sqs, "driftwatch-events").await;
    let web = create_group(&ec2, "web").await;
    let extra = format!("[aws.events]\nqueue_url = \"{queue}\"\nwait_secs = 2\n");
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        interval_secs: 3600,
        timeout_secs: 5,
        extra: &extra,
        ..Default::default()
    });
    let mut run = Running::start(env.command(&["run"]));
    run.wait_log("cycle complete", Duration::from_secs(60));
    let mut took = Vec::new();
    for i in 0..n {
        let port = 10_000 + i;
        let t = std::time::Instant::now();
        authorize(&ec2, &web, port, "0.0.0.0/0").await;
        send(
            &sqs,
            &queue,
            &authorize_event(
                &format!("ev-{i}"),
                &web,
                port,
                "0.0.0.0/0",
                assumed("Admin", "alice"),
                &now(),
            ),
        )
        .await;
        let id = format!("{web}/ingress/tcp/{port}/ipv4:0.0.0.0/0");
        wait_until("the alert", Duration::from_secs(60), || {
            alerts(&hook)
                .iter()
                .any(|a| a["resource_id"] == id.as_str())
        });
        took.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    println!(
        "aws event path latency over {n} changes: median {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        at(0.5),
        at(0.95),
        at(1.0)
    );
    run.signal("TERM");
    run.wait_exit(Duration::from_secs(20));
}

//! The LookupEvents fallback against moto's server (the account) and a fake CloudTrail API
//! answering the documented LookupEvents payload (moto has no LookupEvents): changes a poll
//! found, with no event on any queue, are looked up on their own token bucket; the one the
//! event history explains gets an `attributed` ledger entry (shown by `drifts show` and the
//! report), the one it does not explain is given up after `give_up_after_secs`.

mod common;

use std::time::Duration;

use common::fake_api::{FakeApi, route};
use common::*;
use serde_json::Value;

fn drift_of(env: &Env, resource: &str) -> Option<String> {
    env.ledger()
        .into_iter()
        .find(|e| e["type"] == "change" && e["resource_id"] == resource)
        .and_then(|e| e["drift_id"].as_str().map(String::from))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_polled_change_is_attributed_by_lookup_events() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let trail = FakeApi::start(vec![route(
        "POST",
        "/",
        &["\"ResourceName\""],
        "cloudtrail/lookup-events.json",
    )]);
    let ec2 = moto.ec2().await;
    let web = create_group(&ec2, "web").await;
    let port = free_port();
    let extra = format!(
        "[aws.lookup]\nendpoint_url = \"{}\"\ndelay_secs = 0\nretry_secs = 1\ngive_up_after_secs = 4\n",
        trail.url
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        http_port: Some(port),
        interval_secs: 1,
        extra: &extra,
        ..Default::default()
    });
    let mut run = Running::start(env.command(&["run"]));
    run.wait_log("cycle complete", Duration::from_secs(60));
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .expect("round");
    trail.set_var("group", &web);
    trail.set_var("time", &now.as_second().to_string());
    trail.set_var("time_rfc", &now.to_string());
    // alice's port 22 (in the event history) and a 443 rule nobody's event explains (bob's
    // recorded call opened 443 to 10.0.0.0/8, not to the world).
    authorize(&ec2, &web, 22, "0.0.0.0/0").await;
    authorize(&ec2, &web, 443, "0.0.0.0/0").await;
    let ssh = format!("{web}/ingress/tcp/22/ipv4:0.0.0.0/0");
    let https = format!("{web}/ingress/tcp/443/ipv4:0.0.0.0/0");
    wait_until("both changes decided", Duration::from_secs(30), || {
        drift_of(&env, &ssh).is_some() && drift_of(&env, &https).is_some()
    });
    let ssh_drift = drift_of(&env, &ssh).expect("drift");
    let attributed = || {
        env.ledger()
            .into_iter()
            .find(|e| e["type"] == "attributed" && e["drift_id"] == ssh_drift.as_str())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while attributed().is_none() {
        if std::time::Instant::now() > deadline {
            run.signal("TERM");
            run.wait_exit(Duration::from_secs(20));
            let rows = env.query("SELECT drift_id, next_at, attempts FROM lookups");
            eprintln!("lookups: {rows}");
            panic!(
                "no attribution within 30 s; fake CloudTrail got {:?}\nlog:\n{}",
                trail.requests(),
                run.log.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let a = attributed().expect("entry");
    assert_eq!(a["attribution"]["actor"], "alice via role Admin");
    assert_eq!(a["attribution"]["event_id"], "lookup-alice-22");
    assert_eq!(a["attribution"]["via"], "lookup");
    assert_eq!(a["attribution"]["client"], "console");
    wait_until(
        "the unexplained change given up",
        Duration::from_secs(30),
        || metric(port, "driftwatch_aws_lookups_total{outcome=\"not_found\"}") >= 1.0,
    );
    assert!(
        !env.ledger().iter().any(|e| e["type"] == "attributed"
            && e["drift_id"].as_str() == drift_of(&env, &https).as_deref()),
        "bob's event does not explain the world-open 443 rule"
    );
    wait_until("no lookup pending", Duration::from_secs(10), || {
        metric(port, "driftwatch_aws_lookups_pending") == 0.0
    });
    // The calls: LookupEvents by the group's resource name, on the CloudTrail bucket.
    let calls = trail.requests();
    assert!(
        calls.iter().all(|r| r
            .headers
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".LookupEvents"))),
        "{calls:?}"
    );
    let body: Value = serde_json::from_str(&calls[0].body).expect("JSON request");
    assert_eq!(body["LookupAttributes"][0]["AttributeValue"], web.as_str());
    assert!(
        body["StartTime"].is_number() && body["EndTime"].is_number(),
        "{body}"
    );
    assert!(
        metric(
            port,
            &format!(
                "driftwatch_aws_requests_total{{account=\"{ACCOUNT}\",service=\"aws.cloudtrail\",operation=\"LookupEvents\"}}"
            )
        ) >= 2.0
    );
    // Readers: drifts show and the report carry the attribution.
    let shown = env.run(&["drifts", "show", &ssh_drift]);
    assert!(
        shown.stdout.contains("actor      alice via role Admin")
            && shown
                .stdout
                .contains("CloudTrail LookupEvents AuthorizeSecurityGroupIngress"),
        "{}",
        shown.stdout
    );
    let report = env.run(&["report", "--since", "1d", "--format", "json"]);
    assert_eq!(report.code, 0, "{report}");
    let report: Value = serde_json::from_str(&report.stdout).expect("report JSON");
    let row = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["drift_id"] == ssh_drift.as_str())
        .expect("row");
    assert_eq!(row["actor"], "alice via role Admin");
    assert_eq!(row["attribution"]["via"], "lookup");
    run.signal("TERM");
    assert_eq!(run.wait_exit(Duration::from_secs(20)), 0);
}

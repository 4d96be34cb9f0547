//! Change records read from GitHub, Jira and Linear, against fake APIs on 127.0.0.1:0 that
//! answer with documented payloads (`tests/fixtures/api/`, each naming its documentation
//! page), and against moto's server for the end-to-end match.

mod common;

use std::time::Duration;

use common::fake_api::{FakeApi, route};
use common::*;
use jiff::{SignedDuration, Timestamp};

const SECS: Duration = Duration::from_secs(60);
const GH_TOKEN: &str = "ghp_TESTTOKEN_must_never_be_logged";

fn at(offset_secs: i64) -> String {
    let t = Timestamp::now()
        .checked_add(SignedDuration::from_secs(offset_secs))
        .expect("time");
    Timestamp::from_second(t.as_second())
        .expect("second")
        .to_string()
}

fn fake_github() -> FakeApi {
    let gh = FakeApi::start(vec![
        route(
            "GET",
            "/repositories/1300192/issues",
            &["page=2"],
            "github/issues-page2.json",
        ),
        route(
            "GET",
            "/repos/acme/infra/issues",
            &["labels=security-change", "state=all"],
            "github/issues-page1.json",
        ),
        route(
            "GET",
            "/repos/acme/infra/pulls/42/reviews",
            &[],
            "github/reviews-42.json",
        ),
        route(
            "GET",
            "/repos/acme/infra/pulls/43/reviews",
            &[],
            "github/reviews-43.json",
        ),
        route(
            "GET",
            "/repos/acme/infra/pulls/44/reviews",
            &[],
            "github/reviews-44.json",
        ),
    ]);
    gh.set_var("created_at", &at(-4 * 3600));
    gh.set_var("approved_at", &at(-2 * 3600));
    gh.set_var("merged_at", &at(-3600));
    gh.set_var("retro_start", &at(-3 * 3600));
    gh.set_var("retro_end", &at(-2 * 3600));
    gh.set_var("drift", "d-00000000");
    gh
}

fn github_section(url: &str, extra: &str) -> String {
    format!(
        "[[records.github]]\napi_url = \"{url}\"\nrepositories = [\"acme/infra\"]\ntoken = \"{GH_TOKEN}\"\n{extra}"
    )
}

fn of_type<'a>(ledger: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    ledger.iter().filter(|e| e["type"] == t).collect()
}

const BOT_REJECTED: &str = "github acme/infra#43: approved_by: a normal record needs at least one approval (pillar 4: authority) (not counted: dependabot[bot] is a bot account (user.type Bot)); approval comes from an APPROVED pull request review by a person";
const SELF_REJECTED: &str = "github acme/infra#44: approved_by: a normal record needs at least one approval (pillar 4: authority) (not counted: alice is the ticket's author and cannot approve their own change); approval comes from an APPROVED pull request review by a person";

#[tokio::test]
async fn a_change_matches_a_github_approved_record_end_to_end() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let gh = fake_github();
    let extra = github_section(&gh.url, "");
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        extra: &extra,
        ..Default::default()
    });
    let (check, json) = check_sources(&env);
    assert_eq!(check.code, 1, "{check}");
    let ids: Vec<&str> = json["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["acme/infra#42", "acme/infra#45"], "{json:#}");
    assert_eq!(error_lines(&json), vec![BOT_REJECTED, SELF_REJECTED]);
    let before_scans = gh.requests().len();
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "training-cluster").await;
    let base = env.run(&["scan"]);
    assert_eq!(base.code, 0, "{base}");
    let first_poll = gh.requests().len() - before_scans;
    // Page 1 and 2 of the issues, then reviews of the three open or merged pull requests: not
    // of #45 (an issue) nor #46 (closed without merge).
    let paths: Vec<String> = gh.requests()[before_scans..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(first_poll, 5, "{paths:#?}");
    assert!(
        paths[0].starts_with("GET /repos/acme/infra/issues?labels=security-change&state=all"),
        "{paths:#?}"
    );
    assert!(
        paths[1].starts_with("GET /repositories/1300192/issues?") && paths[1].ends_with("page=2"),
        "{paths:#?}"
    );
    for n in [42, 43, 44] {
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with(&format!("GET /repos/acme/infra/pulls/{n}/reviews"))),
            "{paths:#?}"
        );
    }
    for r in gh.requests() {
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some(format!("Bearer {GH_TOKEN}").as_str())
        );
        assert_eq!(
            r.headers.get("x-github-api-version").map(String::as_str),
            Some("2022-11-28")
        );
    }

    authorize(&ec2, &sg, 22, "10.8.0.0/16").await;
    authorize(&ec2, &sg, 8888, "0.0.0.0/0").await;
    let scan = env.run(&["scan"]);
    assert_eq!(scan.code, 1, "the world-open 8888 is unplanned: {scan}");
    let ledger = env.ledger();
    let changes = of_type(&ledger, "change");
    let ssh = changes
        .iter()
        .find(|c| c["name"].as_str().is_some_and(|n| n.contains("tcp/22")))
        .expect("ssh change");
    assert_eq!(ssh["decision"], "matched", "{ssh}");
    assert_eq!(ssh["record_id"], "acme/infra#42");
    assert_eq!(ssh["record_url"], "https://github.com/acme/infra/pull/42");
    assert!(
        ssh["reason"]
            .as_str()
            .is_some_and(|r| r.contains("acme/infra#42")),
        "{ssh}"
    );
    let jupyter = changes
        .iter()
        .find(|c| c["name"].as_str().is_some_and(|n| n.contains("tcp/8888")))
        .expect("8888 change");
    assert_eq!(jupyter["decision"], "unmatched");
    let rejected: Vec<String> = of_type(&ledger, "record_rejected")
        .iter()
        .map(|e| {
            format!(
                "{}: {}: {}",
                e["file"].as_str().unwrap_or(""),
                e["field"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![BOT_REJECTED.to_string(), SELF_REJECTED.to_string()],
        "written once each across two scans"
    );
    for out in [&base, &scan] {
        assert!(!out.stderr.contains(GH_TOKEN), "token in the log");
    }

    // The retrospective issue names the drift: the next poll closes it.
    let drift = jupyter["drift_id"].as_str().expect("drift id").to_string();
    gh.set_var("drift", &drift);
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "{out}");
    let ledger = env.ledger();
    let closed = of_type(&ledger, "drift_closed");
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0]["drift_id"], drift.as_str());
    assert_eq!(closed[0]["reason"], "retrospective_filed");
    assert_eq!(closed[0]["by"], "acme/infra#45");
    let events: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r.json()["event"].as_str().unwrap_or(""),
                r.json()["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    let count = |e: &str| events.iter().filter(|x| *x == e).count();
    assert_eq!(count("record_rejected:firing"), 2, "{events:?}");
    assert_eq!(count("unmatched:firing"), 1, "{events:?}");
    assert_eq!(count("unmatched:resolved"), 1, "{events:?}");
}

#[tokio::test]
async fn an_unreachable_github_keeps_its_last_good_set_then_alerts_stale_and_resolves() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let gh = fake_github();
    let port = free_port();
    let extra = github_section(&gh.url, "interval_secs = 1\nstale_after_secs = 2\n");
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        http_port: Some(port),
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "training-cluster").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    let i = d.wait_log("change records imported", SECS);
    // The daemon keeps each answer's ETag: a poll of an unchanged repository is all 304s.
    let i = d.wait_log_after(i + 1, "change records imported", SECS);
    let polled = gh.requests();
    let last_five: Vec<u16> = polled[polled.len() - 5..]
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(last_five, vec![304; 5], "conditional requests");
    assert!(
        polled[polled.len() - 5..]
            .iter()
            .all(|r| r.headers.contains_key("if-none-match"))
    );
    gh.force_status(503);
    let i = d.wait_log_after(
        i,
        "records source poll failed; keeping its last good set",
        SECS,
    );
    authorize(&ec2, &sg, 22, "10.8.0.0/16").await;
    d.wait_log_after(i, "records source stale", SECS);
    // The change is still matched by the record GitHub gave before the outage.
    d.wait_log_after(i, "acme/infra#42", SECS);
    // The gauge is set just after the stale line is logged, on the daemon's thread: wait for
    // the scrape to show it rather than race it.
    let mut metrics = String::new();
    common::wait_until("the stale gauge at 1", SECS, || {
        metrics = http_get(port, "/metrics")
            .map(|(_, m)| m)
            .unwrap_or_default();
        metrics.contains("driftwatch_records_source_stale{source=\"github\",system=\"github\"} 1")
    });
    assert!(metrics.contains("driftwatch_records_source_errors_total{source=\"github\",system=\"github\",kind=\"server_error\"}"), "{metrics}");
    assert!(
        metrics.contains(
            "driftwatch_records_source_unchanged_answers_total{source=\"github\",system=\"github\"} 5"
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("driftwatch_records_source_records{source=\"github\",system=\"github\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("driftwatch_records_source_rejected{source=\"github\",system=\"github\"} 2"),
        "{metrics}"
    );
    gh.force_status(0);
    d.wait_log_after(i, "records source answers again", SECS);
    d.wait_log_after(i, "cycle complete", SECS);
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
    assert!(!d.log.join("\n").contains(GH_TOKEN), "token in the log");

    let ledger = env.ledger();
    let stale = of_type(&ledger, "records_source_stale");
    assert_eq!(stale.len(), 1, "once per outage: {stale:?}");
    assert_eq!(stale[0]["source"], "github");
    assert!(
        stale[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 503") && e.contains("server_error")),
        "{}",
        stale[0]
    );
    assert_eq!(of_type(&ledger, "records_source_recovered").len(), 1);
    let ssh = of_type(&ledger, "change");
    assert_eq!(ssh[0]["decision"], "matched", "{}", ssh[0]);
    assert_eq!(ssh[0]["record_id"], "acme/infra#42");
    let alerts: Vec<serde_json::Value> = hook
        .requests()
        .iter()
        .map(|r| r.json())
        .filter(|a| a["event"] == "records_source_stale")
        .collect();
    let statuses: Vec<&str> = alerts
        .iter()
        .map(|a| a["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, vec!["firing", "resolved"], "{alerts:#?}");
    assert_eq!(alerts[0]["group"], alerts[1]["group"]);
    assert_eq!(alerts[0]["severity"], "high");
}

fn check_sources(env: &Env) -> (Out, serde_json::Value) {
    let out = env.run(&["records", "check", "--sources", "--format", "json"]);
    let json = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    (out, json)
}

fn error_lines(json: &serde_json::Value) -> Vec<String> {
    json["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            let line = e["line"].as_u64().unwrap_or(0);
            let at = if line > 0 {
                format!(":{line}")
            } else {
                String::new()
            };
            format!(
                "{}{at}: {}: {}",
                e["file"].as_str().unwrap_or(""),
                e["field"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn jira_search_is_read_over_two_pages() {
    let jira = FakeApi::start(vec![
        route(
            "POST",
            "/rest/api/3/search/jql",
            &["\"nextPageToken\":\"CAEaAggD\""],
            "jira/search-page2.json",
        ),
        route(
            "POST",
            "/rest/api/3/search/jql",
            &["\"jql\""],
            "jira/search-page1.json",
        ),
    ]);
    let extra = format!(
        "[[records.jira]]\nurl = \"{}\"\nemail = \"dw@example.com\"\ntoken = \"jira-secret-token\"\njql = \"project = CHG AND status in (Approved, Implementing)\"\npage_size = 2\n\
         [records.jira.fields]\nwindow_start = \"customfield_10040\"\nwindow_end = \"customfield_10041\"\nscope = \"customfield_10042\"\n",
        jira.url
    );
    let env = Env::new(&Settings {
        extra: &extra,
        ..Default::default()
    });
    let (out, json) = check_sources(&env);
    assert_eq!(out.code, 1, "rejected tickets: {out}");
    let records = json["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{json:#}");
    assert_eq!(records[0]["id"], "CHG-7");
    assert_eq!(records[0]["url"], format!("{}/browse/CHG-7", jira.url));
    assert_eq!(
        records[0]["approved_by"],
        serde_json::json!(["bob@example.com"])
    );
    assert_eq!(
        error_lines(&json),
        vec![
            "jira CHG-8: approved_by: a normal record needs at least one approval (pillar 4: authority) (not counted: Automation for Jira is a bot account (accountType app)); approval comes from a transition to Approved by a person other than the reporter",
            "jira CHG-9:7: revert_by: 2026-11-01T00:00:00Z is before the window starts (2026-12-01T09:00:00Z)",
        ]
    );
    let reqs = jira.requests();
    assert_eq!(reqs.len(), 2, "two pages");
    let first: serde_json::Value = serde_json::from_str(&reqs[0].body).expect("json body");
    assert_eq!(
        first["jql"],
        "project = CHG AND status in (Approved, Implementing)"
    );
    assert_eq!(first["expand"], "changelog");
    assert_eq!(first["maxResults"], 2);
    assert!(
        first["fields"]
            .as_array()
            .expect("fields")
            .contains(&serde_json::json!("customfield_10042"))
    );
    assert!(first.get("nextPageToken").is_none());
    let second: serde_json::Value = serde_json::from_str(&reqs[1].body).expect("json body");
    assert_eq!(second["nextPageToken"], "CAEaAggD");
    for r in &reqs {
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some("Basic ZHdAZXhhbXBsZS5jb206amlyYS1zZWNyZXQtdG9rZW4="),
            "email and API token"
        );
    }
    // config check names the source and never shows the token.
    let check = env.run(&["config", "check"]);
    assert_eq!(check.code, 0, "{check}");
    assert!(
        check.stdout.contains("records source jira: jira"),
        "{check}"
    );
    assert!(
        !check.stdout.contains("jira-secret-token") && !out.stderr.contains("jira-secret-token")
    );
}

#[test]
fn linear_issues_are_read_by_cursor() {
    let linear = FakeApi::start(vec![
        route(
            "POST",
            "/graphql",
            &["\"after\":\"c2VjLTEyLWN1cnNvcg\""],
            "linear/issues-page2.json",
        ),
        route(
            "POST",
            "/graphql",
            &["DriftwatchRecords"],
            "linear/issues-page1.json",
        ),
    ]);
    let extra = format!(
        "[[records.linear]]\napi_url = \"{}/graphql\"\ntoken = \"lin_api_secret\"\n",
        linear.url
    );
    let env = Env::new(&Settings {
        extra: &extra,
        ..Default::default()
    });
    let (out, json) = check_sources(&env);
    assert_eq!(out.code, 1, "{out}");
    let records = json["records"].as_array().expect("records");
    let ids: Vec<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, vec!["SEC-12"], "{json:#}");
    assert_eq!(
        records[0]["url"],
        "https://linear.app/acme/issue/sec-12/change"
    );
    assert_eq!(
        records[0]["approved_by"],
        serde_json::json!(["bob@example.com"])
    );
    assert_eq!(
        error_lines(&json),
        vec![
            "linear SEC-13: approved_by: a standard record needs at least one approval (pillar 4: authority) (not counted: GitHub is a bot account (botActor)); approval comes from a move to Approved by a person other than the creator (issue history)",
        ]
    );
    let reqs = linear.requests();
    assert_eq!(reqs.len(), 2, "two pages");
    let vars = |i: usize| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&reqs[i].body).expect("json")["variables"].clone()
    };
    assert_eq!(vars(0)["after"], serde_json::Value::Null);
    assert_eq!(vars(0)["label"], "security-change");
    assert_eq!(vars(1)["after"], "c2VjLTEyLWN1cnNvcg");
    assert_eq!(
        reqs[0].headers.get("authorization").map(String::as_str),
        Some("lin_api_secret")
    );
}

#[test]
fn an_unreachable_source_is_an_error_for_records_check() {
    let extra = "[[records.linear]]\napi_url = \"http://127.0.0.1:1/graphql\"\ntoken = \"lin_api_secret\"\ntimeout_secs = 2\n";
    let env = Env::new(&Settings {
        extra,
        ..Default::default()
    });
    let (out, json) = check_sources(&env);
    assert_eq!(out.code, 2, "{out}");
    let failed = json["failed_sources"][0].as_str().expect("failed source");
    assert!(
        failed.starts_with("linear: request failed") && failed.ends_with("(unreachable)"),
        "{failed}"
    );
    assert!(!out.stdout.contains("lin_api_secret") && !out.stderr.contains("lin_api_secret"));
}

/// GitHub answering a page that never ends: the poll stops reading at the cap (32 MiB) and
/// fails naming it, the daemon keeps running on the last good set (a change is still matched
/// by the record read before), and the source recovers when the answers are normal again.
#[tokio::test]
async fn an_endless_github_answer_fails_the_poll_at_the_cap_and_keeps_the_last_good_set() {
    let moto = Moto::start();
    let gh = fake_github();
    let extra = github_section(&gh.url, "interval_secs = 1\n");
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "training-cluster").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    let i = d.wait_log("change records imported", SECS);
    gh.endless_answer(Some("/repos/acme/infra/issues"));
    let i = d.wait_log_after(
        i,
        "records source poll failed; keeping its last good set",
        SECS,
    );
    let line = &d.log[i];
    assert!(
        line.contains(
            "acme/infra issues: the answer is larger than 32 MiB; not read further (a smaller page_size keeps pages under it)"
        ) && line.contains("failure=\"invalid_response\""),
        "{line}"
    );
    assert!(!line.contains(&gh.url), "no URL in the error: {line}");
    let sent = gh.endless_sent();
    // The cap, plus what the loopback socket buffers took before the close.
    assert!(
        (32 << 20..64 << 20).contains(&sent),
        "{sent} bytes written before driftwatch hung up"
    );
    // Still running, still matching with the record GitHub gave before.
    authorize(&ec2, &sg, 22, "10.8.0.0/16").await;
    d.wait_log_after(i, "acme/infra#42", SECS);
    gh.endless_answer(None);
    d.wait_log_after(i, "change records imported", SECS);
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
    let ledger = env.ledger();
    let ssh = of_type(&ledger, "change");
    assert_eq!(ssh[0]["decision"], "matched", "{}", ssh[0]);
    assert_eq!(ssh[0]["record_id"], "acme/infra#42");
}

/// A ticket system that takes 20 s to answer holds up no cycle: its polls run on their own
/// task, so an unplanned change is alerted within seconds while the poll still waits.
#[tokio::test]
async fn a_slow_ticket_system_delays_no_cycle() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let gh = fake_github();
    let extra = github_section(&gh.url, "interval_secs = 1\ntimeout_secs = 60\n");
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        extra: &extra,
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "feature-pipeline").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    d.wait_log("change records imported", SECS);
    gh.set_delay(Duration::from_secs(20));
    let answered = gh.requests().len();
    // The next poll (every second) starts and waits on the slow answer.
    std::thread::sleep(Duration::from_millis(2500));
    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    common::wait_until(
        "the alert while the ticket system still has not answered",
        Duration::from_secs(10),
        || {
            hook.requests()
                .iter()
                .any(|r| r.json()["event"] == "unmatched")
        },
    );
    assert_eq!(
        gh.requests().len(),
        answered,
        "no slow answer had been sent yet: the cycle did not wait for the poll"
    );
    d.signal("TERM");
    assert_eq!(
        d.wait_exit(SECS),
        0,
        "a poll in flight does not block shutdown"
    );
}

/// A pull request whose plan CI posted as a comment (```driftwatch-plan): the plan is the
/// record's scope when its author is trusted (`plan_commenters`) and it was posted before
/// the approval. A stranger's plan and a plan posted after the review are not.
#[tokio::test]
async fn a_pull_request_approves_the_plan_ci_posted_before_the_review() {
    let moto = Moto::start();
    let gh = FakeApi::start(vec![
        route(
            "GET",
            "/repos/acme/infra/issues",
            &["labels=security-change", "state=all"],
            "github/issues-plan.json",
        ),
        route(
            "GET",
            "/repos/acme/infra/pulls/50/reviews",
            &[],
            "github/reviews-50.json",
        ),
        route(
            "GET",
            "/repos/acme/infra/issues/50/comments",
            &[],
            "github/comments-50.json",
        ),
    ]);
    gh.set_var("created_at", &at(-4 * 3600));
    gh.set_var("approved_at", &at(-2 * 3600));
    gh.set_var("merged_at", &at(-3600));
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "training-cluster").await;
    gh.set_var("sg", &sg);
    let extra = github_section(&gh.url, "plan_commenters = [\"github-actions[bot]\"]\n");
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        extra: &extra,
        ..Default::default()
    });
    let (check, json) = check_sources(&env);
    assert_eq!(check.code, 0, "{check}");
    assert_eq!(
        json["records"].as_array().map(Vec::len),
        Some(1),
        "{json:#}"
    );
    assert_eq!(json["records"][0]["id"], "acme/infra#50", "{json:#}");
    assert!(
        gh.requests().iter().any(|r| r
            .path
            .starts_with("GET /repos/acme/infra/issues/50/comments")),
        "comments are read when plan_commenters is set"
    );
    assert_eq!(env.run(&["scan"]).code, 0, "baseline");

    authorize(&ec2, &sg, 22, "10.8.0.0/16").await;
    authorize(&ec2, &sg, 8888, "0.0.0.0/0").await;
    authorize(&ec2, &sg, 3389, "10.0.0.0/8").await;
    let scan = env.run(&["scan"]);
    assert_eq!(scan.code, 1, "{scan}");
    let ledger = env.ledger();
    let changes = of_type(&ledger, "change");
    let decision = |port: &str| {
        let c = changes
            .iter()
            .find(|c| c["name"].as_str().is_some_and(|n| n.contains(port)))
            .unwrap_or_else(|| panic!("no {port} change in {changes:#?}"));
        (
            c["decision"].as_str().unwrap_or("").to_string(),
            c["reason"].as_str().unwrap_or("").to_string(),
            c["plan"]["address"].as_str().unwrap_or("").to_string(),
        )
    };
    let (d, reason, address) = decision("tcp/22 ");
    assert_eq!(d, "matched", "{reason}");
    assert!(
        reason.starts_with(
            "acme/infra#50 scope[0] (plan aws_security_group_rule.ssh_vpn) covers create"
        ),
        "{reason}"
    );
    assert_eq!(address, "aws_security_group_rule.ssh_vpn");
    assert_eq!(
        decision("tcp/8888 ").0,
        "unmatched",
        "a stranger's plan approves nothing"
    );
    assert_eq!(
        decision("tcp/3389 ").0,
        "unmatched",
        "a plan posted after the review was not reviewed"
    );
}

//! IAM and multi-account against moto's server: every kind of IAM change with its finding and
//! decision, equal-but-reordered documents, a planned IAM change, two accounts reached through
//! AssumeRole with one failing (only that one blind), and throttling that deletes nothing.

mod common;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use common::*;
use serde_json::Value;

/// An EC2 client in another account, through STS AssumeRole (moto lands later calls there).
async fn ec2_in(url: &str, account: &str) -> aws_sdk_ec2::Client {
    let (key, secret, token) = assumed_credentials(url, account).await;
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(key, secret, Some(token), None, "assumed"))
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

const TRUST_EC2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const S3_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::datasets","arn:aws:s3:::datasets/*"]}]}"#;
const S3_READ_REORDERED: &str = r#"{"Statement":[{"Resource":["arn:aws:s3:::datasets/*","arn:aws:s3:::datasets"],"Action":["s3:ListBucket","s3:GetObject"],"Effect":"Allow","Sid":"Read"}],"Version":"2012-10-17"}"#;

fn change<'a>(v: &'a Value, kind: &str, resource: &str) -> &'a Value {
    v["scopes"][0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["kind"] == kind && c["resource"] == resource)
        .unwrap_or_else(|| panic!("no {kind} change for {resource} in {v:#}"))
}

#[tokio::test]
async fn iam_changes_findings_and_decisions() {
    let moto = Moto::start_with(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")]);
    let iam = iam_client(&moto.url);
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        services: "\"iam\"",
        ..Default::default()
    });
    env.record(
        "std-roles.yaml",
        "id: STD-ROLES\ntitle: Training jobs get their own role\ntype: standard\nrequested_by: platform@example.com\napproved_by: [{ name: sec@example.com, at: 2026-01-01T00:00:00Z }]\nscope: [{ provider: aws, kind: aws.iam.role, target: ml-training-*, actions: [create] }]\n",
    );
    iam.create_user()
        .user_name("alice")
        .send()
        .await
        .expect("user");
    iam.create_group()
        .group_name("ml-engineers")
        .send()
        .await
        .expect("group");
    iam.add_user_to_group()
        .group_name("ml-engineers")
        .user_name("alice")
        .send()
        .await
        .expect("membership");
    iam.create_role()
        .role_name("ml-inference")
        .assume_role_policy_document(TRUST_EC2)
        .send()
        .await
        .expect("role");
    let policy = iam
        .create_policy()
        .policy_name("s3-read")
        .policy_document(S3_READ)
        .send()
        .await
        .expect("policy");
    let policy_arn = policy
        .policy()
        .and_then(|p| p.arn())
        .expect("arn")
        .to_string();
    iam.attach_role_policy()
        .role_name("ml-inference")
        .policy_arn(&policy_arn)
        .send()
        .await
        .expect("attach");

    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["scopes"][0]["scope"], "aws:123456789012:global");
    assert_eq!(v["scopes"][0]["status"], "baseline");

    // Equal document, other order, as a new default version: no change.
    iam.create_policy_version()
        .policy_arn(&policy_arn)
        .policy_document(S3_READ_REORDERED)
        .set_as_default(true)
        .send()
        .await
        .expect("version");
    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(
        out.code, 0,
        "a reordered equal document is not a change: {out}"
    );
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(
        v["scopes"][0]["changes"].as_array().map(Vec::len),
        Some(0),
        "{v:#}"
    );

    iam.put_role_policy()
        .role_name("ml-inference")
        .policy_name("debug-everything")
        .policy_document(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#)
        .send()
        .await
        .expect("inline");
    iam.attach_user_policy()
        .user_name("alice")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .expect("admin");
    let key = iam
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .expect("key");
    let key_id = key
        .access_key()
        .map(|k| k.access_key_id().to_string())
        .expect("key id");
    iam.create_login_profile()
        .user_name("alice")
        .password("Sup3r-secret!")
        .send()
        .await
        .expect("login");
    iam.update_assume_role_policy()
        .role_name("ml-inference")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .expect("trust");
    iam.create_user()
        .user_name("contractor")
        .send()
        .await
        .expect("user");
    iam.create_role()
        .role_name("ml-training-bert")
        .assume_role_policy_document(TRUST_EC2)
        .send()
        .await
        .expect("planned role");

    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    let rules = |c: &Value| -> Vec<String> {
        c["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["rule"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let c = change(
        &v,
        "aws.iam.inline_policy",
        "role ml-inference inline policy debug-everything",
    );
    assert_eq!(rules(c), vec!["iam_admin_policy"]);
    assert_eq!(c["severity"], "critical");
    assert_eq!(c["decision"]["decision"], "unmatched");
    let c = change(
        &v,
        "aws.iam.policy_attachment",
        "AdministratorAccess attached to user alice",
    );
    assert_eq!(rules(c), vec!["iam_admin_attached"]);
    let c = change(
        &v,
        "aws.iam.access_key",
        &format!("access key {key_id} of alice"),
    );
    assert_eq!(rules(c), vec!["iam_new_access_key"]);
    let c = change(&v, "aws.iam.user", "alice");
    assert_eq!(c["action"], "modify");
    assert_eq!(rules(c), vec!["iam_console_login"]);
    let c = change(&v, "aws.iam.role", "ml-inference");
    assert_eq!(c["action"], "modify");
    assert_eq!(rules(c), vec!["iam_trust_external_account"]);
    let c = change(&v, "aws.iam.user", "contractor");
    assert_eq!(rules(c), vec!["iam_new_user"]);
    let c = change(&v, "aws.iam.role", "ml-training-bert");
    assert_eq!(c["decision"]["decision"], "matched");
    assert_eq!(c["decision"]["record_id"], "STD-ROLES");

    // The modified trust policy names the statement that changed.
    let ledger = env.ledger();
    let role_change = ledger
        .iter()
        .find(|e| e["type"] == "change" && e["kind"] == "aws.iam.role" && e["action"] == "modify")
        .expect("role change in the ledger");
    let paths: Vec<&str> = role_change["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("attributes.trust_policy.Statement.")),
        "{paths:?}"
    );
}

#[tokio::test]
async fn two_accounts_through_assume_role_and_one_failing_goes_blind_alone() {
    let moto = Moto::start();
    let (a, b) = ("111111111111", "222222222222");
    create_group(&ec2_in(&moto.url, a).await, "a-only").await;
    create_group(&ec2_in(&moto.url, b).await, "b-only").await;
    // A session name over 64 characters makes STS refuse the third account's AssumeRole.
    let accounts = format!(
        "role_arn = \"arn:aws:iam::{ACCOUNT}:role/driftwatch-reader\"\n[[aws.accounts]]\nid = \"{a}\"\nrole_arn = \"arn:aws:iam::{a}:role/driftwatch-reader\"\nexternal_id = \"dw-7\"\n[[aws.accounts]]\nid = \"{b}\"\nrole_arn = \"arn:aws:iam::{b}:role/driftwatch-reader\"\nsession_name = \"{}\"\n",
        "x".repeat(70)
    );
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        accounts: &accounts,
        blind_after_failures: 1,
        ..Default::default()
    });
    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 2, "one account failed: {out}");
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    let by_scope = |s: &str| {
        v["scopes"]
            .as_array()
            .expect("scopes")
            .iter()
            .find(|x| x["scope"] == s)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let sa = by_scope(&format!("aws:{a}:{REGION}"));
    assert_eq!(sa["status"], "baseline", "{v:#}");
    assert!(
        sa["resources"].as_u64().expect("count") >= 2,
        "account A sees its own group: {sa}"
    );
    let sb = by_scope(&format!("aws:{b}:{REGION}"));
    assert!(
        sb["status"].as_str().expect("status").starts_with("FAILED")
            && sb["status"].as_str().expect("status").ends_with("BLIND"),
        "{sb}"
    );
    assert_eq!(
        by_scope(&format!("aws:{ACCOUNT}:{REGION}"))["status"],
        "baseline"
    );
    let ledger = env.ledger();
    let blind: Vec<&Value> = ledger
        .iter()
        .filter(|e| e["type"] == "source_blind")
        .collect();
    assert_eq!(blind.len(), 1);
    assert_eq!(blind[0]["scope"], format!("aws:{b}:{REGION}"));
}

#[tokio::test]
async fn throttled_iam_pages_are_failures_not_deletes() {
    let moto = Moto::start();
    let iam = iam_client(&moto.url);
    iam.create_user()
        .user_name("alice")
        .send()
        .await
        .expect("user");
    iam.create_role()
        .role_name("ml-inference")
        .assume_role_policy_document(TRUST_EC2)
        .send()
        .await
        .expect("role");
    let direct = Env::new(&Settings {
        endpoint: &moto.url,
        services: "\"iam\"",
        ..Default::default()
    });
    assert_eq!(direct.run(&["scan"]).code, 0);
    // GetAccountAuthorizationDetails in four pages (moto ignores Marker): same resources.
    let split = PagingProxy::start_with(&moto.url, 1000, 0, &["--split-gaad"]);
    let paged = Env::new(&Settings {
        endpoint: &split.url,
        services: "\"iam\"",
        ..Default::default()
    });
    let count = |env: &Env| {
        let out = env.run(&["scan", "--format", "json"]);
        assert_eq!(out.code, 0, "{out}");
        let v: Value = serde_json::from_str(&out.stdout).expect("json");
        v["scopes"][0]["resources"].as_u64().expect("resources")
    };
    let fresh = Env::new(&Settings {
        endpoint: &moto.url,
        services: "\"iam\"",
        ..Default::default()
    });
    assert_eq!(count(&paged), count(&fresh));
    assert_eq!(split.stats()["gaad_calls"], 4, "four pages read to the end");

    // The proxy answers IAM with a Throttling error from the first call on.
    let proxy = PagingProxy::start_with(&moto.url, 1000, 0, &["--throttle-iam"]);
    direct.write_config(&Settings {
        endpoint: &proxy.url,
        services: "\"iam\"",
        ..Default::default()
    });
    let out = direct.run(&["scan"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.contains("FAILED (throttled)"), "{out}");
    assert!(
        !direct.ledger().iter().any(|e| e["type"] == "change"),
        "throttling never turns into deletes"
    );
}

/// Not a pass/fail test: prints how long an IAM poll of an account with many users takes
/// with the per-user calls one at a time (`burst = 1`) and concurrent (`burst = 32`), at a
/// rate limit that does not bind, through a proxy that adds AWS-like latency (40 ms a call).
/// `DRIFTWATCH_BENCH_IAM_USERS` (default 200) users.
/// Run: `cargo test --test aws_iam -- --ignored --nocapture iam_poll_benchmark`.
#[tokio::test]
#[ignore = "benchmark"]
async fn iam_poll_benchmark() {
    let users: usize = std::env::var("DRIFTWATCH_BENCH_IAM_USERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let moto = Moto::start();
    let proxy = PagingProxy::start_with(&moto.url, 1000, 0, &["--latency-ms", "40"]);
    let iam = iam_client(&moto.url);
    for i in 0..users {
        iam.create_user()
            .user_name(format!("user-{i:05}"))
            .send()
            .await
            .expect("user");
    }
    for burst in [1, 32] {
        let env = Env::new(&Settings {
            endpoint: &proxy.url,
            services: "\"iam\"",
            timeout_secs: 30,
            ..Default::default()
        });
        let cfg = std::fs::read_to_string(&env.config).expect("config");
        let cfg = cfg.replace(
            "max_attempts = 1\n",
            &format!("max_attempts = 1\nrequests_per_second = 10000\nburst = {burst}\n"),
        );
        std::fs::write(&env.config, cfg).expect("config");
        let t = std::time::Instant::now();
        let out = env.run(&["scan"]);
        assert_eq!(out.code, 0, "{out}");
        println!(
            "iam poll, {users} users, per-user calls {}: {:.2} s",
            if burst == 1 {
                "one at a time"
            } else {
                "32 at once"
            },
            t.elapsed().as_secs_f64()
        );
    }
}

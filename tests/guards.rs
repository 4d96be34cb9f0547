//! The guards against believing a listing that lies, against moto's server: a poll that would
//! delete most of a scope is held until a second poll agrees, and credentials that answer for
//! another account never count as a poll of the configured one.

mod common;

use common::*;

/// A group with twelve rules and its egress rule, in a scope that then holds 16 resources
/// (with moto's default group and its egress rule).
async fn big_group(ec2: &aws_sdk_ec2::Client) -> String {
    let sg = create_group(ec2, "batch-workers").await;
    for port in 7000..7012 {
        authorize(ec2, &sg, port, "10.0.0.0/8").await;
    }
    sg
}

fn types(env: &Env) -> Vec<(String, String)> {
    env.ledger()
        .iter()
        .filter(|e| e["type"] == "mass_delete")
        .map(|e| {
            (
                e["verdict"].as_str().unwrap_or("").to_string(),
                e["deletes"].to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_real_mass_delete_is_held_once_then_believed_when_the_next_poll_agrees() {
    let (moto, hook, env) = moto_with_webhook();
    let ec2 = moto.ec2().await;
    let sg = big_group(&ec2).await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "baseline: {out}");

    ec2.delete_security_group()
        .group_id(&sg)
        .send()
        .await
        .expect("delete group");
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "held: {out}");
    assert!(out.stdout.contains("HELD (mass delete)"), "{out}");
    assert!(
        out.stdout
            .contains("would delete 14 of 16 stored resources"),
        "{out}"
    );
    assert!(
        hook.requests().is_empty(),
        "nobody is paged for a held poll"
    );
    assert!(
        !env.ledger().iter().any(|e| e["type"] == "change"),
        "nothing recorded while held"
    );

    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "the deletes are believed and unplanned: {out}");
    assert_eq!(
        types(&env),
        [
            ("held".into(), "14".into()),
            ("confirmed".into(), "14".into())
        ]
    );
    let deletes = env
        .ledger()
        .iter()
        .filter(|e| e["type"] == "change" && e["action"] == "delete")
        .count();
    assert_eq!(deletes, 14);
    assert_eq!(hook.requests().len(), 14, "each delete alerted once");

    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "steady after: {out}");
}

#[tokio::test]
async fn an_empty_answer_once_is_held_then_dismissed_and_deletes_nothing() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    big_group(&ec2).await;
    let proxy = PagingProxy::start(&moto.url, 1000, 0);
    let hook = Receiver::start();
    let env = Env::new(&Settings {
        endpoint: &proxy.url,
        webhook: Some(&hook.url),
        ..Default::default()
    });
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "baseline: {out}");

    // The next listing answers an empty, complete list: it looks like everything was deleted.
    let (code, _) = http_get(proxy.port, "/proxy/empty?n=1").expect("proxy control");
    assert_eq!(code, 200);
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout
            .contains("would delete 16 of 16 stored resources"),
        "{out}"
    );
    assert_eq!(proxy.stats()["empty_served"], 1);

    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "the next poll lists everything again: {out}");
    assert_eq!(
        types(&env),
        [
            ("held".into(), "16".into()),
            ("dismissed".into(), "16".into())
        ]
    );
    assert!(
        !env.ledger().iter().any(|e| e["type"] == "change"),
        "no change was ever recorded"
    );
    assert!(hook.requests().is_empty(), "and nobody was paged");
}

#[tokio::test]
async fn the_guard_can_be_turned_off() {
    let (moto, hook, env) = moto_with_webhook();
    let ec2 = moto.ec2().await;
    let sg = big_group(&ec2).await;
    let cfg = std::fs::read_to_string(&env.config).expect("config");
    std::fs::write(
        &env.config,
        cfg.replacen("[sources]\n", "[sources]\nmax_delete_fraction = 1.0\n", 1),
    )
    .expect("config");
    assert_eq!(env.run(&["scan"]).code, 0);
    ec2.delete_security_group()
        .group_id(&sg)
        .send()
        .await
        .expect("delete group");
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(!out.stdout.contains("HELD"), "{out}");
    assert_eq!(hook.requests().len(), 14);
}

/// The base credentials switch to another account (a wrong profile or key in the
/// environment): without the check, that account's empty state reads as every resource of
/// the configured one deleted. Every poll fails as `wrong_account` instead (state kept,
/// nothing recorded, blind after the usual failures), and the right credentials carry on
/// from the same state.
#[tokio::test]
async fn credentials_of_another_account_never_count_as_a_poll() {
    let (moto, hook, env) = moto_with_webhook();
    let ec2 = moto.ec2().await;
    big_group(&ec2).await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "baseline: {out}");

    let (key, secret, token) = assumed_credentials(&moto.url, "222222222222").await;
    for _ in 0..2 {
        let out: Out = env
            .command(&["scan"])
            .env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_SESSION_TOKEN", &token)
            .output()
            .expect("scan")
            .into();
        assert_eq!(out.code, 2, "{out}");
        assert!(out.stdout.contains("FAILED (wrong_account)"), "{out}");
        assert!(
            out.stdout.contains(
                "the credentials belong to account 222222222222, not to the configured 123456789012"
            ),
            "{out}"
        );
    }
    assert!(
        !env.ledger()
            .iter()
            .any(|e| e["type"] == "change" || e["type"] == "mass_delete"),
        "nothing listed with the wrong account counts"
    );
    let events: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        events,
        ["source_blind"],
        "the scope went blind, nothing else"
    );

    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "the right account again, same state: {out}");
}

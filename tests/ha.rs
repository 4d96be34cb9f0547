//! An HA pair on one PostgreSQL store (a server of the test's own, scripts/pg_up.sh): one
//! replica leads, the other waits; the leader killed with SIGKILL mid-cycle is replaced
//! within `lease_duration_secs` and its successor finishes the work, with no lost and no
//! duplicate alert and no second baseline. Elected by a PostgreSQL advisory lock, and by a
//! Kubernetes Lease on the real kube-apiserver (where a paused leader is replaced and then
//! gives up without writing).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

const SECS: Duration = Duration::from_secs(30);

struct Replica {
    env: Env,
    port: u16,
}

/// A replica's config: moto, the webhook, the shared store and `[ha]`.
fn replica(
    moto: &Moto,
    hook: &Receiver,
    store: &TestStore,
    name: &str,
    ha: &str,
    interval_secs: u64,
) -> Replica {
    let port = free_port();
    let env = Env::on_store(
        &Settings {
            endpoint: &moto.url,
            webhook: Some(&hook.url),
            http_port: Some(port),
            interval_secs,
            ..Default::default()
        },
        store.clone(),
    );
    let text = std::fs::read_to_string(&env.config).expect("config");
    std::fs::write(
        &env.config,
        format!("{text}[ha]\nidentity = \"{name}\"\n{ha}"),
    )
    .expect("config");
    Replica { env, port }
}

/// Deliveries to the webhook by idempotency key.
fn deliveries(hook: &Receiver) -> BTreeMap<String, usize> {
    let mut by_key = BTreeMap::new();
    for r in hook.requests() {
        if let Some(k) = r.headers.get("idempotency-key") {
            *by_key.entry(k.clone()).or_insert(0) += 1;
        }
    }
    by_key
}

#[tokio::test]
async fn a_killed_leader_is_replaced_and_its_cycle_finished_by_the_standby() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let pg = PgServer::start();
    let store = pg.database();
    let ha = "election = \"postgres\"\nlease_duration_secs = 15\n";
    let a = replica(&moto, &hook, &store, "replica-a", ha, 3);
    let b = replica(&moto, &hook, &store, "replica-b", ha, 3);
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "jupyter-notebooks").await;
    authorize(&ec2, &sg, 8888, "10.8.0.0/16").await;

    // A leads; its second commit (the cycle after the baseline) kills it before COMMIT.
    let mut cmd = a.env.command(&["run"]);
    cmd.env("DRIFTWATCH_FAILPOINT", "store.commit_cycle:2");
    let mut ra = Running::start(cmd);
    ra.wait_log("leading: this replica polls and alerts", SECS);
    ra.wait_log("baseline recorded", SECS);
    // B waits: ready, says so, polls nothing.
    let mut rb = Running::start(b.env.command(&["run"]));
    rb.wait_log("standby: waiting for leadership", SECS);
    wait_until("B's /readyz names the leader", SECS, || {
        http_get(b.port, "/readyz")
            .is_some_and(|(s, body)| s == 200 && body.contains("standby, replica-a leads"))
    });
    assert_eq!(metric(b.port, "driftwatch_leader "), 0.0);
    assert_eq!(metric(a.port, "driftwatch_leader "), 1.0);

    // The change A's next cycle will find, and die committing.
    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    let died = Instant::now();
    let code = ra.wait_exit(SECS);
    let killed_at = died.elapsed();
    assert_eq!(code, -1, "killed by its failpoint: {}", ra.log.join("\n"));
    assert!(
        ra.log
            .iter()
            .any(|l| l.contains("failpoint store.commit_cycle: hit 2")),
        "{}",
        ra.log.join("\n")
    );
    let dead = Instant::now();
    rb.wait_log("leading: this replica polls and alerts", SECS);
    let takeover = dead.elapsed();
    assert!(
        takeover < Duration::from_secs(15),
        "B took over {takeover:?} after A died (lease_duration_secs = 15)"
    );
    eprintln!("A died {killed_at:?} after the change; B led {takeover:?} after A died");
    rb.wait_log("cycle complete", SECS);
    wait_until("the change alerted", SECS, || {
        deliveries(&hook).keys().any(|k| k.ends_with(":unmatched"))
    });

    // One baseline (A's), the change decided once (by B), alerted once; the chain intact.
    let types = b.env.ledger_types();
    assert_eq!(
        types.iter().filter(|t| *t == "baseline").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "change").count(),
        1,
        "{types:?}"
    );
    assert_eq!(b.env.run(&["ledger", "verify"]).code, 0);
    let leader = b.env.query("SELECT holder, generation FROM leadership");
    assert_eq!(leader.trim(), "replica-b|2");
    // Let B's next cycles run: nothing is decided or delivered again.
    let cycles = rb
        .log
        .iter()
        .filter(|l| l.contains("cycle complete"))
        .count();
    let skip = rb.log.len();
    rb.wait_log_after(skip, "cycle complete", SECS);
    assert!(cycles >= 1);
    let sent = deliveries(&hook);
    assert_eq!(sent.len(), 1, "one alert: {sent:?}");
    assert!(sent.values().all(|n| *n == 1), "delivered once: {sent:?}");
    assert_eq!(b.env.ledger_types(), types);

    // A restarted joins as the standby: no second baseline, nothing decided.
    let mut ra2 = Running::start(a.env.command(&["run"]));
    ra2.wait_log("standby: waiting for leadership", SECS);
    // A scan beside a running leader (from a third host) is refused, naming it.
    let c = replica(&moto, &hook, &store, "replica-c", ha, 3);
    let out = c.env.run(&["scan"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("replica-b leads"), "{out}");
    // B stopped gracefully hands over at once.
    rb.signal("TERM");
    assert_eq!(rb.wait_exit(SECS), 0, "{}", rb.log.join("\n"));
    ra2.wait_log(
        "leading: this replica polls and alerts",
        Duration::from_secs(5),
    );
    ra2.wait_log("cycle complete", SECS);
    assert_eq!(
        a.env.ledger_types(),
        types,
        "nothing new after the handover"
    );
    ra2.signal("TERM");
    assert_eq!(ra2.wait_exit(SECS), 0);
    assert_eq!(deliveries(&hook).len(), 1);
}

#[tokio::test]
async fn a_paused_lease_holder_is_replaced_and_then_writes_nothing() {
    let kube = KubeApi::start();
    let moto = Moto::start();
    let hook = Receiver::start();
    let pg = PgServer::start();
    let store = pg.database();
    let ha = format!(
        "election = \"kubernetes\"\nkubeconfig = \"{}\"\nlease_namespace = \"default\"\nlease_duration_secs = 6\n",
        kube.kubeconfig.display()
    );
    let a = replica(&moto, &hook, &store, "replica-a", &ha, 1);
    let b = replica(&moto, &hook, &store, "replica-b", &ha, 1);
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "inference-api").await;

    let mut ra = Running::start(a.env.command(&["run"]));
    ra.wait_log("leading: this replica polls and alerts", SECS);
    ra.wait_log("baseline recorded", SECS);
    let mut rb = Running::start(b.env.command(&["run"]));
    rb.wait_log("standby: waiting for leadership", SECS);
    let client = kube.client().await;
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(client, "default");
    let lease = leases.get("driftwatch").await.expect("the Lease exists");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-a"));
    assert_eq!(spec.lease_duration_seconds, Some(6));

    // A freezes (a long GC pause, a partition): B takes the Lease once it stops renewing.
    ra.signal("STOP");
    let paused = Instant::now();
    rb.wait_log("leading: this replica polls and alerts", SECS);
    let takeover = paused.elapsed();
    assert!(
        takeover < Duration::from_secs(6) + Duration::from_secs(1),
        "B took over {takeover:?} after A stopped renewing (lease_duration_secs = 6)"
    );
    eprintln!("B took the Lease {takeover:?} after A froze");
    let spec = leases
        .get("driftwatch")
        .await
        .expect("lease")
        .spec
        .expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
    assert_eq!(spec.lease_transitions, Some(1));
    authorize(&ec2, &sg, 443, "0.0.0.0/0").await;
    wait_until("B alerted the change", SECS, || {
        !deliveries(&hook).is_empty()
    });
    let types = b.env.ledger_types();

    // A wakes up believing it leads: its cycles are fenced, it gives up and exits 2.
    ra.signal("CONT");
    let code = ra.wait_exit(SECS);
    assert_eq!(code, 2, "{}", ra.log.join("\n"));
    assert!(
        ra.log.iter().any(|l| l.contains("lost leadership")),
        "{}",
        ra.log.join("\n")
    );
    let skip = rb.log.len();
    rb.wait_log_after(skip, "cycle complete", SECS);
    assert_eq!(
        b.env.ledger_types(),
        types,
        "A wrote nothing after B took over"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "change").count(),
        1,
        "{types:?}"
    );
    let sent = deliveries(&hook);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent.values().all(|n| *n == 1), "delivered once: {sent:?}");
    assert_eq!(
        b.env
            .query("SELECT holder, generation FROM leadership")
            .trim(),
        "replica-b|2"
    );
    rb.signal("TERM");
    assert_eq!(rb.wait_exit(SECS), 0);
    // A graceful stop released the Lease.
    let spec = leases
        .get("driftwatch")
        .await
        .expect("lease")
        .spec
        .expect("spec");
    assert_eq!(spec.holder_identity, None);
}

/// Complete polls per scope in a replica's metrics.
fn polls(port: u16) -> BTreeMap<String, f64> {
    let (_, text) = http_get(port, "/metrics").unwrap_or((0, String::new()));
    let mut by_scope = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("driftwatch_polls_total{") else {
            continue;
        };
        if !rest.contains("outcome=\"complete\"") {
            continue;
        }
        let Some(scope) = rest
            .split("scope=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        else {
            continue;
        };
        let n: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *by_scope.entry(scope.to_string()).or_insert(0.0) += n;
    }
    by_scope
}

/// Which replica polled which scope over 5 s, after 5 s for the assignment to settle (two
/// 2-second cycles): every scope must appear under exactly one replica.
fn polled_after_settling(replicas: &[Replica]) -> BTreeMap<String, Vec<usize>> {
    std::thread::sleep(Duration::from_secs(5));
    let before: Vec<_> = replicas.iter().map(|r| polls(r.port)).collect();
    std::thread::sleep(Duration::from_secs(5));
    let after: Vec<_> = replicas.iter().map(|r| polls(r.port)).collect();
    let mut by_scope: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        for (scope, n) in a {
            if *n > b.get(scope).copied().unwrap_or(0.0) {
                by_scope.entry(scope.clone()).or_default().push(i);
            }
        }
    }
    by_scope
}

#[tokio::test]
async fn three_replicas_share_the_scopes_and_two_take_over_a_killed_ones() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let pg = PgServer::start();
    let store = pg.database();
    // 3 accounts x 3 regions = 9 scopes.
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    let accounts = ["111111111111", "222222222222"];
    let mut extra_accounts = String::new();
    for a in accounts {
        extra_accounts.push_str(&format!(
            "[[aws.accounts]]\nid = \"{a}\"\nrole_arn = \"arn:aws:iam::{a}:role/driftwatch-reader\"\n"
        ));
    }
    let ha = "election = \"postgres\"\nlease_duration_secs = 6\nreplicas = 3\n";
    let names = ["replica-a", "replica-b", "replica-c"];
    let replicas: Vec<Replica> = names
        .iter()
        .map(|n| {
            let r = replica(&moto, &hook, &store, n, ha, 2);
            let text = std::fs::read_to_string(&r.env.config).expect("config");
            let text = text
                .replace(
                    &format!("regions = [\"{REGION}\"]"),
                    &format!("regions = {regions:?}"),
                )
                .replacen(
                    &format!("id = \"{ACCOUNT}\"\n"),
                    &format!(
                        "id = \"{ACCOUNT}\"\nrole_arn = \"arn:aws:iam::{ACCOUNT}:role/driftwatch-reader\"\n{extra_accounts}"
                    ),
                    1,
                );
            std::fs::write(&r.env.config, text).expect("config");
            r
        })
        .collect();
    let check = replicas[0].env.run(&["config", "check"]);
    assert_eq!(check.code, 0, "{check}");
    let ec2 = moto.ec2().await;
    create_group(&ec2, "web").await;

    let mut running: Vec<Option<Running>> = replicas
        .iter()
        .map(|r| Some(Running::start(r.env.command(&["run"]))))
        .collect();
    for r in running.iter_mut().flatten() {
        r.wait_log("joined the sharded set", SECS);
    }
    wait_until("every replica sees three members", SECS, || {
        replicas
            .iter()
            .all(|r| metric(r.port, "driftwatch_shard_members ") == 3.0)
    });
    let by_scope = polled_after_settling(&replicas);
    assert_eq!(by_scope.len(), 9, "every scope polled: {by_scope:?}");
    assert!(
        by_scope.values().all(|who| who.len() == 1),
        "each scope by exactly one replica: {by_scope:?}"
    );
    let owned: Vec<f64> = replicas
        .iter()
        .map(|r| metric(r.port, "driftwatch_shard_scopes "))
        .collect();
    assert_eq!(owned.iter().sum::<f64>(), 9.0, "{owned:?}");
    let leaders: Vec<usize> = (0..3)
        .filter(|i| metric(replicas[*i].port, "driftwatch_leader ") == 1.0)
        .collect();
    assert_eq!(leaders.len(), 1, "one leader: {leaders:?}");

    // Kill the leader: its scopes and its shared work (delivery) move to the two left.
    let dead = leaders[0];
    let mut victim = running[dead].take().expect("running");
    victim.signal("KILL");
    victim.wait_exit(SECS);
    let alive: Vec<usize> = (0..3).filter(|i| *i != dead).collect();
    wait_until("the two left see two members", SECS, || {
        alive
            .iter()
            .all(|i| metric(replicas[*i].port, "driftwatch_shard_members ") == 2.0)
    });
    wait_until("one of them leads", SECS, || {
        alive
            .iter()
            .any(|i| metric(replicas[*i].port, "driftwatch_leader ") == 1.0)
    });
    let by_scope = polled_after_settling(&replicas);
    assert_eq!(by_scope.len(), 9, "every scope still polled: {by_scope:?}");
    assert!(
        by_scope
            .values()
            .all(|who| who.len() == 1 && who[0] != dead),
        "each scope by exactly one survivor: {by_scope:?}"
    );

    // A change anywhere is decided once and alerted once; each scope has one baseline.
    let sg = create_group(&ec2, "jupyter").await;
    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    wait_until("the change alerted", SECS, || {
        deliveries(&hook).keys().any(|k| k.ends_with(":unmatched"))
    });
    std::thread::sleep(Duration::from_secs(5));
    let sent = deliveries(&hook);
    assert!(sent.values().all(|n| *n == 1), "delivered once: {sent:?}");
    let types = replicas[alive[0]].env.ledger_types();
    assert_eq!(
        types.iter().filter(|t| *t == "baseline").count(),
        9,
        "{types:?}"
    );
    // The group, its default egress rule and the SSH rule: each decided once.
    let changes: Vec<String> = replicas[alive[0]]
        .env
        .ledger()
        .iter()
        .filter(|e| e["type"] == "change")
        .map(|e| format!("{} {} {}", e["action"], e["kind"], e["resource_id"]))
        .collect();
    let distinct: std::collections::BTreeSet<&String> = changes.iter().collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(distinct.len(), changes.len(), "decided twice: {changes:?}");
    assert_eq!(replicas[alive[0]].env.run(&["ledger", "verify"]).code, 0);
    for i in alive {
        let r = running[i].as_mut().expect("running");
        r.signal("TERM");
        assert_eq!(r.wait_exit(SECS), 0, "{}", r.log.join("\n"));
    }
    assert_eq!(
        replicas[0].env.query("SELECT COUNT(*) FROM members").trim(),
        "1",
        "the two stopped left the set; the killed one's row stays, expired"
    );
}

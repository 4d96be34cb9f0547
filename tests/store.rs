//! The state store across engines: `driftwatch store migrate` copies a SQLite store that
//! moto's changes filled into a real PostgreSQL server (scripts/pg_up.sh), and driftwatch
//! carries on there with no second baseline and no change decided twice.

mod common;

use common::*;

#[tokio::test]
async fn a_sqlite_store_moves_to_postgres_and_carries_on() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let settings = Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        ..Default::default()
    };
    let env = Env::on_sqlite(&settings);
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "jupyter-notebooks").await;
    authorize(&ec2, &sg, 8888, "10.8.0.0/16").await;
    assert_eq!(env.run(&["scan"]).code, 0, "baseline");
    authorize(&ec2, &sg, 22, "0.0.0.0/0").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "{out}");
    let before = env.ledger_types();
    let drifts_before = env.run(&["drifts", "--format", "json"]);
    assert_eq!(drifts_before.code, 0, "{drifts_before}");
    let alerts = hook.requests().len();
    assert!(alerts >= 1, "the unplanned change was alerted");

    let pg = PgServer::start();
    let TestStore::Postgres { url, password_file } = pg.database() else {
        unreachable!("a database on a PostgreSQL server")
    };
    let password_file = password_file.display().to_string();
    let migrate = || {
        env.run(&[
            "store",
            "migrate",
            "--to",
            &url,
            "--password-file",
            &password_file,
        ])
    };

    // A wrong password: exit 2, the URL named, nothing copied.
    let wrong = env.dir.path().join("wrong-password");
    std::fs::write(&wrong, "not-the-password\n").expect("write");
    let out = env.run(&[
        "store",
        "migrate",
        "--to",
        &url,
        "--password-file",
        &wrong.display().to_string(),
    ]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains(&url), "{out}");
    assert!(!out.stderr.contains("not-the-password"), "{out}");
    // A password in the URL is refused before anything is read.
    let with_password = url.replace("driftwatch@", "driftwatch:hunter2@");
    let out = env.run(&["store", "migrate", "--to", &with_password]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("holds a password"), "{out}");

    let out = migrate();
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("both ledgers verify and agree"),
        "{out}"
    );
    assert!(
        out.stderr.contains("ledger") && out.stderr.contains("snapshots"),
        "progress names each table: {out}"
    );
    // Into a store that now holds state: refused, nothing merged.
    let out = migrate();
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("already holds state"), "{out}");

    // The config switched to the PostgreSQL store: the same ledger and drifts...
    let text = std::fs::read_to_string(&env.config).expect("config");
    std::fs::write(
        &env.config,
        format!("store = {{ url = \"{url}\", password_file = \"{password_file}\" }}\n{text}"),
    )
    .expect("config");
    // The SQLite file is out of the way: whatever follows reads PostgreSQL.
    std::fs::rename(
        env.dir.path().join("state/driftwatch.db"),
        env.dir.path().join("state/driftwatch.db.migrated"),
    )
    .expect("move the SQLite store aside");
    let verify = env.run(&["ledger", "verify"]);
    assert_eq!(verify.code, 0, "{verify}");
    assert_eq!(env.ledger_types(), before);
    let drifts_after = env.run(&["drifts", "--format", "json"]);
    assert_eq!(drifts_after.stdout, drifts_before.stdout);

    // ...and the next scan carries on: no second baseline, the known change not decided
    // again, nobody paged again; a new change is decided and alerted as usual.
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.ledger_types(), before, "nothing new: {out}");
    authorize(&ec2, &sg, 3389, "0.0.0.0/0").await;
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 1, "{out}");
    let after = env.ledger_types();
    assert_eq!(
        after.iter().filter(|t| *t == "baseline").count(),
        1,
        "{after:?}"
    );
    assert_eq!(
        after.iter().filter(|t| *t == "change").count(),
        before.iter().filter(|t| *t == "change").count() + 1,
        "{after:?}"
    );
    assert_eq!(env.run(&["ledger", "verify"]).code, 0);
    wait_until(
        "the new change alerted",
        std::time::Duration::from_secs(10),
        || hook.requests().len() > alerts,
    );
}

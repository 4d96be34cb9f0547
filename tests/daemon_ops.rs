//! `driftwatch run` as an operator sees it: metrics checked by promtool, readiness, systemd
//! notifications, SIGHUP reload, record files reloaded on change, and a bounded shutdown drain.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const SECS: Duration = Duration::from_secs(30);

/// A datagram socket standing in for systemd's NOTIFY_SOCKET.
struct NotifySocket {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    sock: UnixDatagram,
}

impl NotifySocket {
    fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("notify socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        NotifySocket {
            _dir: dir,
            path,
            sock,
        }
    }

    /// Append the next message, if one comes within the read timeout, and a newline.
    fn read_into(&self, messages: &mut String) {
        let mut buf = [0u8; 4096];
        if let Ok(n) = self.sock.recv(&mut buf) {
            messages.push_str(&String::from_utf8_lossy(&buf[..n]));
            messages.push('\n');
        }
    }
}

/// moto with one group, a config serving HTTP on a free port with the given AWS timeout,
/// and a NOTIFY_SOCKET: the setup of the systemd tests.
async fn notified_daemon(timeout_secs: u64) -> (Moto, u16, Env, NotifySocket) {
    let moto = Moto::start();
    create_group(&moto.ec2().await, "inference-api").await;
    let port = free_port();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        http_port: Some(port),
        timeout_secs,
        ..Default::default()
    });
    (moto, port, env, NotifySocket::bind())
}

#[tokio::test]
async fn metrics_readiness_and_systemd_notifications() {
    let (moto, port, env, notify) = notified_daemon(2).await;
    let (sock, sock_path) = (&notify.sock, &notify.path);

    moto.pause();
    let mut cmd = env.command(&["run"]);
    cmd.env("NOTIFY_SOCKET", sock_path)
        .env("WATCHDOG_USEC", "1000000");
    let mut d = Running::start(cmd);
    wait_until("/healthz", SECS, || {
        http_get(port, "/healthz").is_some_and(|(s, _)| s == 200)
    });
    let (status, body) = http_get(port, "/readyz").expect("readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("scope aws:123456789012:us-east-1 has not completed a poll"),
        "{body}"
    );

    // A failed poll is not readiness either (the scope is not blind yet).
    d.wait_log("poll failed", SECS);
    assert_eq!(http_get(port, "/readyz").map(|(s, _)| s), Some(503));
    moto.resume();
    wait_until("/readyz ready", SECS, || {
        http_get(port, "/readyz").is_some_and(|(s, _)| s == 200)
    });

    let mut messages = String::new();
    wait_until("READY=1 and WATCHDOG=1 on the notify socket", SECS, || {
        notify.read_into(&mut messages);
        // READY=1 comes before the first poll; the cycle's STATUS line after it.
        messages.contains("READY=1")
            && messages.contains("WATCHDOG=1")
            && messages.contains("STATUS=watching 1 scopes")
    });
    let ready = messages.find("READY=1").unwrap_or(usize::MAX);
    let watching = messages.find("STATUS=watching 1 scopes").unwrap_or(0);
    assert!(
        ready < watching,
        "READY=1 before the first cycle's STATUS: {messages}"
    );

    let (status, text) = http_get(port, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    for want in [
        "driftwatch_polls_total{scope=\"aws:123456789012:us-east-1\",service=\"aws.ec2\",outcome=\"complete\"}",
        "driftwatch_poll_failures_total{scope=\"aws:123456789012:us-east-1\",service=\"aws.ec2\",kind=\"timeout\"} 1",
        "driftwatch_resources{scope=\"aws:123456789012:us-east-1\",service=\"aws.ec2\"}",
        "driftwatch_cycles_total",
        "driftwatch_ledger_entries 2",
        "driftwatch_build_info{version=\"",
    ] {
        assert!(text.contains(want), "missing {want} in:\n{text}");
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/test.sh installs Debian's prometheus)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
    let mut buf = [0u8; 4096];
    let mut tail = String::new();
    while let Ok(n) = sock.recv(&mut buf) {
        tail.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(tail.contains("STOPPING=1"), "{tail}");
}

/// READY=1 comes once the store is open and the records are loaded, while the first poll is
/// still running: a first poll of a large account must not outlast systemd's
/// TimeoutStartSec (Type=notify) and put the unit in a restart loop. /readyz still says
/// not ready until the scope has completed a poll.
#[tokio::test]
async fn ready_is_signalled_before_a_slow_first_poll_completes() {
    let (moto, port, env, notify) = notified_daemon(60).await;
    // The emulator answers nothing: the first poll waits on its 60 s timeout.
    moto.pause();
    let mut cmd = env.command(&["run"]);
    cmd.env("NOTIFY_SOCKET", &notify.path);
    let mut d = Running::start(cmd);
    let mut messages = String::new();
    wait_until("READY=1 while the first poll hangs", SECS, || {
        notify.read_into(&mut messages);
        messages.contains("READY=1")
    });
    assert!(
        messages.contains("STATUS=records loaded; first poll running"),
        "{messages}"
    );
    let (status, body) = http_get(port, "/readyz").expect("readyz");
    assert_eq!(status, 503, "not ready until a poll completed: {body}");
    assert!(body.contains("has not completed a poll"), "{body}");
    moto.resume();
    wait_until("/readyz ready", Duration::from_secs(90), || {
        http_get(port, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
}

#[tokio::test]
async fn sighup_keeps_running_on_a_broken_config_and_applies_a_fixed_one() {
    let moto = Moto::start();
    let settings = Settings {
        endpoint: &moto.url,
        ..Default::default()
    };
    let env = Env::new(&settings);
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);

    std::fs::write(&env.config, "interval_secs = \"soon\"\n").expect("break config");
    d.signal("HUP");
    let i = d.wait_log("config reload failed; keeping the running config", SECS);
    assert!(
        d.log[i].contains("TOML parse error at line 1"),
        "{}",
        d.log[i]
    );
    let after = d.log.len();
    d.wait_log_after(after, "cycle complete", SECS);

    env.write_config(&Settings {
        interval_secs: 2,
        ..settings
    });
    d.signal("HUP");
    let i = d.wait_log("config reloaded", SECS);
    assert!(d.log[i].contains("interval_secs=2"), "{}", d.log[i]);
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
}

#[tokio::test]
async fn sighup_with_numbers_out_of_range_names_them_and_keeps_running() {
    let moto = Moto::start();
    let settings = Settings {
        endpoint: &moto.url,
        ..Default::default()
    };
    let env = Env::new(&settings);
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);

    // These used to reach the settings translators, which wrapped them (`as i64`) or panicked.
    let text = std::fs::read_to_string(&env.config).expect("config");
    let text = text.replace(
        "[records]\n",
        "[records]\nmax_revert_after_window_hours = 18446744073709551615\n",
    ) + "[alerting]\nquiet_period_secs = 9223372036854775808\n";
    std::fs::write(&env.config, text).expect("write config");
    d.signal("HUP");
    let i = d.wait_log("config reload failed; keeping the running config", SECS);
    d.wait_log_after(
        i,
        "records.max_revert_after_window_hours: must be at most 8784 (366 days)",
        SECS,
    );
    d.wait_log_after(
        i,
        "alerting.quiet_period_secs: must be at most 604800 (7 days)",
        SECS,
    );
    let after = d.log.len();
    d.wait_log_after(after, "cycle complete", SECS);
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
}

#[tokio::test]
async fn edited_record_file_is_reloaded_without_restart() {
    let moto = Moto::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        interval_secs: 3600,
        ..Default::default()
    });
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("cycle complete", SECS);

    env.record(
        "std-1.yaml",
        "id: STD-1\ntitle: t\ntype: standard\nrequested_by: a@example.com\napproved_by: [{ name: b@example.com, at: 2026-01-01T00:00:00Z }]\nscope: [{ provider: aws }]\n",
    );
    let i = d.wait_log("change records reloaded after a file change", SECS);
    assert!(
        d.log[i].contains("records=1") && d.log[i].contains("errors=0"),
        "{}",
        d.log[i]
    );

    let after = d.log.len();
    env.record("bad.yaml", "id: X\n");
    let i = d.wait_log_after(after, "change record rejected", SECS);
    assert!(d.log[i].contains("bad.yaml"), "{}", d.log[i]);
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
}

/// One process per state directory: a second daemon, or a scan, while one runs would decide
/// and page every change twice. The lock goes with the process.
#[tokio::test]
async fn a_second_process_on_the_same_state_directory_is_refused() {
    let moto = Moto::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        interval_secs: 3600,
        // Generous: the last scan must not fail a poll on a loaded machine.
        timeout_secs: 20,
        ..Default::default()
    });
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("cycle complete", SECS);
    for args in [&["scan"][..], &["run"][..]] {
        let out = env.run(args);
        assert_eq!(out.code, 2, "{args:?}: {out}");
        assert!(
            out.stderr.contains("is in use by another driftwatch (pid ")
                && out.stderr.contains("one process per state directory"),
            "{args:?}: {out}"
        );
    }
    // SIGKILL leaves no stale lock behind.
    let _ = d.child.kill();
    let _ = d.wait_exit(SECS);
    let out = env.run(&["scan"]);
    assert!(
        !out.stderr.contains("is in use by another driftwatch"),
        "{out}"
    );
    assert_eq!(out.code, 0, "{out}");
}

/// A cycle the store cannot commit makes the daemon not ready and is told to on-call
/// straight away (the outbox lives in the failing store), once per outage; the daemon keeps
/// running.
#[tokio::test]
async fn a_store_failure_is_alerted_directly_and_makes_the_daemon_not_ready() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let port = free_port();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        http_port: Some(port),
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "payments").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    wait_until("/readyz ready", SECS, || {
        http_get(port, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    // The stored group no longer matches its hash; a change to the group needs that row.
    env.sql(&format!(
        "UPDATE snapshots SET name = 'renamed' WHERE id = '{sg}'"
    ));
    tag(&ec2, &sg, "team", "pay").await;
    d.wait_log("the store failed a cycle; told on-call directly", SECS);
    let (status, body) = http_get(port, "/readyz").expect("readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("the store failed the last cycle")
            && body.contains("does not match its stored hash"),
        "{body}"
    );
    // Several failing cycles, one direct alert.
    let skip = d.log.len();
    d.wait_log_after(skip, "cannot store the cycle's result", SECS);
    let store_alerts: Vec<serde_json::Value> = hook
        .requests()
        .iter()
        .map(|r| r.json())
        .filter(|j| j["event"] == "store_failed")
        .collect();
    assert_eq!(store_alerts.len(), 1, "{store_alerts:?}");
    assert_eq!(store_alerts[0]["severity"], "critical");
    assert!(
        store_alerts[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("neither recorded nor alerted")),
        "{store_alerts:?}"
    );
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
}

#[tokio::test]
async fn sigterm_delivers_queued_alerts_within_the_bound() {
    let (moto, hook, env) = moto_with_webhook();
    hook.set_status(503);
    let ec2 = moto.ec2().await;
    let sg = create_group(&ec2, "jupyter-notebooks").await;
    let mut d = Running::start(env.command(&["run"]));
    d.wait_log("baseline recorded", SECS);
    authorize(&ec2, &sg, 8888, "0.0.0.0/0").await;
    d.wait_log("alert delivery failed; will retry", SECS);

    // The receiver is back; the retry is not due yet, but shutdown drains every pending alert.
    hook.set_status(200);
    // The drain is bounded by shutdown_drain_secs (a timeout in the daemon, not timed here).
    d.signal("TERM");
    assert_eq!(d.wait_exit(SECS), 0);
    let reqs = hook.requests();
    assert_eq!(
        reqs.len(),
        2,
        "one failed attempt, then the drain: {reqs:?}"
    );
    assert_eq!(reqs[1].json()["event"], "unmatched");
    let i = d.wait_log("outbox drained", SECS);
    assert!(d.log[i].contains("delivered=1"), "{}", d.log[i]);
}

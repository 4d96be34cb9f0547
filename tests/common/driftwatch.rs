//! The driftwatch binary under test: a config in a temporary directory (`Env`), one-shot
//! commands (`Out`), and `driftwatch run` as a child with its log (`Running`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// A driftwatch configuration in a temporary directory.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// Where its state is kept: SQLite in `state`, or a PostgreSQL database (`store.rs`).
    pub store: TestStore,
}

pub struct Settings<'a> {
    pub endpoint: &'a str,
    pub webhook: Option<&'a str>,
    pub timeout_secs: u64,
    pub blind_after_failures: u32,
    /// `sources.poll_deadline_secs`.
    pub poll_deadline_secs: u64,
    pub page_size: u32,
    /// Serve /metrics etc. on this port (`run` only); `None` disables the listener.
    pub http_port: Option<u16>,
    pub interval_secs: u64,
    /// Raw TOML appended to the config (more sinks, routes).
    pub extra: &'a str,
    /// `aws.services` (TOML array items): EC2 only unless a test watches IAM.
    pub services: &'a str,
    /// Raw TOML lines inside `[aws]` after the first account (more accounts).
    pub accounts: &'a str,
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings {
            endpoint: "http://127.0.0.1:1",
            webhook: None,
            timeout_secs: 3,
            blind_after_failures: 2,
            poll_deadline_secs: 900,
            page_size: 1000,
            http_port: None,
            interval_secs: 1,
            extra: "",
            services: "\"ec2\"",
            accounts: "",
        }
    }
}

impl Env {
    pub fn new(s: &Settings<'_>) -> Env {
        Env::with_store(s, TestStore::for_state_dir)
    }

    /// An env on SQLite whichever engine the suite runs on (tests of SQLite itself).
    pub fn on_sqlite(s: &Settings<'_>) -> Env {
        Env::with_store(s, |state| TestStore::Sqlite(state.join("driftwatch.db")))
    }

    /// An env on a given store (replicas sharing one).
    pub fn on_store(s: &Settings<'_>, store: TestStore) -> Env {
        Env::with_store(s, |_| store)
    }

    fn with_store(s: &Settings<'_>, store: impl FnOnce(&std::path::Path) -> TestStore) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("changes")).expect("changes dir");
        let config = dir.path().join("driftwatch.toml");
        let store = store(&dir.path().join("state"));
        let env = Env { dir, config, store };
        env.write_config(s);
        env
    }

    pub fn write_config(&self, s: &Settings<'_>) {
        let mut text = self.store.toml();
        text += &format!(
            r#"state_dir = "state"
interval_secs = {}
shutdown_drain_secs = 10
[records]
dir = "changes"
[sources]
blind_after_failures = {}
poll_deadline_secs = {}
[aws]
endpoint_url = "{}"
regions = ["{REGION}"]
timeout_secs = {}
max_attempts = 1
page_size = {}
services = [{}]
[[aws.accounts]]
id = "{ACCOUNT}"
{}
[[sinks]]
type = "log"
"#,
            s.interval_secs,
            s.blind_after_failures,
            s.poll_deadline_secs,
            s.endpoint,
            s.timeout_secs,
            s.page_size,
            s.services,
            s.accounts
        );
        match s.http_port {
            Some(p) => text.push_str(&format!("[http]\nlisten = \"127.0.0.1:{p}\"\n")),
            None => text.push_str("[http]\nenabled = false\n"),
        }
        if let Some(url) = s.webhook {
            text.push_str(&format!(
                "[[sinks]]\ntype = \"webhook\"\nname = \"hook\"\nurl = \"{url}\"\ntimeout_secs = 2\nmax_attempts = 5\n"
            ));
        }
        text.push_str(s.extra);
        std::fs::write(&self.config, text).expect("write config");
    }

    pub fn record(&self, name: &str, yaml: &str) {
        std::fs::write(self.dir.path().join("changes").join(name), yaml).expect("write record");
    }

    /// Write a config of the test's own (`state_dir = "state"`), on this env's store.
    pub fn write_config_text(&self, text: &str) {
        std::fs::write(&self.config, format!("{}{text}", self.store.toml())).expect("write config");
    }

    /// Run one SQL statement on the state store (waiting for a running daemon's write to
    /// finish): how tests alter stored rows behind driftwatch's back.
    pub fn sql(&self, sql: &str) {
        self.store.exec(sql);
    }

    /// Rows of a query on the state store, one a line, columns separated by `|`.
    pub fn query(&self, sql: &str) -> String {
        self.store.query(sql)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .env_remove("DRIFTWATCH_CONFIG")
            .env_remove("DRIFTWATCH_STATE_DIR")
            .env("DRIFTWATCH_LOG", "info");
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        let out = self.command(args).output().expect("run driftwatch");
        Out::from(out)
    }

    /// The type of every ledger entry, in order.
    pub fn ledger_types(&self) -> Vec<String> {
        self.ledger()
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Ledger entries as exported (parsed `entry` objects).
    pub fn ledger(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["ledger", "export"]);
        assert_eq!(out.code, 0, "ledger export: {}", out.stderr);
        out.stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("export line")["entry"].clone()
            })
            .collect()
    }
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).to_string(),
            stderr: String::from_utf8_lossy(&o.stderr).to_string(),
        }
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `driftwatch run` as a child process with its log lines collected.
pub struct Running {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start driftwatch run");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines: rx,
            log: Vec::new(),
        }
    }

    /// Wait for a log line containing `needle` that arrives after `skip` earlier lines.
    pub fn wait_log_after(&mut self, skip: usize, needle: &str, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(i) = self.log.iter().skip(skip).position(|l| l.contains(needle)) {
                return skip + i;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.log.push(l),
                Err(_) => panic!(
                    "no log line containing `{needle}` within {limit:?}; log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    pub fn wait_log(&mut self, needle: &str, limit: Duration) -> usize {
        self.wait_log_after(0, needle, limit)
    }

    pub fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    /// Wait for exit (bounded) and collect the rest of the log.
    pub fn wait_exit(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.log.push(l);
                }
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "driftwatch did not exit within {limit:?}; log:\n{}",
                    self.log.join("\n")
                );
            }
            while let Ok(l) = self.lines.try_recv() {
                self.log.push(l);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

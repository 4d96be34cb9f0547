//! The store a test's driftwatch keeps its state in. By default the SQLite database in the
//! config's `state_dir`. When `scripts/test.sh` runs the integration suite a second time on
//! PostgreSQL it sets `DRIFTWATCH_TEST_PG_URL` (a server started by `scripts/pg_up.sh`, the
//! URL without its password) and `DRIFTWATCH_TEST_PG_PASSWORD_FILE`; every `Env` then gets a
//! database of its own on that server, named by a `store = { … }` line at the top of its
//! config (an inline table, so keys a test appends at the end land where they did before).
//! Tests read and alter stored rows through `exec` and `query`, on either engine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone)]
pub enum TestStore {
    /// The SQLite database file.
    Sqlite(PathBuf),
    /// A database on the shared test server: its URL (no password) and the password file.
    Postgres { url: String, password_file: PathBuf },
}

static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

impl TestStore {
    /// The store for a config whose `state_dir` is `state_dir`.
    pub fn for_state_dir(state_dir: &Path) -> TestStore {
        let Ok(server) = std::env::var("DRIFTWATCH_TEST_PG_URL") else {
            return TestStore::Sqlite(state_dir.join("driftwatch.db"));
        };
        let password_file = PathBuf::from(
            std::env::var("DRIFTWATCH_TEST_PG_PASSWORD_FILE")
                .expect("DRIFTWATCH_TEST_PG_PASSWORD_FILE goes with DRIFTWATCH_TEST_PG_URL"),
        );
        TestStore::new_database(&server, password_file)
    }

    /// A new, empty database on the server at `server` (a URL naming any database).
    pub fn new_database(server: &str, password_file: PathBuf) -> TestStore {
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        psql(server, &password_file, &format!("CREATE DATABASE {name}"));
        let base = server
            .rsplit_once('/')
            .map(|(b, _)| b)
            .expect("the server URL names a database");
        TestStore::Postgres {
            url: format!("{base}/{name}"),
            password_file,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestStore::Postgres { .. })
    }

    /// The config line that selects this store (empty for SQLite, the default).
    pub fn toml(&self) -> String {
        match self {
            TestStore::Sqlite(_) => String::new(),
            TestStore::Postgres { url, password_file } => format!(
                "store = {{ url = \"{url}\", password_file = \"{}\" }}\n",
                password_file.display()
            ),
        }
    }

    /// Run SQL on the store (Debian's sqlite3 or psql), waiting for a running daemon's write.
    pub fn exec(&self, sql: &str) {
        self.query(sql);
    }

    /// Run SQL and return its rows, one a line, columns separated by `|`.
    pub fn query(&self, sql: &str) -> String {
        match self {
            TestStore::Sqlite(db) => {
                let out = Command::new("sqlite3")
                    .arg("-cmd")
                    .arg(".timeout 10000")
                    .arg(db)
                    .arg(sql)
                    .output()
                    .expect("sqlite3 (scripts/test.sh installs it)");
                assert!(
                    out.status.success(),
                    "sqlite3 failed on: {sql}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
            TestStore::Postgres { url, password_file } => psql(url, password_file, sql),
        }
    }
}

fn psql(url: &str, password_file: &Path, sql: &str) -> String {
    let password = std::fs::read_to_string(password_file).expect("password file");
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password.trim())
        .output()
        .expect("psql (scripts/test.sh installs PostgreSQL)");
    assert!(
        out.status.success(),
        "psql failed on: {sql}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PostgreSQL server of a test's own (`scripts/pg_up.sh`), stopped when dropped: for tests
/// that need one whichever engine the suite runs on (`store migrate`, leader election).
pub struct PgServer {
    /// The server's URL (the `postgres` database), without the password.
    pub url: String,
    pub password_file: PathBuf,
    dir: PathBuf,
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

impl PgServer {
    pub fn start() -> PgServer {
        let out = Command::new(script("pg_up.sh"))
            .arg(super::free_port().to_string())
            .output()
            .expect("run scripts/pg_up.sh");
        assert!(
            out.status.success(),
            "scripts/pg_up.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let (url, dir) = text
            .trim()
            .rsplit_once(' ')
            .expect("pg_up.sh prints the URL and the directory");
        let dir = PathBuf::from(dir);
        PgServer {
            url: url.to_string(),
            password_file: dir.join("password"),
            dir,
        }
    }

    /// A new, empty database on this server.
    pub fn database(&self) -> TestStore {
        TestStore::new_database(&self.url, self.password_file.clone())
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = Command::new(script("pg_down.sh")).arg(&self.dir).status();
    }
}

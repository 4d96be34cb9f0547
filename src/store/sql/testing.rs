//! A throwaway PostgreSQL server for the store's tests, started by `scripts/pg_up.sh` (Debian's
//! PostgreSQL, installed when missing) on a free 127.0.0.1 port and stopped when dropped.

use std::path::PathBuf;
use std::process::Command;

pub(crate) struct TestPostgres {
    pub url: String,
    pub password: String,
    dir: PathBuf,
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

impl TestPostgres {
    pub fn start() -> TestPostgres {
        Self::start_with(false)
    }

    /// A server that accepts TLS connections only, its CA in `ca()`.
    pub fn start_tls() -> TestPostgres {
        Self::start_with(true)
    }

    /// The throwaway CA that signed a TLS server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    fn start_with(tls: bool) -> TestPostgres {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let out = Command::new(script("pg_up.sh"))
            .arg(port.to_string())
            .env("PG_TLS", if tls { "1" } else { "0" })
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
        let password = std::fs::read_to_string(dir.join("password"))
            .expect("password file")
            .trim()
            .to_string();
        TestPostgres {
            url: url.to_string(),
            password,
            dir,
        }
    }

    pub fn conn(&self) -> super::PgConn {
        let mut config: postgres::Config = self.url.parse().expect("url");
        config.password(&self.password);
        super::PgConn::connect(config, super::Tls::new(None).expect("tls"), &self.url)
            .expect("connect")
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = Command::new(script("pg_down.sh")).arg(&self.dir).status();
    }
}

/// What keeps a test store alive: its SQLite file's directory, or its PostgreSQL server.
pub(crate) enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] TestPostgres),
}

/// A fresh, migrated store of each engine: SQLite in a temporary directory and PostgreSQL
/// on a throwaway server. Tests run their body on each (`for (mut db, _keep) in ...`); the
/// engine's name is printed first, so a failure says which.
pub(crate) fn fresh_stores() -> Vec<(crate::store::Db, Keep)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = crate::store::Db::open(&dir.path().join("t.db")).expect("sqlite store");
    let pg = TestPostgres::start();
    let postgres = crate::store::Db::connect(&pg.url, Some(&pg.password)).expect("postgres store");
    vec![(sqlite, Keep::Dir(dir)), (postgres, Keep::Postgres(pg))]
}

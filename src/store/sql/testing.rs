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
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let out = Command::new(script("pg_up.sh"))
            .arg(port.to_string())
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

    pub fn client(&self) -> postgres::Client {
        let mut config: postgres::Config = self.url.parse().expect("url");
        config.password(&self.password);
        config.connect(postgres::NoTls).expect("connect")
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = Command::new(script("pg_down.sh")).arg(&self.dir).status();
    }
}

//! The embedded SQLite store: versioned migrations, the last complete state per scope, the
//! drift index, the hash-chained ledger and the alert outbox. Synchronous (rusqlite); async
//! code reaches it through [`StoreHandle`], which runs it on its own thread.

mod cycle;
pub mod drifts;
mod handle;
pub mod leader;
pub mod ledger;
pub mod lookups;
pub mod members;
mod migrate;
mod obligations;
pub mod outbox;
mod schema;
mod scopes;
mod snapshot;
pub mod sql;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use sql::{Engine, Sql};

pub use cycle::{CycleWrite, ScopeLoad};
pub use drifts::{ClosedReason, DriftClosure, NewDrift, OpenDrift, StoredDrift};
pub use handle::StoreHandle;
pub use ledger::{LedgerEntry, LedgerEvent, VerifyReport};
pub use lookups::{LookupItem, StoredLookup};
pub use migrate::{MigrateReport, TableCopy};
pub use obligations::ObligationWrite;
pub use outbox::{OutboxEntry, OutboxEvent, OutboxItem, OutboxRow, RowState, Trigger};
pub use scopes::{HeldDeletes, ScopeState};

use schema::{MIGRATIONS, MIGRATIONS_PG};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("database {url}: {source}")]
    Connect {
        url: String,
        source: postgres::Error,
    },
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    #[error("the store thread has stopped")]
    Closed,
    #[error(
        "the PostgreSQL connection was lost inside a transaction; the server rolled it back and nothing of it was written"
    )]
    Lost,
    #[error("a store thread failed while {0}")]
    Thread(String),
    #[error("{0}")]
    Secret(String),
    #[error("TLS to the PostgreSQL store: {0}")]
    Tls(String),
    #[error("cannot migrate: {0}")]
    Migrate(String),
    #[error(
        "fenced: this replica led as generation {ours}, but {holder} has taken generation {current}; nothing was written"
    )]
    Fenced {
        ours: i64,
        current: i64,
        holder: String,
    },
    #[error("scope {scope} belongs to {owner} now; this replica's cycle was not written")]
    NotOwner { scope: String, owner: String },
    #[error(
        "scope {scope} was committed by another replica since this cycle read it; nothing was written"
    )]
    StaleRead { scope: String },
    #[error("database {path} has schema version {found}, newer than this driftwatch ({known})")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
}

impl StoreError {
    /// Another replica leads or owns the scope: the write was refused on purpose, nobody
    /// is to be paged.
    pub fn is_refused_by_peer(&self) -> bool {
        matches!(
            self,
            StoreError::Fenced { .. } | StoreError::NotOwner { .. } | StoreError::StaleRead { .. }
        )
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            StoreError::Open { .. } | StoreError::Connect { .. } => "open",
            StoreError::Sql(_) | StoreError::Postgres(_) => "sql",
            StoreError::Json(_) => "json",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Closed | StoreError::Thread(_) => "closed",
            StoreError::Lost => "lost",
            StoreError::Secret(_) => "secret",
            StoreError::Tls(_) => "tls",
            StoreError::Migrate(_) => "migrate",
            StoreError::Fenced { .. } => "fenced",
            StoreError::NotOwner { .. } => "not_owner",
            StoreError::StaleRead { .. } => "stale_read",
            StoreError::TooNew { .. } => "too_new",
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The open database. One writer: the daemon owns one `Db` on the store thread.
pub struct Db {
    engine: Engine,
    path: PathBuf,
    /// Set once this replica leads an HA pair: every transaction checks it (`leader.rs`).
    fence: Option<leader::Fence>,
    /// Set once this replica is a member of a sharded set: cycles check ownership.
    shard: Option<members::ShardMember>,
}

impl Db {
    /// Open (creating if needed) the database at `path`, in WAL mode, migrated to the newest
    /// schema.
    pub fn open(path: &Path) -> Result<Db> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        // FULL, not NORMAL: in WAL mode NORMAL may lose the last transactions on power loss,
        // and a lost cycle whose alerts were already delivered would be decided and paged
        // again after the restart. One fsync per cycle costs nothing next to a poll.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        let mut db = Db {
            engine: Engine::Sqlite(conn),
            path: path.to_path_buf(),
            fence: None,
            shard: None,
        };
        db.migrate()?;
        Ok(db)
    }

    /// Open an existing database for reading (CLI commands such as `ledger verify`).
    pub fn open_existing(path: &Path) -> Result<Db> {
        if !path.exists() {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                source: rusqlite::Error::InvalidPath(path.to_path_buf()),
            });
        }
        Db::open(path)
    }

    /// Connect to a PostgreSQL store (`postgres://user@host:port/db`, the password given
    /// apart, never in the URL that messages show) and migrate it to the newest schema.
    pub fn connect(url: &str, password: Option<&str>) -> Result<Db> {
        Db::connect_tls(url, password, None)
    }

    /// [`Db::connect`], verifying the server's certificate against `ca_file` (PEM) instead
    /// of the system's roots when TLS is used (the URL's `sslmode`).
    pub fn connect_tls(url: &str, password: Option<&str>, ca_file: Option<&Path>) -> Result<Db> {
        let shown = PathBuf::from(url);
        let conn = sql::PgConn::connect(
            pg_config(url, password, "driftwatch")?,
            sql::Tls::new(ca_file)?,
            url,
        )?;
        let mut db = Db {
            engine: Engine::Postgres(conn),
            path: shown,
            fence: None,
            shard: None,
        };
        db.migrate()?;
        Ok(db)
    }

    /// Which engine holds the state: `sqlite` or `postgres`.
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows inserted, updated or deleted since the database was opened (for benchmarks and
    /// the "steady state writes nothing" check).
    pub fn total_changes(&self) -> u64 {
        match &self.engine {
            Engine::Sqlite(c) => c.total_changes(),
            // Only the SQLite benchmarks count rows written.
            Engine::Postgres(_) => 0,
        }
    }

    /// The connection every module runs its SQL on.
    pub(crate) fn sql(&self) -> &Engine {
        &self.engine
    }

    /// Begin a transaction (committed with `Tx::commit`, rolled back when dropped). A
    /// fenced store (the leader of an HA pair) first checks its generation is still current.
    pub(crate) fn transaction(&mut self) -> Result<sql::Tx<'_>> {
        let kind = leader::EngineKind::of(&self.engine);
        let tx = self.engine.transaction()?;
        if let Some(fence) = &self.fence {
            leader::check(kind, &tx, fence)?;
        }
        Ok(tx)
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let too_new = |found: i64, known: i64| StoreError::TooNew {
            path: path.clone(),
            found,
            known,
        };
        match &self.engine {
            // SQLite keeps the version in `user_version`; one process opens the file.
            Engine::Sqlite(c) => {
                let version: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                let known = MIGRATIONS.len() as i64;
                if version > known {
                    return Err(too_new(version, known));
                }
                for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                    let tx = self.engine.transaction()?;
                    tx.batch(migration)?;
                    if let sql::Tx::Sqlite(t) = &tx {
                        t.pragma_update(None, "user_version", (i + 1) as i64)?;
                    }
                    tx.commit()?;
                }
            }
            // PostgreSQL: replicas may start together on an empty database, so the version
            // is read and every pending migration applied in one transaction that first
            // takes a lock (a second replica waits, then finds the schema current).
            Engine::Postgres(_) => {
                let tx = self.engine.transaction()?;
                tx.exec("SELECT pg_advisory_xact_lock(1685545332, 2)", &[])?;
                tx.batch("CREATE TABLE IF NOT EXISTS driftwatch_schema (version BIGINT NOT NULL)")?;
                let version = tx
                    .query_opt("SELECT MAX(version) FROM driftwatch_schema", &[], |r| {
                        r.opt_int(0)
                    })?
                    .flatten()
                    .unwrap_or(0);
                let known = MIGRATIONS_PG.len() as i64;
                if version > known {
                    return Err(too_new(version, known));
                }
                if version < known {
                    for migration in MIGRATIONS_PG.iter().skip(version as usize) {
                        tx.batch(migration)?;
                    }
                    tx.exec("DELETE FROM driftwatch_schema", &[])?;
                    tx.exec(
                        "INSERT INTO driftwatch_schema (version) VALUES (?1)",
                        &[known.into()],
                    )?;
                }
                tx.commit()?;
            }
        }
        Ok(())
    }
}

/// A PostgreSQL client config from a URL and the password given apart.
pub(crate) fn pg_config(
    url: &str,
    password: Option<&str>,
    application: &str,
) -> Result<postgres::Config> {
    let mut config: postgres::Config = url.parse().map_err(|e| StoreError::Connect {
        url: url.to_string(),
        source: e,
    })?;
    if let Some(p) = password {
        config.password(p);
    }
    config.application_name(application);
    Ok(config)
}

/// Timestamps are stored as RFC 3339 UTC with whole seconds, one fixed width, so that text
/// order is time order.
pub(crate) fn ts(t: jiff::Timestamp) -> String {
    jiff::fmt::temporal::DateTimePrinter::new()
        .precision(Some(0))
        .timestamp_to_string(&t)
}

pub(crate) fn parse_ts(s: &str) -> Result<jiff::Timestamp> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("timestamp `{s}`: {e}")))
}

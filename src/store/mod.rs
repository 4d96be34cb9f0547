//! The embedded SQLite store: versioned migrations, the last complete state per scope, the
//! drift index, the hash-chained ledger and the alert outbox. Synchronous (rusqlite); async
//! code reaches it through [`StoreHandle`], which runs it on its own thread.

mod handle;
pub mod ledger;
pub mod outbox;
mod snapshot;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use handle::StoreHandle;
pub use ledger::{LedgerEntry, LedgerEvent, VerifyReport};
pub use outbox::{OutboxItem, OutboxRow};
pub use snapshot::{CycleWrite, ObligationWrite, OpenDrift, ScopeState, StoredDrift};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    #[error("the store thread has stopped")]
    Closed,
    #[error("database {path} has schema version {found}, newer than this driftwatch ({known})")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
}

impl StoreError {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            StoreError::Open { .. } => "open",
            StoreError::Sql(_) => "sql",
            StoreError::Json(_) => "json",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Closed => "closed",
            StoreError::TooNew { .. } => "too_new",
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

const MIGRATIONS: &[&str] = &[
    // 1: the foundation schema.
    r#"
    CREATE TABLE scopes (
        scope TEXT PRIMARY KEY,
        baseline_at TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        blind_since TEXT,
        last_error TEXT
    );
    CREATE TABLE snapshots (
        scope TEXT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        targets TEXT NOT NULL,
        tags TEXT NOT NULL,
        attributes TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (scope, kind, id)
    ) WITHOUT ROWID;
    CREATE TABLE ledger (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        type TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE drifts (
        drift_id TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        kind TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        observed_at TEXT NOT NULL,
        decision TEXT NOT NULL,
        record_id TEXT,
        severity TEXT NOT NULL,
        ledger_seq INTEGER NOT NULL
    );
    CREATE INDEX drifts_observed ON drifts (observed_at);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        sink TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        delivered_at TEXT,
        abandoned_at TEXT,
        last_error TEXT,
        UNIQUE (sink, idempotency_key)
    );
    CREATE INDEX outbox_due ON outbox (delivered_at, abandoned_at, next_attempt_at);
    "#,
    // 2: distinct record-file rejections already written to the ledger and alerted.
    r#"
    CREATE TABLE record_rejections (
        key TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL
    );
    "#,
    // 3: drift lifecycle (reverted, retrospective filed) and alert subjects (quiet period).
    r#"
    ALTER TABLE drifts ADD COLUMN before_hash TEXT;
    ALTER TABLE drifts ADD COLUMN after_hash TEXT;
    ALTER TABLE drifts ADD COLUMN closed_at TEXT;
    ALTER TABLE drifts ADD COLUMN closed_reason TEXT;
    ALTER TABLE drifts ADD COLUMN closed_by TEXT;
    CREATE INDEX drifts_open ON drifts (scope, closed_at);
    ALTER TABLE outbox ADD COLUMN subject TEXT;
    ALTER TABLE outbox ADD COLUMN event TEXT;
    CREATE INDEX outbox_subject ON outbox (subject, event, created_at);
    "#,
    // 4: obligations. Matched drifts are closed unless temporary (revert_by); steps sent.
    r#"
    ALTER TABLE drifts ADD COLUMN revert_by TEXT;
    UPDATE drifts SET closed_at = observed_at, closed_reason = 'matched'
      WHERE decision = 'matched' AND closed_at IS NULL;
    CREATE TABLE obligation_steps (
        obligation TEXT NOT NULL,
        step TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        PRIMARY KEY (obligation, step)
    ) WITHOUT ROWID;
    "#,
];

/// The open database. One writer: the daemon owns one `Db` on the store thread.
pub struct Db {
    conn: Connection,
    path: PathBuf,
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
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        let mut db = Db {
            conn,
            path: path.to_path_buf(),
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

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows inserted, updated or deleted since the database was opened (for benchmarks and
    /// the "steady state writes nothing" check).
    pub fn total_changes(&self) -> u64 {
        self.conn.total_changes()
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }
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

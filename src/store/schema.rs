//! The schema as versioned migrations, applied in order and recorded in `user_version`. A
//! migration is never edited once released; a new one is appended.

pub(super) const MIGRATIONS: &[&str] = &[
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
    // 5: index ranges for the cycle's one read: alerts of the last quiet period
    // (`recent_alerts`) and the alerts about a drift by key prefix (`triggers_for`).
    r#"
    CREATE INDEX outbox_created ON outbox (created_at);
    CREATE INDEX outbox_key ON outbox (idempotency_key);
    "#,
    // 6: when a given-up row was put back in the queue (`driftwatch outbox retry`): its
    // give-up clock restarts there, while `created_at` stays when the alert was raised.
    r#"
    ALTER TABLE outbox ADD COLUMN requeued_at TEXT;
    "#,
    // 7: a poll held by the mass-delete guard: when, how many deletes, and the digest of the
    // deleted keys a second poll must repeat.
    r#"
    ALTER TABLE scopes ADD COLUMN held_since TEXT;
    ALTER TABLE scopes ADD COLUMN held_deletes INTEGER;
    ALTER TABLE scopes ADD COLUMN held_digest TEXT;
    "#,
    // 8: AWS changes no event attributed, waiting for their CloudTrail LookupEvents: the
    // change as `cloudtrail::explains` needs it, and when to look (again).
    r#"
    CREATE TABLE lookups (
        drift_id TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        kind TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        attributes TEXT NOT NULL,
        record_id TEXT,
        observed_at TEXT NOT NULL,
        next_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX lookups_due ON lookups (next_at);
    "#,
    // 9: the leader of an HA pair: the generation each election win takes, checked by every
    // transaction of the leader so a replaced one cannot commit (`leader.rs`).
    r#"
    CREATE TABLE leadership (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL,
        holder TEXT NOT NULL,
        since TEXT NOT NULL
    );
    "#,
    // 10: the members of a sharded replica set (heartbeat in the database's clock, epoch
    // seconds) and each scope's revision, advanced by every commit of a sharded member so a
    // commit from a stale read is refused (`members.rs`).
    r#"
    CREATE TABLE members (
        id TEXT PRIMARY KEY,
        joined_at TEXT NOT NULL,
        heartbeat INTEGER NOT NULL
    );
    CREATE TABLE scope_revisions (
        scope TEXT PRIMARY KEY,
        revision INTEGER NOT NULL
    );
    "#,
];

/// The same schema for PostgreSQL, versioned apart (a one-row `driftwatch_schema` table):
/// a new store starts at the SQLite schema's latest shape. Text is compared byte-wise
/// (`COLLATE "C"`, as SQLite does), so the key-prefix ranges the store reads by hold.
/// Integers are 64-bit; the outbox's id is an identity column.
pub(super) const MIGRATIONS_PG: &[&str] = &[
    // 1: the SQLite schema at its version 8.
    r#"
    CREATE TABLE scopes (
        scope TEXT COLLATE "C" PRIMARY KEY,
        baseline_at TEXT COLLATE "C",
        consecutive_failures BIGINT NOT NULL DEFAULT 0,
        blind_since TEXT COLLATE "C",
        last_error TEXT,
        held_since TEXT COLLATE "C",
        held_deletes BIGINT,
        held_digest TEXT
    );
    CREATE TABLE snapshots (
        scope TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        targets TEXT NOT NULL,
        tags TEXT NOT NULL,
        attributes TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (scope, kind, id)
    );
    CREATE TABLE ledger (
        seq BIGINT PRIMARY KEY,
        at TEXT COLLATE "C" NOT NULL,
        type TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE drifts (
        drift_id TEXT COLLATE "C" PRIMARY KEY,
        scope TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        resource_id TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        observed_at TEXT COLLATE "C" NOT NULL,
        decision TEXT NOT NULL,
        record_id TEXT,
        severity TEXT NOT NULL,
        ledger_seq BIGINT NOT NULL,
        before_hash TEXT,
        after_hash TEXT,
        closed_at TEXT COLLATE "C",
        closed_reason TEXT,
        closed_by TEXT,
        revert_by TEXT COLLATE "C"
    );
    CREATE INDEX drifts_observed ON drifts (observed_at);
    CREATE INDEX drifts_open ON drifts (scope, closed_at);
    CREATE TABLE outbox (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        sink TEXT COLLATE "C" NOT NULL,
        idempotency_key TEXT COLLATE "C" NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at TEXT COLLATE "C" NOT NULL,
        delivered_at TEXT COLLATE "C",
        abandoned_at TEXT COLLATE "C",
        last_error TEXT,
        subject TEXT COLLATE "C",
        event TEXT,
        requeued_at TEXT COLLATE "C",
        UNIQUE (sink, idempotency_key)
    );
    CREATE INDEX outbox_due ON outbox (delivered_at, abandoned_at, next_attempt_at);
    CREATE INDEX outbox_subject ON outbox (subject, event, created_at);
    CREATE INDEX outbox_created ON outbox (created_at);
    CREATE INDEX outbox_key ON outbox (idempotency_key);
    CREATE TABLE record_rejections (
        key TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL
    );
    CREATE TABLE obligation_steps (
        obligation TEXT NOT NULL,
        step TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        PRIMARY KEY (obligation, step)
    );
    CREATE TABLE lookups (
        drift_id TEXT COLLATE "C" PRIMARY KEY,
        scope TEXT COLLATE "C" NOT NULL,
        kind TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        attributes TEXT NOT NULL,
        record_id TEXT,
        observed_at TEXT COLLATE "C" NOT NULL,
        next_at TEXT COLLATE "C" NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX lookups_due ON lookups (next_at);
    "#,
    // 2: as SQLite's 9, the leader of an HA pair.
    r#"
    CREATE TABLE leadership (
        id BIGINT PRIMARY KEY CHECK (id = 1),
        generation BIGINT NOT NULL,
        holder TEXT NOT NULL,
        since TEXT COLLATE "C" NOT NULL
    );
    "#,
    // 3: as SQLite's 10, the members of a sharded replica set and scope revisions.
    r#"
    CREATE TABLE members (
        id TEXT COLLATE "C" PRIMARY KEY,
        joined_at TEXT COLLATE "C" NOT NULL,
        heartbeat BIGINT NOT NULL
    );
    CREATE TABLE scope_revisions (
        scope TEXT COLLATE "C" PRIMARY KEY,
        revision BIGINT NOT NULL
    );
    "#,
];

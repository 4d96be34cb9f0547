//! `driftwatch store migrate`: copy an embedded SQLite store into an empty PostgreSQL store.
//! Every table of the SQLite schema is copied row for row, all in one PostgreSQL transaction
//! (a failure leaves the target as empty as it was), identity sequences are moved past the
//! copied ids, and the ledger is then verified on both sides: the same number of entries, the
//! same head hash, an intact chain on each.

use rusqlite::types::ValueRef;

use super::sql::{Engine, Sql, Value};
use super::{Db, Result, StoreError, VerifyReport};

/// Rows of one table copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: String,
    pub rows: u64,
}

/// What a migration did and found.
#[derive(Debug)]
pub struct MigrateReport {
    pub tables: Vec<TableCopy>,
    pub source: VerifyReport,
    pub target: VerifyReport,
}

impl MigrateReport {
    /// Both ledgers intact and equal (same length and head hash).
    pub fn ok(&self) -> bool {
        self.source.ok()
            && self.target.ok()
            && self.source.entries == self.target.entries
            && self.source.head_hash == self.target.head_hash
    }
}

/// A column value as SQLite holds it, owned.
enum Owned {
    Null,
    Int(i64),
    Text(String),
}

impl Owned {
    fn value(&self) -> Value<'_> {
        match self {
            Owned::Null => Value::Null,
            Owned::Int(i) => Value::Int(*i),
            Owned::Text(s) => Value::Text(s),
        }
    }
}

/// Parameters per INSERT statement (PostgreSQL takes at most 65 535).
const PARAMS_PER_STATEMENT: usize = 4_000;

fn refuse(message: String) -> StoreError {
    StoreError::Migrate(message)
}

impl Db {
    /// Copy this SQLite store into `target`, an empty PostgreSQL store, then verify both
    /// ledgers. `progress` hears each table as it is copied.
    pub fn migrate_into(
        &self,
        target: &mut Db,
        mut progress: impl FnMut(&TableCopy),
    ) -> Result<MigrateReport> {
        let Engine::Sqlite(source) = self.sql() else {
            return Err(refuse(format!(
                "the source store {} is not SQLite",
                self.path.display()
            )));
        };
        if !matches!(target.sql(), Engine::Postgres(_)) {
            return Err(refuse(format!(
                "the target store {} is not PostgreSQL",
                target.path.display()
            )));
        }
        let tables: Vec<String> = {
            let mut st = source.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )?;
            st.query_map([], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?
        };
        // An empty target only: merging two histories would fork the ledger's chain.
        for table in &tables {
            let rows = target
                .sql()
                .query_opt(&format!("SELECT COUNT(*) FROM {table}"), &[], |r| r.int(0))?
                .unwrap_or(0);
            if rows > 0 {
                return Err(refuse(format!(
                    "the target store {} already holds state ({rows} rows in {table}); migrate into an empty database",
                    target.path.display()
                )));
            }
        }
        let tx = target.transaction()?;
        let mut copied = Vec::new();
        for table in &tables {
            let mut st = source.prepare(&format!("SELECT * FROM {table}"))?;
            let columns: Vec<String> = st.column_names().map(str::to_string).collect();
            let per_statement = (PARAMS_PER_STATEMENT / columns.len().max(1)).max(1);
            let mut rows = st.query([])?;
            let mut batch: Vec<Owned> = Vec::new();
            let mut count = 0u64;
            while let Some(row) = rows.next()? {
                for (i, column) in columns.iter().enumerate() {
                    batch.push(match row.get_ref(i)? {
                        ValueRef::Null => Owned::Null,
                        ValueRef::Integer(n) => Owned::Int(n),
                        ValueRef::Text(t) => Owned::Text(
                            std::str::from_utf8(t)
                                .map_err(|e| {
                                    StoreError::Corrupt(format!(
                                        "{table}.{column} of row {}: {e}",
                                        count + 1
                                    ))
                                })?
                                .to_string(),
                        ),
                        other => {
                            return Err(StoreError::Corrupt(format!(
                                "{table}.{column} of row {} holds a {:?}; the store keeps text and integers only",
                                count + 1,
                                other.data_type()
                            )));
                        }
                    });
                }
                count += 1;
                if batch.len() >= per_statement * columns.len() {
                    insert(&tx, table, &columns, &batch)?;
                    batch.clear();
                }
            }
            if !batch.is_empty() {
                insert(&tx, table, &columns, &batch)?;
            }
            let done = TableCopy {
                table: table.clone(),
                rows: count,
            };
            progress(&done);
            copied.push(done);
        }
        // Identity columns (the outbox's id) continue after the copied ids.
        let identities = tx.query(
            "SELECT table_name, column_name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND is_identity = 'YES'",
            &[],
            |r| Ok((r.text(0)?, r.text(1)?)),
        )?;
        for (table, column) in identities {
            tx.query(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                     COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
                ),
                &[],
                |r| r.int(0),
            )?;
        }
        tx.commit()?;
        let report = MigrateReport {
            tables: copied,
            source: self.verify_ledger()?,
            target: target.verify_ledger()?,
        };
        Ok(report)
    }
}

fn insert(tx: &impl Sql, table: &str, columns: &[String], values: &[Owned]) -> Result<()> {
    let n = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for (r, _) in values.chunks(n).enumerate() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..n {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("?{}", r * n + c + 1));
        }
        sql.push(')');
    }
    let params: Vec<Value<'_>> = values.iter().map(Owned::value).collect();
    tx.exec(&sql, &params)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ledger::{self, LedgerEvent};
    use crate::store::sql::testing::TestPostgres;

    /// A row in every table: ledger entries through the chain's own append, the rest as the
    /// store writes them (nulls, quotes and non-ASCII text included).
    fn fill(db: &mut Db) {
        let at: jiff::Timestamp = "2026-11-21T10:00:00Z".parse().expect("ts");
        let tx = db.transaction().expect("tx");
        ledger::append(
            &tx,
            at,
            &[
                LedgerEvent::SourceFailed {
                    scope: "aws/123456789012/eu-west-1".into(),
                    failure: "throttled".into(),
                    message: "Rate exceeded — it's \"busy\"".into(),
                    consecutive_failures: 1,
                },
                LedgerEvent::SourceRecovered {
                    scope: "aws/123456789012/eu-west-1".into(),
                    blind_since: "2026-11-21T09:00:00Z".into(),
                },
            ],
        )
        .expect("ledger");
        tx.commit().expect("commit");
        db.sql()
            .batch(
                "INSERT INTO scopes (scope, baseline_at, consecutive_failures, blind_since, last_error, held_since, held_deletes, held_digest)
                   VALUES ('aws/123456789012/eu-west-1', '2026-11-20T10:00:00Z', 0, NULL, 'it''s ok', NULL, NULL, NULL);
                 INSERT INTO snapshots (scope, kind, id, name, targets, tags, attributes, hash)
                   VALUES ('aws/123456789012/eu-west-1', 'aws.ec2.security_group', 'sg-1', 'web — prod', '[]', '{}', '{\"a\":1}', 'ab12');
                 INSERT INTO drifts (drift_id, scope, kind, resource_id, name, action, observed_at, decision, record_id, severity, ledger_seq, closed_at)
                   VALUES ('d-00000001', 'aws/123456789012/eu-west-1', 'aws.ec2.security_group', 'sg-1', 'web', 'modify', '2026-11-21T10:00:00Z', 'unmatched', NULL, 'high', 1, NULL);
                 INSERT INTO outbox (id, sink, idempotency_key, payload, created_at, attempts, next_attempt_at)
                   VALUES (7, 'hook', 'd-00000001:unmatched', '{}', '2026-11-21T10:00:00Z', 2, '2026-11-21T10:01:00Z');
                 INSERT INTO leadership (id, generation, holder, since) VALUES (1, 3, 'host-a', '2026-11-21T09:00:00Z');
                 INSERT INTO members (id, joined_at, heartbeat) VALUES ('host-a', '2026-11-21T09:00:00Z', 1795000000);
                 INSERT INTO scope_revisions (scope, revision) VALUES ('aws/123456789012/eu-west-1', 4);
                 INSERT INTO record_rejections (key, first_seen) VALUES ('changes/a.yaml:abc', '2026-11-21T10:00:00Z');
                 INSERT INTO obligation_steps (obligation, step, sent_at) VALUES ('d-00000001', '4h', '2026-11-21T14:00:00Z');
                 INSERT INTO lookups (drift_id, scope, kind, resource_id, name, action, attributes, record_id, observed_at, next_at, attempts)
                   VALUES ('d-00000001', 'aws/123456789012/eu-west-1', 'aws.ec2.security_group', 'sg-1', 'web', 'modify', '{}', NULL, '2026-11-21T10:00:00Z', '2026-11-21T10:05:00Z', 0);",
            )
            .expect("rows");
    }

    /// Every column of a row as text (integers printed), `None` for null.
    fn cells(r: &crate::store::sql::Row<'_>, columns: usize) -> Result<Vec<Option<String>>> {
        (0..columns)
            .map(|i| {
                r.opt_text(i)
                    .or_else(|_| r.opt_int(i).map(|n| n.map(|n| n.to_string())))
            })
            .collect()
    }

    /// A SQLite store with rows in every table (a cycle, drifts, the outbox, a rejection, an
    /// obligation step, a lookup) copied into PostgreSQL: same rows, same ledger head, and the
    /// outbox's next id continues after the copied ones.
    #[test]
    fn a_sqlite_store_is_copied_whole_and_verified() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = Db::open(&dir.path().join("s.db")).expect("sqlite");
        fill(&mut db);
        let pg = TestPostgres::start();
        let mut target = Db::connect(&pg.url, Some(&pg.password)).expect("postgres");
        let mut heard = Vec::new();
        let report = db
            .migrate_into(&mut target, |t| heard.push(t.table.clone()))
            .expect("migrate");
        assert!(report.ok(), "{report:?}");
        assert!(report.source.entries > 0, "{report:?}");
        let tables: Vec<&str> = report.tables.iter().map(|t| t.table.as_str()).collect();
        assert_eq!(
            tables,
            [
                "drifts",
                "leadership",
                "ledger",
                "lookups",
                "members",
                "obligation_steps",
                "outbox",
                "record_rejections",
                "scope_revisions",
                "scopes",
                "snapshots"
            ]
        );
        assert_eq!(heard, tables);
        for t in &report.tables {
            assert!(t.rows > 0, "the fixture leaves {} empty", t.table);
            let columns = db
                .sql()
                .query_opt(
                    "SELECT COUNT(*) FROM pragma_table_info(?1)",
                    &[t.table.as_str().into()],
                    |r| r.int(0),
                )
                .expect("columns")
                .unwrap_or(0) as usize;
            let dump = |d: &Db| {
                d.sql()
                    .query(
                        &format!("SELECT * FROM {} ORDER BY 1, 2", t.table),
                        &[],
                        |r| cells(r, columns),
                    )
                    .expect("dump")
            };
            assert_eq!(dump(&db), dump(&target), "table {}", t.table);
        }
        let max_id = target
            .sql()
            .query_opt("SELECT MAX(id) FROM outbox", &[], |r| r.int(0))
            .expect("max")
            .expect("rows");
        target
            .sql()
            .exec(
                "INSERT INTO outbox (sink, idempotency_key, payload, created_at, next_attempt_at) \
                 VALUES ('x', 'after-migrate', '{}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                &[],
            )
            .expect("a new outbox row gets a fresh id");
        let new_id = target
            .sql()
            .query_opt(
                "SELECT id FROM outbox WHERE idempotency_key = 'after-migrate'",
                &[],
                |r| r.int(0),
            )
            .expect("id")
            .expect("row");
        assert!(new_id > max_id, "{new_id} after {max_id}");

        // A second migration into the same (now full) store is refused, naming a table.
        let again = db
            .migrate_into(&mut target, |_| {})
            .expect_err("the target holds state");
        assert!(again.to_string().contains("already holds state"), "{again}");
    }
}

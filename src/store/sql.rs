//! The SQL the store speaks, on either engine: the embedded SQLite database (rusqlite) or a
//! PostgreSQL server (the synchronous `postgres` client on a thread of its own, `pg.rs`).
//! One dialect is written: SQLite's numbered placeholders (`?1`), `ON CONFLICT`, text and
//! 64-bit integer columns; for PostgreSQL the placeholders are rewritten (`$1`). Values are
//! the few types the store keeps (`Value`), rows are read by position (`Row`), and a
//! transaction is a `Tx` with the same calls, committed explicitly (dropped, it rolls back).
//!
//! Every module of the store runs its SQL through this layer.

mod pg;
mod tls;

use pg::PgTx;
pub use pg::{Cell, PgConn};
use postgres::types::{IsNull, ToSql as PgToSql, Type, to_sql_checked};
pub use tls::Tls;

use super::{Result, StoreError};

/// A value bound to a placeholder.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Text(s)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(s: &'a String) -> Self {
        Value::Text(s)
    }
}

impl From<i32> for Value<'_> {
    fn from(i: i32) -> Self {
        Value::Int(i64::from(i))
    }
}

impl From<u32> for Value<'_> {
    fn from(i: u32) -> Self {
        Value::Int(i64::from(i))
    }
}

impl From<i64> for Value<'_> {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl PgToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT2 | Type::INT4 | Type::INT8 | Type::TEXT | Type::VARCHAR | Type::BPCHAR
        )
    }

    to_sql_checked!();
}

/// One result row, read by column position.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a [Cell]),
}

fn cell(cells: &[Cell], i: usize) -> Result<&Cell> {
    cells
        .get(i)
        .ok_or_else(|| StoreError::Corrupt(format!("no column {i}")))
}

fn type_error(i: usize, want: &str, got: &Cell) -> StoreError {
    StoreError::Corrupt(format!("column {i}: expected {want}, found {got:?}"))
}

impl Row<'_> {
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(match self {
            Row::Sqlite(r) => r.get(i)?,
            Row::Postgres(c) => match cell(c, i)? {
                Cell::Null => None,
                Cell::Text(s) => Some(s.clone()),
                other => return Err(type_error(i, "text", other)),
            },
        })
    }

    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is null")))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(match self {
            Row::Sqlite(r) => r.get(i)?,
            Row::Postgres(c) => match cell(c, i)? {
                Cell::Null => None,
                Cell::Int(n) => Some(*n),
                other => return Err(type_error(i, "an integer", other)),
            },
        })
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is null")))
    }

    /// Read a text column without copying it (hot paths: a cycle's digests).
    pub fn with_str<R>(&self, i: usize, f: impl FnOnce(&str) -> R) -> Result<R> {
        match self {
            Row::Sqlite(r) => {
                let s = r.get_ref(i)?.as_str().map_err(rusqlite::Error::from)?;
                Ok(f(s))
            }
            Row::Postgres(c) => match cell(c, i)? {
                Cell::Text(s) => Ok(f(s)),
                other => Err(type_error(i, "text", other)),
            },
        }
    }

    /// A count or a small number stored as an integer.
    pub fn opt_u32(&self, i: usize) -> Result<Option<u32>> {
        self.opt_int(i)?
            .map(|n| {
                u32::try_from(n)
                    .map_err(|_| StoreError::Corrupt(format!("column {i}: {n} is out of range")))
            })
            .transpose()
    }

    pub fn u32(&self, i: usize) -> Result<u32> {
        self.opt_u32(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is null")))
    }
}

/// `?N` → `$N` outside quoted strings and identifiers, and SQLite's `instr(` → `strpos(`
/// (same arguments; the one function the store uses that the engines name apart).
fn to_postgres(sql: &str) -> String {
    placeholders(sql).replace("instr(", "strpos(")
}

fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '?') => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

fn pg_params<'a>(params: &'a [Value<'_>]) -> Vec<&'a (dyn PgToSql + Sync)> {
    params.iter().map(|p| p as &(dyn PgToSql + Sync)).collect()
}

/// An open connection of either engine.
pub enum Engine {
    Sqlite(rusqlite::Connection),
    Postgres(PgConn),
}

/// An open transaction of either engine.
pub enum Tx<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Postgres(PgTx<'a>),
}

/// What both a connection and a transaction can run.
pub trait Sql {
    /// Run one statement; the number of rows it changed.
    fn exec(&self, sql: &str, params: &[Value<'_>]) -> Result<u64>;

    /// Run several statements without parameters (migrations).
    fn batch(&self, sql: &str) -> Result<()>;

    /// Every row of a query, each read by `f`.
    fn query<T>(
        &self,
        sql: &str,
        params: &[Value<'_>],
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>>;

    /// The first row of a query, if any.
    fn query_opt<T>(
        &self,
        sql: &str,
        params: &[Value<'_>],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        // Callers ask for one row (a key lookup, an aggregate); reading them all costs
        // nothing more there, and keeps one code path per engine.
        Ok(self.query(sql, params, &mut f)?.into_iter().next())
    }
}

fn sqlite_query<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value<'_>],
    mut f: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(f(&Row::Sqlite(r))?);
    }
    Ok(out)
}

fn sqlite_exec(conn: &rusqlite::Connection, sql: &str, params: &[Value<'_>]) -> Result<u64> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64)
}

fn pg_rows<T>(
    conn: &PgConn,
    sql: &str,
    params: &[Value<'_>],
    mut f: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    conn.query(sql, params)?
        .iter()
        .map(|cells| f(&Row::Postgres(cells)))
        .collect()
}

impl Sql for Engine {
    fn exec(&self, sql: &str, params: &[Value<'_>]) -> Result<u64> {
        match self {
            Engine::Sqlite(c) => sqlite_exec(c, sql, params),
            Engine::Postgres(c) => c.exec(sql, params),
        }
    }

    fn batch(&self, sql: &str) -> Result<()> {
        match self {
            Engine::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Engine::Postgres(c) => c.batch(sql),
        }
    }

    fn query<T>(
        &self,
        sql: &str,
        params: &[Value<'_>],
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match self {
            Engine::Sqlite(c) => sqlite_query(c, sql, params, f),
            Engine::Postgres(c) => pg_rows(c, sql, params, f),
        }
    }
}

impl Sql for Tx<'_> {
    fn exec(&self, sql: &str, params: &[Value<'_>]) -> Result<u64> {
        match self {
            Tx::Sqlite(t) => sqlite_exec(t, sql, params),
            Tx::Postgres(t) => t.conn.exec(sql, params),
        }
    }

    fn batch(&self, sql: &str) -> Result<()> {
        match self {
            Tx::Sqlite(t) => Ok(t.execute_batch(sql)?),
            Tx::Postgres(t) => t.conn.batch(sql),
        }
    }

    fn query<T>(
        &self,
        sql: &str,
        params: &[Value<'_>],
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match self {
            Tx::Sqlite(t) => sqlite_query(t, sql, params, f),
            Tx::Postgres(t) => pg_rows(t.conn, sql, params, f),
        }
    }
}

impl Engine {
    /// Begin a transaction; it commits with [`Tx::commit`] and rolls back when dropped.
    pub fn transaction(&mut self) -> Result<Tx<'_>> {
        Ok(match self {
            Engine::Sqlite(c) => Tx::Sqlite(c.transaction()?),
            Engine::Postgres(c) => Tx::Postgres(c.begin()?),
        })
    }

    /// Which engine, for messages and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }
}

impl Tx<'_> {
    pub fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => Ok(t.commit()?),
            Tx::Postgres(t) => t.commit(),
        }
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_quotes() {
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND \"d?\" = ?2 OR e = ?1"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND \"d?\" = $2 OR e = $1"
        );
        assert_eq!(
            to_postgres("x = 'it''s ?3' OR y = ?3"),
            "x = 'it''s ?3' OR y = $3"
        );
    }

    /// The same statements on both engines give the same rows: placeholders used twice,
    /// `ON CONFLICT DO UPDATE` / `DO NOTHING`, nulls, a transaction dropped (rolled back) and
    /// one committed, and a row count.
    fn exercise(mut e: Engine) {
        e.batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT);
             CREATE TABLE u (id BIGINT PRIMARY KEY, k TEXT NOT NULL)",
        )
        .expect("schema");
        let up = "INSERT INTO t (k, n, note) VALUES (?1, ?2, ?3)
                  ON CONFLICT (k) DO UPDATE SET n = t.n + excluded.n, note = excluded.note";
        assert_eq!(
            e.exec(up, &["a".into(), 1.into(), Value::Null])
                .expect("insert"),
            1
        );
        e.exec(up, &["a".into(), 41.into(), Some("x").into()])
            .expect("upsert");
        e.exec(
            "INSERT INTO t (k, n, note) VALUES (?1, ?2, ?1) ON CONFLICT DO NOTHING",
            &["b".into(), 7.into()],
        )
        .expect("insert b");
        {
            let tx = e.transaction().expect("tx");
            tx.exec("DELETE FROM t WHERE k = ?1", &["a".into()])
                .expect("delete");
            let inside = tx
                .query("SELECT k FROM t", &[], |r| r.text(0))
                .expect("read in tx");
            assert_eq!(inside, ["b"]);
            // Dropped: rolled back.
        }
        let tx = e.transaction().expect("tx");
        tx.exec(
            "INSERT INTO u (id, k) VALUES (?1, ?2)",
            &[9.into(), "a".into()],
        )
        .expect("u");
        tx.commit().expect("commit");
        let rows = e
            .query(
                "SELECT t.k, t.n, t.note, u.id FROM t LEFT JOIN u ON u.k = t.k ORDER BY t.k",
                &[],
                |r| Ok((r.text(0)?, r.int(1)?, r.opt_text(2)?, r.opt_int(3)?)),
            )
            .expect("rows");
        assert_eq!(
            rows,
            [
                ("a".to_string(), 42, Some("x".to_string()), Some(9)),
                ("b".to_string(), 7, Some("b".to_string()), None),
            ],
            "{}",
            e.name()
        );
        let n = e
            .query_opt("SELECT COUNT(*) FROM t WHERE n > ?1", &[10.into()], |r| {
                r.int(0)
            })
            .expect("count");
        assert_eq!(n, Some(1));
        let none = e
            .query_opt("SELECT k FROM t WHERE k = ?1", &["zz".into()], |r| {
                r.text(0)
            })
            .expect("none");
        assert_eq!(none, None);
        let err = e
            .query("SELECT note FROM t WHERE k = 'a'", &[], |r| r.int(0))
            .expect_err("text read as an integer");
        assert!(
            matches!(err, StoreError::Sql(_) | StoreError::Corrupt(_)),
            "{err}"
        );
    }

    /// The server ends the connection (a restart, a failover, an idle timeout): outside a
    /// transaction the next request connects again; inside one, the rest of it fails until
    /// it is rolled back, and nothing of it is written.
    #[test]
    fn a_lost_connection_is_made_again_but_never_inside_a_transaction() {
        let pg = testing::TestPostgres::start();
        let mut e = Engine::Postgres(pg.conn());
        let killer = Engine::Postgres(pg.conn());
        e.batch("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .expect("schema");
        // End the backend `pid` and wait until it is gone (pg_terminate_backend only signals
        // it), so the client's next request meets a closed connection.
        let kill = |pid: i64| {
            killer
                .query(
                    "SELECT pg_terminate_backend(CAST(?1 AS INTEGER))",
                    &[pid.into()],
                    |_| Ok(()),
                )
                .expect("terminate");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while killer
                .query_opt(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = CAST(?1 AS INTEGER)",
                    &[pid.into()],
                    |r| r.int(0),
                )
                .expect("activity")
                != Some(0)
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "backend {pid} lingers"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        };
        let pid_of = |e: &Engine| {
            e.query_opt("SELECT pg_backend_pid()", &[], |r| r.int(0))
                .expect("pid")
                .expect("a row")
        };
        kill(pid_of(&e));
        // The first request after the loss fails (the client learns of it), the next one
        // connects again.
        let _ = e.query("SELECT 1", &[], |r| r.int(0));
        assert_eq!(
            e.query("SELECT COUNT(*) FROM t", &[], |r| r.int(0))
                .expect("connected again"),
            [0]
        );
        {
            let tx = e.transaction().expect("tx");
            tx.exec("INSERT INTO t (k) VALUES ('a')", &[])
                .expect("insert");
            let pid = tx
                .query_opt("SELECT pg_backend_pid()", &[], |r| r.int(0))
                .expect("pid")
                .expect("a row");
            kill(pid);
            assert!(tx.exec("INSERT INTO t (k) VALUES ('b')", &[]).is_err());
            let later = tx
                .exec("INSERT INTO t (k) VALUES ('c')", &[])
                .expect_err("the rest of the transaction fails");
            assert!(matches!(later, StoreError::Lost), "{later}");
            assert!(tx.commit().is_err(), "a lost transaction does not commit");
        }
        assert_eq!(
            e.query("SELECT COUNT(*) FROM t", &[], |r| r.int(0))
                .expect("connected again after the transaction"),
            [0],
            "nothing of the lost transaction was written"
        );
    }

    /// A server that takes TLS only: verified against its CA, the connection is encrypted;
    /// against the system's roots it is refused, and so is a URL that turns TLS off.
    #[test]
    fn tls_to_the_store_is_verified() {
        let pg = testing::TestPostgres::start_tls();
        let require = format!("{}?sslmode=require", pg.url);
        let db = crate::store::Db::connect_tls(&require, Some(&pg.password), Some(&pg.ca()))
            .expect("TLS with the server's CA");
        let ssl = db
            .sql()
            .query_opt(
                "SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
                |r| r.int(0),
            )
            .expect("pg_stat_ssl");
        assert_eq!(ssl, Some(1), "the session is encrypted");
        // `prefer` (the default) uses TLS when the server offers it.
        crate::store::Db::connect_tls(&pg.url, Some(&pg.password), Some(&pg.ca()))
            .expect("prefer takes TLS");
        let err = crate::store::Db::connect_tls(&require, Some(&pg.password), None)
            .err()
            .expect("a certificate no system root signed");
        assert!(matches!(err, StoreError::Connect { .. }), "{err}");
        let disabled = format!("{}?sslmode=disable", pg.url);
        assert!(
            crate::store::Db::connect_tls(&disabled, Some(&pg.password), Some(&pg.ca())).is_err(),
            "the server accepts TLS connections only"
        );
        let bad_ca = std::env::temp_dir().join(format!("dw-not-a-ca-{}", std::process::id()));
        std::fs::write(&bad_ca, "not PEM").expect("write");
        let err = crate::store::Db::connect_tls(&require, Some(&pg.password), Some(&bad_ca))
            .err()
            .expect("no certificate in the CA file");
        assert!(
            matches!(&err, StoreError::Tls(m) if m.contains("no PEM certificate")),
            "{err}"
        );
        let _ = std::fs::remove_file(&bad_ca);
    }

    #[test]
    fn both_engines_run_the_same_sql() {
        exercise(Engine::Sqlite(
            rusqlite::Connection::open_in_memory().expect("sqlite"),
        ));
        let pg = testing::TestPostgres::start();
        exercise(Engine::Postgres(pg.conn()));
    }
}

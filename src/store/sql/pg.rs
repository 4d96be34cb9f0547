//! A PostgreSQL connection on a thread of its own. The synchronous `postgres` client drives
//! a runtime of its own and panics when called on a thread that runs one (the daemon's, a
//! CLI command's); here the client lives on its own thread and every call is a request over a
//! channel, answered with owned rows. The caller blocks on the answer as it would on SQLite,
//! on any thread. Transactions are `BEGIN`/`COMMIT` on that one connection, rolled back when a
//! `PgTx` is dropped uncommitted.

use std::sync::mpsc;

use postgres::types::Type;

use super::Value;
use crate::store::{Result, StoreError};

/// A column value, owned.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// A parameter, owned (it crosses to the connection's thread).
#[derive(Clone, Debug)]
enum Param {
    Null,
    Int(i64),
    Text(String),
}

impl Param {
    fn of(v: &Value<'_>) -> Param {
        match v {
            Value::Null => Param::Null,
            Value::Int(i) => Param::Int(*i),
            Value::Text(s) => Param::Text((*s).to_string()),
        }
    }

    fn value(&self) -> Value<'_> {
        match self {
            Param::Null => Value::Null,
            Param::Int(i) => Value::Int(*i),
            Param::Text(s) => Value::Text(s),
        }
    }
}

enum Work {
    Exec(String, Vec<Param>),
    Query(String, Vec<Param>),
    Batch(String),
}

enum Answer {
    Count(u64),
    Rows(Vec<Vec<Cell>>),
    Done,
}

type Reply = std::result::Result<Answer, StoreError>;

/// The connection's thread, reached by requests. Dropping it ends the thread (and closes the
/// connection) once the requests already sent are answered.
pub struct PgConn {
    requests: mpsc::Sender<(Work, mpsc::Sender<Reply>)>,
}

impl PgConn {
    /// Connect on a new thread; the connection error, if any, is returned here.
    pub fn connect(config: postgres::Config, tls: super::Tls, url: &str) -> Result<PgConn> {
        let (requests, inbox) = mpsc::channel::<(Work, mpsc::Sender<Reply>)>();
        let (ready, is_ready) = mpsc::channel::<std::result::Result<(), postgres::Error>>();
        std::thread::Builder::new()
            .name("driftwatch-postgres".into())
            .spawn(move || {
                let mut client = match config.connect(tls.clone()) {
                    Ok(c) => {
                        let _ = ready.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let mut session = Session::default();
                while let Ok((work, reply)) = inbox.recv() {
                    let answer = session.serve(&mut client, &config, &tls, work);
                    // The caller may have gone; nothing to do then.
                    let _ = reply.send(answer);
                }
            })
            .map_err(|e| StoreError::Thread(format!("starting the PostgreSQL connection: {e}")))?;
        match is_ready.recv() {
            Ok(Ok(())) => Ok(PgConn { requests }),
            Ok(Err(source)) => Err(StoreError::Connect {
                url: url.to_string(),
                source,
            }),
            Err(_) => Err(StoreError::Thread(format!("connecting to {url}"))),
        }
    }

    fn call(&self, work: Work) -> Result<Answer> {
        let (reply, answer) = mpsc::channel();
        self.requests
            .send((work, reply))
            .map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }

    pub fn exec(&self, sql: &str, params: &[Value<'_>]) -> Result<u64> {
        match self.call(Work::Exec(
            sql.into(),
            params.iter().map(Param::of).collect(),
        ))? {
            Answer::Count(n) => Ok(n),
            _ => Err(StoreError::Thread("answering a statement".into())),
        }
    }

    pub fn query(&self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Vec<Cell>>> {
        match self.call(Work::Query(
            sql.into(),
            params.iter().map(Param::of).collect(),
        ))? {
            Answer::Rows(r) => Ok(r),
            _ => Err(StoreError::Thread("answering a query".into())),
        }
    }

    pub fn batch(&self, sql: &str) -> Result<()> {
        self.call(Work::Batch(sql.into())).map(|_| ())
    }

    pub fn begin(&self) -> Result<PgTx<'_>> {
        self.batch("BEGIN")?;
        Ok(PgTx {
            conn: self,
            done: false,
        })
    }
}

/// An open transaction; rolled back when dropped without `commit`.
pub struct PgTx<'a> {
    pub(super) conn: &'a PgConn,
    done: bool,
}

impl PgTx<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.batch("COMMIT")
    }
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if !self.done {
            // A failed rollback leaves the connection in an aborted transaction, which the
            // next BEGIN reports; nothing more to do here.
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

/// The connection's transaction state, so that a connection lost and made again never runs
/// the rest of a transaction outside it.
#[derive(Default)]
struct Session {
    in_tx: bool,
    /// The connection was lost inside a transaction: every statement fails until the
    /// caller's ROLLBACK (a dropped `PgTx`) or COMMIT ends it.
    broken_tx: bool,
}

impl Session {
    fn serve(
        &mut self,
        client: &mut postgres::Client,
        config: &postgres::Config,
        tls: &super::Tls,
        work: Work,
    ) -> Reply {
        let ends_tx = matches!(&work, Work::Batch(s) if s == "COMMIT" || s == "ROLLBACK");
        let begins_tx = matches!(&work, Work::Batch(s) if s == "BEGIN");
        if self.broken_tx {
            if ends_tx {
                self.broken_tx = false;
                self.in_tx = false;
                if matches!(&work, Work::Batch(s) if s == "ROLLBACK") {
                    return Ok(Answer::Done);
                }
            }
            return Err(StoreError::Lost);
        }
        if client.is_closed() {
            // Lost outside a transaction: connect again, transparently for this request.
            match config.connect(tls.clone()) {
                Ok(c) => {
                    *client = c;
                    tracing::warn!("the PostgreSQL connection was lost; connected again");
                }
                Err(e) => return Err(StoreError::Postgres(e)),
            }
        }
        let answer = run(client, work);
        if begins_tx && answer.is_ok() {
            self.in_tx = true;
        }
        if ends_tx {
            self.in_tx = false;
        }
        if answer.is_err() && self.in_tx && client.is_closed() {
            self.broken_tx = true;
        }
        answer
    }
}

fn run(client: &mut postgres::Client, work: Work) -> Reply {
    let pg = |e: postgres::Error| StoreError::Postgres(e);
    match work {
        Work::Batch(sql) => client.batch_execute(&sql).map(|_| Answer::Done).map_err(pg),
        Work::Exec(sql, params) => {
            let values: Vec<Value<'_>> = params.iter().map(Param::value).collect();
            client
                .execute(&super::to_postgres(&sql), &super::pg_params(&values))
                .map(Answer::Count)
                .map_err(pg)
        }
        Work::Query(sql, params) => {
            let values: Vec<Value<'_>> = params.iter().map(Param::value).collect();
            let rows = client
                .query(&super::to_postgres(&sql), &super::pg_params(&values))
                .map_err(pg)?;
            rows.iter()
                .map(cells)
                .collect::<Result<_>>()
                .map(Answer::Rows)
        }
    }
}

/// A row as owned cells: the integer and text types the schema uses.
fn cells(row: &postgres::Row) -> Result<Vec<Cell>> {
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let pg = StoreError::Postgres;
        let cell = match *col.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(pg)?.map(Cell::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)
                .map_err(pg)?
                .map(|n| Cell::Int(n.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)
                .map_err(pg)?
                .map(|n| Cell::Int(n.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)
                .map_err(pg)?
                .map(|b| Cell::Int(b.into())),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
                .try_get::<_, Option<String>>(i)
                .map_err(pg)?
                .map(Cell::Text),
            ref other => {
                return Err(StoreError::Corrupt(format!(
                    "column {} has type {other}, which the store does not read",
                    col.name()
                )));
            }
        };
        out.push(cell.unwrap_or(Cell::Null));
    }
    Ok(out)
}

//! Fencing for an HA pair. The store keeps one `leadership` row: the generation of the
//! current leader and who holds it. A replica that wins the election (a PostgreSQL advisory
//! lock or a Kubernetes Lease, `daemon/leader.rs`) takes the next generation here; from then
//! on every transaction of its `Db` first reads the row under a share lock and fails with
//! [`StoreError::Fenced`] when a newer generation has been taken. Taking a generation is a
//! write to that row, so it waits for a transaction that holds the share lock and is seen by
//! every transaction that starts after it: a replaced leader (paused, partitioned, or slow to
//! notice its lease is gone) never commits a cycle once its successor has begun.

use jiff::Timestamp;

use super::sql::{Engine, Sql, Tx};
use super::{Db, Result, StoreError, ts};

/// The generation this `Db` writes under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub holder: String,
    pub generation: i64,
}

/// The leadership row as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leadership {
    pub holder: String,
    pub generation: i64,
    pub since: String,
}

impl Db {
    /// Take the next generation for `holder` (the election was won) and fence every later
    /// transaction of this `Db` with it.
    pub fn take_leadership(&mut self, holder: &str, at: Timestamp) -> Result<i64> {
        let since = ts(at);
        let tx = self.engine.transaction()?;
        let generation = tx
            .query_opt(
                "INSERT INTO leadership (id, generation, holder, since) VALUES (1, 1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET generation = leadership.generation + 1,
                   holder = excluded.holder, since = excluded.since
                 RETURNING generation",
                &[holder.into(), since.as_str().into()],
                |r| r.int(0),
            )?
            .ok_or_else(|| StoreError::Corrupt("leadership: no generation returned".into()))?;
        tx.commit()?;
        self.fence = Some(Fence {
            holder: holder.to_string(),
            generation,
        });
        Ok(generation)
    }

    /// The current leader as stored, if any replica was ever elected.
    pub fn leadership(&self) -> Result<Option<Leadership>> {
        self.sql().query_opt(
            "SELECT holder, generation, since FROM leadership WHERE id = 1",
            &[],
            |r| {
                Ok(Leadership {
                    holder: r.text(0)?,
                    generation: r.int(1)?,
                    since: r.text(2)?,
                })
            },
        )
    }

    /// The generation this `Db` writes under, if it is fenced.
    pub fn fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }
}

/// Which engine a transaction runs on (the check's SQL differs).
#[derive(Clone, Copy)]
pub(super) enum EngineKind {
    Sqlite,
    Postgres,
}

impl EngineKind {
    pub(super) fn of(engine: &Engine) -> EngineKind {
        match engine {
            Engine::Sqlite(_) => EngineKind::Sqlite,
            Engine::Postgres(_) => EngineKind::Postgres,
        }
    }
}

/// Inside a transaction: the stored generation must still be ours. On PostgreSQL the row is
/// read `FOR SHARE`, so a successor's `take_leadership` waits for this transaction to end.
pub(super) fn check(engine: EngineKind, tx: &Tx<'_>, fence: &Fence) -> Result<()> {
    let sql = match engine {
        EngineKind::Postgres => "SELECT generation, holder FROM leadership WHERE id = 1 FOR SHARE",
        // One writer at a time holds a SQLite database anyway.
        EngineKind::Sqlite => "SELECT generation, holder FROM leadership WHERE id = 1",
    };
    let current = tx.query_opt(sql, &[], |r| Ok((r.int(0)?, r.text(1)?)))?;
    match current {
        Some((generation, _)) if generation == fence.generation => Ok(()),
        Some((generation, holder)) => Err(StoreError::Fenced {
            ours: fence.generation,
            current: generation,
            holder,
        }),
        None => Err(StoreError::Fenced {
            ours: fence.generation,
            current: 0,
            holder: String::new(),
        }),
    }
}

/// A session advisory lock on the store's PostgreSQL server: the election of `[ha] election
/// = "postgres"`. Held by a connection of its own for as long as that connection lives, so a
/// leader killed with SIGKILL releases it the moment the server sees the socket close; the
/// session's TCP keepalives are set so a leader cut off by the network loses it too.
pub struct AdvisoryLock {
    conn: super::sql::PgConn,
    keys: (i64, i64),
}

/// The first key of every driftwatch lock ("dwat"); the second comes from the lock's name.
const LOCK_CLASS: i64 = 0x6477_6174;

impl AdvisoryLock {
    /// Connect (`application_name` `driftwatch-leader`, so an operator can find the session).
    pub fn connect(
        url: &str,
        password: Option<&str>,
        ca_file: Option<&std::path::Path>,
        name: &str,
        keepalive_secs: u64,
    ) -> Result<AdvisoryLock> {
        let mut config = super::pg_config(url, password, "driftwatch-leader")?;
        config
            .keepalives(true)
            .keepalives_idle(std::time::Duration::from_secs(keepalive_secs.max(1)));
        let conn = super::sql::PgConn::connect(config, super::sql::Tls::new(ca_file)?, url)?;
        // The server's side: a client that vanished without closing is noticed within about
        // three keepalive intervals, and its lock released.
        let k = keepalive_secs.max(1);
        conn.batch(&format!(
            "SET tcp_keepalives_idle = {k}; SET tcp_keepalives_interval = {k}; SET tcp_keepalives_count = 3"
        ))?;
        Ok(AdvisoryLock {
            conn,
            keys: (LOCK_CLASS, lock_key(name)),
        })
    }

    /// Take the lock if nobody holds it; true when this session holds it (now or already).
    pub fn try_lock(&self) -> Result<bool> {
        if self.held()? {
            return Ok(true);
        }
        self.int(
            "SELECT CASE WHEN pg_try_advisory_lock(CAST(?1 AS INTEGER), CAST(?2 AS INTEGER)) THEN 1 ELSE 0 END",
        )
        .map(|n| n == 1)
    }

    /// Whether this session still holds the lock (false, or an error, once it is lost).
    pub fn held(&self) -> Result<bool> {
        self.int(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
               AND pid = pg_backend_pid() AND classid::bigint = ?1 AND objid::bigint = ?2
               AND objsubid = 2",
        )
        .map(|n| n > 0)
    }

    fn int(&self, sql: &str) -> Result<i64> {
        let rows = self
            .conn
            .query(sql, &[self.keys.0.into(), self.keys.1.into()])?;
        match rows.first().and_then(|r| r.first()) {
            Some(super::sql::Cell::Int(n)) => Ok(*n),
            other => Err(StoreError::Corrupt(format!(
                "advisory lock: unexpected answer {other:?}"
            ))),
        }
    }
}

/// A lock's second key: FNV-1a of its name, kept positive (pg_locks shows keys as oids).
fn lock_key(name: &str) -> i64 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    i64::from(h & 0x7fff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ledger::{self, LedgerEvent};
    use crate::store::sql::testing::TestPostgres;

    fn append(db: &mut Db) -> Result<()> {
        let at: Timestamp = "2026-12-01T10:00:00Z".parse().expect("ts");
        let tx = db.transaction()?;
        ledger::append(
            &tx,
            at,
            &[LedgerEvent::SourceRecovered {
                scope: "aws/123456789012/eu-west-1".into(),
                blind_since: "2026-12-01T09:00:00Z".into(),
            }],
        )?;
        tx.commit()
    }

    /// Two replicas on one PostgreSQL store: the first leader writes; once the second takes
    /// the next generation, the first's transactions fail as fenced and write nothing, and a
    /// transaction of the old leader already open makes the successor wait until it ends.
    #[test]
    fn a_replaced_leader_cannot_commit() {
        let pg = TestPostgres::start();
        let mut a = Db::connect(&pg.url, Some(&pg.password)).expect("a");
        let mut b = Db::connect(&pg.url, Some(&pg.password)).expect("b");
        let t0: Timestamp = "2026-12-01T10:00:00Z".parse().expect("ts");
        assert_eq!(a.leadership().expect("read"), None);
        assert_eq!(a.take_leadership("pod-a", t0).expect("a leads"), 1);
        append(&mut a).expect("the leader writes");
        assert_eq!(b.take_leadership("pod-b", t0).expect("b leads"), 2);
        let err = append(&mut a).expect_err("a is fenced");
        assert!(
            matches!(
                &err,
                StoreError::Fenced { ours: 1, current: 2, holder } if holder == "pod-b"
            ),
            "{err}"
        );
        assert_eq!(err.label(), "fenced");
        append(&mut b).expect("the new leader writes");
        assert_eq!(a.verify_ledger().expect("verify").entries, 2);
        let stored = a.leadership().expect("read").expect("row");
        assert_eq!((stored.holder.as_str(), stored.generation), ("pod-b", 2));

        // The successor's take waits for a transaction the leader has open.
        let tx = b
            .transaction()
            .expect("b's transaction holds the share lock");
        let url = pg.url.clone();
        let password = pg.password.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let taker = std::thread::spawn(move || {
            let mut c = Db::connect(&url, Some(&password)).expect("c");
            let g = c.take_leadership("pod-c", t0).expect("c leads");
            let _ = done_tx.send(g);
        });
        assert!(
            done_rx
                .recv_timeout(std::time::Duration::from_millis(500))
                .is_err(),
            "the take must wait for the open transaction"
        );
        tx.commit()
            .expect("b's last transaction commits under its generation");
        assert_eq!(
            done_rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("then c takes over"),
            3
        );
        taker.join().expect("taker");
        assert!(matches!(
            append(&mut b),
            Err(StoreError::Fenced { current: 3, .. })
        ));
    }

    /// One holder at a time; the lock goes with its session.
    #[test]
    fn the_advisory_lock_has_one_holder_and_goes_with_its_session() {
        let pg = TestPostgres::start();
        let a =
            AdvisoryLock::connect(&pg.url, Some(&pg.password), None, "driftwatch", 5).expect("a");
        let b =
            AdvisoryLock::connect(&pg.url, Some(&pg.password), None, "driftwatch", 5).expect("b");
        let other =
            AdvisoryLock::connect(&pg.url, Some(&pg.password), None, "staging", 5).expect("o");
        assert!(a.try_lock().expect("a takes it"));
        assert!(a.try_lock().expect("a holds it still"));
        assert!(a.held().expect("held"));
        assert!(!b.try_lock().expect("b waits"));
        assert!(!b.held().expect("b holds nothing"));
        assert!(other.try_lock().expect("another name is another lock"));
        drop(a);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !b.try_lock().expect("b tries") {
            assert!(
                std::time::Instant::now() < deadline,
                "the lock outlived its session"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(b.held().expect("b holds it"));
    }
}

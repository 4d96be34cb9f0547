//! The members of a sharded replica set (`[ha] replicas` above 1). Each replica registers a
//! row and heartbeats it; a member is live while its heartbeat is younger than the TTL, both
//! measured by the database server's clock (so replicas' clocks need not agree). A scope
//! belongs to the live member `shard::owner` picks. A sharded `Db` checks, inside every
//! cycle's transaction, that it still owns the scope and that the scope's revision is the one
//! its cycle read (then advances it): a replica that lost the scope, or read it before
//! another committed, writes nothing.

use jiff::Timestamp;

use super::leader::EngineKind;
use super::sql::{Sql, Tx};
use super::{Db, Result, StoreError, ts};

/// This `Db`'s membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardMember {
    pub id: String,
    /// A member whose heartbeat is older than this is gone.
    pub ttl_secs: i64,
}

/// The database server's clock in epoch seconds, as SQL.
fn server_now(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)",
        EngineKind::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
    }
}

impl Db {
    /// Register as a member (or refresh the registration) and check commits against it.
    pub fn join_shard(&mut self, id: &str, ttl_secs: i64, at: Timestamp) -> Result<()> {
        let now = server_now(EngineKind::of(&self.engine));
        self.sql().exec(
            &format!(
                "INSERT INTO members (id, joined_at, heartbeat) VALUES (?1, ?2, {now})
                 ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat"
            ),
            &[id.into(), ts(at).as_str().into()],
        )?;
        self.shard = Some(ShardMember {
            id: id.to_string(),
            ttl_secs,
        });
        Ok(())
    }

    /// Keep this member live.
    pub fn heartbeat(&mut self) -> Result<()> {
        let Some(me) = self.shard.clone() else {
            return Ok(());
        };
        let now = server_now(EngineKind::of(&self.engine));
        self.sql().exec(
            &format!("UPDATE members SET heartbeat = {now} WHERE id = ?1"),
            &[me.id.as_str().into()],
        )?;
        Ok(())
    }

    /// Leave the set (graceful stop): the others take this member's scopes at once.
    pub fn leave_shard(&mut self) -> Result<()> {
        if let Some(me) = self.shard.take() {
            self.sql().exec(
                "DELETE FROM members WHERE id = ?1",
                &[me.id.as_str().into()],
            )?;
        }
        Ok(())
    }

    /// The live members, by name.
    pub fn live_members(&self) -> Result<Vec<String>> {
        let ttl = self.shard.as_ref().map_or(0, |m| m.ttl_secs);
        live(self.sql(), EngineKind::of(&self.engine), ttl)
    }

    /// The revision of a scope as stored (0 before its first sharded commit).
    pub fn scope_revision(&self, scope: &str) -> Result<i64> {
        Ok(self
            .sql()
            .query_opt(
                "SELECT revision FROM scope_revisions WHERE scope = ?1",
                &[scope.into()],
                |r| r.int(0),
            )?
            .unwrap_or(0))
    }
}

fn live(sql: &impl Sql, kind: EngineKind, ttl_secs: i64) -> Result<Vec<String>> {
    sql.query(
        &format!(
            "SELECT id FROM members WHERE heartbeat >= {} - ?1 ORDER BY id",
            server_now(kind)
        ),
        &[ttl_secs.into()],
        |r| r.text(0),
    )
}

/// Inside a cycle's transaction: `me` owns `scope` among the live members, and the scope's
/// revision is still `read`; then the revision advances.
pub(super) fn claim(
    tx: &Tx<'_>,
    kind: EngineKind,
    me: &ShardMember,
    scope: &str,
    read: i64,
) -> Result<()> {
    let members = live(tx, kind, me.ttl_secs)?;
    let owner = driftwatch_core::shard::owner(scope, &members);
    if owner != Some(me.id.as_str()) {
        return Err(StoreError::NotOwner {
            scope: scope.to_string(),
            owner: owner.unwrap_or("nobody live").to_string(),
        });
    }
    let advanced = if read == 0 {
        tx.exec(
            "INSERT INTO scope_revisions (scope, revision) VALUES (?1, 1) ON CONFLICT (scope) DO NOTHING",
            &[scope.into()],
        )?
    } else {
        tx.exec(
            "UPDATE scope_revisions SET revision = revision + 1 WHERE scope = ?1 AND revision = ?2",
            &[scope.into(), read.into()],
        )?
    };
    if advanced == 0 {
        return Err(StoreError::StaleRead {
            scope: scope.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::testing::TestPostgres;

    /// Replicas started together on an empty database: each one's migration waits for the
    /// first, then finds the schema current.
    #[test]
    fn replicas_starting_together_migrate_once() {
        let pg = TestPostgres::start();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (url, password) = (pg.url.clone(), pg.password.clone());
                std::thread::spawn(move || Db::connect(&url, Some(&password)).map(|_| ()))
            })
            .collect();
        for t in threads {
            t.join()
                .expect("thread")
                .expect("every replica opens the store");
        }
    }

    /// Three members on one PostgreSQL store: each scope is committed only by its owner and
    /// only from a current read; a member that leaves hands its scopes over at once.
    #[test]
    fn only_the_owner_commits_and_only_from_a_current_read() {
        let pg = TestPostgres::start();
        let t0: Timestamp = "2026-12-01T10:00:00Z".parse().expect("ts");
        let mut dbs: Vec<Db> = ["replica-a", "replica-b", "replica-c"]
            .iter()
            .map(|id| {
                let mut db = Db::connect(&pg.url, Some(&pg.password)).expect("connect");
                db.join_shard(id, 15, t0).expect("join");
                db
            })
            .collect();
        let members = dbs[0].live_members().expect("live");
        assert_eq!(members, ["replica-a", "replica-b", "replica-c"]);
        let scope = "aws/123456789012/us-east-1";
        let owner = driftwatch_core::shard::owner(scope, &members).expect("owner");
        let i = members.iter().position(|m| m == owner).expect("index");
        let other = (i + 1) % 3;
        let me = |db: &Db| db.shard.clone().expect("member");

        let try_claim = |db: &mut Db, read: i64| -> Result<()> {
            let m = me(db);
            let kind = EngineKind::of(&db.engine);
            let tx = db.transaction()?;
            claim(&tx, kind, &m, scope, read)?;
            tx.commit()
        };
        let err = try_claim(&mut dbs[other], 0).expect_err("not the owner");
        assert!(
            matches!(&err, StoreError::NotOwner { owner: o, .. } if o == owner),
            "{err}"
        );
        assert_eq!(err.label(), "not_owner");
        try_claim(&mut dbs[i], 0).expect("the owner's first commit");
        assert_eq!(dbs[i].scope_revision(scope).expect("rev"), 1);
        let err = try_claim(&mut dbs[i], 0).expect_err("a read from before that commit");
        assert!(matches!(err, StoreError::StaleRead { .. }), "{err}");
        try_claim(&mut dbs[i], 1).expect("a current read");
        assert_eq!(dbs[i].scope_revision(scope).expect("rev"), 2);

        // The owner leaves: the scope's next owner among the two left commits.
        dbs[i].leave_shard().expect("leave");
        let left = dbs[other].live_members().expect("live");
        assert_eq!(left.len(), 2);
        let next = driftwatch_core::shard::owner(scope, &left).expect("owner");
        let j = ["replica-a", "replica-b", "replica-c"]
            .iter()
            .position(|m| *m == next)
            .expect("index");
        try_claim(&mut dbs[j], 2).expect("the new owner carries on from the stored revision");
        dbs[j].heartbeat().expect("heartbeat");
    }
}

//! Last complete state per scope, scope health, and the atomic write of one poll cycle.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::ledger::{self, LedgerEvent};
use super::outbox::{self, OutboxItem};
use super::{Db, Result, StoreError, parse_ts, ts};
use crate::model::key::ParseKeyError;
use crate::model::{ContentHash, Digest, Kind, Resource, ResourceKey, Scope};

/// Health and baseline status of one scope.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScopeState {
    pub baseline_at: Option<Timestamp>,
    pub consecutive_failures: u32,
    pub blind_since: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// A drift as indexed for lookups (`drifts` listing, reports).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDrift {
    pub drift_id: String,
    pub scope: String,
    pub kind: String,
    pub resource_id: String,
    pub name: String,
    pub action: String,
    pub observed_at: String,
    pub decision: String,
    pub record_id: Option<String>,
    pub severity: String,
    pub ledger_seq: i64,
    pub revert_by: Option<String>,
    pub closed_at: Option<String>,
    pub closed_reason: Option<String>,
    pub closed_by: Option<String>,
}

/// One obligation step to record: marked sent, ledgered and alerted together.
#[derive(Clone, Debug)]
pub struct ObligationWrite {
    pub obligation: String,
    pub step: String,
    pub event: LedgerEvent,
    pub alerts: Vec<OutboxItem>,
}

/// A drift that still needs attention (for revert detection).
#[derive(Clone, Debug, PartialEq)]
pub struct OpenDrift {
    pub drift_id: String,
    pub kind: String,
    pub resource_id: String,
    /// Content hash before the drift; `None` when the drift created the resource.
    pub before_hash: Option<String>,
    pub observed_at: String,
}

/// Everything one cycle of one scope writes, committed in one transaction: the state, the
/// ledger entries and the alerts that announce them (DESIGN invariant 2).
#[derive(Clone, Debug)]
pub struct CycleWrite {
    pub scope: Scope,
    pub at: Timestamp,
    /// Resources to insert or replace, and keys to remove, in the scope's stored state.
    pub upserts: Vec<Resource>,
    pub deletes: Vec<ResourceKey>,
    /// The scope's new health; `None` leaves the row untouched (steady state writes nothing).
    pub scope_state: Option<ScopeState>,
    pub events: Vec<LedgerEvent>,
    pub outbox: Vec<OutboxItem>,
}

impl CycleWrite {
    /// A cycle that writes nothing yet.
    pub fn new(scope: Scope, at: Timestamp) -> Self {
        CycleWrite {
            scope,
            at,
            upserts: Vec::new(),
            deletes: Vec::new(),
            scope_state: None,
            events: Vec::new(),
            outbox: Vec::new(),
        }
    }
}

impl Db {
    pub fn scope_state(&self, scope: &Scope) -> Result<Option<ScopeState>> {
        let row = self
            .conn
            .query_row(
                "SELECT baseline_at, consecutive_failures, blind_since, last_error FROM scopes WHERE scope = ?1",
                params![scope.to_string()],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(b, f, s, e)| {
            Ok(ScopeState {
                baseline_at: b.as_deref().map(parse_ts).transpose()?,
                consecutive_failures: f,
                blind_since: s.as_deref().map(parse_ts).transpose()?,
                last_error: e,
            })
        })
        .transpose()
    }

    /// Every scope the store knows, with its state.
    pub fn scopes(&self) -> Result<Vec<(String, ScopeState)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT scope FROM scopes ORDER BY scope")?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::new();
        for n in names {
            let scope: Scope = n.parse().map_err(|e: crate::model::key::ParseKeyError| {
                StoreError::Corrupt(e.to_string())
            })?;
            if let Some(s) = self.scope_state(&scope)? {
                out.push((n, s));
            }
        }
        Ok(out)
    }

    /// The last complete state of a scope as digests (kind, id, stored content hash): what a
    /// steady-state cycle reads. Hashes are trusted here; a row's hash is checked when its full
    /// row is read (`snapshot_rows`) and for every row by `verify_snapshots`.
    pub fn snapshot_digests(&self, scope: &Scope) -> Result<Vec<Digest>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT kind, id, hash FROM snapshots WHERE scope = ?1")?;
        let mut rows = stmt.query(params![scope.to_string()])?;
        let mut out = Vec::new();
        // Rows come in primary-key order, so one kind's rows are consecutive.
        let mut last: Option<(String, Kind)> = None;
        while let Some(r) = rows.next()? {
            let kind_s = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            let kind = match &last {
                Some((s, k)) if s == kind_s => k.clone(),
                _ => {
                    let k: Kind = kind_s
                        .parse()
                        .map_err(|e: ParseKeyError| StoreError::Corrupt(e.to_string()))?;
                    last = Some((kind_s.to_string(), k.clone()));
                    k
                }
            };
            let id: String = r.get(1)?;
            let hash_s = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
            let hash = ContentHash::from_hex(hash_s).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "snapshot row {scope}/{kind}/{id} has a malformed hash"
                ))
            })?;
            out.push(Digest { kind, id, hash });
        }
        Ok(out)
    }

    /// The full stored rows of some keys of a scope (those a cycle modifies or deletes), each
    /// checked against its stored hash: a row altered in the database is an error here, before
    /// its content reaches a change, the ledger or an alert.
    pub fn snapshot_rows(&self, scope: &Scope, keys: &[(Kind, String)]) -> Result<Vec<Resource>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, targets, tags, attributes, hash FROM snapshots
             WHERE scope = ?1 AND kind = ?2 AND id = ?3",
        )?;
        let scope_s = scope.to_string();
        let mut out = Vec::with_capacity(keys.len());
        for (kind, id) in keys {
            let row = stmt
                .query_row(params![scope_s, kind.to_string(), id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                })
                .optional()?;
            if let Some(row) = row {
                let key = ResourceKey {
                    scope: scope.clone(),
                    kind: kind.clone(),
                    id: id.clone(),
                };
                out.push(verified(key, row)?);
            }
        }
        Ok(out)
    }

    /// Every stored row whose content does not match its stored hash (or does not parse), in
    /// every scope: the check `ledger verify` runs on the stored state, which cycles trust.
    /// Returns (rows checked, problems).
    pub fn verify_snapshots(&self) -> Result<(u64, Vec<String>)> {
        let mut problems = Vec::new();
        let mut n = 0;
        for (scope, _) in self.scopes()? {
            let scope: Scope = scope
                .parse()
                .map_err(|e: ParseKeyError| StoreError::Corrupt(e.to_string()))?;
            let mut stmt = self.conn.prepare(
                "SELECT kind, id, name, targets, tags, attributes, hash FROM snapshots
                 WHERE scope = ?1 ORDER BY kind, id",
            )?;
            let mut rows = stmt.query(params![scope.to_string()])?;
            while let Some(r) = rows.next()? {
                n += 1;
                let kind: String = r.get(0)?;
                let id: String = r.get(1)?;
                let checked = kind
                    .parse::<Kind>()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
                    .and_then(|kind| {
                        let key = ResourceKey {
                            scope: scope.clone(),
                            kind,
                            id: id.clone(),
                        };
                        verified(key, (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
                    });
                match checked {
                    Ok(_) => {}
                    Err(StoreError::Corrupt(m)) => problems.push(m),
                    Err(e) => problems.push(format!("snapshot row {scope}/{kind}/{id}: {e}")),
                }
            }
        }
        Ok((n, problems))
    }

    /// Commit one cycle atomically. Returns the ledger sequence numbers written.
    pub fn commit_cycle(&mut self, w: &CycleWrite) -> Result<Vec<i64>> {
        let tx = self.conn.transaction()?;
        let scope = w.scope.to_string();
        {
            let mut up = tx.prepare_cached(
                "INSERT OR REPLACE INTO snapshots (scope, kind, id, name, targets, tags, attributes, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for r in &w.upserts {
                up.execute(params![
                    scope,
                    r.key.kind.to_string(),
                    r.key.id,
                    r.name,
                    serde_json::to_string(&r.targets)?,
                    serde_json::to_string(&r.tags)?,
                    r.attributes_json(),
                    r.hash().to_string(),
                ])?;
            }
            let mut del = tx.prepare_cached(
                "DELETE FROM snapshots WHERE scope = ?1 AND kind = ?2 AND id = ?3",
            )?;
            for k in &w.deletes {
                del.execute(params![scope, k.kind.to_string(), k.id])?;
            }
        }
        if let Some(s) = &w.scope_state {
            tx.execute(
                "INSERT INTO scopes (scope, baseline_at, consecutive_failures, blind_since, last_error)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (scope) DO UPDATE SET baseline_at = excluded.baseline_at,
                   consecutive_failures = excluded.consecutive_failures,
                   blind_since = excluded.blind_since, last_error = excluded.last_error",
                params![
                    scope,
                    s.baseline_at.map(ts),
                    s.consecutive_failures,
                    s.blind_since.map(ts),
                    s.last_error
                ],
            )?;
        }
        let seqs = write_events(&tx, w.at, &w.events, &w.outbox)?;
        tx.commit()?;
        Ok(seqs)
    }

    /// Ledger entries and their alerts that belong to no single poll (drifts closed by a
    /// retrospective record, delivery failures), in one transaction.
    pub fn commit_events(
        &mut self,
        at: Timestamp,
        events: &[LedgerEvent],
        outbox: &[OutboxItem],
    ) -> Result<Vec<i64>> {
        let tx = self.conn.transaction()?;
        let seqs = write_events(&tx, at, events, outbox)?;
        tx.commit()?;
        Ok(seqs)
    }
}

fn write_events(
    tx: &rusqlite::Transaction<'_>,
    at: Timestamp,
    events: &[LedgerEvent],
    outbox_items: &[OutboxItem],
) -> Result<Vec<i64>> {
    let seqs = ledger::append(tx, at, events)?;
    for (ev, seq) in events.iter().zip(&seqs) {
        match ev {
            LedgerEvent::Change(c) => {
                // Born closed: a change that undoes an unplanned one, or a planned change that
                // is not temporary. Open: unplanned ones, and temporary ones (revert_by) until
                // they are undone.
                let closed_reason = if !c.reverts.is_empty() {
                    Some("reverts")
                } else if c.decision == crate::model::DecisionKind::Matched && c.revert_by.is_none()
                {
                    Some("matched")
                } else {
                    None
                };
                tx.execute(
                    "INSERT OR REPLACE INTO drifts (drift_id, scope, kind, resource_id, name, action,
                       observed_at, decision, record_id, severity, ledger_seq, before_hash,
                       after_hash, closed_at, closed_reason, closed_by, revert_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                    params![
                        c.drift_id,
                        c.scope,
                        c.kind,
                        c.resource_id,
                        c.name,
                        c.action.as_str(),
                        c.observed_at,
                        c.decision.as_str(),
                        c.record_id,
                        c.severity.as_str(),
                        seq,
                        c.before_hash,
                        c.after_hash,
                        closed_reason.map(|_| c.observed_at.as_str()),
                        closed_reason,
                        c.reverts.first(),
                        c.revert_by,
                    ],
                )?;
            }
            LedgerEvent::DriftClosed {
                drift_id,
                reason,
                by,
                ..
            } => {
                tx.execute(
                    "UPDATE drifts SET closed_at = ?2, closed_reason = ?3, closed_by = ?4
                         WHERE drift_id = ?1 AND closed_at IS NULL",
                    params![drift_id, ts(at), reason.as_str(), by],
                )?;
            }
            _ => {}
        }
    }
    outbox::enqueue(tx, at, outbox_items)?;
    Ok(seqs)
}

impl Db {
    /// Write each rejection not seen before: a ledger entry and its alerts, once per distinct
    /// error (`key`). Returns how many were new.
    pub fn record_rejections(
        &mut self,
        at: Timestamp,
        items: &[(String, LedgerEvent, Vec<OutboxItem>)],
    ) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut new = 0;
        for (key, event, alerts) in items {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO record_rejections (key, first_seen) VALUES (?1, ?2)",
                params![key, ts(at)],
            )?;
            if inserted == 1 {
                ledger::append(&tx, at, std::slice::from_ref(event))?;
                outbox::enqueue(&tx, at, alerts)?;
                new += 1;
            }
        }
        tx.commit()?;
        Ok(new)
    }

    /// Unmatched and violating drifts of a scope not yet closed, oldest first.
    pub fn open_drifts(&self, scope: &Scope) -> Result<Vec<OpenDrift>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT drift_id, kind, resource_id, before_hash, observed_at FROM drifts
             WHERE scope = ?1 AND closed_at IS NULL
             ORDER BY observed_at, ledger_seq",
        )?;
        let rows = stmt.query_map(params![scope.to_string()], |r| {
            Ok(OpenDrift {
                drift_id: r.get(0)?,
                kind: r.get(1)?,
                resource_id: r.get(2)?,
                before_hash: r.get(3)?,
                observed_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// Every open drift whose id is in `ids`: (drift id, scope).
    pub fn open_drifts_among(&self, ids: &[String]) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT drift_id, scope FROM drifts WHERE drift_id = ?1 AND closed_at IS NULL
               AND decision IN ('unmatched', 'violation')",
        )?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(row) = stmt
                .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
            {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Every drift not yet closed, in every scope, oldest first.
    pub fn all_open_drifts(&self) -> Result<Vec<StoredDrift>> {
        self.query_drifts(
            "WHERE closed_at IS NULL ORDER BY observed_at, ledger_seq",
            &[],
        )
    }

    /// Every drift, newest first, up to `limit`.
    pub fn recent_drifts(&self, limit: usize) -> Result<Vec<StoredDrift>> {
        self.query_drifts(
            "ORDER BY observed_at DESC, ledger_seq DESC LIMIT ?1",
            &[&(limit as i64)],
        )
    }

    pub fn drift(&self, id: &str) -> Result<Option<StoredDrift>> {
        Ok(self
            .query_drifts("WHERE drift_id = ?1", &[&id])?
            .into_iter()
            .next())
    }

    fn query_drifts(&self, tail: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<StoredDrift>> {
        let sql = format!(
            "SELECT drift_id, scope, kind, resource_id, name, action, observed_at, decision,
                    record_id, severity, ledger_seq, revert_by, closed_at, closed_reason, closed_by
             FROM drifts {tail}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(args, |r| {
            Ok(StoredDrift {
                drift_id: r.get(0)?,
                scope: r.get(1)?,
                kind: r.get(2)?,
                resource_id: r.get(3)?,
                name: r.get(4)?,
                action: r.get(5)?,
                observed_at: r.get(6)?,
                decision: r.get(7)?,
                record_id: r.get(8)?,
                severity: r.get(9)?,
                ledger_seq: r.get(10)?,
                revert_by: r.get(11)?,
                closed_at: r.get(12)?,
                closed_reason: r.get(13)?,
                closed_by: r.get(14)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// (obligation, step) pairs already sent.
    pub fn obligation_steps_sent(&self) -> Result<std::collections::HashSet<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT obligation, step FROM obligation_steps")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Record steps as sent, with their ledger entries and alerts, in one transaction. A step
    /// already recorded is skipped entirely (no second ledger entry or alert).
    pub fn record_obligation_steps(
        &mut self,
        at: Timestamp,
        steps: &[ObligationWrite],
    ) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for w in steps {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO obligation_steps (obligation, step, sent_at) VALUES (?1, ?2, ?3)",
                params![w.obligation, w.step, ts(at)],
            )?;
            if inserted == 1 {
                write_events(&tx, at, std::slice::from_ref(&w.event), &w.alerts)?;
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Outbox rows (sink, payload) whose key starts with `prefix`, resolves excluded.
    pub fn alerts_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT sink, payload FROM outbox
             WHERE substr(idempotency_key, 1, length(?1)) = ?1
               AND idempotency_key NOT LIKE '%:resolved' ORDER BY id",
        )?;
        let rows = stmt.query_map(params![prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    }
}

/// A stored row as a resource, its content checked against its stored hash.
fn verified(key: ResourceKey, row: (String, String, String, String, String)) -> Result<Resource> {
    let (name, targets, tags, attributes, hash) = row;
    let Some(hash) = ContentHash::from_hex(&hash) else {
        return Err(StoreError::Corrupt(format!(
            "snapshot row {key} has a malformed hash"
        )));
    };
    let r = Resource::from_stored(
        key,
        name,
        serde_json::from_str(&targets)?,
        serde_json::from_str(&tags)?,
        attributes,
        hash,
    );
    if !r.verify_hash() {
        return Err(StoreError::Corrupt(format!(
            "snapshot row {} does not match its stored hash",
            r.key
        )));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::aws::fixtures::{res, rule, scope};

    fn stored(db: &mut Db, resources: Vec<Resource>) {
        db.commit_cycle(&CycleWrite {
            scope: scope(),
            at: "2026-11-21T10:00:00Z".parse().expect("ts"),
            upserts: resources,
            deletes: Vec::new(),
            scope_state: Some(ScopeState::default()),
            events: Vec::new(),
            outbox: Vec::new(),
        })
        .expect("commit");
    }

    #[test]
    fn digests_rows_and_verification_of_the_stored_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = Db::open(&dir.path().join("t.db")).expect("db");
        let a = res(rule("sg-1", "tcp", 22, 22, "10.0.0.0/8"));
        let b = res(rule("sg-1", "tcp", 443, 443, "0.0.0.0/0"));
        stored(&mut db, vec![a.clone(), b.clone()]);
        let digests = db.snapshot_digests(&scope()).expect("digests");
        assert_eq!(digests, vec![a.digest(), b.digest()]);
        let key = |r: &Resource| (r.key.kind.clone(), r.key.id.clone());
        assert_eq!(
            db.snapshot_rows(&scope(), &[key(&b)]).expect("rows"),
            vec![b.clone()]
        );
        assert_eq!(db.verify_snapshots().expect("verify"), (2, Vec::new()));

        // Content altered without its hash: digests still load (trusted), the row does not.
        db.conn
            .execute(
                "UPDATE snapshots SET attributes = replace(attributes, '\"tcp\"', '\"udp\"') WHERE id = ?1",
                params![b.key.id],
            )
            .expect("tamper");
        assert_eq!(db.snapshot_digests(&scope()).expect("digests").len(), 2);
        assert!(matches!(
            db.snapshot_rows(&scope(), &[key(&b)]),
            Err(StoreError::Corrupt(m)) if m.contains("does not match its stored hash")
        ));
        assert!(db.snapshot_rows(&scope(), &[key(&a)]).is_ok());
        let (n, problems) = db.verify_snapshots().expect("verify");
        assert_eq!(n, 2);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(&b.key.id), "{problems:?}");

        // A hash that is not 64 hex digits fails the digest load itself.
        db.conn
            .execute(
                "UPDATE snapshots SET hash = 'x' WHERE id = ?1",
                params![a.key.id],
            )
            .expect("tamper");
        assert!(matches!(
            db.snapshot_digests(&scope()),
            Err(StoreError::Corrupt(m)) if m.contains("malformed hash")
        ));
    }

    #[test]
    fn attributes_are_stored_as_their_canonical_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = Db::open(&dir.path().join("t.db")).expect("db");
        let a = res(rule("sg-1", "tcp", 22, 22, "10.0.0.0/8"));
        stored(&mut db, vec![a.clone()]);
        let text: String = db
            .conn
            .query_row("SELECT attributes FROM snapshots", [], |r| r.get(0))
            .expect("row");
        assert_eq!(text, crate::model::canonical_json(&a.attributes()));
        assert_eq!(text, a.attributes_json());
    }
}

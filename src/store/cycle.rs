//! The atomic write of one poll cycle: state changes, ledger entries, drift rows and the alerts
//! that announce them, in one transaction (DESIGN invariant 2), and the same for ledger
//! entries that belong to no single poll.

use std::collections::HashSet;

use super::drifts::{self, NewDrift};
use super::ledger::{self, LedgerEvent};
use super::outbox::{self, OutboxEvent, OutboxItem, Trigger};
use super::sql::{Sql, Tx};
use super::{Db, OpenDrift, Result, ScopeState, StoreError, ts};
use crate::diff::Previous;
use crate::model::{Kind, Observation, Resource, ResourceKey, Scope};
use jiff::Timestamp;

/// Everything one cycle of one scope writes, committed in one transaction: the state, the
/// ledger entries and the alerts that announce them (DESIGN invariant 2).
#[derive(Clone, Debug)]
pub struct CycleWrite {
    pub scope: Scope,
    pub at: Timestamp,
    /// Resources to insert or replace, and keys to remove, in the scope's stored state.
    pub upserts: Vec<Resource>,
    pub deletes: Vec<ResourceKey>,
    /// Kinds whose stored rows are dropped: no longer watched (config), not deleted.
    pub purge_kinds: Vec<Kind>,
    /// The scope's new health; `None` leaves the row untouched (steady state writes nothing).
    pub scope_state: Option<ScopeState>,
    pub events: Vec<LedgerEvent>,
    /// The drift row of each `LedgerEvent::Change` in `events` (same drift id), open or born
    /// closed as the cycle's plan decided.
    pub drifts: Vec<NewDrift>,
    pub outbox: Vec<OutboxItem>,
    /// AWS changes no event attributed, to look up in CloudTrail later.
    pub lookups: Vec<super::lookups::LookupItem>,
    /// The scope's revision the cycle read (`ScopeLoad::revision`); a sharded store commits
    /// only while it is still current.
    pub read_revision: i64,
}

impl CycleWrite {
    /// A cycle that writes nothing yet.
    pub fn new(scope: Scope, at: Timestamp) -> Self {
        CycleWrite {
            scope,
            at,
            upserts: Vec::new(),
            deletes: Vec::new(),
            purge_kinds: Vec::new(),
            scope_state: None,
            events: Vec::new(),
            drifts: Vec::new(),
            outbox: Vec::new(),
            lookups: Vec::new(),
            read_revision: 0,
        }
    }
}

/// Everything one cycle of one scope reads, in one store call: its health, its stored state
/// (digests, plus the full rows of the keys the observation modifies or deletes), its open
/// drifts, the first alert each sink got about each of them (for resolves), and what was
/// alerted about its resources within the quiet period.
#[derive(Debug, Default)]
pub struct ScopeLoad {
    pub state: ScopeState,
    /// `None` until the scope has a baseline.
    pub previous: Option<Previous>,
    pub open: Vec<OpenDrift>,
    pub triggers: Vec<Trigger>,
    pub recent: HashSet<(String, OutboxEvent)>,
    /// Stored kinds the source no longer watches, with how many rows each holds; they are
    /// left out of `previous`, so they are not seen as deleted.
    pub unwatched: Vec<(Kind, usize)>,
    /// The scope's revision (sharded sets; 0 otherwise).
    pub revision: i64,
}

impl Db {
    /// The one read of a cycle (see [`ScopeLoad`]). Rows are read only for the keys the
    /// observation changes, so steady state reads digests. With `watched`, stored kinds
    /// outside it are counted in `unwatched` instead of being part of the previous state.
    pub fn load_scope(
        &self,
        scope: &Scope,
        obs: &Observation,
        quiet_since: Timestamp,
        watched: Option<&[Kind]>,
    ) -> Result<ScopeLoad> {
        let state = self.scope_state(scope)?.unwrap_or_default();
        let mut unwatched: Vec<(Kind, usize)> = Vec::new();
        let previous = match state.baseline_at {
            Some(_) => {
                let mut digests = self.snapshot_digests(scope)?;
                if let Some(kinds) = watched {
                    digests.retain(|d| {
                        if kinds.contains(&d.kind) {
                            return true;
                        }
                        match unwatched.iter_mut().find(|(k, _)| *k == d.kind) {
                            Some((_, n)) => *n += 1,
                            None => unwatched.push((d.kind.clone(), 1)),
                        }
                        false
                    });
                }
                let needed = crate::diff::rows_needed(&digests, obs);
                let rows = if needed.is_empty() {
                    Vec::new()
                } else {
                    self.snapshot_rows(scope, &needed)?
                };
                Some(Previous::new(digests, rows))
            }
            None => None,
        };
        let scope_s = scope.to_string();
        let open = self.open_drifts(&scope_s)?;
        let ids: Vec<String> = open.iter().map(|d| d.drift_id.clone()).collect();
        let revision = match self.shard {
            Some(_) => self.scope_revision(&scope_s)?,
            None => 0,
        };
        Ok(ScopeLoad {
            revision,
            state,
            previous,
            triggers: self.triggers_for(&ids)?,
            recent: self.recent_alerts(&scope_s, quiet_since)?,
            open,
            unwatched,
        })
    }

    /// Commit one cycle atomically. Returns the ledger sequence numbers written.
    pub fn commit_cycle(&mut self, w: &CycleWrite) -> Result<Vec<i64>> {
        let shard = self.shard.clone();
        let kind = super::leader::EngineKind::of(&self.engine);
        let tx = self.transaction()?;
        let scope = w.scope.to_string();
        if let Some(me) = &shard {
            super::members::claim(&tx, kind, me, &scope, w.read_revision)?;
        }
        for r in &w.upserts {
            tx.exec(
                "INSERT INTO snapshots (scope, kind, id, name, targets, tags, attributes, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (scope, kind, id) DO UPDATE SET name = excluded.name,
                   targets = excluded.targets, tags = excluded.tags,
                   attributes = excluded.attributes, hash = excluded.hash",
                &[
                    (&scope).into(),
                    (&r.key.kind.to_string()).into(),
                    (&r.key.id).into(),
                    (&r.name).into(),
                    (&serde_json::to_string(&r.targets)?).into(),
                    (&serde_json::to_string(&r.tags)?).into(),
                    r.attributes_json().into(),
                    (&r.hash().to_string()).into(),
                ],
            )?;
        }
        for k in &w.deletes {
            tx.exec(
                "DELETE FROM snapshots WHERE scope = ?1 AND kind = ?2 AND id = ?3",
                &[
                    (&scope).into(),
                    (&k.kind.to_string()).into(),
                    (&k.id).into(),
                ],
            )?;
        }
        for k in &w.purge_kinds {
            tx.exec(
                "DELETE FROM snapshots WHERE scope = ?1 AND kind = ?2",
                &[(&scope).into(), (&k.to_string()).into()],
            )?;
        }
        if let Some(s) = &w.scope_state {
            tx.exec(
                "INSERT INTO scopes (scope, baseline_at, consecutive_failures, blind_since, last_error,
                   held_since, held_deletes, held_digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (scope) DO UPDATE SET baseline_at = excluded.baseline_at,
                   consecutive_failures = excluded.consecutive_failures,
                   blind_since = excluded.blind_since, last_error = excluded.last_error,
                   held_since = excluded.held_since, held_deletes = excluded.held_deletes,
                   held_digest = excluded.held_digest",
                &[
                    (&scope).into(),
                    s.baseline_at.map(ts).as_ref().into(),
                    s.consecutive_failures.into(),
                    s.blind_since.map(ts).as_ref().into(),
                    s.last_error.as_deref().into(),
                    s.held.as_ref().map(|h| ts(h.since)).as_ref().into(),
                    s.held.as_ref().map(|h| h.deletes).into(),
                    s.held.as_ref().map(|h| h.digest.as_str()).into(),
                ],
            )?;
        }
        let seqs = write_events(&tx, w.at, &w.events, &w.drifts, &w.outbox)?;
        super::lookups::insert(&tx, &w.lookups)?;
        crate::failpoint::hit("store.commit_cycle");
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
        let tx = self.transaction()?;
        let seqs = write_events(&tx, at, events, &[], outbox)?;
        tx.commit()?;
        Ok(seqs)
    }
}

/// Append `events` to the ledger, insert the drift rows of its changes (linked to their
/// entries), close the drifts its `DriftClosed` entries name, and enqueue the alerts. Every
/// change entry must come with its drift row and every drift row with its entry: a mismatch
/// is a bug in the caller, refused before anything is committed.
pub(crate) fn write_events(
    tx: &Tx<'_>,
    at: Timestamp,
    events: &[LedgerEvent],
    new_drifts: &[NewDrift],
    outbox_items: &[OutboxItem],
) -> Result<Vec<i64>> {
    let seqs = ledger::append(tx, at, events)?;
    let changes: Vec<(&str, i64)> = events
        .iter()
        .zip(&seqs)
        .filter_map(|(ev, seq)| match ev {
            LedgerEvent::Change(c) => Some((c.drift_id.as_str(), *seq)),
            _ => None,
        })
        .collect();
    if changes.len() != new_drifts.len() {
        return Err(StoreError::Corrupt(format!(
            "cycle write has {} change entries but {} drift rows",
            changes.len(),
            new_drifts.len()
        )));
    }
    for d in new_drifts {
        let Some((_, seq)) = changes.iter().find(|(id, _)| *id == d.drift_id) else {
            return Err(StoreError::Corrupt(format!(
                "drift row {} has no change entry in its cycle write",
                d.drift_id
            )));
        };
        drifts::insert(tx, d, *seq)?;
    }
    for ev in events {
        if let LedgerEvent::DriftClosed {
            drift_id,
            reason,
            by,
            ..
        } = ev
        {
            drifts::close(tx, drift_id, at, (*reason).into(), by)?;
        }
    }
    outbox::enqueue(tx, at, outbox_items)?;
    Ok(seqs)
}

//! AWS changes waiting for a CloudTrail LookupEvents: written with their change in the
//! cycle's transaction, read when due, and removed when found (with the `attributed` ledger
//! entry, in one transaction) or given up.

use jiff::Timestamp;

use super::ledger::{self, LedgerEvent};
use super::sql::{Sql, Tx, Value};
use super::{Db, Result, StoreError, ts};
use crate::model::{Action, Kind, Resource, ResourceKey, Scope};

/// A change to look up, as the plan writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupItem {
    pub drift_id: String,
    /// The resource as the change left it (or as it was before a delete).
    pub resource: Resource,
    pub action: Action,
    /// The record that covered the change (for the actor's role).
    pub record_id: Option<String>,
    pub observed_at: Timestamp,
    /// The first look (CloudTrail makes events searchable minutes after the call).
    pub next_at: Timestamp,
}

/// A due lookup, read back.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredLookup {
    pub drift_id: String,
    pub resource: Resource,
    pub action: Action,
    pub record_id: Option<String>,
    pub observed_at: Timestamp,
    pub attempts: u32,
}

impl StoredLookup {
    /// The change as `cloudtrail::explains` reads it.
    pub fn change(&self) -> crate::model::Change {
        let (before, after) = match self.action {
            Action::Delete => (Some(self.resource.clone()), None),
            _ => (None, Some(self.resource.clone())),
        };
        crate::model::Change::new(
            self.resource.key.clone(),
            self.action,
            before,
            after,
            Vec::new(),
            self.observed_at,
        )
    }
}

pub(crate) fn insert(tx: &Tx<'_>, items: &[LookupItem]) -> Result<()> {
    for l in items {
        tx.exec(
            "INSERT INTO lookups (drift_id, scope, kind, resource_id, name, action, attributes, record_id, observed_at, next_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
            &[
                (&l.drift_id).into(),
                (&l.resource.key.scope.to_string()).into(),
                (&l.resource.key.kind.to_string()).into(),
                (&l.resource.key.id).into(),
                (&l.resource.name).into(),
                l.action.as_str().into(),
                l.resource.attributes_json().into(),
                l.record_id.as_deref().into(),
                (&ts(l.observed_at)).into(),
                (&ts(l.next_at)).into(),
            ],
        )?;
    }
    Ok(())
}

impl Db {
    /// Lookups due at `now`, oldest first, at most `limit`.
    pub fn lookups_due(&self, now: Timestamp, limit: usize) -> Result<Vec<StoredLookup>> {
        self.lookups_where(
            "next_at <= ?1 ORDER BY next_at LIMIT ?2",
            &[
                (&ts(now)).into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        )
    }

    /// A scope's waiting changes observed since `since` (a late event may explain one).
    pub fn lookups_of_scope(&self, scope: &Scope, since: Timestamp) -> Result<Vec<StoredLookup>> {
        self.lookups_where(
            "scope = ?1 AND observed_at >= ?2 ORDER BY observed_at LIMIT 1000",
            &[(&scope.to_string()).into(), (&ts(since)).into()],
        )
    }

    /// Forget changes observed before `before` (no lookup runs to give them up).
    pub fn lookups_expire(&self, before: Timestamp) -> Result<usize> {
        let n = self.sql().exec(
            "DELETE FROM lookups WHERE observed_at < ?1",
            &[(&ts(before)).into()],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn lookups_where(&self, filter: &str, args: &[Value<'_>]) -> Result<Vec<StoredLookup>> {
        let rows = self.sql().query(
            &format!(
                "SELECT drift_id, scope, kind, resource_id, name, action, attributes, observed_at, attempts, record_id
                 FROM lookups WHERE {filter}"
            ),
            args,
            |r| {
                Ok((
                    r.text(0)?,
                    r.text(1)?,
                    r.text(2)?,
                    r.text(3)?,
                    r.text(4)?,
                    r.text(5)?,
                    r.text(6)?,
                    r.text(7)?,
                    r.u32(8)?,
                    r.opt_text(9)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (
                drift_id,
                scope,
                kind,
                id,
                name,
                action,
                attributes,
                observed_at,
                attempts,
                record_id,
            ) = row;
            let corrupt = |column: &str| {
                StoreError::Corrupt(format!("lookup of drift {drift_id}: column {column}"))
            };
            let scope: Scope = scope.parse().map_err(|_| corrupt("scope"))?;
            let kind: Kind = kind.parse().map_err(|_| corrupt("kind"))?;
            let action = Action::parse(&action).ok_or_else(|| corrupt("action"))?;
            let attributes: serde_json::Value =
                serde_json::from_str(&attributes).map_err(|_| corrupt("attributes"))?;
            let observed_at: Timestamp = observed_at.parse().map_err(|_| corrupt("observed_at"))?;
            let resource = Resource::new(
                ResourceKey { scope, kind, id },
                name,
                Vec::new(),
                Default::default(),
                attributes,
            );
            out.push(StoredLookup {
                drift_id,
                resource,
                action,
                record_id,
                observed_at,
                attempts,
            });
        }
        Ok(out)
    }

    /// A lookup found its event: the `attributed` entry and the row's removal, together.
    pub fn lookup_found(
        &mut self,
        at: Timestamp,
        drift_id: &str,
        event: LedgerEvent,
    ) -> Result<()> {
        let tx = self.transaction()?;
        ledger::append(&tx, at, std::slice::from_ref(&event))?;
        tx.exec(
            "DELETE FROM lookups WHERE drift_id = ?1",
            &[drift_id.into()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Look again at `next_at`.
    pub fn lookup_retry(&self, drift_id: &str, next_at: Timestamp) -> Result<()> {
        self.sql().exec(
            "UPDATE lookups SET next_at = ?2, attempts = attempts + 1 WHERE drift_id = ?1",
            &[drift_id.into(), (&ts(next_at)).into()],
        )?;
        Ok(())
    }

    /// Stop looking (given up).
    pub fn lookup_drop(&self, drift_id: &str) -> Result<()> {
        self.sql().exec(
            "DELETE FROM lookups WHERE drift_id = ?1",
            &[drift_id.into()],
        )?;
        Ok(())
    }

    pub fn lookups_pending(&self) -> Result<i64> {
        Ok(self
            .sql()
            .query_opt("SELECT COUNT(*) FROM lookups", &[], |r| r.int(0))?
            .unwrap_or(0))
    }
}

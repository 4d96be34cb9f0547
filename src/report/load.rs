//! The report's one contact with the store: every ledger entry, the drift index (how drifts
//! closed), the outbox (who was told) and the known scopes, read as plain data for `fold`.

use std::collections::HashMap;

use jiff::Timestamp;

use super::{Closed, Delivery};
use crate::store::{Db, LedgerEntry, StoreError};

/// A scope the store knows, and when its baseline was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownScope {
    pub scope: String,
    pub baseline_at: Option<Timestamp>,
}

/// What the store holds for a report, before any period is applied.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// Every ledger entry, in sequence order (verified by the fold).
    pub entries: Vec<LedgerEntry>,
    /// How each closed drift closed, by drift id.
    pub drifts: HashMap<String, Closed>,
    /// Every outbox row.
    pub deliveries: Vec<Delivery>,
    pub scopes: Vec<KnownScope>,
}

/// Read everything the report needs from the store.
pub fn load(db: &Db) -> Result<Stored, StoreError> {
    let entries = db.ledger_entries()?;
    let deliveries = db
        .deliveries()?
        .into_iter()
        .map(|(key, sink, delivered_at)| Delivery {
            sink,
            key,
            delivered_at,
        })
        .collect();
    let drifts = db
        .every_drift()?
        .into_iter()
        .filter_map(|d| {
            let c = d.closed?;
            let closed = Closed {
                at: super::ts(c.at),
                reason: c.reason.as_str().to_string(),
                by: c.by,
            };
            Some((d.drift_id, closed))
        })
        .collect();
    let scopes = db
        .scopes()?
        .into_iter()
        .map(|(scope, st)| KnownScope {
            scope,
            baseline_at: st.baseline_at,
        })
        .collect();
    Ok(Stored {
        entries,
        drifts,
        deliveries,
        scopes,
    })
}

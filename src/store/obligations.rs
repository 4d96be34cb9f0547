//! Once-only bookkeeping: obligation steps already sent and record rejections already
//! reported, each written with its ledger entry and alerts in one transaction so a restart
//! neither repeats nor loses one.

use std::collections::HashSet;

use jiff::Timestamp;
use rusqlite::params;

use super::cycle::write_events;
use super::ledger::{self, LedgerEvent};
use super::outbox::{self, OutboxItem};
use super::{Db, Result, ts};

/// One obligation step to record: marked sent, ledgered and alerted together.
#[derive(Clone, Debug)]
pub struct ObligationWrite {
    pub obligation: String,
    pub step: String,
    pub event: LedgerEvent,
    pub alerts: Vec<OutboxItem>,
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

    /// (obligation, step) pairs already sent.
    pub fn obligation_steps_sent(&self) -> Result<HashSet<(String, String)>> {
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
                write_events(&tx, at, std::slice::from_ref(&w.event), &[], &w.alerts)?;
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }
}

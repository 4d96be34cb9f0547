//! Once-only bookkeeping: obligation steps already sent and record rejections already
//! reported, each written with its ledger entry and alerts in one transaction so a restart
//! neither repeats nor loses one.

use std::collections::HashSet;

use super::cycle::write_events;
use super::ledger::{self, LedgerEvent};
use super::outbox::{self, OutboxItem};
use super::sql::Sql;
use super::{Db, Result, ts};
use jiff::Timestamp;

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
        let tx = self.transaction()?;
        let mut new = 0;
        for (key, event, alerts) in items {
            let inserted = tx.exec(
                "INSERT INTO record_rejections (key, first_seen) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                &[key.into(), (&ts(at)).into()],
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
        let rows = self
            .sql()
            .query("SELECT obligation, step FROM obligation_steps", &[], |r| {
                Ok((r.text(0)?, r.text(1)?))
            })?;
        Ok(rows.into_iter().collect())
    }

    /// Record steps as sent, with their ledger entries and alerts, in one transaction. A step
    /// already recorded is skipped entirely (no second ledger entry or alert).
    pub fn record_obligation_steps(
        &mut self,
        at: Timestamp,
        steps: &[ObligationWrite],
    ) -> Result<usize> {
        let tx = self.transaction()?;
        let mut n = 0;
        for w in steps {
            let inserted = tx.exec(
                "INSERT INTO obligation_steps (obligation, step, sent_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                &[(&w.obligation).into(), (&w.step).into(), (&ts(at)).into()],
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

//! The persisted alert outbox. Rows are written in the same transaction as the ledger entry
//! they announce; the dispatcher delivers them at least once and marks them, so a crash or a
//! sink outage loses nothing and a restart does not resend what was delivered.

use std::collections::HashSet;

use super::sql::{Sql, Tx, Value};
use jiff::Timestamp;

use super::{Db, Result, StoreError, parse_ts, ts};
use crate::model::EventKind;

/// What an outbox row announces: an alert about an event, or the resolve of earlier alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxEvent {
    Alert(EventKind),
    Resolved,
}

impl OutboxEvent {
    /// The stored form (the `event` column): the event kind's name, or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxEvent::Alert(e) => e.as_str(),
            OutboxEvent::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        if s == "resolved" {
            return Some(OutboxEvent::Resolved);
        }
        EventKind::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .map(OutboxEvent::Alert)
    }
}

/// The first alert one sink got about a drift (its trigger, or a reminder about it):
/// resolves go to exactly these sinks, built from the payload they received.
#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    pub drift_id: String,
    pub sink: String,
    /// The alert as delivered (JSON text; its shape belongs to the sinks).
    pub payload: String,
}

/// An alert to enqueue for one sink.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxItem {
    pub sink: String,
    /// Stable per alert (drift id and event); the unique key makes re-enqueueing a no-op.
    pub idempotency_key: String,
    pub payload: serde_json::Value,
    /// What the alert is about (a resource key or a scope), for the quiet period.
    pub subject: Option<String>,
    /// What the row announces.
    pub event: OutboxEvent,
}

/// A row due for delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub sink: String,
    pub idempotency_key: String,
    pub payload: String,
    pub attempts: u32,
    pub created_at: Timestamp,
    /// Since when it waits: `created_at`, or when `outbox retry` re-queued it.
    pub queued_at: Timestamp,
}

/// Where an outbox row stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowState {
    Pending,
    Delivered,
    Abandoned,
}

impl RowState {
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::Delivered => "delivered",
            RowState::Abandoned => "abandoned",
        }
    }
}

/// An outbox row as `driftwatch outbox list` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub sink: String,
    pub idempotency_key: String,
    pub state: RowState,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
}

/// Counts for metrics and readiness.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutboxStats {
    pub pending: u64,
    pub delivered: u64,
    pub abandoned: u64,
    pub oldest_pending: Option<Timestamp>,
}

pub(crate) fn enqueue(tx: &Tx<'_>, at: Timestamp, items: &[OutboxItem]) -> Result<()> {
    let at = ts(at);
    for it in items {
        tx.exec(
            "INSERT INTO outbox (sink, idempotency_key, payload, created_at, next_attempt_at,
               subject, event)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            &[
                (&it.sink).into(),
                (&it.idempotency_key).into(),
                (&it.payload.to_string()).into(),
                (&at).into(),
                it.subject.as_deref().into(),
                it.event.as_str().into(),
            ],
        )?;
    }
    Ok(())
}

impl Db {
    /// Rows not yet delivered nor abandoned whose next attempt is due, except those queued
    /// behind an earlier pending row of the same sink and subject that is not due yet (a
    /// trigger waiting out its backoff): a resolve never reaches a sink before its trigger.
    /// The subject is the key up to its first `:` (a drift id, a group); the dispatcher
    /// keeps rows of one subject in order within a batch.
    pub fn outbox_due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxRow>> {
        self.outbox_due_for(None, now, limit)
    }

    /// `outbox_due` for one sink's rows only (`None`: every sink): each sink's dispatch loop
    /// reads its own, so a slow sink never holds up another.
    pub fn outbox_due_for(
        &self,
        sink: Option<&str>,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pending_rows(
            "AND next_attempt_at <= ?1 AND (CAST(?3 AS TEXT) IS NULL OR sink = ?3) AND NOT EXISTS (
               SELECT 1 FROM outbox p
               WHERE p.delivered_at IS NULL AND p.abandoned_at IS NULL
                 AND p.sink = outbox.sink AND p.id < outbox.id AND p.next_attempt_at > ?1
                 AND substr(p.idempotency_key, 1, instr(p.idempotency_key || ':', ':'))
                   = substr(outbox.idempotency_key, 1, instr(outbox.idempotency_key || ':', ':')))",
            &[(&ts(now)).into(), limit.into(), sink.into()],
        )
    }

    /// Pending rows regardless of their next attempt time (the final drain at shutdown).
    pub fn outbox_pending(&self, after_id: i64, limit: usize) -> Result<Vec<OutboxRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pending_rows("AND id > ?1", &[after_id.into(), limit.into()])
    }

    /// Undelivered, not abandoned rows matching `condition` (with `?1`), oldest first, at most
    /// `?2`.
    fn pending_rows(&self, condition: &str, args: &[Value<'_>]) -> Result<Vec<OutboxRow>> {
        let sql = format!(
            "SELECT id, sink, idempotency_key, payload, attempts, created_at,
                    COALESCE(requeued_at, created_at) FROM outbox
             WHERE delivered_at IS NULL AND abandoned_at IS NULL {condition}
             ORDER BY id LIMIT ?2"
        );
        let rows = self.sql().query(&sql, args, |r| {
            Ok((
                r.int(0)?,
                r.text(1)?,
                r.text(2)?,
                r.text(3)?,
                r.u32(4)?,
                r.text(5)?,
                r.text(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sink, key, payload, attempts, created, queued) = row;
            out.push(OutboxRow {
                id,
                sink,
                idempotency_key: key,
                payload,
                attempts,
                created_at: parse_ts(&created)?,
                queued_at: parse_ts(&queued)?,
            });
        }
        Ok(out)
    }

    /// Pending count and oldest pending creation time per sink (for metrics).
    pub fn outbox_pending_by_sink(&self) -> Result<Vec<(String, u64, Option<Timestamp>)>> {
        let rows = self.sql().query(
            "SELECT sink, COUNT(*), MIN(created_at) FROM outbox
             WHERE delivered_at IS NULL AND abandoned_at IS NULL GROUP BY sink",
            &[],
            |r| Ok((r.text(0)?, r.int(1)?, r.opt_text(2)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (sink, n, oldest) = row;
            out.push((sink, n as u64, oldest.map(|s| parse_ts(&s)).transpose()?));
        }
        Ok(out)
    }

    /// Every (subject, event) about a resource of `scope` enqueued at or after `since`: what the
    /// quiet period holds back. Read through the `outbox_created` index, so it costs the rows
    /// of the last quiet period, not the outbox's history.
    pub fn recent_alerts(
        &self,
        scope: &str,
        since: Timestamp,
    ) -> Result<HashSet<(String, OutboxEvent)>> {
        // Resource subjects are `SCOPE/kind/id`: the range [SCOPE/, SCOPE0) holds exactly them.
        let (lo, hi) = (format!("{scope}/"), format!("{scope}0"));
        let rows = self.sql().query(
            "SELECT DISTINCT subject, event FROM outbox
             WHERE created_at >= ?1 AND subject >= ?2 AND subject < ?3 AND event IS NOT NULL",
            &[(&ts(since)).into(), (&lo).into(), (&hi).into()],
            |r| Ok((r.text(0)?, r.text(1)?)),
        )?;
        let mut out = HashSet::new();
        for row in rows {
            let (subject, event) = row;
            let parsed = OutboxEvent::parse(&event).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "outbox row about {subject}: event `{event}` is not a known event"
                ))
            })?;
            out.insert((subject, parsed));
        }
        Ok(out)
    }

    /// The first alert each sink got about each of these drifts (resolves go to exactly these
    /// sinks). Keys are `DRIFT:...`, read by range on the `outbox_key` index.
    pub fn triggers_for(&self, drift_ids: &[String]) -> Result<Vec<Trigger>> {
        let mut out = Vec::new();
        for d in drift_ids {
            let rows = self.sql().query(
                "SELECT sink, payload FROM outbox WHERE id IN (
                   SELECT MIN(id) FROM outbox
                   WHERE idempotency_key >= ?1 || ':' AND idempotency_key < ?1 || ';'
                     AND idempotency_key != ?1 || ':resolved'
                   GROUP BY sink)
                 ORDER BY id",
                &[d.into()],
                |r| Ok((r.text(0)?, r.text(1)?)),
            )?;
            for row in rows {
                let (sink, payload) = row;
                out.push(Trigger {
                    drift_id: d.clone(),
                    sink,
                    payload,
                });
            }
        }
        Ok(out)
    }

    /// The first alerts `sink` got about open drifts whose last firing post (the trigger or
    /// an earlier refresh) was delivered before `posted_before` and has no post pending: the
    /// alerts to post again so a receiver that expires them (Alertmanager's `endsAt`) keeps
    /// them while the drift stays open.
    pub fn firing_to_refresh(&self, sink: &str, posted_before: Timestamp) -> Result<Vec<Trigger>> {
        let open: Vec<String> = self
            .all_open_drifts()?
            .into_iter()
            .map(|d| d.drift_id)
            .collect();
        let triggers: Vec<Trigger> = self
            .triggers_for(&open)?
            .into_iter()
            .filter(|t| t.sink == sink)
            .collect();
        let mut out = Vec::new();
        for t in triggers {
            let (last, pending): (Option<String>, i64) = self
                .sql()
                .query_opt(
                    "SELECT MAX(delivered_at),
                       COALESCE(SUM(CASE WHEN delivered_at IS NULL AND abandoned_at IS NULL THEN 1 ELSE 0 END), 0)
                     FROM outbox
                     WHERE sink = ?1 AND idempotency_key >= ?2 || ':' AND idempotency_key < ?2 || ';'
                       AND idempotency_key != ?2 || ':resolved'",
                    &[sink.into(), (&t.drift_id).into()],
                    |r| Ok((r.opt_text(0)?, r.int(1)?)),
                )?
                .unwrap_or((None, 0));
            let Some(last) = last else { continue };
            if pending == 0 && parse_ts(&last)? < posted_before {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Rows not delivered (pending and abandoned), or every row with `all`, oldest first.
    pub fn outbox_entries(&self, all: bool) -> Result<Vec<OutboxEntry>> {
        let filter = if all {
            ""
        } else {
            "WHERE delivered_at IS NULL"
        };
        let sql = format!(
            "SELECT id, sink, idempotency_key, attempts, created_at, next_attempt_at,
                    delivered_at, abandoned_at, last_error
             FROM outbox {filter} ORDER BY id"
        );
        let rows = self.sql().query(&sql, &[], |r| {
            Ok((
                r.int(0)?,
                r.text(1)?,
                r.text(2)?,
                r.u32(3)?,
                r.text(4)?,
                r.text(5)?,
                r.opt_text(6)?.is_some(),
                r.opt_text(7)?.is_some(),
                r.opt_text(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sink, key, attempts, created, next, delivered, abandoned, last_error) = row;
            out.push(OutboxEntry {
                id,
                sink,
                idempotency_key: key,
                state: match (delivered, abandoned) {
                    (true, _) => RowState::Delivered,
                    (false, true) => RowState::Abandoned,
                    (false, false) => RowState::Pending,
                },
                attempts,
                created_at: parse_ts(&created)?,
                next_attempt_at: parse_ts(&next)?,
                last_error,
            });
        }
        Ok(out)
    }

    /// Put given-up rows back in the queue, due `now` with a fresh attempt count: all of them,
    /// those of one sink, or the listed ids. Returns how many were re-queued. Delivered rows
    /// are never touched (they would be sent twice).
    pub fn outbox_requeue(
        &mut self,
        sink: Option<&str>,
        ids: &[i64],
        now: Timestamp,
    ) -> Result<usize> {
        let tx = self.transaction()?;
        let sql = "UPDATE outbox SET abandoned_at = NULL, attempts = 0, next_attempt_at = ?1,
                   requeued_at = ?1
                 WHERE abandoned_at IS NOT NULL AND delivered_at IS NULL
                   AND (CAST(?2 AS TEXT) IS NULL OR sink = ?2)
                   AND (CAST(?3 AS BIGINT) IS NULL OR id = ?3)";
        let now = ts(now);
        let mut n = 0;
        if ids.is_empty() {
            n += tx.exec(sql, &[(&now).into(), sink.into(), Value::Null])?;
        } else {
            for id in ids {
                n += tx.exec(sql, &[(&now).into(), sink.into(), (*id).into()])?;
            }
        }
        tx.commit()?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Outbox rows (sink, payload) whose key starts with `prefix`, resolves excluded (a session
    /// obligation's alerts, to resolve them when it is met). `prefix` ends with `:`.
    pub fn alerts_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        // Keys in [PREFIX, PREFIX with its last byte + 1) start with PREFIX: an index range.
        let hi = match prefix.strip_suffix(':') {
            Some(p) => format!("{p};"),
            None => format!("{prefix}\u{10FFFF}"),
        };
        self.sql().query(
            "SELECT sink, payload FROM outbox
             WHERE idempotency_key >= ?1 AND idempotency_key < ?2
               AND idempotency_key NOT LIKE '%:resolved' ORDER BY id",
            &[prefix.into(), (&hi).into()],
            |r| Ok((r.text(0)?, r.text(1)?)),
        )
    }

    /// The earliest time a pending row becomes due, if any.
    pub fn outbox_next_due(&self) -> Result<Option<Timestamp>> {
        self.outbox_next_due_for(None)
    }

    /// The earliest next attempt among one sink's pending rows (`None`: every sink).
    pub fn outbox_next_due_for(&self, sink: Option<&str>) -> Result<Option<Timestamp>> {
        let s: Option<String> = self
            .sql()
            .query_opt(
                "SELECT MIN(next_attempt_at) FROM outbox
                 WHERE delivered_at IS NULL AND abandoned_at IS NULL AND (CAST(?1 AS TEXT) IS NULL OR sink = ?1)",
                &[sink.into()],
                |r| r.opt_text(0),
            )?
            .flatten();
        s.map(|s| parse_ts(&s)).transpose()
    }

    pub fn outbox_delivered(&mut self, id: i64, at: Timestamp) -> Result<()> {
        self.sql().exec(
            "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            &[id.into(), (&ts(at)).into()],
        )?;
        Ok(())
    }

    pub fn outbox_retry(&mut self, id: i64, next: Timestamp, error: &str) -> Result<()> {
        self.sql().exec(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
            &[id.into(), (&ts(next)).into(), error.into()],
        )?;
        Ok(())
    }

    pub fn outbox_abandon(&mut self, id: i64, at: Timestamp, error: &str) -> Result<()> {
        self.sql().exec(
            "UPDATE outbox SET attempts = attempts + 1, abandoned_at = ?2, last_error = ?3 WHERE id = ?1",
            &[id.into(), (&ts(at)).into(), error.into()],
        )?;
        Ok(())
    }

    pub fn outbox_stats(&self) -> Result<OutboxStats> {
        let (pending, delivered, abandoned, oldest): (i64, i64, i64, Option<String>) =
            self.sql()
                .query_opt(
                    "SELECT
                       COALESCE(SUM(CASE WHEN delivered_at IS NULL AND abandoned_at IS NULL THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN abandoned_at IS NOT NULL THEN 1 ELSE 0 END), 0),
                       MIN(CASE WHEN delivered_at IS NULL AND abandoned_at IS NULL THEN created_at END)
                     FROM outbox",
                    &[],
                    |r| Ok((r.int(0)?, r.int(1)?, r.int(2)?, r.opt_text(3)?)),
                )?
                .unwrap_or((0, 0, 0, None));
        Ok(OutboxStats {
            pending: pending as u64,
            delivered: delivered as u64,
            abandoned: abandoned as u64,
            oldest_pending: oldest.map(|s| parse_ts(&s)).transpose()?,
        })
    }

    /// Who was told about a drift: (sink, delivered_at) for delivered rows, for reports.
    pub fn deliveries(&self) -> Result<Vec<(String, String, Option<String>)>> {
        self.sql().query(
            "SELECT idempotency_key, sink, delivered_at FROM outbox ORDER BY id",
            &[],
            |r| Ok((r.text(0)?, r.text(1)?, r.opt_text(2)?)),
        )
    }
}

#[cfg(test)]
mod tests;

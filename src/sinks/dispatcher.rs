//! Drains the outbox: delivers due rows through their sink, marks them delivered, schedules a
//! retry with exponential backoff and jitter (honouring Retry-After), or abandons a row after
//! the sink's attempt limit. Delivered rows stay in the table as the record of who was told.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Notify, watch};

use super::Sinks;
use crate::metrics::{ErrorLabels, Metrics, SinkLabels};
use crate::store::{OutboxRow, StoreError, StoreHandle};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DispatchStats {
    pub delivered: u64,
    pub retried: u64,
    pub abandoned: u64,
}

pub struct Dispatcher {
    store: StoreHandle,
    sinks: watch::Receiver<Sinks>,
    wake: Arc<Notify>,
    metrics: Metrics,
}

fn now() -> Timestamp {
    crate::clock::now()
}

impl Dispatcher {
    /// `sinks` may be swapped while running (config reload).
    pub fn new(store: StoreHandle, sinks: watch::Receiver<Sinks>, metrics: Metrics) -> Self {
        Dispatcher {
            store,
            sinks,
            wake: Arc::new(Notify::new()),
            metrics,
        }
    }

    /// Notify this after committing outbox rows to deliver them at once.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Deliver every row that is due now, once.
    pub async fn run_once(&self) -> Result<DispatchStats, StoreError> {
        let mut stats = DispatchStats::default();
        loop {
            let t = now();
            let rows = self.store.call(move |db| db.outbox_due(t, 100)).await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                self.deliver(row, &mut stats).await?;
            }
        }
        self.update_gauges().await;
        Ok(stats)
    }

    /// One attempt for every pending row, due or not (shutdown drain).
    pub async fn drain_all(&self) -> Result<DispatchStats, StoreError> {
        let mut stats = DispatchStats::default();
        let mut after = 0i64;
        loop {
            let rows = self
                .store
                .call(move |db| db.outbox_pending(after, 100))
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for row in rows {
                self.deliver(row, &mut stats).await?;
            }
        }
        self.update_gauges().await;
        Ok(stats)
    }

    async fn update_gauges(&self) {
        let Ok(by_sink) = self.store.call(|db| db.outbox_pending_by_sink()).await else {
            return;
        };
        let t = now();
        self.metrics.outbox_pending.clear();
        self.metrics.outbox_oldest_age.clear();
        for (sink, n, oldest) in by_sink {
            let l = SinkLabels { sink };
            self.metrics.outbox_pending.get_or_create(&l).set(n as i64);
            let age = oldest.map(|o| t.duration_since(o).as_secs()).unwrap_or(0);
            self.metrics.outbox_oldest_age.get_or_create(&l).set(age);
        }
    }

    async fn deliver(&self, row: OutboxRow, stats: &mut DispatchStats) -> Result<(), StoreError> {
        let id = row.id;
        let labels = SinkLabels {
            sink: row.sink.clone(),
        };
        let sink = self.sinks.borrow().get(&row.sink);
        let Some(sink) = sink else {
            let msg = format!("sink `{}` is no longer configured", row.sink);
            tracing::error!(outbox_id = id, sink = %row.sink, "{msg}");
            stats.abandoned += 1;
            self.metrics.alerts_abandoned.get_or_create(&labels).inc();
            let t = now();
            return self
                .store
                .call(move |db| db.outbox_abandon(id, t, &msg))
                .await;
        };
        let result = sink.deliver(&row.idempotency_key, &row.payload).await;
        let t = now();
        match result {
            Ok(()) => {
                tracing::info!(outbox_id = id, sink = %row.sink, key = %row.idempotency_key, attempts = row.attempts + 1, "alert delivered");
                stats.delivered += 1;
                self.metrics.alerts_delivered.get_or_create(&labels).inc();
                self.store.call(move |db| db.outbox_delivered(id, t)).await
            }
            Err(e) if !e.retryable || row.attempts + 1 >= sink.max_attempts() => {
                tracing::error!(outbox_id = id, sink = %row.sink, key = %row.idempotency_key, attempts = row.attempts + 1, error = %e, "alert delivery abandoned");
                stats.abandoned += 1;
                self.metrics.alerts_failed.get_or_create(&labels).inc();
                self.metrics.alerts_abandoned.get_or_create(&labels).inc();
                let msg = e.message;
                self.store
                    .call(move |db| db.outbox_abandon(id, t, &msg))
                    .await
            }
            Err(e) => {
                let wait = backoff(row.attempts, e.retry_after, id as u64);
                let next = t
                    .checked_add(
                        SignedDuration::try_from(wait).unwrap_or(SignedDuration::from_secs(60)),
                    )
                    .unwrap_or(t);
                tracing::warn!(outbox_id = id, sink = %row.sink, attempts = row.attempts + 1, retry_in_secs = wait.as_secs(), error = %e, "alert delivery failed; will retry");
                stats.retried += 1;
                self.metrics.alerts_failed.get_or_create(&labels).inc();
                let msg = e.message;
                self.store
                    .call(move |db| db.outbox_retry(id, next, &msg))
                    .await
            }
        }
    }

    /// Deliver until `stop` turns true, then return (the daemon drains with a bound).
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Self {
        loop {
            if let Err(e) = self.run_once().await {
                self.metrics
                    .store_errors
                    .get_or_create(&ErrorLabels {
                        kind: e.label().into(),
                    })
                    .inc();
                tracing::error!(error = %e, "outbox dispatch failed");
            }
            if *stop.borrow() {
                break;
            }
            let wait = match self.store.call(|db| db.outbox_next_due()).await {
                Ok(Some(t)) => {
                    let d = t.duration_since(now());
                    Duration::try_from(d)
                        .unwrap_or(Duration::ZERO)
                        .min(Duration::from_secs(5))
                }
                _ => Duration::from_secs(5),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => {}
            }
        }
        self
    }
}

/// Delay before the next attempt: Retry-After when given (capped at 1 h), else 2 s doubling
/// per attempt up to 10 min, with ±20 % jitter derived from `seed` so rows spread out.
pub fn backoff(attempts: u32, retry_after: Option<Duration>, seed: u64) -> Duration {
    if let Some(r) = retry_after {
        return r.min(Duration::from_secs(3600));
    }
    let base = 2u64.saturating_mul(1u64 << attempts.min(20)).min(600);
    // Cheap deterministic spread (splitmix64 of seed and attempt).
    let mut x = seed ^ (u64::from(attempts) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    let permille = 800 + (x % 401); // 0.8 .. 1.2
    Duration::from_millis(base * permille)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let secs = |a| backoff(a, None, 7).as_secs_f64();
        assert!((1.6..=2.4).contains(&secs(0)), "{}", secs(0));
        assert!((3.2..=4.8).contains(&secs(1)), "{}", secs(1));
        assert!((480.0..=720.0).contains(&secs(30)), "{}", secs(30));
        assert_eq!(
            backoff(3, Some(Duration::from_secs(17)), 7),
            Duration::from_secs(17)
        );
        assert_eq!(
            backoff(3, Some(Duration::from_secs(99_999)), 7),
            Duration::from_secs(3600)
        );
        assert_ne!(
            backoff(2, None, 1),
            backoff(2, None, 2),
            "jitter spreads rows"
        );
    }
}

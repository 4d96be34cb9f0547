//! Drains the outbox, one loop per sink (a sink that answers slowly or not at all never holds
//! up another's alerts): delivers due rows through their sink, marks them delivered, schedules a
//! retry with exponential backoff and jitter (honouring Retry-After, capped at 10 minutes),
//! and gives a row up only once it has waited `alerting.give_up_after_secs` (default 24 h; or
//! after the sink's `max_attempts`, or an answer that says retrying is pointless). A failing
//! sink is escalated once per outage (`delivery_failed` to the other sinks); every row given up
//! is ledgered. Delivered rows stay in the table as the record of who was told.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Alert, EventKind, Sinks, alert_for_system};
use crate::metrics::{ErrorLabels, Metrics, SinkLabels};
use crate::model::Severity;
use crate::store::{LedgerEvent, OutboxRow, StoreError, StoreHandle};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DispatchStats {
    pub delivered: u64,
    pub retried: u64,
    pub abandoned: u64,
}

impl DispatchStats {
    fn add(&mut self, o: &DispatchStats) {
        self.delivered += o.delivered;
        self.retried += o.retried;
        self.abandoned += o.abandoned;
    }
}

struct Inner {
    store: StoreHandle,
    sinks: watch::Receiver<Sinks>,
    metrics: Metrics,
    /// Consecutive failed deliveries per sink; reset by a success.
    failures: Mutex<HashMap<String, u32>>,
    /// Sinks already escalated in their current outage; cleared by a success.
    escalated: Mutex<HashSet<String>>,
    escalate_after: u32,
    give_up_after: SignedDuration,
}

/// Delivers the outbox. Rows of one sink run up to the sink's `concurrency` at once; rows
/// about the same drift stay in order (a resolve never overtakes its trigger).
pub struct Dispatcher {
    inner: Arc<Inner>,
    wake: Waker,
}

/// Wakes every sink's dispatch loop after alerts were committed.
#[derive(Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify_waiters();
    }
}

fn now() -> Timestamp {
    crate::clock::now()
}

/// Rows that must be delivered in order: same sink, same subject (drift or alert).
fn group_key(row: &OutboxRow) -> (String, String) {
    let subject = row
        .idempotency_key
        .split(':')
        .next()
        .unwrap_or(&row.idempotency_key)
        .to_string();
    (row.sink.clone(), subject)
}

impl Dispatcher {
    /// `sinks` may be swapped while running (config reload). After `escalate_after`
    /// consecutive failures a sink is reported down through the other sinks; a row is given
    /// up once it has waited `give_up_after`.
    pub fn new(
        store: StoreHandle,
        sinks: watch::Receiver<Sinks>,
        metrics: Metrics,
        escalate_after: u32,
        give_up_after: SignedDuration,
    ) -> Self {
        Dispatcher {
            inner: Arc::new(Inner {
                store,
                sinks,
                metrics,
                failures: Mutex::new(HashMap::new()),
                escalated: Mutex::new(HashSet::new()),
                escalate_after: escalate_after.max(1),
                give_up_after,
            }),
            wake: Waker::default(),
        }
    }

    /// Wake it after committing outbox rows to deliver them at once.
    pub fn waker(&self) -> Waker {
        self.wake.clone()
    }

    /// Deliver every row that is due now, once.
    pub async fn run_once(&self) -> Result<DispatchStats, StoreError> {
        let stats = self.inner.run_once_for(None).await?;
        self.inner.update_gauges().await;
        Ok(stats)
    }

    /// One attempt for every pending row, due or not (shutdown drain).
    pub async fn drain_all(&self) -> Result<DispatchStats, StoreError> {
        let mut stats = DispatchStats::default();
        let mut after = 0i64;
        loop {
            let rows = self
                .inner
                .store
                .call(move |db| db.outbox_pending(after, 200))
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            stats.add(&deliver_batch(&self.inner, rows).await?);
        }
        self.inner.update_gauges().await;
        Ok(stats)
    }

    /// Deliver until `stop` is cancelled, then return (the daemon drains with a bound): a
    /// loop per sink, for the configured sinks and any sink that still has rows (a sink
    /// removed by a reload has its rows given up by its loop, which then ends).
    pub async fn run(self, stop: CancellationToken) -> Self {
        let mut loops: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            let mut names: std::collections::BTreeSet<String> =
                self.inner.sinks.borrow().names().into_iter().collect();
            match self
                .inner
                .store
                .call(|db| db.outbox_pending_by_sink())
                .await
            {
                Ok(pending) => names.extend(pending.into_iter().map(|(s, _, _)| s)),
                Err(e) => self.inner.store_error(&e),
            }
            for name in names {
                if loops.get(&name).is_some_and(|h| !h.is_finished()) {
                    continue;
                }
                let task = sink_loop(
                    self.inner.clone(),
                    self.wake.clone(),
                    name.clone(),
                    stop.clone(),
                );
                loops.insert(name, tokio::spawn(task));
            }
            self.inner.update_gauges().await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = stop.cancelled() => break,
            }
        }
        for (sink, h) in loops {
            if let Err(e) = h.await {
                tracing::error!(sink = %sink, error = %e, "a sink's dispatch loop ended abnormally");
            }
        }
        self
    }
}

/// One sink's deliveries until `stop`: its due rows, then a sleep until its next row is due
/// (at most 5 s) or a wake-up. Ends early once its sink is gone and it has no rows left.
async fn sink_loop(inner: Arc<Inner>, wake: Waker, sink: String, stop: CancellationToken) {
    loop {
        // Registered before reading the store, so a commit during delivery is not missed.
        let woken = wake.0.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if let Err(e) = inner.run_once_for(Some(&sink)).await {
            inner.store_error(&e);
        }
        if stop.is_cancelled() {
            break;
        }
        let name = sink.clone();
        let next = inner
            .store
            .call(move |db| db.outbox_next_due_for(Some(&name)))
            .await;
        let wait = match next {
            Ok(Some(t)) => Duration::try_from(t.duration_since(now()))
                .unwrap_or(Duration::ZERO)
                .min(Duration::from_secs(5)),
            Ok(None) if inner.sinks.borrow().get(&sink).is_none() => break,
            _ => Duration::from_secs(5),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
            _ = &mut woken => {}
            _ = stop.cancelled() => {}
        }
    }
}

async fn deliver_batch(
    inner: &Arc<Inner>,
    rows: Vec<OutboxRow>,
) -> Result<DispatchStats, StoreError> {
    let mut groups: BTreeMap<(String, String), Vec<OutboxRow>> = BTreeMap::new();
    for row in rows {
        groups.entry(group_key(&row)).or_default().push(row);
    }
    let sinks = inner.sinks.borrow().clone();
    let mut limits: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut tasks = JoinSet::new();
    for ((sink, _), rows) in groups {
        let permits = limits
            .entry(sink.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(sinks.concurrency(&sink))))
            .clone();
        let inner = inner.clone();
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = permits.acquire_owned().await.ok();
            let mut stats = DispatchStats::default();
            for row in rows {
                inner.deliver(row, &mut stats).await?;
            }
            Ok::<_, StoreError>(stats)
        });
    }
    let mut stats = DispatchStats::default();
    let mut first_err = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(s)) => stats.add(&s),
            Ok(Err(e)) => first_err = first_err.or(Some(e)),
            Err(e) => tracing::error!(error = %e, "a delivery task ended abnormally"),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

impl Inner {
    /// Deliver the rows due now, of one sink (`None`: every sink), batch by batch.
    async fn run_once_for(
        self: &Arc<Self>,
        sink: Option<&str>,
    ) -> Result<DispatchStats, StoreError> {
        let mut stats = DispatchStats::default();
        loop {
            let t = now();
            let name = sink.map(str::to_string);
            let rows = self
                .store
                .call(move |db| db.outbox_due_for(name.as_deref(), t, 200))
                .await?;
            if rows.is_empty() {
                break;
            }
            stats.add(&deliver_batch(self, rows).await?);
        }
        Ok(stats)
    }

    fn store_error(&self, e: &StoreError) {
        self.metrics
            .store_errors
            .get_or_create(&ErrorLabels {
                kind: e.label().into(),
            })
            .inc();
        tracing::error!(error = %e, "outbox dispatch failed");
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

    /// Count a failure; true when it is the one that makes the sink "down".
    fn failed(&self, sink: &str) -> bool {
        let Ok(mut f) = self.failures.lock() else {
            return false;
        };
        let n = f.entry(sink.to_string()).or_insert(0);
        *n += 1;
        *n == self.escalate_after
    }

    fn succeeded(&self, sink: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(sink);
        }
        if let Ok(mut e) = self.escalated.lock() {
            e.remove(sink);
        }
    }

    /// True the first time in a sink's outage: only then is on-call told.
    fn first_escalation(&self, sink: &str) -> bool {
        self.escalated
            .lock()
            .map(|mut e| e.insert(sink.to_string()))
            .unwrap_or(true)
    }

    /// Ledger the failure and tell on-call through the other sinks.
    async fn escalate(&self, row: &OutboxRow, attempts: u32, error: &str, abandoned: bool) {
        let at = now();
        let at_s = at.to_string();
        let sinks = self.sinks.borrow().clone();
        let what = if abandoned {
            format!(
                "gave up on alert {} after {attempts} attempts",
                row.idempotency_key
            )
        } else {
            format!("{attempts} deliveries in a row failed")
        };
        let alert = alert_for_system(
            EventKind::DeliveryFailed,
            Severity::High,
            "",
            format!("delivery_failed:{}:{}:{}", row.sink, row.id, abandoned),
            format!("Alert sink {} is failing: {what}", row.sink),
            format!(
                "last error: {error}; {}",
                if abandoned {
                    "given-up alerts are listed by `driftwatch outbox list` and re-queued by `driftwatch outbox retry`"
                } else {
                    "alerts for it stay queued and are retried"
                }
            ),
            &at_s,
        );
        // One alert per outage; every failure worth a ledger entry still gets one.
        let items = if self.first_escalation(&row.sink) {
            sinks.outbox_items(&alert, Some(format!("sink:{}", row.sink)), &[&row.sink])
        } else {
            Vec::new()
        };
        let event = LedgerEvent::DeliveryFailed {
            sink: row.sink.clone(),
            idempotency_key: row.idempotency_key.clone(),
            attempts,
            error: error.to_string(),
            abandoned,
        };
        tracing::error!(sink = %row.sink, abandoned, to = ?items.iter().map(|i| i.sink.as_str()).collect::<Vec<_>>(), "sink failing: ledgered, and escalated once per outage");
        if let Err(e) = self
            .store
            .call(move |db| db.commit_events(at, &[event], &items))
            .await
        {
            tracing::error!(error = %e, "cannot record a delivery failure");
        }
    }

    async fn deliver(&self, row: OutboxRow, stats: &mut DispatchStats) -> Result<(), StoreError> {
        let id = row.id;
        let labels = SinkLabels {
            sink: row.sink.clone(),
        };
        let sink = self.sinks.borrow().get(&row.sink);
        let t = now();
        let Some(sink) = sink else {
            let msg = format!("sink `{}` is no longer configured", row.sink);
            tracing::error!(outbox_id = id, sink = %row.sink, "{msg}");
            stats.abandoned += 1;
            self.metrics.alerts_abandoned.get_or_create(&labels).inc();
            return self
                .store
                .call(move |db| db.outbox_abandon(id, t, &msg))
                .await;
        };
        let alert: Alert = match serde_json::from_str(&row.payload) {
            Ok(a) => a,
            Err(e) => {
                let msg = format!("outbox payload is not an alert: {e}");
                tracing::error!(outbox_id = id, sink = %row.sink, "{msg}");
                stats.abandoned += 1;
                self.metrics.alerts_abandoned.get_or_create(&labels).inc();
                return self
                    .store
                    .call(move |db| db.outbox_abandon(id, t, &msg))
                    .await;
            }
        };
        let result = sink.deliver(&row.idempotency_key, &alert).await;
        let t = now();
        let attempts = row.attempts + 1;
        match result {
            Ok(()) => {
                tracing::info!(outbox_id = id, sink = %row.sink, key = %row.idempotency_key, attempts, "alert delivered");
                stats.delivered += 1;
                self.succeeded(&row.sink);
                self.metrics.alerts_delivered.get_or_create(&labels).inc();
                crate::failpoint::hit("sinks.delivered");
                self.store.call(move |db| db.outbox_delivered(id, t)).await
            }
            Err(e)
                if !e.retryable
                    || attempts >= sink.max_attempts()
                    || t.duration_since(row.queued_at) >= self.give_up_after =>
            {
                tracing::error!(outbox_id = id, sink = %row.sink, key = %row.idempotency_key, attempts, error = %e, "alert delivery abandoned");
                stats.abandoned += 1;
                self.metrics.alerts_failed.get_or_create(&labels).inc();
                self.metrics.alerts_abandoned.get_or_create(&labels).inc();
                let msg = e.message.clone();
                self.store
                    .call(move |db| db.outbox_abandon(id, t, &msg))
                    .await?;
                // A log sink cannot be told about itself; other sinks can.
                if alert.event != EventKind::DeliveryFailed {
                    self.escalate(&row, attempts, &e.message, true).await;
                }
                Ok(())
            }
            Err(e) => {
                let wait = backoff(row.attempts, e.retry_after, id as u64);
                let next = t
                    .checked_add(
                        SignedDuration::try_from(wait).unwrap_or(SignedDuration::from_secs(60)),
                    )
                    .unwrap_or(t);
                tracing::warn!(outbox_id = id, sink = %row.sink, attempts, retry_in_secs = wait.as_secs(), error = %e, "alert delivery failed; will retry");
                stats.retried += 1;
                self.metrics.alerts_failed.get_or_create(&labels).inc();
                self.metrics.alerts_retried.get_or_create(&labels).inc();
                let msg = e.message.clone();
                self.store
                    .call(move |db| db.outbox_retry(id, next, &msg))
                    .await?;
                if self.failed(&row.sink) && alert.event != EventKind::DeliveryFailed {
                    self.escalate(&row, attempts, &e.message, false).await;
                }
                Ok(())
            }
        }
    }
}

/// Delay before the next attempt: Retry-After when given (capped at 1 h; below 1 s, as in
/// `Retry-After: 0`, it is ignored so a receiver cannot make a tight loop of it), else 2 s
/// doubling per attempt up to 10 min, with ±20 % jitter derived from `seed` so rows spread out.
pub fn backoff(attempts: u32, retry_after: Option<Duration>, seed: u64) -> Duration {
    if let Some(r) = retry_after.filter(|r| *r >= Duration::from_secs(1)) {
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
        assert_eq!(
            backoff(3, Some(Duration::ZERO), 7),
            backoff(3, None, 7),
            "Retry-After: 0 is no reason to hammer the receiver"
        );
    }
}

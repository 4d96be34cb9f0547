//! Refreshing firing alerts: a receiver that expires alerts on its own (Alertmanager drops an
//! alert at its `endsAt`) is posted the open drift's alert again once the sink's
//! `refresh_after` has passed since the last delivered post, so an unplanned change that stays
//! in place stays on on-call's screen. The re-post carries the trigger's payload and labels
//! under its own idempotency key (`DRIFT:refresh:SECONDS`), queued behind the drift's earlier
//! rows like any other, so it never overtakes a resolve.

use jiff::Timestamp;

use crate::sinks::{Alert, Sinks};
use crate::store::{OutboxEvent, OutboxItem, StoreError, StoreHandle};

/// Queue a refresh for every open drift whose alert is due one at each refreshing sink.
/// Returns how many were queued.
pub async fn run(store: &StoreHandle, sinks: &Sinks, now: Timestamp) -> Result<usize, StoreError> {
    let due: Vec<(String, jiff::SignedDuration)> = sinks
        .names()
        .into_iter()
        .filter_map(|n| {
            let every = sinks.get(&n)?.refresh_after()?;
            Some((n, every))
        })
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let items = store
        .call(move |db| {
            let mut items = Vec::new();
            for (sink, every) in &due {
                let before = now.checked_sub(*every).unwrap_or(now);
                for t in db.firing_to_refresh(sink, before)? {
                    let payload: serde_json::Value = serde_json::from_str(&t.payload)?;
                    let Ok(alert) = serde_json::from_value::<Alert>(payload.clone()) else {
                        continue;
                    };
                    items.push(OutboxItem {
                        sink: sink.clone(),
                        idempotency_key: format!("{}:refresh:{}", t.drift_id, now.as_second()),
                        payload,
                        subject: None,
                        event: OutboxEvent::Alert(alert.event),
                    });
                }
            }
            Ok(items)
        })
        .await?;
    let n = items.len();
    if n > 0 {
        tracing::info!(
            alerts = n,
            "firing alerts posted again before their receivers expire them"
        );
        store
            .call(move |db| db.commit_events(now, &[], &items))
            .await?;
    }
    Ok(n)
}

//! `driftwatch outbox list|retry`: what on-call has not been told yet, what was given up after
//! a long sink outage, and putting given-up alerts back in the queue.

use anyhow::Context;
use jiff::Timestamp;

use super::{Exit, ListFormat};
use crate::config::Config;
use crate::store::RowState;

pub fn list(cfg: Config, all: bool, format: ListFormat) -> anyhow::Result<Exit> {
    let db = crate::daemon::open_existing_store(&cfg)?;
    let rows = db.outbox_entries(all)?;
    match format {
        ListFormat::Json => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "sink": r.sink, "key": r.idempotency_key,
                        "state": r.state.as_str(), "attempts": r.attempts,
                        "created_at": r.created_at.to_string(),
                        "next_attempt_at": r.next_attempt_at.to_string(),
                        "last_error": r.last_error,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        ListFormat::Table => {
            if rows.is_empty() {
                println!("outbox empty: every alert was delivered");
            }
            for r in &rows {
                let next = match r.state {
                    RowState::Pending => format!("next attempt {}", r.next_attempt_at),
                    RowState::Abandoned => "given up".to_string(),
                    RowState::Delivered => "delivered".to_string(),
                };
                println!(
                    "{:>6}  {:<12} {:<9} {:>4} attempts  {}  {}  {}{}",
                    r.id,
                    r.sink,
                    r.state.as_str(),
                    r.attempts,
                    r.created_at,
                    r.idempotency_key,
                    next,
                    r.last_error
                        .as_deref()
                        .map(|e| format!("  last error: {e}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    let given_up = rows
        .iter()
        .filter(|r| r.state == RowState::Abandoned)
        .count();
    Ok(if given_up > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

pub fn retry(cfg: Config, sink: Option<&str>, ids: &[i64], now: Timestamp) -> anyhow::Result<Exit> {
    if let Some(s) = sink
        && !cfg.sinks.iter().any(|c| c.name() == s)
    {
        anyhow::bail!(
            "no sink named `{s}` in the config (sinks: {})",
            sink_names(&cfg)
        );
    }
    let mut db = crate::daemon::open_existing_store(&cfg)?;
    let n = db
        .outbox_requeue(sink, ids, now)
        .context("cannot re-queue given-up alerts")?;
    println!(
        "re-queued {n} given-up alert(s); a running daemon delivers them within seconds, or the next scan does"
    );
    Ok(Exit::Ok)
}

fn sink_names(cfg: &Config) -> String {
    cfg.sinks
        .iter()
        .map(|s| s.name().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

//! `driftwatch obligations` and `driftwatch drifts`: what on-call owes, and the drifts behind it.

use anyhow::Context;
use jiff::Timestamp;

use super::{Exit, ListFormat};
use crate::config::Config;
use crate::daemon::scheduler;
use crate::records::RecordSet;

fn human(d: jiff::SignedDuration) -> String {
    let m = d.as_mins().abs();
    if m >= 60 * 24 {
        format!("{}d{}h", m / (60 * 24), (m / 60) % 24)
    } else {
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

pub fn obligations(cfg: Config, format: ListFormat, now: Timestamp) -> anyhow::Result<Exit> {
    let db = crate::daemon::open_existing_store(&cfg)?;
    let mut records = RecordSet::new();
    let load = records.reload(&cfg.records.dir, &cfg.records.validation());
    for e in &load.errors {
        eprintln!("warning: {e}");
    }
    let open = db.all_open_drifts()?;
    let (obs, _) = scheduler::current(&open, records.active(), &cfg.obligations.schedule(), now);
    let overdue = obs.iter().filter(|o| o.is_overdue(now)).count();
    match format {
        ListFormat::Json => {
            let rows: Vec<serde_json::Value> = obs
                .iter()
                .map(|o| {
                    serde_json::json!({
                        "id": o.id, "kind": o.kind.as_str(), "subject": o.subject, "scope": o.scope,
                        "opened_at": o.opened_at.to_string(), "due_at": o.due_at.to_string(),
                        "overdue": o.is_overdue(now), "severity": o.severity, "what": o.what,
                        "next_step": o.next_step(now).map(|(s, t)| serde_json::json!({"step": s.as_str(), "at": t.to_string()})),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        ListFormat::Table => {
            if obs.is_empty() {
                println!("no open obligations");
            } else {
                println!("{:<44} {:<21} {:<14} WHAT", "OBLIGATION", "DUE", "STATUS");
                for o in &obs {
                    let left = o.due_at.duration_since(now);
                    let status = if o.is_overdue(now) {
                        format!("OVERDUE {}", human(left))
                    } else {
                        format!("in {}", human(left))
                    };
                    println!(
                        "{:<44} {:<21} {:<14} {}",
                        o.id,
                        o.due_at.to_string(),
                        status,
                        o.what
                    );
                }
                println!("\n{} open, {overdue} overdue", obs.len());
            }
        }
    }
    Ok(if overdue > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

pub fn drifts(cfg: Config, all: bool, format: ListFormat) -> anyhow::Result<Exit> {
    let db = crate::daemon::open_existing_store(&cfg)?;
    let rows = if all {
        db.recent_drifts(500)?
    } else {
        db.all_open_drifts()?
    };
    match format {
        ListFormat::Json => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "drift_id": d.drift_id, "observed_at": d.observed_at.to_string(), "scope": d.scope,
                        "kind": d.kind.to_string(), "resource": d.name, "action": d.action.as_str(),
                        "decision": d.decision.as_str(), "severity": d.severity.as_str(),
                        "record_id": d.record_id, "revert_by": d.revert_by.map(|t| t.to_string()),
                        "closed_at": d.closed.as_ref().map(|c| c.at.to_string()),
                        "closed_reason": d.closed.as_ref().map(|c| c.reason.as_str()),
                        "closed_by": d.closed.as_ref().and_then(|c| c.by.clone()),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        ListFormat::Table => {
            if rows.is_empty() {
                println!(
                    "{}",
                    if all {
                        "no drifts recorded"
                    } else {
                        "no open drifts"
                    }
                );
            }
            for d in &rows {
                let state = match &d.closed {
                    Some(c) => format!("closed ({})", c.reason.as_str()),
                    None => "open".to_string(),
                };
                println!(
                    "{}  {}  {:<9} {:<8} {:<20} {} {}",
                    d.drift_id,
                    d.observed_at,
                    d.decision.as_str(),
                    d.severity.as_str(),
                    state,
                    d.action,
                    d.name
                );
            }
        }
    }
    Ok(Exit::Ok)
}

pub fn show(cfg: Config, id: &str) -> anyhow::Result<Exit> {
    let db = crate::daemon::open_existing_store(&cfg)?;
    let d = db.drift(id)?.with_context(|| {
        format!("no drift {id} (ids look like d-7f3a9c2e; `driftwatch drifts --all` lists them)")
    })?;
    let entries = db.ledger_entries()?;
    let entry = entries
        .iter()
        .find(|e| e.seq == d.ledger_seq)
        .with_context(|| format!("ledger entry {} for {id} is missing", d.ledger_seq))?;
    let mut body: serde_json::Value = serde_json::from_str(&entry.body)?;
    // An attribution found later (LookupEvents, a late event: its own `attributed` entry)
    // stands in for the change entry's missing one.
    if body["attribution"].is_null()
        && let Some(found) = entries.iter().rev().find_map(|e| {
            if e.event_type != "attributed" {
                return None;
            }
            let v: serde_json::Value = serde_json::from_str(&e.body).ok()?;
            (v["type"] == "attributed" && v["drift_id"] == id).then_some(v)
        })
    {
        body["actor"] = found["attribution"]["actor"].clone();
        body["attribution"] = found["attribution"].clone();
    }
    println!("drift {id}  (ledger entry {})", d.ledger_seq);
    println!("  observed   {}", d.observed_at);
    println!("  scope      {}", d.scope);
    println!("  resource   {} {} ({})", d.kind, d.name, d.resource_id);
    println!("  action     {}", d.action);
    println!(
        "  decision   {} (severity {})",
        d.decision.as_str(),
        d.severity.as_str()
    );
    if let Some(r) = &d.record_id {
        println!("  record     {r}");
    }
    if let Some(r) = &d.revert_by {
        println!("  revert_by  {r}");
    }
    println!("  reason     {}", body["reason"].as_str().unwrap_or(""));
    if let Some(actor) = body["actor"].as_str() {
        println!("  actor      {actor}");
    }
    if let Ok(a) = serde_json::from_value::<crate::store::ledger::LedgerAttribution>(
        body["attribution"].clone(),
    ) {
        println!("  evidence   {}", a.evidence());
        if let Some(arn) = &a.arn {
            println!("  principal  {arn} ({})", a.identity_type);
        }
        if let Some(ua) = &a.user_agent {
            println!("  agent      {ua}");
        }
    }
    match &d.closed {
        Some(c) => println!(
            "  state      closed {} ({}{})",
            c.at,
            c.reason.as_str(),
            c.by.as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default()
        ),
        None => println!("  state      open"),
    }
    if let Some(f) = body["findings"].as_array().filter(|f| !f.is_empty()) {
        println!("  findings");
        for x in f {
            println!(
                "    {} {}",
                x["severity"].as_str().unwrap_or(""),
                x["message"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(f) = body["fields"].as_array() {
        println!("  diff");
        for x in f {
            let show = |v: &serde_json::Value| {
                if v.is_null() {
                    "∅".to_string()
                } else {
                    v.to_string()
                }
            };
            println!(
                "    {}: {} -> {}",
                x["path"].as_str().unwrap_or(""),
                show(&x["before"]),
                show(&x["after"])
            );
        }
    }
    let told: Vec<(String, String, Option<String>)> = db
        .deliveries()?
        .into_iter()
        .filter(|(k, _, _)| k.starts_with(&format!("{id}:")))
        .collect();
    if !told.is_empty() {
        println!("  alerts");
        for (key, sink, at) in told {
            println!(
                "    {key} -> {sink}: {}",
                at.as_deref().unwrap_or("not delivered yet")
            );
        }
    }
    Ok(Exit::Ok)
}

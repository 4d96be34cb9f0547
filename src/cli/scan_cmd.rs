//! `driftwatch scan`: one cycle, a summary table, an exit code for CI and cron.

use serde_json::json;

use super::{Exit, ScanFormat};
use crate::config::Config;
use crate::daemon::{CycleReport, Daemon, ScopeStatus};

pub async fn run(cfg: Config, format: ScanFormat) -> anyhow::Result<Exit> {
    let mut daemon = Daemon::build(cfg).await?;
    // With [ha]: only while no replica leads, and under a generation of its own.
    let elector = daemon.lead_once().await?;
    let report = daemon.cycle().await;
    let calls = daemon.metrics().aws_request_counts();
    let dispatch = daemon.dispatcher().run_once().await;
    let stats = daemon.store().call(|db| db.outbox_stats()).await?;
    if let Some(e) = elector {
        e.release().await;
    }
    daemon.close();
    let delivered = dispatch.as_ref().map(|d| d.delivered).unwrap_or(0);
    match format {
        ScanFormat::Table => print!("{}", table(&report, delivered, stats.pending)),
        ScanFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&as_json(&report, delivered, stats.pending, &calls))?
        ),
    }
    dispatch?;
    Ok(if report.failed() > 0 {
        Exit::Error
    } else if report.unplanned() > 0 || report.held() > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

fn status_text(s: &ScopeStatus) -> String {
    match s {
        ScopeStatus::Baseline => "baseline".into(),
        ScopeStatus::Compared => "ok".into(),
        ScopeStatus::Recovered => "recovered".into(),
        ScopeStatus::Held { .. } => "HELD (mass delete)".into(),
        ScopeStatus::Failed { kind, blind, .. } => {
            format!(
                "FAILED ({}){}",
                kind.as_str(),
                if *blind { " BLIND" } else { "" }
            )
        }
    }
}

pub fn table(r: &CycleReport, delivered: u64, pending: u64) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "{:<34} {:<22} {:>9} {:>7} {:>7} {:>9} {:>9}\n",
        "SCOPE", "STATUS", "RESOURCES", "CHANGES", "MATCHED", "UNMATCHED", "VIOLATION"
    ));
    for s in &r.scopes {
        let count = |k: crate::model::DecisionKind| {
            s.changes.iter().filter(|c| c.decision.kind() == k).count()
        };
        o.push_str(&format!(
            "{:<34} {:<22} {:>9} {:>7} {:>7} {:>9} {:>9}\n",
            s.scope.to_string(),
            status_text(&s.status),
            s.resources,
            s.changes.len(),
            count(crate::model::DecisionKind::Matched),
            count(crate::model::DecisionKind::Unmatched),
            count(crate::model::DecisionKind::Violation),
        ));
    }
    for s in &r.scopes {
        if let ScopeStatus::Held { deletes, stored } = &s.status {
            o.push_str(&format!(
                "\n{}: this poll would delete {deletes} of {stored} stored resources, more than sources.max_delete_fraction; nothing recorded, the next poll must agree before the deletes count\n",
                s.scope
            ));
        }
        if let ScopeStatus::Failed {
            message,
            consecutive,
            ..
        } = &s.status
        {
            o.push_str(&format!(
                "\n{}: poll failed ({consecutive} in a row), stored state kept: {message}\n",
                s.scope
            ));
        }
        if !s.exposures.is_empty() {
            o.push_str(&format!(
                "\nPre-existing exposure in {} (baseline, not alerted):\n",
                s.scope
            ));
            for e in &s.exposures {
                for f in &e.findings {
                    o.push_str(&format!("  {:<8} {}\n", f.severity.as_str(), f.message));
                }
            }
        }
        if !s.changes.is_empty() {
            o.push_str(&format!("\nChanges in {}:\n", s.scope));
        }
        for c in &s.changes {
            o.push_str(&format!(
                "  {}  {:<9} {:<8} {}\n",
                c.change.drift_id(),
                if crate::daemon::is_pure_revert(c) {
                    "REVERT".to_string()
                } else {
                    c.decision.kind().as_str().to_uppercase()
                },
                c.severity.as_str(),
                c.change.summary()
            ));
            for f in &c.findings {
                o.push_str(&format!("      finding: {}\n", f.message));
            }
            if !c.reverts.is_empty() {
                o.push_str(&format!(
                    "      reverts: {} (closed, alerts resolved)\n",
                    c.reverts.join(", ")
                ));
            }
            o.push_str(&format!("      why: {}\n", c.decision.reason()));
        }
    }
    for e in &r.record_errors {
        o.push_str(&format!("\nrecord rejected: {e}"));
    }
    if !r.record_errors.is_empty() {
        o.push('\n');
    }
    for e in &r.store_errors {
        o.push_str(&format!("\nerror: {e}\n"));
    }
    o.push_str(&format!(
        "\n{} change records active; {} unplanned change(s); alerts delivered {delivered}, pending {pending}\n",
        r.records_active,
        r.unplanned()
    ));
    o
}

fn as_json(
    r: &CycleReport,
    delivered: u64,
    pending: u64,
    calls: &[(String, String, String, u64)],
) -> serde_json::Value {
    let scopes: Vec<serde_json::Value> = r
        .scopes
        .iter()
        .map(|s| {
            json!({
                "scope": s.scope.to_string(),
                "status": status_text(&s.status),
                "error": match &s.status {
                    ScopeStatus::Failed { message, .. } => Some(message.as_str()),
                    _ => None,
                },
                "resources": s.resources,
                "exposures": s.exposures.iter().flat_map(|e| e.findings.iter().map(|f| json!({
                    "resource": e.resource.name, "severity": f.severity, "rule": f.rule, "message": f.message,
                }))).collect::<Vec<_>>(),
                "changes": s.changes.iter().map(|c| json!({
                    "drift_id": c.change.drift_id(),
                    "action": c.change.action,
                    "kind": c.change.key.kind,
                    "resource": c.change.name(),
                    "summary": c.change.summary(),
                    "severity": c.severity,
                    "findings": c.findings,
                    "decision": c.decision,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "scopes": scopes,
        "record_errors": r.record_errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "records_active": r.records_active,
        "unplanned": r.unplanned(),
        "failed": r.failed(),
        "alerts_delivered": delivered,
        "alerts_pending": pending,
        "aws_requests": calls.iter().map(|(a, s, o, n)| json!({"account": a, "service": s, "operation": o, "calls": n})).collect::<Vec<_>>(),
    })
}

//! Markdown rendering of the period report. Every user-controlled value is escaped so a
//! resource name cannot break the table.

use std::fmt::Write;

use super::Report;

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

pub fn render_markdown(r: &Report) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(r, &mut o);
    o
}

fn write_report(r: &Report, o: &mut String) -> std::fmt::Result {
    writeln!(o, "# driftwatch change report\n")?;
    writeln!(
        o,
        "Period: {} to {} (UTC). Generated {}.\n",
        r.since, r.until, r.generated_at
    )?;
    writeln!(o, "## Ledger integrity\n")?;
    if r.ledger.verified {
        writeln!(
            o,
            "Verified: {} entries, hash chain intact. Head hash `{}` (verified {}).\n",
            r.ledger.entries, r.ledger.head_hash, r.ledger.verified_at
        )?;
    } else {
        writeln!(
            o,
            "**VERIFICATION FAILED** ({} entries):\n",
            r.ledger.entries
        )?;
        for p in &r.ledger.problems {
            writeln!(o, "- {}", esc(p))?;
        }
        writeln!(o)?;
    }
    writeln!(o, "## Summary\n")?;
    let t = &r.totals;
    writeln!(o, "| changes | matched | unmatched | violations |")?;
    writeln!(o, "|---:|---:|---:|---:|")?;
    writeln!(
        o,
        "| {} | {} | {} | {} |\n",
        t.changes, t.matched, t.unmatched, t.violations
    )?;
    writeln!(
        o,
        "By severity: {}\n",
        t.by_severity
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(o, "## Coverage\n")?;
    writeln!(o, "| scope | baseline | failed polls | blind periods |")?;
    writeln!(o, "|---|---|---:|---|")?;
    for s in &r.scopes {
        let blind = if s.blind_periods.is_empty() {
            "none".to_string()
        } else {
            s.blind_periods
                .iter()
                .map(|p| {
                    format!(
                        "{} .. {}",
                        p.since,
                        p.until.as_deref().unwrap_or("still blind")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        writeln!(
            o,
            "| {} | {} | {} | {} |",
            esc(&s.scope),
            s.baseline_at.as_deref().unwrap_or("never"),
            s.failed_polls,
            blind
        )?;
    }
    writeln!(o, "\n## Changes\n")?;
    if r.changes.is_empty() {
        writeln!(o, "No changes in the period.\n")?;
    } else {
        writeln!(
            o,
            "| observed | drift | decision | severity | scope | resource | action | fields | findings | record | reason | alerted |"
        )?;
        writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|")?;
        for c in &r.changes {
            let e = &c.entry;
            let fields: Vec<&str> = e.fields.iter().map(|f| f.path.as_str()).collect();
            let findings: Vec<&str> = e.findings.iter().map(|f| f.message.as_str()).collect();
            let alerts: Vec<String> = c
                .alerts
                .iter()
                .map(|a| {
                    format!(
                        "{} {}",
                        a.sink,
                        a.delivered_at.as_deref().unwrap_or("(pending)")
                    )
                })
                .collect();
            writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                e.observed_at,
                e.drift_id,
                e.decision.as_str(),
                e.severity,
                esc(&e.scope),
                esc(&e.name),
                e.action,
                esc(&fields.join(", ")),
                esc(&findings.join("; ")),
                esc(e.record_id.as_deref().unwrap_or("-")),
                esc(&e.reason),
                esc(&alerts.join("; "))
            )?;
        }
        writeln!(o)?;
    }
    writeln!(o, "## Pre-existing exposure at baseline\n")?;
    if r.baseline_exposures.is_empty() {
        writeln!(o, "None.\n")?;
    } else {
        for x in &r.baseline_exposures {
            for f in &x.exposure.findings {
                writeln!(
                    o,
                    "- {} {}: {} ({})",
                    x.at,
                    esc(&x.scope),
                    esc(&f.message),
                    f.severity
                )?;
            }
        }
        writeln!(o)?;
    }
    writeln!(o, "## Change records\n")?;
    writeln!(
        o,
        "| id | type | title | requested by | approved by | window | used by | file |"
    )?;
    writeln!(o, "|---|---|---|---|---|---|---|---|")?;
    for rec in &r.records {
        writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            esc(&rec.id),
            rec.record_type,
            esc(&rec.title),
            esc(&rec.requested_by),
            esc(&rec.approved_by.join(", ")),
            rec.window.as_deref().unwrap_or("-"),
            if rec.used_by.is_empty() {
                "unused".to_string()
            } else {
                rec.used_by.join(", ")
            },
            esc(&rec.origin)
        )?;
    }
    Ok(())
}

//! Markdown rendering of the period report. Every user-controlled value is escaped so a
//! resource name cannot break the table.

use std::fmt::Write;

use super::{
    Counts, Report, alerts_summary, blind_summary, fields_summary, findings_summary,
    record_use_summary, rejections_summary,
};

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
    let t = &r.totals.all;
    writeln!(
        o,
        "| changes | matched | unmatched | violations | reverted |"
    )?;
    writeln!(o, "|---:|---:|---:|---:|---:|")?;
    writeln!(
        o,
        "| {} | {} | {} | {} | {} |\n",
        t.changes, t.matched, t.unmatched, t.violations, t.reverted
    )?;
    let by = |m: &std::collections::BTreeMap<String, Counts>| {
        m.iter()
            .map(|(k, v)| format!("{k} {}", v.changes))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(o, "By severity: {}\n", by(&r.totals.by_severity))?;
    writeln!(o, "By month: {}\n", by(&r.totals.by_month))?;
    writeln!(o, "## Coverage\n")?;
    writeln!(o, "| scope | baseline | failed polls | blind periods |")?;
    writeln!(o, "|---|---|---:|---|")?;
    for s in &r.scopes {
        let blind = blind_summary(s);
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
            "| observed | drift | decision | severity | scope | resource | action | fields | findings | record | reason | retrospective | alerted |"
        )?;
        writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")?;
        for c in &r.changes {
            let e = &c.entry;
            writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                e.observed_at,
                e.drift_id,
                e.decision.as_str(),
                e.severity,
                esc(&e.scope),
                esc(&e.name),
                e.action,
                esc(&fields_summary(e)),
                esc(&findings_summary(e)),
                esc(e.record_id.as_deref().unwrap_or("-")),
                esc(&e.reason),
                c.retrospective.status,
                esc(&alerts_summary(c))
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
    writeln!(o, "## Break-glass sessions\n")?;
    if r.break_glass.is_empty() {
        writeln!(o, "None.")?;
    }
    for b in &r.break_glass {
        writeln!(
            o,
            "- {} ({}): {} .. {}, {} min, closed {}, {} change(s), retrospective {}",
            esc(&b.id),
            esc(&b.requested_by),
            b.opened_at,
            b.planned_end,
            b.duration_minutes,
            b.closed_at.as_deref().unwrap_or("NO"),
            b.changes.len(),
            esc(b.retrospective.as_deref().unwrap_or("MISSING"))
        )?;
    }
    writeln!(o, "\n## Segregation of duties\n")?;
    if r.sod_violations.is_empty() {
        writeln!(
            o,
            "No record was approved by its requester or by a bot account."
        )?;
    }
    for v in &r.sod_violations {
        writeln!(
            o,
            "- {} {}:{}: {}",
            v.at,
            esc(&v.file),
            v.line,
            esc(&v.message)
        )?;
    }
    for c in &r.sod_changes {
        writeln!(
            o,
            "- {} `{}` {}: made by {}, who approved {} (CloudTrail event {})",
            c.observed_at,
            esc(&c.drift_id),
            esc(&c.resource),
            esc(&c.actor),
            esc(&c.record_id),
            esc(&c.event_id)
        )?;
    }
    if !r.rejections_by_rule.is_empty() {
        writeln!(
            o,
            "\nRejected change records in the period by rule: {}.",
            rejections_summary(&r.rejections_by_rule)
        )?;
    }
    writeln!(o, "\n## Compliance mapping\n")?;
    writeln!(
        o,
        "| framework | control | title | evidence | sections | exceptions |"
    )?;
    writeln!(o, "|---|---|---|---|---|---|")?;
    for q in &r.compliance {
        writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            q.framework,
            q.control,
            q.title,
            esc(&q.evidence),
            q.sections.join(", "),
            if q.exceptions.is_empty() {
                "none".to_string()
            } else {
                esc(&q.exceptions.join(", "))
            }
        )?;
    }
    writeln!(o, "\n## Approved, not applied\n")?;
    if r.not_applied.is_empty() {
        writeln!(
            o,
            "Every planned resource of the plans whose window closed in the period was observed."
        )?;
    }
    for n in &r.not_applied {
        writeln!(
            o,
            "- {} {}: {} {} {} (plan {}), not observed by {}",
            esc(&n.record_id),
            esc(&n.address),
            n.action,
            esc(&n.kind),
            esc(&n.resource),
            esc(&n.plan),
            n.window_end
        )?;
    }
    writeln!(o, "\n## Change records\n")?;
    writeln!(
        o,
        "| id | type | title | requested by | approved by | window | used by | file |"
    )?;
    writeln!(o, "|---|---|---|---|---|---|---|---|")?;
    for rec in &r.records {
        let used = record_use_summary(rec);
        writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            esc(&rec.id),
            rec.record_type,
            esc(&rec.title),
            esc(&rec.requested_by),
            esc(&rec.approved_by.join(", ")),
            rec.window.as_deref().unwrap_or("-"),
            used,
            esc(rec.url.as_deref().unwrap_or(&rec.origin))
        )?;
    }
    Ok(())
}

//! CSV: one table, the changes of the period, one row per change (columns in `CSV_COLUMNS`,
//! documented in docs/report.md). RFC 4180 quoting; cells that a spreadsheet would run as a
//! formula (`=`, `+`, `-`, `@` first) are prefixed with `'`, since resource names are
//! attacker-controlled.

use super::{Report, alerts_summary, fields_summary, findings_summary};

pub const CSV_COLUMNS: &[&str] = &[
    "observed_at",
    "drift_id",
    "decision",
    "severity",
    "scope",
    "kind",
    "resource_id",
    "resource",
    "action",
    "fields",
    "findings",
    "actor",
    "record_id",
    "requester",
    "approvers",
    "window",
    "evidence",
    "reason",
    "retrospective",
    "retrospective_due",
    "retrospective_filed_by",
    "closed_reason",
    "alerts",
    "ledger_seq",
];

fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn render_csv(r: &Report) -> String {
    let mut o = CSV_COLUMNS.join(",");
    o.push_str("\r\n");
    for c in &r.changes {
        let e = &c.entry;
        let row = [
            e.observed_at.clone(),
            e.drift_id.clone(),
            e.decision.as_str().to_string(),
            e.severity.as_str().to_string(),
            e.scope.clone(),
            e.kind.clone(),
            e.resource_id.clone(),
            e.name.clone(),
            e.action.as_str().to_string(),
            fields_summary(e),
            findings_summary(e),
            e.actor.clone().unwrap_or_default(),
            e.record_id.clone().unwrap_or_default(),
            c.requester.clone().unwrap_or_default(),
            c.approvers.join("; "),
            c.window.clone().unwrap_or_default(),
            c.evidence.join(" "),
            e.reason.clone(),
            c.retrospective.status.clone(),
            c.retrospective.due_at.clone().unwrap_or_default(),
            c.retrospective.filed_by.clone().unwrap_or_default(),
            c.closed
                .as_ref()
                .map(|x| x.reason.clone())
                .unwrap_or_default(),
            alerts_summary(c),
            c.ledger_seq.to_string(),
        ];
        let cells: Vec<String> = row.iter().map(|v| cell(v)).collect();
        o.push_str(&cells.join(","));
        o.push_str("\r\n");
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting_and_formula_guard() {
        assert_eq!(super::cell("plain"), "plain");
        assert_eq!(super::cell("a,b"), "\"a,b\"");
        assert_eq!(super::cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(
            super::cell("=HYPERLINK(\"x\")"),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(super::cell("-1"), "'-1");
    }
}

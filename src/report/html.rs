//! HTML: one self-contained file (inline CSS, inline SVG chart, a few lines of inline script for
//! sorting and filtering, no external requests), readable in print. Every value is escaped:
//! resource names, tags and record fields are attacker-controlled.

use std::fmt::Write;

use sha2::Digest;

use super::table::{
    BREAK_GLASS, CHANGES, COMPLIANCE, COVERAGE, Cell, Column, NOT_APPLIED, RECORDS,
};
use super::{Counts, Report, rejections_summary};

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Links only for http(s) evidence; anything else is shown as text.
fn link(u: &str) -> String {
    if u.starts_with("https://") || u.starts_with("http://") {
        format!("<a href=\"{0}\" rel=\"noreferrer\">{0}</a>", esc(u))
    } else {
        esc(u)
    }
}

/// A record id, linked to its ticket when it was imported from one (http(s) only).
fn record_cell(id: Option<&str>, url: Option<&str>) -> String {
    match (id, url) {
        (Some(id), Some(u)) if u.starts_with("https://") || u.starts_with("http://") => {
            format!("<a href=\"{}\" rel=\"noreferrer\">{}</a>", esc(u), esc(id))
        }
        (Some(id), _) => esc(id),
        (None, _) => "-".into(),
    }
}

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#1b1f24}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ccd;padding-bottom:.2em}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccd;border-radius:6px;padding:.6em 1em;min-width:8em}
.card b{display:block;font-size:1.8em}.ok{color:#1a7f37}.bad{color:#cf222e}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:.3em .45em;text-align:left;vertical-align:top}
th{background:#f6f8fa;cursor:pointer;user-select:none}tr.unmatched td:first-child,tr.violation td:first-child{border-left:4px solid #cf222e}
tr.matched td:first-child{border-left:4px solid #1a7f37}input.filter{margin:.3em 0;padding:.3em;width:20em}
code{font-size:.9em}.muted{color:#57606a}
@media print{input.filter{display:none}th{cursor:auto}body{margin:0}a{color:inherit}}
"#;

const SCRIPT: &str = r#"
document.querySelectorAll('table.data').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
    var b=t.tBodies[0],r=Array.prototype.slice.call(b.rows),d=th.dataset.dir==='a'?'d':'a';th.dataset.dir=d;
    r.sort(function(x,y){var p=x.cells[i].textContent,q=y.cells[i].textContent;var c=p.localeCompare(q,undefined,{numeric:true});return d==='a'?c:-c;});
    r.forEach(function(row){b.appendChild(row);});});});});
document.querySelectorAll('input.filter').forEach(function(f){f.addEventListener('input',function(){
  var t=document.getElementById(f.dataset.table),q=f.value.toLowerCase();
  Array.prototype.forEach.call(t.tBodies[0].rows,function(r){r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':'';});});});
"#;

/// A cell as HTML (escaped; links only to http(s) URLs).
fn cell(c: &Cell<'_>) -> String {
    match c {
        Cell::Text(s) => esc(s),
        Cell::Code(s) => format!("<code>{}</code>", esc(s)),
        Cell::Noted(s, note) => match note {
            Some(n) => format!("{}<br><span class=\"muted\">{}</span>", esc(s), esc(n)),
            None => esc(s),
        },
        Cell::Time(t, none) => esc(t.unwrap_or(none)),
        Cell::Number(n) => n.to_string(),
        Cell::Links(urls) => urls
            .iter()
            .map(|u| link(u))
            .collect::<Vec<_>>()
            .join("<br>"),
        Cell::Record { id, url } => record_cell(*id, *url),
        Cell::Source { url, name } => match url {
            Some(u) => link(u),
            None => esc(name),
        },
        Cell::Anchors(names) => names
            .iter()
            .map(|s| format!("<a href=\"#{0}\">{0}</a>", esc(s)))
            .collect::<Vec<_>>()
            .join(", "),
        Cell::Listed([], _, none) => esc(none),
        Cell::Listed(items, sep, _) => esc(&items.join(sep)),
    }
}

/// A filterable, sortable table: `head`, then each row's class and already rendered cells.
fn table(
    o: &mut String,
    id: &str,
    head: &[&str],
    rows: impl Iterator<Item = (String, Vec<String>)>,
) -> std::fmt::Result {
    writeln!(
        o,
        "<input class=\"filter\" data-table=\"{id}\" placeholder=\"Filter…\" aria-label=\"Filter {id}\">"
    )?;
    writeln!(o, "<table class=\"data\" id=\"{id}\"><thead><tr>")?;
    for h in head {
        write!(o, "<th>{}</th>", esc(h))?;
    }
    writeln!(o, "</tr></thead><tbody>")?;
    for (class, cells) in rows {
        write!(o, "<tr class=\"{}\">", esc(&class))?;
        for c in cells {
            write!(o, "<td>{c}</td>")?;
        }
        writeln!(o, "</tr>")?;
    }
    writeln!(o, "</tbody></table>")
}

/// A table of `columns` (those the HTML shows), one row per item, classed by `class`.
fn column_table<R>(
    o: &mut String,
    id: &str,
    columns: &[Column<R>],
    rows: &[R],
    class: impl Fn(&R) -> &'static str,
) -> std::fmt::Result {
    let shown: Vec<(&str, &Column<R>)> = columns
        .iter()
        .filter_map(|c| c.html.map(|h| (h, c)))
        .collect();
    let head: Vec<&str> = shown.iter().map(|(h, _)| *h).collect();
    let rows = rows.iter().map(|r| {
        let cells = shown.iter().map(|(_, c)| cell(&(c.cell)(r))).collect();
        (class(r).to_string(), cells)
    });
    table(o, id, &head, rows)
}

/// Matched / unmatched+violations per month, as stacked bars.
fn chart(r: &Report) -> String {
    let months: Vec<(&String, &Counts)> = r.totals.by_month.iter().collect();
    if months.is_empty() {
        return "<p class=\"muted\">No changes in the period.</p>".into();
    }
    let max = months
        .iter()
        .map(|(_, c)| c.changes)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (w, h, bar) = (60.0 * months.len() as f64 + 40.0, 180.0, 36.0);
    let mut s = format!(
        "<svg role=\"img\" aria-label=\"Matched versus unplanned changes per month\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\">",
        h + 40.0,
        h + 40.0
    );
    for (i, (m, c)) in months.iter().enumerate() {
        let x = 30.0 + i as f64 * 60.0;
        let planned = c.matched as f64 / max * h;
        let unplanned = (c.unmatched + c.violations) as f64 / max * h;
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{planned}\" fill=\"#1a7f37\"><title>{} matched</title></rect>\
             <rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{unplanned}\" fill=\"#cf222e\"><title>{} unmatched or violating</title></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            h - planned,
            c.matched,
            h - planned - unplanned,
            c.unmatched + c.violations,
            x + bar / 2.0,
            h + 16.0,
            esc(m)
        );
    }
    s.push_str("</svg><p class=\"muted\">Green: matched by a change record. Red: unmatched or violating.</p>");
    s
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                o.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

pub fn render_html(r: &Report) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = write_html(r, &mut o);
    o
}

fn write_html(r: &Report, o: &mut String) -> std::fmt::Result {
    let t = &r.totals.all;
    writeln!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    )?;
    // Only our own script may run (its hash), even if an escaping bug let markup through.
    let script_hash = base64(&sha2::Sha256::digest(SCRIPT.as_bytes()));
    writeln!(
        o,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; img-src data:\">"
    )?;
    writeln!(
        o,
        "<title>driftwatch change report {} to {}</title><style>{STYLE}</style></head><body>",
        esc(&r.since),
        esc(&r.until)
    )?;
    writeln!(
        o,
        "<h1>Change report</h1><p class=\"muted\">Period {} to {} (UTC), generated {} by driftwatch. Schema version {}.</p>",
        esc(&r.since),
        esc(&r.until),
        esc(&r.generated_at),
        r.schema_version
    )?;
    writeln!(o, "<div class=\"cards\">")?;
    for (id, label, n, class) in [
        ("total-changes", "changes", t.changes, ""),
        ("total-matched", "matched", t.matched, "ok"),
        (
            "total-unmatched",
            "unmatched",
            t.unmatched,
            if t.unmatched > 0 { "bad" } else { "" },
        ),
        (
            "total-violations",
            "violations",
            t.violations,
            if t.violations > 0 { "bad" } else { "" },
        ),
        ("total-reverted", "reverted", t.reverted, ""),
    ] {
        writeln!(
            o,
            "<div class=\"card\"><b id=\"{id}\" class=\"{class}\">{n}</b>{label}</div>"
        )?;
    }
    writeln!(o, "</div>")?;
    writeln!(o, "<h2 id=\"ledger\">Ledger integrity</h2>")?;
    if r.ledger.verified {
        writeln!(
            o,
            "<p id=\"ledger-status\" class=\"ok\">Verified intact: {} entries, head hash <code>{}</code>, verified {}.</p>",
            r.ledger.entries,
            esc(&r.ledger.head_hash),
            esc(&r.ledger.verified_at)
        )?;
    } else {
        writeln!(
            o,
            "<p id=\"ledger-status\" class=\"bad\">VERIFICATION FAILED ({} entries):</p><ul>",
            r.ledger.entries
        )?;
        for p in &r.ledger.problems {
            writeln!(o, "<li>{}</li>", esc(p))?;
        }
        writeln!(o, "</ul>")?;
    }
    writeln!(o, "<h2>Matched versus unplanned over time</h2>{}", chart(r))?;
    writeln!(o, "<h2 id=\"coverage\">Coverage</h2>")?;
    column_table(o, "coverage-table", &COVERAGE, &r.scopes, |s| {
        if s.blind_periods.is_empty() {
            ""
        } else {
            "violation"
        }
    })?;
    writeln!(o, "<h2 id=\"changes\">Changes</h2>")?;
    column_table(o, "changes-table", &CHANGES, &r.changes, |c| {
        c.entry.decision.as_str()
    })?;
    writeln!(
        o,
        "<h2 id=\"exposure\">Pre-existing exposure at baseline</h2>"
    )?;
    let rows = r.baseline_exposures.iter().flat_map(|x| {
        x.exposure.findings.iter().map(move |f| {
            let cells = [
                x.at.as_str(),
                &x.scope,
                &x.exposure.name,
                f.severity.as_str(),
                &f.message,
            ];
            (String::new(), cells.iter().map(|c| esc(c)).collect())
        })
    });
    table(
        o,
        "exposure-table",
        &["Baseline", "Scope", "Resource", "Severity", "Finding"],
        rows,
    )?;
    writeln!(o, "<h2 id=\"break_glass\">Break-glass sessions</h2>")?;
    column_table(o, "break-glass-table", &BREAK_GLASS, &r.break_glass, |b| {
        if b.retrospective.is_none() {
            "violation"
        } else {
            ""
        }
    })?;
    writeln!(o, "<h2 id=\"sod_violations\">Segregation of duties</h2>")?;
    let rows = r.sod_violations.iter().map(|v| {
        let cells = [
            v.at.clone(),
            format!("{}:{}", v.file, v.line),
            v.message.clone(),
        ];
        (
            "violation".to_string(),
            cells.iter().map(|c| esc(c)).collect(),
        )
    });
    table(o, "sod-table", &["When", "Where", "What"], rows)?;
    if !r.sod_changes.is_empty() {
        writeln!(
            o,
            "<p>Changes made by an approver of the record that covered them (CloudTrail):</p>"
        )?;
        let rows = r.sod_changes.iter().map(|c| {
            let cells = [
                c.observed_at.clone(),
                c.drift_id.clone(),
                c.resource.clone(),
                c.actor.clone(),
                c.record_id.clone(),
                c.event_id.clone(),
            ];
            (
                "violation".to_string(),
                cells.iter().map(|c| esc(c)).collect(),
            )
        });
        table(
            o,
            "sod-changes-table",
            &[
                "When",
                "Drift",
                "Resource",
                "Made by",
                "Record",
                "CloudTrail event",
            ],
            rows,
        )?;
    }
    if !r.rejections_by_rule.is_empty() {
        writeln!(
            o,
            "<p id=\"rejections\" class=\"muted\">Rejected change records in the period by rule: {}.</p>",
            esc(&rejections_summary(&r.rejections_by_rule))
        )?;
    }
    writeln!(o, "<h2 id=\"not_applied\">Approved, not applied</h2>")?;
    if r.not_applied.is_empty() {
        writeln!(
            o,
            "<p class=\"muted\">Every planned resource of the plans whose window closed in the period was observed.</p>"
        )?;
    } else {
        column_table(o, "not-applied-table", &NOT_APPLIED, &r.not_applied, |_| "")?;
    }
    writeln!(o, "<h2 id=\"records\">Change records</h2>")?;
    column_table(o, "records-table", &RECORDS, &r.records, |_| "")?;
    writeln!(o, "<h2 id=\"compliance\">Compliance mapping</h2>")?;
    column_table(o, "compliance-table", &COMPLIANCE, &r.compliance, |q| {
        if q.exceptions.is_empty() {
            "matched"
        } else {
            "violation"
        }
    })?;
    writeln!(o, "<script>{SCRIPT}</script></body></html>")
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(
            super::esc("<script>\"x'&"),
            "&lt;script&gt;&quot;x&#39;&amp;"
        );
        assert_eq!(super::link("javascript:alert(1)"), "javascript:alert(1)");
    }

    #[test]
    fn imported_records_link_to_their_ticket() {
        let cases = [
            (
                Some("acme/infra#42"),
                Some("https://github.com/acme/infra/pull/42"),
                "<a href=\"https://github.com/acme/infra/pull/42\" rel=\"noreferrer\">acme/infra#42</a>",
            ),
            (Some("STD-1"), None, "STD-1"),
            (Some("X<1>"), Some("javascript:alert(1)"), "X&lt;1&gt;"),
            (None, None, "-"),
        ];
        for (id, url, want) in cases {
            assert_eq!(super::record_cell(id, url), want, "{id:?} {url:?}");
        }
    }
}

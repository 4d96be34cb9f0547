//! CSV: one table, the changes of the period, one row per change (the columns of
//! `table::CHANGES` the CSV shows, named in `CSV_COLUMNS` and documented in docs/report.md).
//! RFC 4180 quoting; cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`
//! first) are prefixed with `'`, since resource names are attacker-controlled.

use std::sync::LazyLock;

use super::Report;
use super::table::CHANGES;

/// The CSV's header: the changes table's columns the CSV shows (docs/report.md lists them).
pub static CSV_COLUMNS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| CHANGES.iter().filter_map(|c| c.csv).collect());

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
    let shown: Vec<_> = CHANGES.iter().filter(|c| c.csv.is_some()).collect();
    for c in &r.changes {
        let cells: Vec<String> = shown
            .iter()
            .map(|col| cell(&(col.cell)(c).text()))
            .collect();
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

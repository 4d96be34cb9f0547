//! XLSX (rust_xlsxwriter): a Summary sheet and one sheet per table, frozen header rows,
//! autofilters, times as real Excel date-times (UTC).

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::Report;
use super::table::{
    BREAK_GLASS, CHANGES, COMPLIANCE, COVERAGE, Cell, Column, NOT_APPLIED, RECORDS,
};

fn date(s: &str) -> Option<ExcelDateTime> {
    let t: jiff::Timestamp = s.parse().ok()?;
    let d = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)
        .ok()?
        .and_hms(d.hour() as u16, d.minute() as u8, d.second() as f64)
        .ok()
}

struct Sheet<'a> {
    ws: &'a mut Worksheet,
    row: u32,
    date: Format,
}

impl Sheet<'_> {
    fn header(&mut self, cols: &[&str]) -> Result<(), XlsxError> {
        let bold = Format::new().set_bold();
        for (i, c) in cols.iter().enumerate() {
            self.ws.write_string_with_format(0, i as u16, *c, &bold)?;
        }
        self.ws.set_freeze_panes(1, 0)?;
        self.row = 1;
        Ok(())
    }

    fn text(&mut self, col: u16, v: &str) -> Result<(), XlsxError> {
        // Excel cells hold at most 32 767 characters.
        let v: String = v.chars().take(32_000).collect();
        self.ws.write_string(self.row, col, v)?;
        Ok(())
    }

    fn time(&mut self, col: u16, v: &str) -> Result<(), XlsxError> {
        match date(v) {
            Some(d) => {
                self.ws
                    .write_datetime_with_format(self.row, col, &d, &self.date)?;
            }
            None => {
                self.ws.write_string(self.row, col, v)?;
            }
        }
        Ok(())
    }

    fn num(&mut self, col: u16, v: f64) -> Result<(), XlsxError> {
        self.ws.write_number(self.row, col, v)?;
        Ok(())
    }

    /// Write `cell` in `col` of the current row: times as date-times (nothing when absent),
    /// numbers as numbers, the rest as text.
    fn cell(&mut self, col: u16, cell: &Cell<'_>) -> Result<(), XlsxError> {
        match cell {
            Cell::Time(Some(t), _) => self.time(col, t),
            Cell::Time(None, _) => Ok(()),
            Cell::Number(n) => self.num(col, *n as f64),
            other => self.text(col, &other.text()),
        }
    }

    fn finish(&mut self, cols: usize) -> Result<(), XlsxError> {
        let last = self.row.saturating_sub(1).max(1);
        self.ws
            .autofilter(0, 0, last, (cols as u16).saturating_sub(1))?;
        self.ws.autofit();
        Ok(())
    }
}

/// A sheet of `columns` (those the workbook shows), one row per item.
fn column_sheet<R>(
    wb: &mut Workbook,
    name: &str,
    columns: &[Column<R>],
    rows: &[R],
) -> Result<(), XlsxError> {
    let shown: Vec<(&str, &Column<R>)> = columns
        .iter()
        .filter_map(|c| c.xlsx.map(|h| (h, c)))
        .collect();
    let head: Vec<&str> = shown.iter().map(|(h, _)| *h).collect();
    let mut s = sheet(wb, name)?;
    s.header(&head)?;
    for r in rows {
        for (i, (_, c)) in shown.iter().enumerate() {
            s.cell(i as u16, &(c.cell)(r))?;
        }
        s.row += 1;
    }
    s.finish(head.len())
}

fn sheet<'a>(wb: &'a mut Workbook, name: &str) -> Result<Sheet<'a>, XlsxError> {
    let ws = wb.add_worksheet();
    ws.set_name(name)?;
    Ok(Sheet {
        ws,
        row: 0,
        date: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
    })
}

pub fn render_xlsx(r: &Report) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    {
        let mut s = sheet(&mut wb, "Summary")?;
        let t = &r.totals.all;
        let rows: Vec<(&str, String)> = vec![
            ("Period start (UTC)", r.since.clone()),
            ("Period end (UTC)", r.until.clone()),
            ("Generated", r.generated_at.clone()),
            ("Changes", t.changes.to_string()),
            ("Matched", t.matched.to_string()),
            ("Unmatched", t.unmatched.to_string()),
            ("Violations", t.violations.to_string()),
            ("Reverted", t.reverted.to_string()),
            ("Ledger entries", r.ledger.entries.to_string()),
            (
                "Ledger verified",
                if r.ledger.verified { "yes" } else { "NO" }.to_string(),
            ),
            ("Ledger head hash", r.ledger.head_hash.clone()),
        ];
        s.header(&["Item", "Value"])?;
        for (k, v) in rows {
            s.text(0, k)?;
            match v.parse::<f64>() {
                Ok(n) if !k.contains("hash") => s.num(1, n)?,
                _ if k.starts_with("Period") || k == "Generated" => s.time(1, &v)?,
                _ => s.text(1, &v)?,
            }
            s.row += 1;
        }
        s.finish(2)?;
    }
    column_sheet(&mut wb, "Changes", &CHANGES, &r.changes)?;
    column_sheet(&mut wb, "Coverage", &COVERAGE, &r.scopes)?;
    column_sheet(&mut wb, "Records", &RECORDS, &r.records)?;
    column_sheet(&mut wb, "Break-glass", &BREAK_GLASS, &r.break_glass)?;
    column_sheet(&mut wb, "Not applied", &NOT_APPLIED, &r.not_applied)?;
    column_sheet(&mut wb, "Compliance", &COMPLIANCE, &r.compliance)?;
    wb.save_to_buffer()
}

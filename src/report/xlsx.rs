//! XLSX (rust_xlsxwriter): a Summary sheet and one sheet per table, frozen header rows,
//! autofilters, times as real Excel date-times (UTC).

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::{Report, alerts_summary, fields_summary, findings_summary};

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

    fn finish(&mut self, cols: usize) -> Result<(), XlsxError> {
        let last = self.row.saturating_sub(1).max(1);
        self.ws
            .autofilter(0, 0, last, (cols as u16).saturating_sub(1))?;
        self.ws.autofit();
        Ok(())
    }
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
    {
        let cols = [
            "Observed",
            "Drift",
            "Decision",
            "Severity",
            "Scope",
            "Kind",
            "Resource",
            "Action",
            "Fields",
            "Findings",
            "Record",
            "Requester",
            "Approvers",
            "Window",
            "Reason",
            "Retrospective",
            "Retrospective due",
            "Alerts",
            "Ledger seq",
        ];
        let mut s = sheet(&mut wb, "Changes")?;
        s.header(&cols)?;
        for c in &r.changes {
            let e = &c.entry;
            s.time(0, &e.observed_at)?;
            s.text(1, &e.drift_id)?;
            s.text(2, e.decision.as_str())?;
            s.text(3, e.severity.as_str())?;
            s.text(4, &e.scope)?;
            s.text(5, &e.kind)?;
            s.text(6, &e.name)?;
            s.text(7, e.action.as_str())?;
            s.text(8, &fields_summary(e))?;
            s.text(9, &findings_summary(e))?;
            s.text(10, e.record_id.as_deref().unwrap_or(""))?;
            s.text(11, c.requester.as_deref().unwrap_or(""))?;
            s.text(12, &c.approvers.join("; "))?;
            s.text(13, c.window.as_deref().unwrap_or(""))?;
            s.text(14, &e.reason)?;
            s.text(15, &c.retrospective.status)?;
            if let Some(d) = &c.retrospective.due_at {
                s.time(16, d)?;
            }
            s.text(17, &alerts_summary(c))?;
            s.num(18, c.ledger_seq as f64)?;
            s.row += 1;
        }
        s.finish(cols.len())?;
    }
    {
        let cols = ["Scope", "Baseline", "Failed polls", "Blind periods"];
        let mut s = sheet(&mut wb, "Coverage")?;
        s.header(&cols)?;
        for sc in &r.scopes {
            s.text(0, &sc.scope)?;
            if let Some(b) = &sc.baseline_at {
                s.time(1, b)?;
            }
            s.num(2, sc.failed_polls as f64)?;
            s.text(3, &super::blind_summary(sc))?;
            s.row += 1;
        }
        s.finish(cols.len())?;
    }
    {
        let cols = [
            "Id",
            "Type",
            "Title",
            "Requested by",
            "Approved by",
            "Window",
            "Used by",
            "Standard never used",
            "Window passed unused",
            "File",
        ];
        let mut s = sheet(&mut wb, "Records")?;
        s.header(&cols)?;
        for rec in &r.records {
            s.text(0, &rec.id)?;
            s.text(1, &rec.record_type)?;
            s.text(2, &rec.title)?;
            s.text(3, &rec.requested_by)?;
            s.text(4, &rec.approved_by.join("; "))?;
            s.text(5, rec.window.as_deref().unwrap_or(""))?;
            s.text(6, &rec.used_by.join(", "))?;
            s.text(7, if rec.standard_never_used { "yes" } else { "" })?;
            s.text(8, if rec.window_passed_unused { "yes" } else { "" })?;
            s.text(9, &rec.origin)?;
            s.row += 1;
        }
        s.finish(cols.len())?;
    }
    {
        let cols = super::BREAK_GLASS_COLUMNS;
        let mut s = sheet(&mut wb, "Break-glass")?;
        s.header(&cols)?;
        for b in &r.break_glass {
            s.text(0, &b.id)?;
            s.text(1, &b.requested_by)?;
            s.time(2, &b.opened_at)?;
            s.time(3, &b.planned_end)?;
            if let Some(c) = &b.closed_at {
                s.time(4, c)?;
            }
            s.num(5, b.duration_minutes as f64)?;
            s.text(6, &b.changes.join(", "))?;
            s.text(7, b.retrospective.as_deref().unwrap_or("MISSING"))?;
            s.row += 1;
        }
        s.finish(cols.len())?;
    }
    {
        let cols = [
            "Framework",
            "Control",
            "Title",
            "Evidence",
            "Sections",
            "Exceptions",
        ];
        let mut s = sheet(&mut wb, "Compliance")?;
        s.header(&cols)?;
        for q in &r.compliance {
            s.text(0, &q.framework)?;
            s.text(1, &q.control)?;
            s.text(2, &q.title)?;
            s.text(3, &q.evidence)?;
            s.text(4, &q.sections.join(", "))?;
            s.text(5, &q.exceptions.join(", "))?;
            s.row += 1;
        }
        s.finish(cols.len())?;
    }
    wb.save_to_buffer()
}

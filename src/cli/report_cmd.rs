//! `driftwatch report`: the period report from the store and the records directory.

use std::path::Path;

use anyhow::Context;
use jiff::{SignedDuration, Timestamp};

use super::{Exit, ReportFormat, write_output};
use crate::config::Config;
use crate::records::RecordSet;
use crate::report;

/// RFC 3339, a date (UTC midnight), or an age like `180d` / `12h` before `now`.
pub fn parse_time(s: &str, now: Timestamp) -> anyhow::Result<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return Ok(d.to_zoned(jiff::tz::TimeZone::UTC)?.timestamp());
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().with_context(|| {
        format!("`{s}` is not a time: use 2026-06-01T00:00:00Z, 2026-06-01, 180d or 12h")
    })?;
    let secs = match unit {
        "d" => n * 86_400,
        "h" => n * 3_600,
        "m" => n * 60,
        _ => {
            anyhow::bail!("`{s}` is not a time: use 2026-06-01T00:00:00Z, 2026-06-01, 180d or 12h")
        }
    };
    Ok(now.checked_sub(SignedDuration::from_secs(secs))?)
}

pub fn run(
    cfg: Config,
    since: &str,
    until: Option<&str>,
    format: ReportFormat,
    output: Option<&Path>,
) -> anyhow::Result<Exit> {
    let now = crate::clock::now();
    let since = parse_time(since, now).context("--since")?;
    let until = match until {
        Some(u) => parse_time(u, now).context("--until")?,
        // Up to and including the current second.
        None => now.checked_add(SignedDuration::from_secs(1))?,
    };
    let db = crate::daemon::open_existing_store(&cfg)?;
    let mut records = RecordSet::new();
    // Records imported from ticket systems: the last good set the daemon kept.
    let sources = crate::records::remote::source_names(&cfg);
    for (name, snap) in
        crate::records::remote::cached_snapshots(&crate::records::remote::cache_dir(&cfg), &sources)
    {
        records.set_imported(&name, snap.records, Vec::new());
    }
    let load = records.reload(&cfg.records.dir, &cfg.records.validation());
    for e in &load.errors {
        eprintln!("warning: record not in the register: {e}");
    }
    let deadline = SignedDuration::from_secs(cfg.obligations.retrospective_deadline_secs as i64);
    let r = report::build(&db, records.active(), since, until, now, deadline)?;
    match format {
        ReportFormat::Xlsx => {
            let Some(path) = output else {
                anyhow::bail!("--format xlsx needs -o FILE (it is a binary file)");
            };
            let bytes = report::render_xlsx(&r).context("cannot build the workbook")?;
            std::fs::write(path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        _ => {
            let text = match format {
                ReportFormat::Json => report::render_json(&r),
                ReportFormat::Markdown => report::render_markdown(&r),
                ReportFormat::Html => report::render_html(&r),
                ReportFormat::Csv => report::render_csv(&r),
                ReportFormat::Xlsx => String::new(),
            };
            write_output(output, &text)?;
        }
    }
    if let Some(p) = output {
        eprintln!(
            "report written to {} ({} changes: {} matched, {} unmatched, {} violations; ledger {})",
            p.display(),
            r.totals.all.changes,
            r.totals.all.matched,
            r.totals.all.unmatched,
            r.totals.all.violations,
            if r.ledger.verified {
                "verified"
            } else {
                "FAILED verification"
            }
        );
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_forms() {
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().expect("ts");
        assert_eq!(
            parse_time("2026-06-01", now).expect("date").to_string(),
            "2026-06-01T00:00:00Z"
        );
        assert_eq!(
            parse_time("2026-06-01T05:00:00Z", now)
                .expect("ts")
                .to_string(),
            "2026-06-01T05:00:00Z"
        );
        assert_eq!(
            parse_time("2d", now).expect("age").to_string(),
            "2026-11-27T12:00:00Z"
        );
        assert!(parse_time("yesterday", now).is_err());
    }
}

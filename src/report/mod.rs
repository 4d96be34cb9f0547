//! The period report: one model (`model.rs`) folded (`fold.rs`, pure) from what `load.rs`
//! reads from the store (the verified ledger, the drift index for closing and retrospective
//! status, the outbox for who was told) and the records in force, rendered as JSON (schema in
//! docs/report.schema.json), Markdown, HTML (self-contained), XLSX and CSV. The tables HTML,
//! XLSX and CSV share are defined once (`table.rs`); the compliance mapping and the text
//! summaries of rows have their own files.

mod compliance;
mod csv;
mod fold;
mod html;
mod load;
mod markdown;
mod model;
mod summary;
mod table;
mod xlsx;

#[cfg(test)]
mod tests;

use jiff::{SignedDuration, Timestamp};

use crate::model::ChangeRecord;
use crate::store::{Db, StoreError};

pub use csv::{CSV_COLUMNS, render_csv};
pub use fold::{Period, ReportInputs, fold};
pub use html::render_html;
pub use load::{KnownScope, Stored, load};
pub use markdown::render_markdown;
pub use model::*;
pub use summary::{
    alerts_summary, blind_summary, fields_summary, findings_summary, record_use_summary,
    rejections_summary,
};
pub use xlsx::render_xlsx;

pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--since {since} is not before --until {until}")]
    EmptyPeriod { since: Timestamp, until: Timestamp },
}

/// Whole-second RFC 3339 UTC, as the ledger writes times.
fn ts(t: Timestamp) -> String {
    jiff::fmt::temporal::DateTimePrinter::new()
        .precision(Some(0))
        .timestamp_to_string(&t)
}

/// Build the report for `[since, until)`: `load` from the store, then `fold`. `deadline` is
/// the retrospective deadline.
pub fn build(
    db: &Db,
    records: &[ChangeRecord],
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
    deadline: SignedDuration,
) -> Result<Report, ReportError> {
    let period = Period::new(since, until)?;
    let stored = load(db)?;
    Ok(fold(ReportInputs::new(
        stored, records, period, now, deadline,
    )))
}

pub fn render_json(r: &Report) -> String {
    // A report is plain data (strings, numbers, maps with string keys): serializing it
    // cannot fail; the fallback keeps the signature infallible without a panic.
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

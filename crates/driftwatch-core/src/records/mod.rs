//! Change records: the YAML schema, parsing and validation (pure: text in, records or precise
//! errors out), records from ticket payloads (`ticket`), and rendering. The loaders that read
//! them (the records directory, the ticket-system APIs) live in the daemon crate.

pub mod render;
mod schema;
pub mod ticket;
mod validate;

pub use validate::{ValidationSettings, is_drift_id, is_record_id, parse_file};

use std::fmt;

/// One problem with one record file, naming file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub struct RecordError {
    pub file: String,
    /// 1-based; 0 when the problem concerns the whole file (unreadable).
    pub line: u32,
    /// Dotted field path (`approved_by[0].name`), empty when the YAML itself is malformed.
    pub field: String,
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

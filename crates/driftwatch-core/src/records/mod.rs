//! Change records: the YAML schema, parsing and validation (pure: text in, records or precise
//! errors out), records from ticket payloads (`ticket`), and rendering. The loaders that read
//! them (the records directory, the ticket-system APIs) live in the daemon crate.

pub mod plan;
mod rejection;
pub mod render;
mod schema;
pub mod ticket;
mod validate;
pub mod yaml;

pub use rejection::RejectionRule;
use validate::yaml_error;
pub use validate::{ValidationSettings, is_drift_id, is_record_id, parse_file};

use std::fmt;

/// One problem with one record file, naming file, line and field, and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(from = "StoredRecordError")]
pub struct RecordError {
    pub file: String,
    /// 1-based; 0 when the problem concerns the whole file (unreadable).
    pub line: u32,
    /// Dotted field path (`approved_by[0].name`), empty when the YAML itself is malformed.
    pub field: String,
    pub message: String,
    pub rule: RejectionRule,
}

/// A `RecordError` as stored (the records cache): errors written before they carried a rule
/// get it from `RejectionRule::from_legacy_message`.
#[derive(serde::Deserialize)]
struct StoredRecordError {
    file: String,
    line: u32,
    field: String,
    message: String,
    #[serde(default)]
    rule: Option<RejectionRule>,
}

impl From<StoredRecordError> for RecordError {
    fn from(e: StoredRecordError) -> Self {
        let rule = e
            .rule
            .unwrap_or_else(|| RejectionRule::from_legacy_message(&e.field, &e.message));
        RecordError {
            file: e.file,
            line: e.line,
            field: e.field,
            message: e.message,
            rule,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_error_without_a_rule_gets_the_legacy_one() {
        let legacy = r#"{"file":"github acme/infra#3","line":0,"field":"approved_by[0].name","message":"approver alice is also the requester; a change needs a second person"}"#;
        let e: RecordError = serde_json::from_str(legacy).expect("parse");
        assert_eq!(e.rule, RejectionRule::SelfApproval);
        let typed = RecordError {
            rule: RejectionRule::MissingApproval,
            ..e
        };
        let json = serde_json::to_string(&typed).expect("serialize");
        assert!(json.contains(r#""rule":"missing_approval""#), "{json}");
        let back: RecordError = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, typed, "a stored rule wins over the message");
    }
}

//! `driftwatch records check DIR`: CI-friendly validation of a records directory.

use std::path::Path;

use super::{CheckFormat, Exit};
use crate::config::Config;
use crate::daemon::validation_settings;
use crate::records::{RecordSet, ValidationSettings};

pub fn check(config: Option<Config>, dir: &Path, format: CheckFormat) -> anyhow::Result<Exit> {
    // The config is optional here: a records repository's CI has no daemon config.
    let settings = match config {
        Some(cfg) => validation_settings(&cfg),
        None => ValidationSettings::default(),
    };
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let mut set = RecordSet::new();
    let report = set.reload(dir, &settings);
    match format {
        CheckFormat::Text => {
            for e in &report.errors {
                println!("{e}");
            }
            println!(
                "{} file(s), {} valid record(s), {} error(s)",
                report.files_read,
                report.records_active,
                report.errors.len()
            );
        }
        CheckFormat::Json => {
            let errors: Vec<serde_json::Value> = report
                .errors
                .iter()
                .map(|e| serde_json::json!({"file": e.file, "line": e.line, "field": e.field, "message": e.message}))
                .collect();
            let ids: Vec<&str> = set.active().iter().map(|r| r.id.as_str()).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "files": report.files_read, "records": ids, "errors": errors,
                }))?
            );
        }
    }
    Ok(if report.errors.is_empty() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

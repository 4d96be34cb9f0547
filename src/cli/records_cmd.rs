//! `driftwatch records check DIR`: CI-friendly validation of a records directory.

use std::path::Path;

use super::{CheckFormat, Exit};
use crate::config::Config;
use crate::records::{RecordSet, ValidationSettings};

pub fn check(config: Option<Config>, dir: &Path, format: CheckFormat) -> anyhow::Result<Exit> {
    // The config is optional here: a records repository's CI has no daemon config.
    let settings = match config {
        Some(cfg) => cfg.records.validation(),
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
            for w in &report.warnings {
                println!("warning: {w}");
            }
            println!(
                "{} file(s), {} valid record(s), {} error(s), {} warning(s)",
                report.files_read,
                report.records_active,
                report.errors.len(),
                report.warnings.len()
            );
        }
        CheckFormat::Json => {
            let errors: Vec<serde_json::Value> = report
                .errors
                .iter()
                .map(|e| serde_json::json!({"file": e.file, "line": e.line, "field": e.field, "message": e.message}))
                .collect();
            let warnings: Vec<serde_json::Value> = report
                .warnings
                .iter()
                .map(|w| serde_json::json!({"file": w.file, "line": w.line, "plan": w.plan, "address": w.address, "message": w.message}))
                .collect();
            let ids: Vec<&str> = set.active().iter().map(|r| r.id.as_str()).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "files": report.files_read, "records": ids, "errors": errors, "warnings": warnings,
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

/// `records check --sources`: the directory and every ticket source, read once now.
pub async fn check_sources(
    cfg: Config,
    dir: Option<&Path>,
    format: CheckFormat,
) -> anyhow::Result<Exit> {
    use crate::records::remote::RemoteRecords;

    let settings = cfg.records.validation();
    let dir = dir.unwrap_or(&cfg.records.dir).to_path_buf();
    let mut remote =
        RemoteRecords::from_config(&cfg.records, None, crate::clock::now()).map_err(|errs| {
            let lines: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            anyhow::anyhow!("records sources: {}", lines.join("; "))
        })?;
    let outcomes = remote.refresh_all(&settings, crate::clock::now()).await;
    let mut set = RecordSet::new();
    for l in remote.loaders() {
        set.set_imported(
            &l.name,
            l.snapshot.records.clone(),
            l.snapshot.rejected.clone(),
        );
    }
    let report = if dir.is_dir() {
        set.reload(&dir, &settings)
    } else {
        anyhow::bail!("{} is not a directory", dir.display());
    };
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.result
                .as_ref()
                .err()
                .map(|e| format!("{}: {e}", o.source))
        })
        .collect();
    match format {
        CheckFormat::Text => {
            for r in set.active() {
                println!(
                    "record {} ({}) {}",
                    r.id,
                    r.record_type,
                    r.origin.url.as_deref().unwrap_or(&r.origin.to_string())
                );
            }
            for e in &report.errors {
                println!("{e}");
            }
            for f in &failed {
                println!("source failed: {f}");
            }
            println!(
                "{} file(s), {} source(s), {} valid record(s), {} error(s)",
                report.files_read,
                outcomes.len(),
                report.records_active,
                report.errors.len()
            );
        }
        CheckFormat::Json => {
            let records: Vec<serde_json::Value> = set
                .active()
                .iter()
                .map(|r| serde_json::json!({"id": r.id, "type": r.record_type, "origin": r.origin.to_string(), "url": r.origin.url, "approved_by": r.approved_by.iter().map(|a| &a.name).collect::<Vec<_>>(), "retrospective_for": r.retrospective_for}))
                .collect();
            let errors: Vec<serde_json::Value> = report
                .errors
                .iter()
                .map(|e| serde_json::json!({"file": e.file, "line": e.line, "field": e.field, "message": e.message}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "files": report.files_read, "records": records, "errors": errors, "failed_sources": failed,
                }))?
            );
        }
    }
    Ok(if !failed.is_empty() {
        Exit::Error
    } else if report.errors.is_empty() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

//! The records directory: every `*.yaml`/`*.yml` file, reloaded on demand. A file that fails
//! keeps its last valid version active; a broken file never unloads the others. Records
//! imported from ticket systems join the set after the files (`set_imported`). Hostile input
//! is bounded before it is parsed: a file over `MAX_FILE_BYTES` is refused unread, a directory
//! of more than `MAX_FILES` record files is refused as a whole (everything loaded stays), and
//! the YAML itself is parsed within the core's limits (`records::yaml`). A record's `plan`
//! is read from beside its file (bounded by `MAX_PLAN_BYTES`) and becomes its scope
//! (`records::plan::attach`); a plan that cannot be read or used rejects the file like any
//! other error, and what the plan changes that driftwatch does not reconcile is a warning.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::plan::{PlanWarning, attach};
use super::{RecordError, RejectionRule, ValidationSettings, parse_file};
use crate::model::ChangeRecord;

/// Largest record file read: 1 MiB. A hand-written record is about 1 KiB and the largest
/// generated files we know of (catalogues of standard changes) are tens of KiB, so this is
/// a thousand records in one file with room to spare. Anything bigger is a mistake (a log or
/// a dump saved as `.yaml`) or hostile, and costs a `metadata` call rather than a parse; the
/// read itself is bounded too, for a file that grows or lies about its size.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Most record files in the directory: 10 000, as many records as the engine is measured
/// with (README, Performance) if each file held one. A directory with more is the wrong
/// directory (a checkout of something else) rather than change records, and re-reading it
/// every cycle would stall the daemon; it is refused as a whole, like an unreadable one.
pub const MAX_FILES: usize = 10_000;

/// Largest plan file read: 64 MiB. `terraform show -json` of a plan touching a thousand
/// resources is a few MiB (each change carries its before and after values twice, in
/// `planned_values` and `resource_changes`); 64 MiB leaves room for the biggest monorepo
/// plans while refusing a mistaken or hostile file before it is parsed.
pub const MAX_PLAN_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct RecordSet {
    files: BTreeMap<PathBuf, Vec<ChangeRecord>>,
    /// Per ticket source: its last good set and the tickets it rejected.
    imported: BTreeMap<String, (Vec<ChangeRecord>, Vec<RecordError>)>,
    active: Vec<ChangeRecord>,
}

/// What one reload found.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub files_read: usize,
    pub records_active: usize,
    /// Every problem, each naming file, line and field.
    pub errors: Vec<RecordError>,
    /// Files whose new content was rejected while an older valid version stays active.
    pub kept_previous: Vec<String>,
    /// Planned changes of attached plans that driftwatch does not reconcile.
    pub warnings: Vec<PlanWarning>,
}

impl RecordSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// The records currently in force (valid, no duplicate ids), in file order.
    pub fn active(&self) -> &[ChangeRecord] {
        &self.active
    }

    /// Re-read the directory. Never fails as a whole: an unreadable directory or file is
    /// reported and the previous state of what could not be read is kept.
    pub fn reload(&mut self, dir: &Path, settings: &ValidationSettings) -> LoadReport {
        let mut report = LoadReport::default();
        let listed = list_yaml(dir).map_err(|e| {
            (
                format!("cannot read records directory: {e}"),
                RejectionRule::Unreadable,
            )
        });
        let listed = listed.and_then(|paths| match paths.len() > MAX_FILES {
            true => Err((
                format!(
                    "more than {MAX_FILES} record files (the limit): refused, the records loaded before stay in force"
                ),
                RejectionRule::LimitExceeded,
            )),
            false => Ok(paths),
        });
        let paths = match listed {
            Ok(p) => p,
            Err((message, rule)) => {
                report.errors.push(RecordError {
                    file: dir.display().to_string(),
                    line: 0,
                    field: String::new(),
                    message,
                    rule,
                });
                report.records_active = self.active.len();
                return report;
            }
        };
        let mut next: BTreeMap<PathBuf, Vec<ChangeRecord>> = BTreeMap::new();
        for path in paths {
            report.files_read += 1;
            let name = path.display().to_string();
            let parsed = read_bounded(&path, MAX_FILE_BYTES, "a record file")
                .map_err(|(message, rule)| {
                    vec![RecordError {
                        file: name.clone(),
                        line: 0,
                        field: String::new(),
                        message,
                        rule,
                    }]
                })
                .and_then(|text| parse_file(&name, &text, settings))
                .and_then(|records| with_plans(&path, records, &mut report.warnings));
            match parsed {
                Ok(records) => {
                    next.insert(path, records);
                }
                Err(mut errs) => {
                    report.errors.append(&mut errs);
                    if let Some(prev) = self.files.get(&path) {
                        report.kept_previous.push(name);
                        next.insert(path, prev.clone());
                    }
                }
            }
        }
        self.files = next;
        report.errors.append(&mut self.recompute());
        report.records_active = self.active.len();
        report
    }

    /// Replace what a ticket source contributes: its last good records and its rejected
    /// tickets (reported with every reload). Returns id clashes with records already active.
    pub fn set_imported(
        &mut self,
        source: &str,
        records: Vec<ChangeRecord>,
        rejected: Vec<RecordError>,
    ) -> Vec<RecordError> {
        self.imported
            .insert(source.to_string(), (records, rejected));
        self.recompute()
    }

    /// Forget sources no longer configured.
    pub fn retain_imported(&mut self, sources: &[String]) {
        self.imported.retain(|k, _| sources.contains(k));
        self.recompute();
    }

    /// The active set from the files then each source; ids are unique across all of them:
    /// the first (files in path order, then sources by name) keeps an id, later definitions
    /// are rejected with a pointer to the first. Returns those rejections and every source's
    /// rejected tickets.
    fn recompute(&mut self) -> Vec<RecordError> {
        let mut errors = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut active = Vec::new();
        let sources = self
            .files
            .values()
            .chain(self.imported.values().map(|(r, _)| r));
        for records in sources {
            for r in records {
                if let Some(first) = seen.get(&r.id) {
                    errors.push(RecordError {
                        file: r.origin.file.clone(),
                        line: r.origin.line,
                        field: "id".into(),
                        message: format!("duplicate id {} (already defined at {first})", r.id),
                        rule: RejectionRule::DuplicateId,
                    });
                } else {
                    seen.insert(r.id.clone(), r.origin.to_string());
                    active.push(r.clone());
                }
            }
        }
        self.active = active;
        for (_, rejected) in self.imported.values() {
            errors.extend(rejected.iter().cloned());
        }
        errors
    }
}

/// The record files of `dir`, sorted; the listing stops one past `MAX_FILES`, so a huge
/// directory costs no more than the limit.
fn list_yaml(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && path.is_file() {
            out.push(path);
            if out.len() > MAX_FILES {
                break;
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Attach each record's plan, read from the record file's directory. One plan that cannot
/// be read or used fails the file (its previous version stays in force).
fn with_plans(
    file: &Path,
    mut records: Vec<ChangeRecord>,
    warnings: &mut Vec<PlanWarning>,
) -> Result<Vec<ChangeRecord>, Vec<RecordError>> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut errors = Vec::new();
    for r in &mut records {
        let Some(plan) = r.plan.clone() else {
            continue;
        };
        let attached = read_bounded(&dir.join(&plan.path), MAX_PLAN_BYTES, "a plan file")
            .map_err(|(message, rule)| RecordError {
                file: r.origin.file.clone(),
                line: plan.line,
                field: "plan".into(),
                message: format!("{}: {message}", plan.path),
                rule: match rule {
                    RejectionRule::Unreadable => RejectionRule::InvalidPlan,
                    other => other,
                },
            })
            .and_then(|text| attach(r, &plan.path, &text));
        match attached {
            Ok(a) => warnings.extend(a.warnings),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

/// A file's text, or why it is not read: unreadable, not UTF-8, or over `limit` (by its
/// size, checked first, or by what a bounded read returns).
fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<String, (String, RejectionRule)> {
    let unreadable = |e: std::io::Error| (format!("cannot read: {e}"), RejectionRule::Unreadable);
    let too_large = |size: String| {
        (
            format!(
                "{size}, over the {} MiB limit of {what}: refused unread",
                limit >> 20
            ),
            RejectionRule::LimitExceeded,
        )
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size > limit {
        return Err(too_large(format!("the file is {size} bytes")));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(format!(
            "the file reads as more than {limit} bytes"
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        (
            "cannot read: stream did not contain valid UTF-8".into(),
            RejectionRule::Unreadable,
        )
    })
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "id: STD-1\ntitle: t\ntype: standard\nrequested_by: a@x\napproved_by: [{ name: b@x, at: 2026-01-01T00:00:00Z }]\nscope: [{ provider: aws }]\n";

    #[test]
    fn a_broken_file_keeps_its_last_valid_version_and_others_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.yaml");
        std::fs::write(&a, GOOD).expect("write");
        std::fs::write(dir.path().join("b.yaml"), GOOD.replace("STD-1", "STD-2")).expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not a record").expect("write");
        let settings = ValidationSettings::default();
        let mut set = RecordSet::new();
        let r = set.reload(dir.path(), &settings);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.files_read, 2);
        assert_eq!(set.active().len(), 2);

        std::fs::write(&a, GOOD.replace("name: b@x", "name: a@x")).expect("break a.yaml");
        let r = set.reload(dir.path(), &settings);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.kept_previous, vec![a.display().to_string()]);
        let ids: Vec<&str> = set.active().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["STD-1", "STD-2"],
            "the last valid a.yaml stays active"
        );

        std::fs::remove_file(&a).expect("remove");
        set.reload(dir.path(), &settings);
        let ids: Vec<&str> = set.active().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["STD-2"], "a removed file unloads");
    }

    #[test]
    fn imported_records_join_after_the_files_and_ids_stay_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.yaml"), GOOD).expect("write");
        let settings = ValidationSettings::default();
        let file_rec = parse_file("x", GOOD, &settings).expect("valid").remove(0);
        let mut clash = file_rec.clone();
        clash.origin.file = "github acme/infra#1".into();
        let mut other = file_rec.clone();
        other.id = "acme/infra#2".into();
        let rejected = RecordError {
            file: "github acme/infra#3".into(),
            line: 0,
            field: "approved_by".into(),
            message: "no approval".into(),
            rule: RejectionRule::MissingApproval,
        };
        let mut set = RecordSet::new();
        set.reload(dir.path(), &settings);
        let errs = set.set_imported("github", vec![clash, other], vec![rejected.clone()]);
        let ids: Vec<&str> = set.active().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["STD-1", "acme/infra#2"]);
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let first = format!("{}:1", dir.path().join("a.yaml").display());
        assert_eq!(
            shown,
            vec![
                format!(
                    "github acme/infra#1:1: id: duplicate id STD-1 (already defined at {first})"
                ),
                "github acme/infra#3: approved_by: no approval".to_string(),
            ]
        );
        // A reload of the directory reports the source's rejections again and keeps its records.
        let r = set.reload(dir.path(), &settings);
        assert_eq!(r.errors.len(), 2);
        assert_eq!(r.records_active, 2);
        set.retain_imported(&[]);
        assert_eq!(set.active().len(), 1);
    }

    #[test]
    fn unreadable_directory_keeps_everything() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.yaml"), GOOD).expect("write");
        let mut set = RecordSet::new();
        set.reload(dir.path(), &ValidationSettings::default());
        let r = set.reload(&dir.path().join("missing"), &ValidationSettings::default());
        assert_eq!(r.errors.len(), 1);
        assert!(
            r.errors[0]
                .message
                .starts_with("cannot read records directory")
        );
        assert_eq!(set.active().len(), 1);
    }
}

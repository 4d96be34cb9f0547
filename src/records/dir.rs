//! The records directory: every `*.yaml`/`*.yml` file, reloaded on demand. A file that fails
//! keeps its last valid version active; a broken file never unloads the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{RecordError, ValidationSettings, parse_file};
use crate::model::ChangeRecord;

#[derive(Debug, Default)]
pub struct RecordSet {
    files: BTreeMap<PathBuf, Vec<ChangeRecord>>,
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
        let paths = match list_yaml(dir) {
            Ok(p) => p,
            Err(e) => {
                report.errors.push(RecordError {
                    file: dir.display().to_string(),
                    line: 0,
                    field: String::new(),
                    message: format!("cannot read records directory: {e}"),
                });
                report.records_active = self.active.len();
                return report;
            }
        };
        let mut next: BTreeMap<PathBuf, Vec<ChangeRecord>> = BTreeMap::new();
        for path in paths {
            report.files_read += 1;
            let name = path.display().to_string();
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| {
                    vec![RecordError {
                        file: name.clone(),
                        line: 0,
                        field: String::new(),
                        message: format!("cannot read: {e}"),
                    }]
                })
                .and_then(|text| parse_file(&name, &text, settings));
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
        // Ids are unique across files: the first file (in path order) keeps an id, later
        // definitions are rejected with a pointer to the first.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut active = Vec::new();
        for records in next.values() {
            for r in records {
                if let Some(first) = seen.get(&r.id) {
                    report.errors.push(RecordError {
                        file: r.origin.file.clone(),
                        line: r.origin.line,
                        field: "id".into(),
                        message: format!("duplicate id {} (already defined at {first})", r.id),
                    });
                } else {
                    seen.insert(r.id.clone(), r.origin.to_string());
                    active.push(r.clone());
                }
            }
        }
        self.files = next;
        self.active = active;
        report.records_active = self.active.len();
        report
    }
}

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
        }
    }
    out.sort();
    Ok(out)
}

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

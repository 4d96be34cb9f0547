//! The directory loader against hostile directories: a property over random sets of files
//! (mutated records, arbitrary text and bytes, odd names), and the limits through the public
//! loader: an alias bomb, deep nesting, an oversized file, too many files.

use std::time::Instant;

use proptest::prelude::*;

use super::{MAX_FILE_BYTES, MAX_FILES, RecordSet};
use crate::proptest_common::{apply, config, edit};
use crate::records::{RejectionRule, ValidationSettings};

const GOOD: &str = "id: STD-1\ntitle: t\ntype: standard\nrequested_by: a@x\napproved_by: [{ name: b@x, at: 2026-01-05T09:00:00Z }]\nscope: [{ provider: aws, kind: aws.ec2.security_group_rule, target: sg-*, match: { port: 22 } }]\n";

/// Nine aliases of nine aliases of ... nine strings: 9^10 strings if expanded.
fn bomb() -> String {
    let mut s = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    s
}

fn contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(edit(), 0..4).prop_map(|e| apply(GOOD, &e).into_bytes()),
        1 => any::<String>().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => Just(bomb().into_bytes()),
    ]
}

proptest! {
    // Each case writes files: a quarter of the default cases.
    #![proptest_config(config("proptest-regressions/records-dir.txt", 4))]

    #[test]
    fn any_directory_loads_what_is_valid_and_names_every_problem(
        files in prop::collection::vec(("[a-z0-9é._ -]{1,12}", "yaml|yml|txt", contents()), 0..6),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut written = Vec::new();
        for (stem, ext, bytes) in &files {
            let path = dir.path().join(format!("{stem}.{ext}"));
            std::fs::write(&path, bytes).expect("write");
            if ext != "txt" && path.is_file() {
                written.push(path.display().to_string());
            }
        }
        written.sort();
        written.dedup();
        let mut set = RecordSet::new();
        let report = set.reload(dir.path(), &ValidationSettings::default());
        prop_assert_eq!(report.files_read, written.len());
        prop_assert_eq!(report.records_active, set.active().len());
        for e in &report.errors {
            prop_assert!(written.contains(&e.file), "{} names no record file", e);
            prop_assert!(!e.message.is_empty());
        }
        let mut ids: Vec<&str> = set.active().iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        prop_assert_eq!(ids.len(), n, "ids in force are unique");
        // A second reload of the same files finds the same.
        let again = set.reload(dir.path(), &ValidationSettings::default());
        prop_assert_eq!(again.errors.len(), report.errors.len());
        prop_assert_eq!(again.records_active, report.records_active);
    }
}

#[test]
fn an_alias_bomb_file_is_refused_quickly_at_its_line_and_the_others_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.yaml"), GOOD).expect("write");
    let bomb_path = dir.path().join("bomb.yaml");
    std::fs::write(&bomb_path, bomb()).expect("write");
    let started = Instant::now();
    let mut set = RecordSet::new();
    let report = set.reload(dir.path(), &ValidationSettings::default());
    assert!(
        started.elapsed().as_secs() < 2,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let e = &report.errors[0];
    assert_eq!(e.file, bomb_path.display().to_string());
    assert_eq!(e.rule, RejectionRule::LimitExceeded);
    assert!((2..=10).contains(&e.line), "{e}");
    assert!(
        e.to_string().contains("expands aliases to more than"),
        "{e}"
    );
    assert_eq!(set.active().len(), 1, "a.yaml still loads");
}

#[test]
fn a_deeply_nested_file_is_refused_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deep.yaml");
    let text: String = (0..100)
        .map(|i| format!("{}- x:\n", "  ".repeat(i)))
        .collect();
    std::fs::write(&path, text).expect("write");
    let report = RecordSet::new().reload(dir.path(), &ValidationSettings::default());
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].rule, RejectionRule::LimitExceeded);
    assert!(report.errors[0].line > 1, "{}", report.errors[0]);
    assert!(
        report.errors[0].message.contains("nests deeper than"),
        "{}",
        report.errors[0]
    );
}

#[test]
fn an_oversized_file_is_refused_unread_and_keeps_its_last_valid_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.yaml");
    std::fs::write(&a, GOOD).expect("write");
    std::fs::write(dir.path().join("b.yaml"), GOOD.replace("STD-1", "STD-2")).expect("write");
    let mut set = RecordSet::new();
    let settings = ValidationSettings::default();
    assert!(set.reload(dir.path(), &settings).errors.is_empty());

    // Valid YAML, padded with a comment past the limit: refused by its size, not parsed.
    let padded = format!(
        "{}# {}\n",
        GOOD.replace("title: t", "title: grown"),
        "x".repeat(MAX_FILE_BYTES as usize)
    );
    std::fs::write(&a, &padded).expect("write");
    let report = set.reload(dir.path(), &settings);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let e = &report.errors[0];
    assert_eq!(e.rule, RejectionRule::LimitExceeded);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: the file is {} bytes, over the 1 MiB limit of a record file: refused unread",
            a.display(),
            padded.len()
        )
    );
    assert_eq!(report.kept_previous, vec![a.display().to_string()]);
    let titles: Vec<&str> = set.active().iter().map(|r| r.title.as_str()).collect();
    assert_eq!(titles, vec!["t", "t"], "the last valid a.yaml and b.yaml");

    // Exactly at the limit is read.
    let at_limit = format!("{GOOD}# ");
    let fill = MAX_FILE_BYTES as usize - at_limit.len() - 1;
    std::fs::write(&a, format!("{at_limit}{}\n", "x".repeat(fill))).expect("write");
    let report = set.reload(dir.path(), &settings);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn a_directory_of_too_many_files_is_refused_and_keeps_what_was_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.yaml"), GOOD).expect("write");
    let mut set = RecordSet::new();
    let settings = ValidationSettings::default();
    assert!(set.reload(dir.path(), &settings).errors.is_empty());
    for i in 0..MAX_FILES {
        std::fs::write(dir.path().join(format!("empty-{i:05}.yml")), "").expect("write");
    }
    let started = Instant::now();
    let report = set.reload(dir.path(), &settings);
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let e = &report.errors[0];
    assert_eq!(e.rule, RejectionRule::LimitExceeded);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: more than 10000 record files (the limit): refused, the records loaded before stay in force",
            dir.path().display()
        )
    );
    assert_eq!(report.records_active, 1);
    assert_eq!(set.active().len(), 1);
}

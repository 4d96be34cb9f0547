//! The dependency rules of ARCHITECTURE.md, checked on the source so a forbidden arrow fails
//! the build's tests instead of waiting for a reviewer.
//!
//! Two layers: the pure core is its own crate (`crates/driftwatch-core`), and its manifest may
//! name only data crates (the compiler then keeps tokio, reqwest, rusqlite, AWS and kube out
//! of it); within the daemon crate, each module's `crate::` paths are read and every arrow in
//! `FORBIDDEN` is reported with the file and line that draws it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The only dependencies the core may have: serialization, time arithmetic, addresses, globs,
/// hashing and error derives. Anything that does IO or runs tasks does not belong there.
const CORE_ALLOWED_DEPS: &[&str] = &[
    "serde",
    "serde_json",
    "serde-saphyr",
    "jiff",
    "ipnet",
    "globset",
    "thiserror",
    "sha2",
    "hex",
    "percent-encoding",
];

/// (module of the daemon crate, modules it must not use). The core modules re-exported by
/// the daemon crate cannot use anything of it at all: they live in another crate.
const FORBIDDEN: &[(&str, &[&str])] = &[
    // Nothing depends back on the daemon or the command line.
    (
        "config",
        &[
            "daemon", "cli", "store", "sinks", "sources", "report", "records", "metrics",
        ],
    ),
    (
        "store",
        &[
            "daemon", "cli", "config", "sinks", "sources", "report", "records", "metrics",
        ],
    ),
    (
        "metrics",
        &[
            "daemon", "cli", "config", "store", "sinks", "sources", "report", "records",
        ],
    ),
    (
        "clock",
        &[
            "daemon", "cli", "config", "store", "sinks", "sources", "report", "records", "metrics",
        ],
    ),
    (
        "records",
        &["daemon", "cli", "store", "sinks", "sources", "report"],
    ),
    (
        "sources",
        &["daemon", "cli", "store", "sinks", "report", "records"],
    ),
    ("sinks", &["daemon", "cli", "sources", "report"]),
    // The HTTP client layer under the sinks and the ticket loaders knows neither of them.
    (
        "http_client",
        &[
            "daemon", "cli", "config", "store", "sinks", "sources", "report", "records", "metrics",
        ],
    ),
    (
        "report",
        &[
            "daemon", "cli", "config", "sinks", "sources", "records", "metrics",
        ],
    ),
    ("daemon", &["cli"]),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The files of a top-level module: `src/NAME.rs` and everything under `src/NAME/`.
fn module_files(name: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let single = root().join("src").join(format!("{name}.rs"));
    if single.exists() {
        files.push(single);
    }
    rust_files(&root().join("src").join(name), &mut files);
    files.sort();
    files
}

/// Every top-level module named by a `crate::` path in `text`, with its 1-based line:
/// `crate::store::X`, and each item of a group `crate::{store::X, sinks}` (which may span
/// lines). Line comments are blanked first, keeping offsets.
fn crate_uses(text: &str) -> Vec<(usize, String)> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => format!("{}{}\n", &l[..i], " ".repeat(l.len() - i)),
            None => format!("{l}\n"),
        })
        .collect();
    let line_of = |offset: usize| code[..offset].matches('\n').count() + 1;
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let after = &code[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let body = group.split('}').next().unwrap_or("");
            let mut offset = i + "crate::{".len();
            for item in body.split(',') {
                let lead = item.len() - item.trim_start().len();
                let name = ident(item.trim_start());
                if !name.is_empty() {
                    out.push((line_of(offset + lead), name));
                }
                offset += item.len() + 1;
            }
        } else {
            let name = ident(after);
            if !name.is_empty() {
                out.push((line_of(i), name));
            }
        }
    }
    out
}

#[test]
fn no_module_draws_a_forbidden_arrow() {
    let mut problems = Vec::new();
    for (module, forbidden) in FORBIDDEN {
        let files = module_files(module);
        assert!(
            !files.is_empty(),
            "module {module} has no files: is FORBIDDEN out of date?"
        );
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source file");
            for (line, used) in crate_uses(&text) {
                if forbidden.contains(&used.as_str()) {
                    problems.push(format!(
                        "{}:{line}: {module} uses crate::{used}",
                        file.strip_prefix(root()).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "forbidden dependencies (ARCHITECTURE.md, Architecture invariants):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scanner_sees_single_paths_and_groups() {
    let text = "use crate::store::Db;\nuse crate::{\n    sinks::Alert,\n    model,\n};\n// crate::daemon in a comment\nlet x = crate::metrics::Metrics::new();\n";
    let got: Vec<(usize, String)> = crate_uses(text);
    let names: Vec<&str> = got.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["store", "sinks", "model", "metrics"]);
    let lines: Vec<usize> = got.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [1, 3, 4, 7]);
}

#[test]
fn the_core_crate_depends_on_data_crates_only() {
    let manifest = std::fs::read_to_string(root().join("crates/driftwatch-core/Cargo.toml"))
        .expect("core manifest");
    let doc: toml::Table = manifest.parse().expect("core manifest is TOML");
    let mut deps = BTreeSet::new();
    for section in ["dependencies", "build-dependencies"] {
        if let Some(t) = doc.get(section).and_then(|v| v.as_table()) {
            deps.extend(t.keys().cloned());
        }
    }
    let extra: Vec<&String> = deps
        .iter()
        .filter(|d| !CORE_ALLOWED_DEPS.contains(&d.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "driftwatch-core must stay pure, but its manifest adds {extra:?}; IO belongs in the daemon crate"
    );
    // The core's own sources never name the daemon crate or an IO runtime.
    let mut files = Vec::new();
    rust_files(&root().join("crates/driftwatch-core/src"), &mut files);
    assert!(files.len() > 20, "core sources not found");
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read core source");
        for (n, line) in text.lines().enumerate() {
            for banned in [
                "tokio::",
                "reqwest::",
                "rusqlite::",
                "driftwatch::",
                "async fn",
            ] {
                if line.split("//").next().unwrap_or("").contains(banned) {
                    found.push(format!("{}:{}: {banned}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the core is not pure:\n{}",
        found.join("\n")
    );
}

//! Strategies shared by the parser property tests (here and, through `#[path]`, in the
//! daemon crate's): hostile scalars, a line-based mutator of
//! valid YAML documents, random JSON and a JSON mutator, and the proptest configuration.

#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::Value;

/// 256 cases by default; `PROPTEST_CASES` sets more (or fewer) for a longer local run.
/// `divisor` scales down the properties whose cases are expensive. Failures are kept in
/// `proptest-regressions/FILE` (relative to the crate, where cargo runs tests).
pub fn config(file: &'static str, divisor: u32) -> Config {
    let base = Config::default();
    Config {
        cases: (base.cases / divisor).max(1),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..base
    }
}

/// A value as a hostile or careless author might write it after `key: `: anything at all,
/// YAML punctuation, numbers beyond every integer type, odd floats, deep nesting, aliases and
/// tags, odd unicode, bad and extreme timestamps, globs and kinds.
pub fn hostile_value() -> BoxedStrategy<String> {
    let fixed = prop::sample::select(vec![
        "",
        "~",
        "null",
        "true",
        "no",
        "''",
        "\"\"",
        "[]",
        "{}",
        "-",
        "? x",
        ": x",
        "|",
        ">-",
        "1e400",
        "-1e400",
        ".inf",
        "-.inf",
        ".nan",
        "0x7fffffffffffffffffff",
        "0o777",
        "0b101",
        "-0",
        "+12",
        "1_000",
        "012345678901",
        "99999999999999999999999999999999",
        "-9223372036854775809",
        "18446744073709551616",
        "&a x",
        "*a",
        "*undefined",
        "&a [*a]",
        "!!binary aGVsbG8=",
        "!custom x",
        "!!str 1",
        "!!int x",
        "!!map {}",
        "<<: *a",
        "\u{202e}cba",
        "\u{feff}x",
        "e\u{301}",
        "\u{1d54f}",
        "\u{0}",
        "\u{85}",
        "\u{2028}",
        "\u{7f}",
        "\u{fffd}",
        "\t",
        "\r",
        "\"\\x7f\"",
        "\"\\u0085\"",
        "\"\\0\"",
        "\"\\ud800\"",
        "9999-12-31T23:59:59Z",
        "-009999-01-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-21T24:00:00Z",
        "2026-11-21T09:00:60Z",
        "2026-11-21T09:00:00+14:00",
        "1970-01-01T00:00:00Z",
        "2026-11-21",
        "2026-11-21T09:00:00.123456789123Z",
        "aws.ec2.security_group_rule",
        "aws.iam.user",
        "kubernetes.v1/Service",
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
        "/v1/",
        "a/b/c/d",
        "[",
        "{a,{b}",
        "**/x",
        "\\",
        "[!]",
        "{,}",
        "sg-",
        "pl-x",
        "10.0.0.0/33",
        "::/0",
        "0.0.0.0/0",
        "65536",
        "-1",
        "d-0123abcd",
        "d-0123ABCD",
        "BG-1",
        "X-",
        "-X",
    ])
    .prop_map(String::from);
    prop_oneof![
        3 => fixed,
        2 => any::<String>(),
        2 => "[a-zA-Z0-9 _.:/*@#&!|>%'\"\\\\\\[\\]{},?~\t-]{0,40}",
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u128>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| format!("{f:e}")),
        1 => any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
        1 => (1usize..120).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
        1 => (1usize..120).prop_map(|d| format!("{}1{}", "{a: ".repeat(d), "}".repeat(d))),
        1 => (1usize..80).prop_map(|d| {
            (0..d).map(|i| format!("\n{}- x{i}:", "  ".repeat(i + 1))).collect::<String>()
        }),
        1 => (1usize..300).prop_map(|n| "x".repeat(n * 100)),
    ]
    .boxed()
}

/// One edit of a YAML document seen as lines of `indent key: value`.
#[derive(Clone, Debug)]
pub enum Edit {
    /// Replace the value of line `i` (modulo the line count).
    Value(usize, String),
    /// Replace the whole line.
    Line(usize, String),
    Delete(usize),
    Duplicate(usize),
    /// Insert a new top-level `key: value` line.
    Insert(usize, String, String),
    /// Change the indentation of a line.
    Indent(usize, usize),
    /// Cut the document after this many bytes (at a character boundary).
    Truncate(usize),
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), hostile_value()).prop_map(|(i, v)| Edit::Value(i, v)),
        // Quoted, so the document stays YAML and validation sees the value.
        4 => (any::<usize>(), hostile_value())
            .prop_map(|(i, v)| Edit::Value(i, driftwatch_core::records::yaml::quote(&v))),
        1 => (any::<usize>(), hostile_value()).prop_map(|(i, v)| Edit::Line(i, v)),
        2 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Duplicate),
        1 => (any::<usize>(), "[a-z_]{1,12}|id|scope|type|window", hostile_value())
            .prop_map(|(i, k, v)| Edit::Insert(i, k, v)),
        1 => (any::<usize>(), 0usize..9).prop_map(|(i, n)| Edit::Indent(i, n)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// `text` with the edits applied, in order.
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for e in edits {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match e {
            Edit::Value(i, v) => {
                // YAML's `key: value`, TOML's `key = value`, a list item.
                let l = &mut lines[i % n];
                match [": ", "= ", "- "].iter().find_map(|sep| l.find(sep)) {
                    Some(at) => l.replace_range(at + 2.., v),
                    None => l.push_str(&format!(" {v}")),
                }
            }
            Edit::Line(i, v) => lines[i % n] = v.clone(),
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Insert(i, k, v) => lines.insert(i % (n + 1), format!("{k}: {v}")),
            Edit::Indent(i, d) => {
                let l = lines[i % n].trim_start().to_string();
                lines[i % n] = format!("{}{l}", " ".repeat(*d));
            }
            Edit::Truncate(at) => {
                let mut joined = lines.join("\n");
                let mut at = at % (joined.len() + 1);
                while !joined.is_char_boundary(at) {
                    at -= 1;
                }
                joined.truncate(at);
                lines = joined.lines().map(String::from).collect();
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Any JSON value, a few levels deep.
pub fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        hostile_value().prop_map(Value::String),
        "(type|text|content|attrs|language|codeBlock|paragraph|driftwatch|Sid|Effect|Allow|Action|\\*)"
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                "(type|text|content|attrs|language|Statement|Action|Resource|Principal|[a-zA-Z]{1,8})",
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// One change to a JSON document: follow `path` (each step picks a child modulo the count)
/// and replace what is there, or remove it from its parent.
#[derive(Clone, Debug)]
pub enum JsonEdit {
    Replace(Vec<usize>, Value),
    Remove(Vec<usize>),
}

pub fn json_edit() -> impl Strategy<Value = JsonEdit> {
    let path = prop::collection::vec(any::<usize>(), 0..8);
    prop_oneof![
        4 => (path.clone(), json_value()).prop_map(|(p, v)| JsonEdit::Replace(p, v)),
        1 => path.prop_map(JsonEdit::Remove),
    ]
}

fn child(v: &mut Value, step: usize) -> Option<&mut Value> {
    match v {
        Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            a.get_mut(step % n)
        }
        Value::Object(m) if !m.is_empty() => {
            let n = m.len();
            m.values_mut().nth(step % n)
        }
        _ => None,
    }
}

fn has_children(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => false,
    }
}

fn replace_at(v: &mut Value, path: &[usize], new: &Value) {
    match path.split_first() {
        Some((step, rest)) if has_children(v) => {
            replace_at(child(v, *step).expect("a child"), rest, new)
        }
        _ => *v = new.clone(),
    }
}

fn remove_at(v: &mut Value, path: &[usize]) {
    match path {
        [] => {}
        [last] => match v {
            Value::Array(a) if !a.is_empty() => {
                let n = a.len();
                a.remove(last % n);
            }
            Value::Object(m) if !m.is_empty() => {
                let n = m.len();
                if let Some(k) = m.keys().nth(last % n).cloned() {
                    m.remove(&k);
                }
            }
            _ => {}
        },
        [step, rest @ ..] if has_children(v) => remove_at(child(v, *step).expect("a child"), rest),
        _ => {}
    }
}

pub fn apply_json(doc: &mut Value, edit: &JsonEdit) {
    match edit {
        JsonEdit::Replace(path, new) => replace_at(doc, path, new),
        JsonEdit::Remove(path) => remove_at(doc, path),
    }
}

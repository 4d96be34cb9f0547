//! The auditor's report from a real run against moto's server, each renderer checked by a
//! real reader: the HTML in headless Chromium (DOM and screenshot), the XLSX with calamine, the
//! CSV parsed back, the JSON against docs/report.schema.json with Python's jsonschema.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use calamine::{Data, Reader, open_workbook_auto};
use common::*;
use serde_json::Value;

const STANDARD: &str = "id: STD-LB\ntitle: Internal load balancers may reach the inference API\ntype: standard\nrequested_by: priya@example.com\napproved_by: [{ name: marcus@example.com, at: 2026-01-05T09:00:00Z }]\nscope: [{ provider: aws, target: inference-api, actions: [create], match: { port: 8443 } }]\nevidence: [https://wiki.example.com/runbooks/lb]\n";

/// A state with one matched and two unmatched changes, one of them carrying `<script>`.
async fn scenario() -> (Moto, Env) {
    let moto = Moto::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        ..Default::default()
    });
    env.record("std-lb.yaml", STANDARD);
    let ec2 = moto.ec2().await;
    let api = create_group(&ec2, "inference-api").await;
    let jup = create_group(&ec2, "jupyter-lab").await;
    assert_eq!(env.run(&["scan"]).code, 0);
    authorize(&ec2, &api, 8443, "10.20.0.0/16").await;
    authorize(&ec2, &jup, 22, "0.0.0.0/0").await;
    tag(&ec2, &jup, "owner", "<script>alert(1)</script>").await;
    assert_eq!(env.run(&["scan"]).code, 1);
    (moto, env)
}

fn report(env: &Env, format: &str, ext: &str) -> PathBuf {
    let path = env.dir.path().join(format!("report.{ext}"));
    let out = env.run(&[
        "report",
        "--since",
        "1d",
        "--format",
        format,
        "-o",
        path.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("3 changes: 1 matched, 2 unmatched"),
        "{out}"
    );
    path
}

fn chromium(args: &[&str], page: &Path) -> std::process::Output {
    let profile = tempfile::tempdir().expect("profile");
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (scripts/test.sh installs Debian's chromium)")
}

#[tokio::test]
async fn html_report_in_headless_chromium() {
    let (_moto, env) = scenario().await;
    let page = report(&env, "html", "html");
    let html = std::fs::read_to_string(&page).expect("html");
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "no external requests"
    );
    assert!(
        !html.contains("<link") && !html.contains("src="),
        "self-contained"
    );

    let dom = chromium(&["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    for (id, n) in [
        ("total-changes", 3),
        ("total-matched", 1),
        ("total-unmatched", 2),
        ("total-violations", 0),
    ] {
        let needle = format!("id=\"{id}\"");
        let at = dom
            .find(&needle)
            .unwrap_or_else(|| panic!("no {id} in the DOM"));
        let value: String = dom[at..]
            .split('>')
            .nth(1)
            .unwrap_or("")
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        assert_eq!(value, n.to_string(), "{id}");
    }
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the tag value is shown escaped"
    );
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the report's own script element"
    );
    assert!(
        dom.contains("Ledger integrity") && dom.contains("Verified intact"),
        "ledger section"
    );
    assert!(
        dom.contains("ISO/IEC 27001:2022") && dom.contains("CC8.1"),
        "compliance mapping"
    );

    let shot = env.dir.path().join("report.png");
    let out = chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,1800",
        ],
        &page,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a real screenshot ({} bytes)",
        png.len()
    );
}

#[tokio::test]
async fn xlsx_csv_and_json_read_back() {
    let (_moto, env) = scenario().await;

    let xlsx = report(&env, "xlsx", "xlsx");
    let mut wb = open_workbook_auto(&xlsx).expect("open workbook");
    let names = wb.sheet_names();
    assert_eq!(
        names,
        vec![
            "Summary",
            "Changes",
            "Coverage",
            "Records",
            "Break-glass",
            "Not applied",
            "Compliance"
        ]
    );
    let changes = wb.worksheet_range("Changes").expect("Changes sheet");
    assert_eq!(changes.height(), 4, "header and three changes");
    assert!(
        matches!(changes.get((1, 0)), Some(Data::DateTime(_))),
        "observed is a real date: {:?}",
        changes.get((1, 0))
    );
    let decisions: Vec<String> = (1..4)
        .map(|r| {
            changes
                .get((r, 2))
                .map(|d| d.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(decisions.iter().filter(|d| *d == "matched").count(), 1);
    assert_eq!(decisions.iter().filter(|d| *d == "unmatched").count(), 2);
    let summary = wb.worksheet_range("Summary").expect("Summary sheet");
    let value = |label: &str| {
        (0..summary.height())
            .find(|r| summary.get((*r, 0)).map(|d| d.to_string()).as_deref() == Some(label))
            .and_then(|r| summary.get((r, 1)))
            .map(|d| d.to_string())
    };
    assert_eq!(value("Changes").as_deref(), Some("3"));
    assert_eq!(value("Unmatched").as_deref(), Some("2"));
    assert_eq!(value("Ledger verified").as_deref(), Some("yes"));

    let csv = std::fs::read_to_string(report(&env, "csv", "csv")).expect("csv");
    let rows = parse_csv(&csv);
    assert_eq!(
        rows[0],
        driftwatch::report::CSV_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(rows.len(), 4, "{rows:?}");
    let col = |name: &str| {
        driftwatch::report::CSV_COLUMNS
            .iter()
            .position(|c| *c == name)
            .expect("column")
    };
    let tagged = rows
        .iter()
        .find(|r| r[col("kind")] == "aws.ec2.security_group")
        .expect("tag change row");
    assert_eq!(
        tagged[col("fields")],
        "tags.owner: ∅ → <script>alert(1)</script>"
    );
    assert_eq!(tagged[col("retrospective")], "open");
    let matched = rows
        .iter()
        .find(|r| r[col("decision")] == "matched")
        .expect("matched row");
    assert_eq!(matched[col("record_id")], "STD-LB");
    assert_eq!(
        matched[col("evidence")],
        "https://wiki.example.com/runbooks/lb"
    );

    let json = report(&env, "json", "json");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let python =
        Path::new(&std::env::var("DRIFTWATCH_MOTO_SERVER").expect("scripts/test.sh sets it"))
            .with_file_name("python");
    let check = Command::new(python)
        .arg("-c")
        .arg("import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))); print('valid')")
        .arg(&json)
        .arg(&schema)
        .output()
        .expect("python with jsonschema (moto's venv)");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("parse");
    assert_eq!(
        v["totals"]["by_kind"]["aws.ec2.security_group_rule"]["changes"],
        2
    );
    assert_eq!(v["records"][0]["used"], true);
}

/// RFC 4180, enough for our own output.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

//! The command line without peers: help, records check on fixtures, config check.

mod common;

use std::path::Path;

use common::{ACCOUNT, Env, REGION, Settings};

fn fixtures(kind: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/records")
        .join(kind)
        .display()
        .to_string()
}

#[test]
fn help_lists_every_subcommand_with_examples() {
    let env = Env::new(&Settings::default());
    let out = env.run(&["--help"]);
    assert_eq!(out.code, 0);
    for cmd in ["run", "scan", "records", "report", "ledger", "config"] {
        assert!(
            out.stdout.contains(&format!("  {cmd} ")),
            "missing {cmd}: {}",
            out.stdout
        );
    }
    for sub in [
        &["scan", "--help"][..],
        &["run", "--help"],
        &["records", "check", "--help"],
        &["report", "--help"],
        &["ledger", "verify", "--help"],
        &["config", "check", "--help"],
    ] {
        let out = env.run(sub);
        assert_eq!(out.code, 0, "{sub:?}");
        assert!(
            out.stdout.contains("Example"),
            "{sub:?} has no example: {}",
            out.stdout
        );
    }
}

#[test]
fn records_check_good_and_bad_fixtures() {
    let env = Env::new(&Settings::default());
    let out = env.run(&["records", "check", &fixtures("good")]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("2 file(s), 3 valid record(s), 0 error(s)"),
        "{out}"
    );

    let out = env.run(&["records", "check", &fixtures("bad")]);
    assert_eq!(out.code, 1, "{out}");
    let dir = fixtures("bad");
    let mut expected = 0;
    for entry in std::fs::read_dir(&dir).expect("dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        for want in text.lines().filter_map(|l| l.strip_prefix("# expect: ")) {
            expected += 1;
            let line = format!("{dir}/{want}");
            assert!(
                out.stdout.lines().any(|l| l == line),
                "missing `{line}` in:\n{}",
                out.stdout
            );
        }
    }
    assert!(
        out.stdout
            .contains(&format!("0 valid record(s), {expected} error(s)")),
        "{out}"
    );

    let out = env.run(&["records", "check", "/nonexistent/dir"]);
    assert_eq!(out.code, 2, "{out}");
}

/// `records check` reads each record's plan: warnings for what driftwatch does not
/// reconcile (exit 0), errors naming the record's `plan` line and the plan's problem.
#[test]
fn records_check_reads_plans() {
    let env = Env::new(&Settings::default());
    let dir = env.dir.path().join("changes");
    std::fs::create_dir_all(dir.join("plans")).expect("mkdir");
    let record = |id: &str, plan: &str| {
        format!(
            "id: {id}\ntitle: t\ntype: standard\nrequested_by: a@x\napproved_by: [{{ name: b@x, at: 2026-01-01T00:00:00Z }}]\nplan: {plan}\n"
        )
    };
    let plan = r#"{"format_version": "1.2", "resource_changes": [
      {"address": "aws_s3_bucket.logs", "mode": "managed", "type": "aws_s3_bucket", "name": "logs",
       "change": {"actions": ["create"], "before": null, "after": {"bucket": "logs"}, "after_unknown": {}}},
      {"address": "aws_iam_group.ops", "mode": "managed", "type": "aws_iam_group", "name": "ops",
       "change": {"actions": ["create"], "before": null, "after": {"name": "ops", "path": "/"}, "after_unknown": {"arn": true}}}
    ]}"#;
    std::fs::write(dir.join("plans/pr-1.json"), plan).expect("write plan");
    env.record("pr-1.yaml", &record("STD-1", "plans/pr-1.json"));
    let d = dir.to_str().expect("utf-8");
    let out = env.run(&["records", "check", d]);
    assert_eq!(out.code, 0, "{out}");
    let want = format!(
        "warning: {d}/pr-1.yaml:6: plan plans/pr-1.json: aws_s3_bucket.logs: aws_s3_bucket is not a type driftwatch reconciles"
    );
    assert!(out.stdout.contains(&want), "want `{want}` in {out}");
    assert!(
        out.stdout
            .contains("1 valid record(s), 0 error(s), 1 warning(s)"),
        "{out}"
    );

    std::fs::write(dir.join("plans/bad.json"), "{\"format_version\": ").expect("write");
    std::fs::write(dir.join("plans/v2.json"), r#"{"format_version": "2.0"}"#).expect("write");
    env.record("bad.yaml", &record("STD-2", "plans/bad.json"));
    env.record("v2.yaml", &record("STD-3", "plans/v2.json"));
    env.record("gone.yaml", &record("STD-4", "plans/gone.json"));
    let out = env.run(&["records", "check", d]);
    assert_eq!(out.code, 1, "{out}");
    for want in [
        format!("{d}/bad.yaml:6: plan: plans/bad.json: not JSON: EOF while parsing a value"),
        format!("{d}/v2.yaml:6: plan: plans/v2.json: format_version `2.0` is not supported"),
        format!("{d}/gone.yaml:6: plan: plans/gone.json: cannot read: No such file or directory"),
    ] {
        assert!(out.stdout.contains(&want), "want `{want}` in {out}");
    }
    assert!(
        out.stdout
            .contains("1 valid record(s), 3 error(s), 1 warning(s)"),
        "{out}"
    );
}

#[test]
fn duplicate_ids_across_files_name_both_places() {
    let env = Env::new(&Settings::default());
    let rec = "id: STD-1\ntitle: t\ntype: standard\nrequested_by: a@x\napproved_by: [{ name: b@x, at: 2026-01-01T00:00:00Z }]\nscope: [{ provider: aws }]\n";
    env.record("a.yaml", rec);
    env.record("b.yaml", rec);
    let dir = env.dir.path().join("changes");
    let out = env.run(&["records", "check", dir.to_str().expect("utf-8")]);
    assert_eq!(out.code, 1, "{out}");
    let a = dir.join("a.yaml");
    let b = dir.join("b.yaml");
    let want = format!(
        "{}:1: id: duplicate id STD-1 (already defined at {}:1)",
        b.display(),
        a.display()
    );
    assert!(out.stdout.contains(&want), "want `{want}` in {out}");
}

#[test]
fn config_check_reports_every_error_and_redacts_secrets() {
    let env = Env::new(&Settings::default());
    let out = env.run(&["config", "check"]);
    assert_eq!(out.code, 0, "{out}");
    std::fs::write(
        &env.config,
        "interval_secs = 0\n[aws]\nregions = []\n[[aws.accounts]]\nid = \"12\"\n[[sinks]]\ntype = \"webhook\"\nname = \"h\"\nurl = \"https://hooks.example.com/SECRET\"\n",
    )
    .expect("write");
    let out = env.run(&["config", "check"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout.contains("interval_secs: must be at least 1"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("aws.accounts[0].id: `12` is not a 12-digit account id"),
        "{out}"
    );
    assert!(
        out.stdout.contains("aws.accounts[0].regions: no regions"),
        "{out}"
    );
    assert!(
        !out.stdout.contains("SECRET") && !out.stderr.contains("SECRET"),
        "{out}"
    );

    std::fs::write(&env.config, "[aws]\nregion = \"us-east-1\"\n").expect("write");
    let out = env.run(&["config", "check"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("unknown field `region`"), "{out}");
    assert!(out.stdout.contains("line 2"), "{out}");
}

#[test]
fn config_check_names_the_services_and_the_attribution_paths() {
    let env = Env::new(&Settings {
        services: "\"ec2\", \"iam\"",
        extra: "[aws.events]\nqueue_url = \"https://sqs.eu-west-1.amazonaws.com/123456789012/driftwatch-events\"\nwait_secs = 2\n[aws.lookup]\n",
        ..Default::default()
    });
    let out = env.run(&["config", "check"]);
    assert_eq!(out.code, 0, "{out}");
    for want in [
        &format!("source: aws.ec2 account {ACCOUNT} region {REGION}"),
        &format!("source: aws.iam account {ACCOUNT} (global)"),
        "aws.events: CloudTrail events from queue https://sqs.eu-west-1.amazonaws.com/123456789012/driftwatch-events (region eu-west-1)",
        "aws.lookup: CloudTrail LookupEvents for unattributed changes, 2 per second per account and region, first look after 300 s",
    ] {
        assert!(out.stdout.contains(want), "want `{want}` in {out}");
    }
}

#[test]
fn numbers_out_of_range_are_named_by_path_and_nothing_starts() {
    let env = Env::new(&Settings::default());
    let text = std::fs::read_to_string(&env.config).expect("config");
    // The largest u64 used to wrap to -1 hours (or panic in jiff) when the daemon started.
    let text = text
        .replace(
            "[records]\n",
            "[records]\nmax_revert_after_window_hours = 18446744073709551615\ngrace_secs = 9223372036854775808\n",
        )
        .replace("interval_secs = 1\n", "interval_secs = 18446744073709551615\n")
        .replace("timeout_secs = 3\n", "timeout_secs = 0\n")
        + "[alerting]\nquiet_period_secs = 18446744073709551615\n";
    std::fs::write(&env.config, text).expect("write");
    let want = [
        "interval_secs: must be at most 604800 (7 days)",
        "records.grace_secs: must be at most 604800 (7 days)",
        "records.max_revert_after_window_hours: must be at most 8784 (366 days)",
        "aws.timeout_secs: must be at least 1",
        "alerting.quiet_period_secs: must be at most 604800 (7 days)",
    ];
    let out = env.run(&["config", "check"]);
    assert_eq!(out.code, 1, "config check finds problems: {out}");
    let listed: Vec<&str> = out.stdout.lines().skip(1).map(str::trim).collect();
    assert_eq!(listed, want, "{out}");
    // A command that would run exits 2 with the same list, before touching anything.
    let out = env.run(&["scan"]);
    assert_eq!(out.code, 2, "{out}");
    for w in want {
        assert!(out.stderr.contains(w), "missing `{w}`: {out}");
    }
    assert!(!env.dir.path().join("state").exists(), "{out}");
}

#[test]
fn completions_and_man_page() {
    let env = Env::new(&Settings::default());
    for shell in ["bash", "zsh", "fish"] {
        let out = env.run(&["completions", shell]);
        assert_eq!(out.code, 0, "{out}");
        assert!(
            out.stdout.contains("driftwatch") && out.stdout.contains("records"),
            "{shell}: {out}"
        );
    }
    let out = env.run(&["man"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains(".TH driftwatch 1"), "{out}");
    assert!(out.stdout.contains("Exit codes"), "{out}");
}

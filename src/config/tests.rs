use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/driftwatch/driftwatch.toml"), text)
}

const MINIMAL: &str = r#"
[aws]
regions = ["us-east-1"]
[[aws.accounts]]
id = "123456789012"
"#;

#[test]
fn example_config_is_valid() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/driftwatch.example.toml"),
    )
    .expect("example config")
    .replace("DRIFTWATCH_WEBHOOK_URL", "PATH");
    // The shape is valid; PATH is set but is not a URL: the only secret error is that one.
    let cfg = parse(&text).expect("example config parses and validates");
    assert_eq!(
        cfg.secret_errors(),
        vec![FieldError {
            field: "sinks[1].url".into(),
            message: "the URL is not an http(s) URL".into()
        }]
    );
}

#[test]
fn defaults_and_relative_paths() {
    let cfg = parse(MINIMAL).expect("valid");
    assert_eq!(cfg.interval_secs, 300);
    assert_eq!(cfg.records.dir, Path::new("/etc/driftwatch/changes"));
    assert_eq!(
        cfg.aws_scopes(),
        vec![("123456789012".to_string(), "us-east-1".to_string())]
    );
}

#[test]
fn every_error_is_collected_with_its_path() {
    let text = r#"
interval_secs = 0
[aws]
regions = ["useast1"]
page_size = 5000
[[aws.accounts]]
id = "1234"
[[aws.accounts]]
id = "1234"
[[sinks]]
type = "webhook"
name = "hook"
url = "http://a"
url_env = "X"
"#;
    let Err(ConfigError::Invalid { errors, .. }) = parse(text) else {
        panic!("expected Invalid")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "interval_secs",
            "aws.page_size",
            "aws.regions[0]",
            "aws.accounts[0].id",
            "aws.accounts[1].id",
            "aws.accounts[1].id",
            "sinks[0].url"
        ]
    );
}

#[test]
fn unknown_field_names_line_and_key() {
    let err = parse("intervall_secs = 5\n").expect_err("unknown field");
    let text = err.to_string();
    assert!(text.contains("line 1"), "{text}");
    assert!(text.contains("unknown field `intervall_secs`"), "{text}");
}

#[test]
fn secrets_never_print() {
    let s = Secret::new("https://hooks.example.com/T000/B000/XXXX".into());
    assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
    let text = format!(
        "{MINIMAL}\n[[sinks]]\ntype = \"webhook\"\nname = \"h\"\nurl = \"https://hooks.example.com/T000/B000/XXXX\"\n"
    );
    let cfg = parse(&text).expect("valid");
    let url = cfg.sinks[0].url().expect("url");
    assert!(!format!("{url:?}").contains("XXXX"));
    assert!(
        !format!("{cfg:?}").contains("XXXX"),
        "config Debug leaks the URL"
    );
}

#[test]
fn kubernetes_clusters_alone_are_a_source() {
    let cfg = parse(
        r#"
[[kubernetes.clusters]]
name = "prod-eu"
kubeconfig = "kube/prod.yaml"
context = "prod-eu"
kinds = [{ group = "security.istio.io", version = "v1", kind = "AuthorizationPolicy" }]
"#,
    )
    .expect("valid");
    let k = cfg.kubernetes.expect("kubernetes section");
    assert_eq!(
        k.clusters[0].kubeconfig.as_deref(),
        Some(Path::new("/etc/driftwatch/kube/prod.yaml"))
    );
    assert!(k.clusters[0].default_kinds);
    assert_eq!(k.debounce_ms, 250);
}

#[test]
fn kubernetes_errors_name_their_fields() {
    let err = parse(
        r#"
[kubernetes]
sync_timeout_secs = 0
[[kubernetes.clusters]]
name = "a:b"
[[kubernetes.clusters]]
name = "in"
kubeconfig = "k"
in_cluster = true
[[kubernetes.clusters]]
name = "in2"
in_cluster = true
context = "x"
default_kinds = false
[[kubernetes.clusters]]
name = "in3"
in_cluster = true
kinds = [{ version = "v1", kind = "Secret" }, { version = "", kind = "lower" }]
"#,
    )
    .expect_err("invalid");
    let ConfigError::Invalid { errors, .. } = err else {
        panic!("{err}")
    };
    let got: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        got,
        vec![
            "kubernetes.sync_timeout_secs",
            "kubernetes.clusters[0].name",
            "kubernetes.clusters[0].kubeconfig",
            "kubernetes.clusters[1].in_cluster",
            "kubernetes.clusters[2].context",
            "kubernetes.clusters[2].kinds",
            "kubernetes.clusters[3].kinds[0].kind",
            "kubernetes.clusters[3].kinds[1].version",
            "kubernetes.clusters[3].kinds[1].kind",
        ],
        "{errors:#?}"
    );
    assert!(errors[6].message.contains("never read"), "{}", errors[6]);
}

/// Every numeric setting past its range, the largest `u64` included (it used to wrap or
/// panic when converted to a duration).
const OUT_OF_RANGE: &str = r#"
interval_secs = 18446744073709551615
shutdown_drain_secs = 86400
[records]
grace_secs = 18446744073709551615
max_revert_after_window_hours = 18446744073709551615
[obligations]
retrospective_deadline_secs = 9223372036854775808
reminder_offsets_secs = [3600, 18446744073709551615]
[sources]
blind_after_failures = 4294967295
max_delete_fraction = 1.5
delete_guard_min_resources = 4294967295
[aws]
regions = ["us-east-1"]
timeout_secs = 18446744073709551615
max_attempts = 4294967295
burst = 4294967295
requests_per_second = 1e300
[[aws.accounts]]
id = "123456789012"
[[sinks]]
type = "alertmanager"
name = "am"
url = "http://127.0.0.1:9093"
active_secs = 18446744073709551615
timeout_secs = 18446744073709551615
max_attempts = 4294967295
concurrency = 18446744073709551615
[alerting]
quiet_period_secs = 18446744073709551615
escalate_after_failures = 4294967295
[kubernetes]
sync_timeout_secs = 18446744073709551615
debounce_ms = 18446744073709551615
error_window_secs = 18446744073709551615
[[kubernetes.clusters]]
name = "prod"
in_cluster = true
[[records.github]]
repositories = ["acme/infra"]
merge_window_secs = 18446744073709551615
interval_secs = 18446744073709551615
stale_after_secs = 18446744073709551615
timeout_secs = 18446744073709551615
"#;

#[test]
fn every_number_out_of_range_is_named_by_its_path() {
    let Err(ConfigError::Invalid { errors, .. }) = parse(OUT_OF_RANGE) else {
        panic!("expected Invalid")
    };
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "interval_secs: must be at most 604800 (7 days)",
            "shutdown_drain_secs: must be at most 3600 (1 hour)",
            "obligations.retrospective_deadline_secs: must be at most 31622400 (366 days)",
            "obligations.reminder_offsets_secs[1]: must be at most 31622400 (366 days)",
            "sources.blind_after_failures: must be at most 1000",
            "sources.max_delete_fraction: `1.5` must be more than 0 and at most 1 (1 turns the guard off)",
            "sources.delete_guard_min_resources: must be at most 1000000",
            "records.grace_secs: must be at most 604800 (7 days)",
            "records.max_revert_after_window_hours: must be at most 8784 (366 days)",
            "aws.timeout_secs: must be at most 3600 (1 hour)",
            "aws.requests_per_second: must be at most 10000",
            "aws.max_attempts: must be at most 100",
            "aws.burst: must be at most 10000",
            "sinks[0].active_secs: must be at most 31622400 (366 days)",
            "sinks[0].timeout_secs: must be at most 3600 (1 hour)",
            "sinks[0].max_attempts: must be at most 1000",
            "sinks[0].concurrency: must be at most 1024",
            "alerting.quiet_period_secs: must be at most 604800 (7 days)",
            "alerting.escalate_after_failures: must be at most 1000",
            "kubernetes.sync_timeout_secs: must be at most 3600 (1 hour)",
            "kubernetes.debounce_ms: must be at most 60000 (1 minute)",
            "kubernetes.error_window_secs: must be at most 86400 (1 day)",
            "records.github[0].interval_secs: must be at most 604800 (7 days)",
            "records.github[0].timeout_secs: must be at most 3600 (1 hour)",
            "records.github[0].stale_after_secs: must be at most 31622400 (366 days)",
            "records.github[0].merge_window_secs: must be at most 31622400 (366 days)",
        ]
    );
}

#[test]
fn typed_settings_saturate_instead_of_wrapping() {
    // A config that skipped validation still converts without panicking or wrapping.
    let mut cfg = parse(MINIMAL).expect("valid");
    cfg.records.max_revert_after_window_hours = u64::MAX;
    cfg.records.grace_secs = u64::MAX;
    cfg.alerting.quiet_period_secs = u64::MAX;
    cfg.obligations.retrospective_deadline_secs = u64::MAX;
    let max = jiff::SignedDuration::from_secs(i64::MAX);
    assert_eq!(cfg.records.validation().max_revert_after_window, max);
    assert_eq!(cfg.records.match_settings().grace, max);
    assert_eq!(cfg.alerting.quiet_period(), max);
    assert_eq!(cfg.obligations.schedule().deadline, max);
    let defaults = parse(MINIMAL).expect("valid");
    assert_eq!(
        defaults.records.validation().max_revert_after_window,
        jiff::SignedDuration::from_hours(720)
    );
    assert_eq!(
        defaults.alerting.quiet_period(),
        jiff::SignedDuration::from_secs(900)
    );
}

#[test]
fn aws_events_settings_are_validated_and_the_region_comes_from_the_url() {
    let ok = format!(
        "{MINIMAL}[aws.events]\nqueue_url = \"https://sqs.eu-west-1.amazonaws.com/123456789012/driftwatch-events\"\n"
    );
    let cfg = parse(&ok).expect("valid");
    let events = cfg
        .aws
        .as_ref()
        .and_then(|a| a.events.as_ref())
        .expect("events");
    assert_eq!(events.region(), "eu-west-1");
    assert_eq!((events.wait_secs, events.max_messages), (20, 10));
    let moto =
        format!("{MINIMAL}[aws.events]\nqueue_url = \"http://127.0.0.1:5000/123456789012/q\"\n");
    let cfg = parse(&moto).expect("valid");
    assert_eq!(
        cfg.aws
            .and_then(|a| a.events)
            .map(|e| e.region())
            .as_deref(),
        Some("us-east-1")
    );
    let bad = "[aws]\nregions = [\"us-east-1\"]\ntimeout_secs = 10\n[[aws.accounts]]\nid = \"123456789012\"\n[aws.events]\nqueue_url = \"not a url\"\nregion = \"moon\"\nwait_secs = 21\nmax_messages = 0\nvisibility_timeout_secs = 0\nsurprise = 1\n";
    let Err(e) = parse(bad) else {
        panic!("expected an error")
    };
    assert!(
        e.to_string().contains("surprise"),
        "unknown keys are refused: {e}"
    );
    let bad = bad.replace("surprise = 1\n", "");
    let Err(ConfigError::Invalid { errors, .. }) = parse(&bad) else {
        panic!("expected Invalid")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "aws.events.queue_url",
            "aws.events.region",
            "aws.events.wait_secs",
            "aws.events.max_messages",
            "aws.events.visibility_timeout_secs",
            "aws.events.wait_secs",
        ],
        "{errors:?}"
    );
}

#[test]
fn aws_lookup_settings_are_validated() {
    let cfg = parse(&format!("{MINIMAL}[aws.lookup]\n")).expect("defaults are valid");
    let l = cfg.aws.and_then(|a| a.lookup).expect("lookup");
    assert_eq!(
        (
            l.requests_per_second,
            l.delay_secs,
            l.retry_secs,
            l.give_up_after_secs
        ),
        (2.0, 300, 300, 10_800)
    );
    let bad = format!(
        "{MINIMAL}[aws.lookup]\nendpoint_url = \"::\"\nrequests_per_second = 5\nretry_secs = 0\ngive_up_after_secs = 0\n"
    );
    let Err(ConfigError::Invalid { errors, .. }) = parse(&bad) else {
        panic!("expected Invalid")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "aws.lookup.endpoint_url",
            "aws.lookup.requests_per_second",
            "aws.lookup.retry_secs",
            "aws.lookup.give_up_after_secs",
        ]
    );
}

#[test]
fn store_settings_are_validated_and_the_password_stays_apart() {
    let cfg = parse(&format!(
        "{MINIMAL}[store]\nurl = \"postgres://driftwatch@db.internal:5432/driftwatch\"\npassword_env = \"DRIFTWATCH_TEST_UNSET_PG_PASSWORD\"\n"
    ))
    .expect("a PostgreSQL store is valid");
    let store = cfg.store.as_ref().expect("store");
    assert_eq!(
        store.url,
        "postgres://driftwatch@db.internal:5432/driftwatch"
    );
    assert_eq!(store.ca_file, None);
    let with_ca = parse(&format!(
        "{MINIMAL}[store]\nurl = \"postgres://driftwatch@db.internal/dw?sslmode=require\"\nca_file = \"pg/ca.crt\"\n"
    ))
    .expect("a CA file and sslmode are valid");
    assert_eq!(
        with_ca.store.and_then(|s| s.ca_file),
        Some(Path::new("/etc/driftwatch/pg/ca.crt").to_path_buf()),
        "relative to the config file"
    );
    // The password is read when the store is opened; an unset variable is named by its field.
    let errs = cfg.secret_errors();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, "store.password", "{errs:?}");
    assert!(
        errs[0]
            .message
            .contains("DRIFTWATCH_TEST_UNSET_PG_PASSWORD"),
        "{errs:?}"
    );

    for (url, message) in [
        ("mysql://a@b/c", "must be a postgres:// URL"),
        ("postgres://dw:hunter2@db/driftwatch", "holds a password"),
        (
            "postgres://dw@db:notaport/driftwatch",
            "is not a PostgreSQL connection URL",
        ),
    ] {
        let Err(ConfigError::Invalid { errors, .. }) =
            parse(&format!("{MINIMAL}[store]\nurl = \"{url}\"\n"))
        else {
            panic!("{url} should be refused")
        };
        assert_eq!(errors.len(), 1, "{url}: {errors:?}");
        assert_eq!(errors[0].field, "store.url", "{url}");
        assert!(errors[0].message.contains(message), "{url}: {errors:?}");
        // A refused URL is never echoed with its password.
        assert!(
            !errors.iter().any(|e| e.to_string().contains("hunter2")),
            "{errors:?}"
        );
    }
    let both = parse(&format!(
        "{MINIMAL}[store]\nurl = \"postgres://dw@db/x\"\npassword_env = \"A\"\npassword_file = \"/run/secrets/pg\"\n"
    ));
    let Err(ConfigError::Invalid { errors, .. }) = both else {
        panic!("two sources of one password: {both:?}")
    };
    assert_eq!(errors[0].field, "store.password", "{errors:?}");
    let unknown = parse(&format!(
        "{MINIMAL}[store]\nurl = \"postgres://dw@db/x\"\nport = 5432\n"
    ))
    .expect_err("unknown keys are refused");
    assert!(unknown.to_string().contains("port"), "{unknown}");
}

#[test]
fn ha_needs_a_shared_store_and_names_its_fields() {
    let store = "[store]\nurl = \"postgres://driftwatch@db/driftwatch\"\n";
    let cfg = parse(&format!("{MINIMAL}{store}[ha]\nelection = \"postgres\"\n")).expect("valid");
    let ha = cfg.ha.expect("ha");
    assert_eq!(ha.election, Election::Postgres);
    assert_eq!(ha.lease_duration_secs, 15);
    assert_eq!(ha.retry_period(), std::time::Duration::from_secs(3));
    assert_eq!(ha.lease_name, "driftwatch");
    assert_eq!(ha.replicas, 1);
    assert!(!ha.sharded());
    assert!(
        ha.identity().ends_with(&format!("-{}", std::process::id())),
        "{}",
        ha.identity()
    );

    let Err(ConfigError::Invalid { errors, .. }) = parse(&format!(
        "{MINIMAL}[ha]\nelection = \"postgres\"\nlease_duration_secs = 1\nlease_name = \"Drift_Watch\"\nlease_namespace = \"ops\"\nreplicas = 0\n"
    )) else {
        panic!("expected Invalid")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "ha.replicas",
            "ha",
            "ha.lease_duration_secs",
            "ha.lease_name",
            "ha.election"
        ],
        "{errors:?}"
    );
    assert!(errors[1].message.contains("PostgreSQL store"), "{errors:?}");

    let cfg = parse(&format!(
        "{MINIMAL}{store}[ha]\nelection = \"kubernetes\"\nlease_namespace = \"ops\"\nkubeconfig = \"kube/config\"\nidentity = \"pod-a\"\n"
    ))
    .expect("valid");
    let ha = cfg.ha.expect("ha");
    assert_eq!(ha.namespace(), "ops");
    assert_eq!(ha.identity(), "pod-a");
    assert_eq!(
        ha.kubeconfig.as_deref(),
        Some(Path::new("/etc/driftwatch/kube/config"))
    );
    let bad = parse(&format!("{MINIMAL}{store}[ha]\nelection = \"etcd\"\n"))
        .expect_err("unknown election");
    assert!(bad.to_string().contains("etcd"), "{bad}");
}

#[test]
fn sharded_replicas_do_not_read_the_event_queue_yet() {
    let text = format!(
        "{MINIMAL}[aws.events]\nqueue_url = \"https://sqs.us-east-1.amazonaws.com/123456789012/dw\"\n[store]\nurl = \"postgres://dw@db/dw\"\n[ha]\nelection = \"postgres\"\nreplicas = 3\n"
    );
    let Err(ConfigError::Invalid { errors, .. }) = parse(&text) else {
        panic!("expected Invalid")
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "ha.replicas");
    assert!(parse(&text.replace("replicas = 3", "replicas = 1")).is_ok());
}

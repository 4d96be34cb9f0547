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

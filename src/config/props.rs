//! Property tests of `Config::parse`: arbitrary text, and valid configurations with values
//! replaced by hostile ones (TOML's own included: deep arrays and inline tables, odd dates
//! and numbers), lines dropped, duplicated, re-indented or cut. It returns, never panics, and
//! every error names the file, and a line (syntax) or a field path (validation).

use std::path::Path;

use proptest::prelude::*;

use super::{Config, ConfigError};
use crate::proptest_common::{apply, config, edit, hostile_value};

const PATH: &str = "/etc/driftwatch/driftwatch.toml";

/// A configuration touching every section (the example covers the rest).
const FULL: &str = r#"
interval_secs = 60
log_level = "driftwatch=debug,info"
[records]
dir = "changes"
bot_patterns = ["*-bot", "ci-*"]
[[records.github]]
repositories = ["acme/infra"]
token_file = "gh.token"
[[records.jira]]
url = "https://acme.atlassian.net"
email = "dw@acme.com"
token_env = "JIRA_TOKEN"
jql = "project = CHG"
[records.jira.fields]
scope = "customfield_10042"
window_start = "customfield_1"
window_end = "customfield_2"
[[records.linear]]
token = "lin_api_x"
[aws]
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "http://127.0.0.1:5000"
[[aws.accounts]]
id = "123456789012"
role_arn = "arn:aws:iam::123456789012:role/driftwatch"
external_id = "x"
[[kubernetes.clusters]]
name = "prod-eu"
kubeconfig = "kube/prod.yaml"
context = "prod-eu"
kinds = [{ group = "security.istio.io", version = "v1", kind = "AuthorizationPolicy" }]
[rules]
sensitive_ports = [22, 3389]
trusted_accounts = ["111111111111"]
[[sinks]]
type = "slack"
name = "slack"
url_env = "SLACK_URL"
[[sinks]]
type = "pagerduty"
name = "pd"
routing_key_file = "pd.key"
[[sinks]]
type = "alertmanager"
name = "am"
url = "http://127.0.0.1:9093"
[alerting]
quiet_period_secs = 0
[[alerting.routes]]
sinks = ["pd"]
events = ["unmatched"]
min_severity = "critical"
providers = ["aws"]
scopes = ["aws:123456789012:*"]
"#;

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/driftwatch.example.toml");
    std::fs::read_to_string(path).expect("example config")
}

/// TOML values: deep arrays and inline tables, dates, numbers and strings TOML has its own
/// rules for.
fn toml_value() -> BoxedStrategy<String> {
    prop_oneof![
        3 => hostile_value(),
        1 => (1usize..400).prop_map(|d| format!("{}1{}", "[".repeat(d), "]".repeat(d))),
        1 => (1usize..400).prop_map(|d| format!("{}1{}", "{ a = ".repeat(d), " }".repeat(d))),
        1 => prop::sample::select(vec![
            "1979-05-27T07:32:00Z", "1979-05-27 07:32:00.999999999-07:00", "07:32:00",
            "1979-05-27", "inf", "-inf", "nan", "0xDEADBEEF", "0o755", "0b1101",
            "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1e999",
            "\"\"\"", "'''", "\"\\u0000\"", "\"\\uD800\"", "\"\\U0010FFFF\"", "'\u{7f}'",
            "[1, \"a\"]", "{ }", "{ a = 1, a = 2 }", "true", "TRUE", "\"\u{202e}\"",
        ])
        .prop_map(String::from),
    ]
    .boxed()
}

fn check(text: &str) -> Result<(), TestCaseError> {
    match Config::parse(Path::new(PATH), text) {
        Ok(_) => {}
        Err(ConfigError::Parse { path, message }) => {
            prop_assert_eq!(path, Path::new(PATH));
            prop_assert!(
                message.contains("line "),
                "a syntax error without its line: {}",
                message
            );
        }
        Err(ConfigError::Invalid { path, errors }) => {
            prop_assert_eq!(path, Path::new(PATH));
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert!(!e.field.is_empty(), "an error without its field: {:?}", e);
                prop_assert!(!e.message.is_empty(), "an empty message: {:?}", e);
            }
        }
        Err(other) => prop_assert!(false, "parse does no IO: {}", other),
    }
    Ok(())
}

#[test]
fn the_bases_are_valid() {
    for text in [example(), FULL.to_string()] {
        Config::parse(Path::new(PATH), &text).unwrap_or_else(|e| panic!("{e}"));
    }
}

proptest! {
    #![proptest_config(config("proptest-regressions/config.txt", 1))]

    #[test]
    fn configs_of_any_text(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn configs_of_toml_punctuation(text in "[a-z_0-9 =\\[\\]{}\"'.,#\n\t:-]{0,300}") {
        check(&text)?;
    }

    #[test]
    fn mutated_configs(full in any::<bool>(), edits in prop::collection::vec(edit(), 1..5),
                       value in toml_value(), line in any::<usize>()) {
        let base = if full { FULL.to_string() } else { example() };
        let mut edits = edits;
        edits.push(crate::proptest_common::Edit::Value(line, value));
        check(&apply(&base, &edits))?;
    }
}

/// Nesting far past anything a config needs is an error with its line, not a stack
/// overflow.
#[test]
fn deeply_nested_values_are_a_syntax_error_or_a_type_error() {
    for d in [1_000, 100_000] {
        for value in [
            format!("{}1{}", "[".repeat(d), "]".repeat(d)),
            format!("{}1{}", "{ a = ".repeat(d), " }".repeat(d)),
        ] {
            let text = format!("interval_secs = {value}\n");
            match Config::parse(Path::new(PATH), &text) {
                Err(ConfigError::Parse { message, .. }) => {
                    assert!(message.contains("line 1"), "{message}")
                }
                other => panic!("depth {d}: {other:?}"),
            }
        }
    }
}

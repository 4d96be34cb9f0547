//! Ticket-source sections: defaults, paths, every problem with its path, unreadable tokens.

use std::path::Path;

use super::super::{Config, ConfigError, SecretRef, SecretSource};

const AWS: &str = "[aws]\nregions = [\"us-east-1\"]\n[[aws.accounts]]\nid = \"123456789012\"\n";

fn problems(extra: &str) -> Vec<String> {
    match Config::parse(
        Path::new("/etc/driftwatch/d.toml"),
        &format!("{AWS}{extra}"),
    ) {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid { errors, .. }) => errors.iter().map(|e| e.to_string()).collect(),
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn valid_sources_with_defaults_and_paths() {
    let cfg = Config::parse(
        Path::new("/etc/driftwatch/d.toml"),
        &format!(
            "{AWS}[[records.github]]\nrepositories = [\"acme/infra\"]\ntoken_file = \"gh.token\"\n\
             [[records.jira]]\nurl = \"https://acme.atlassian.net\"\nemail = \"dw@acme.com\"\ntoken_env = \"JIRA_TOKEN\"\njql = \"project = CHG\"\n\
             [records.jira.fields]\nscope = \"customfield_10042\"\n\
             [[records.linear]]\ntoken = \"lin_api_x\"\n"
        ),
    )
    .expect("valid");
    let gh = &cfg.records.github[0];
    assert_eq!(
        (gh.name.as_str(), gh.label.as_str()),
        ("github", "security-change")
    );
    assert_eq!(
        gh.token.as_ref().and_then(SecretRef::source),
        Some(&SecretSource::File("/etc/driftwatch/gh.token".into()))
    );
    assert_eq!(
        cfg.records.jira[0].fields.approved_statuses,
        vec!["Approved"]
    );
    assert_eq!(
        cfg.records.linear[0].api_url,
        "https://api.linear.app/graphql"
    );
    assert!(!format!("{:?}", cfg.records.linear[0]).contains("lin_api_x"));
}

#[test]
fn every_problem_with_its_path() {
    let got = problems(
        "[[records.github]]\nrepositories = [\"infra\"]\ninterval_secs = 600\nstale_after_secs = 60\npage_size = 500\n\
         [[records.jira]]\nname = \"github\"\nurl = \"acme\"\nemail = \"\"\njql = \" \"\n\
         [records.jira.fields]\nwindow_start = \"customfield_1\"\n\
         [[records.linear]]\ntoken = \"a\"\ntoken_env = \"B\"\napproved_states = []\n",
    );
    assert_eq!(
        got,
        vec![
            "records.github[0].stale_after_secs: must be at least interval_secs (600): a source is not stale before its next poll",
            "records.github[0].page_size: must be between 1 and 100",
            "records.jira[0].name: records source name `github` is used twice",
            "records.jira[0].url: `acme` is not an http(s) URL",
            "records.jira[0].token: set exactly one of token, token_env, token_file",
            "records.linear[0].token: set exactly one of token, token_env, token_file",
            "records.github[0].repositories[0]: `infra` is not owner/name",
            "records.jira[0].jql: must not be empty",
            "records.jira[0].email: must not be empty",
            "records.jira[0].fields: set both window_start and window_end, or neither",
            "records.linear[0].approved_states: name at least one workflow state",
        ]
    );
    assert_eq!(
        problems("[[records.github]]\nrepositories = [\"a/b\"]\ntokn = \"x\"\n").len(),
        1,
        "unknown keys are errors"
    );
}

#[test]
fn unreadable_tokens_are_named_never_shown() {
    let cfg = Config::parse(
        Path::new("/etc/driftwatch/d.toml"),
        &format!("{AWS}[[records.linear]]\ntoken_env = \"DRIFTWATCH_TEST_UNSET_LINEAR\"\n"),
    )
    .expect("valid shape");
    let errs: Vec<String> = cfg.secret_errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errs,
        vec![
            "records.linear[0].token: environment variable DRIFTWATCH_TEST_UNSET_LINEAR (token_env) is not set"
        ]
    );
}

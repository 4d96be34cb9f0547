//! Change records kept in ticket systems (`[[records.github]]`, `[[records.jira]]`,
//! `[[records.linear]]`): where to read them, how often, and the token (inline, `token_env`
//! or `token_file`, like the sinks' secrets; never printed).

// As with the sinks, each section repeats its schedule and token fields (`token`, `token_env`,
// `token_file`): `deny_unknown_fields` cannot be combined with `#[serde(flatten)]`, and unknown
// keys must stay errors. `commons` reads them back as one shape for the shared checks.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::sinks::{given, http_url, optional_secret, required_secret};
use super::{FieldError, Secret};

fn default_interval() -> u64 {
    300
}
fn default_stale() -> u64 {
    3600
}
fn default_timeout() -> u64 {
    30
}
fn default_label() -> String {
    "security-change".into()
}
fn default_approved() -> Vec<String> {
    vec!["Approved".into()]
}

/// GitHub issues and pull requests with a label, in some repositories.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubRecordsConfig {
    /// Names the source in messages, metrics and alerts (letters, digits, `-`, `_`).
    #[serde(default = "default_github_name")]
    pub name: String,
    /// The REST API root (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[serde(default = "default_github_api")]
    pub api_url: String,
    /// `owner/name` of each repository to read.
    pub repositories: Vec<String>,
    #[serde(default = "default_label")]
    pub label: String,
    /// A token that can read the repositories' issues and pull requests.
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// How long after its merge a pull request's window stays open when its block has none.
    #[serde(default = "default_merge_window")]
    pub merge_window_secs: u64,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Raise `records_source_stale` when no poll has succeeded for this long.
    #[serde(default = "default_stale")]
    pub stale_after_secs: u64,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Items per page (GitHub allows up to 100).
    #[serde(default = "default_github_page")]
    pub page_size: u32,
}

fn default_github_name() -> String {
    "github".into()
}
fn default_github_api() -> String {
    "https://api.github.com".into()
}
fn default_merge_window() -> u64 {
    86_400
}
fn default_github_page() -> u32 {
    100
}

/// Jira Cloud issues found by a JQL search.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraRecordsConfig {
    #[serde(default = "default_jira_name")]
    pub name: String,
    /// The site, e.g. `https://acme.atlassian.net`.
    pub url: String,
    /// The account the API token belongs to (basic authentication).
    pub email: String,
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Which issues are change records, e.g. `project = CHG AND status in (Approved, Implementing)`.
    pub jql: String,
    #[serde(default)]
    pub fields: JiraFieldsConfig,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    #[serde(default = "default_stale")]
    pub stale_after_secs: u64,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_jira_page")]
    pub page_size: u32,
}

fn default_jira_name() -> String {
    "jira".into()
}
fn default_jira_page() -> u32 {
    50
}

/// Which Jira fields hold parts of the record; the rest comes from the description's block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraFieldsConfig {
    /// Date-time custom fields (`customfield_10040`) for the window.
    #[serde(default)]
    pub window_start: Option<String>,
    #[serde(default)]
    pub window_end: Option<String>,
    /// A text field holding the scope list as YAML.
    #[serde(default)]
    pub scope: Option<String>,
    /// A user or multi-user field naming the approver(s); without it, approval is a
    /// transition into one of `approved_statuses` by a person.
    #[serde(default)]
    pub approver: Option<String>,
    #[serde(default = "default_approved")]
    pub approved_statuses: Vec<String>,
}

impl Default for JiraFieldsConfig {
    fn default() -> Self {
        JiraFieldsConfig {
            window_start: None,
            window_end: None,
            scope: None,
            approver: None,
            approved_statuses: default_approved(),
        }
    }
}

/// Linear issues with a label.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearRecordsConfig {
    #[serde(default = "default_linear_name")]
    pub name: String,
    #[serde(default = "default_linear_api")]
    pub api_url: String,
    /// A Linear API key.
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default = "default_label")]
    pub label: String,
    /// Workflow states whose entry by a person (not the creator) is an approval.
    #[serde(default = "default_approved")]
    pub approved_states: Vec<String>,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    #[serde(default = "default_stale")]
    pub stale_after_secs: u64,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_linear_page")]
    pub page_size: u32,
}

fn default_linear_name() -> String {
    "linear".into()
}
fn default_linear_api() -> String {
    "https://api.linear.app/graphql".into()
}
fn default_linear_page() -> u32 {
    50
}

/// The settings every ticket source has, for shared checks.
struct Common<'a> {
    path: String,
    name: &'a str,
    url: &'a str,
    interval: u64,
    stale: u64,
    timeout: u64,
    page: (u32, u32),
    token: (
        &'a Option<Secret>,
        &'a Option<String>,
        &'a Option<PathBuf>,
        bool,
    ),
    /// The token can be read (variable set, file readable).
    readable: Result<(), String>,
}

impl GithubRecordsConfig {
    pub fn token(&self) -> Result<Option<Secret>, String> {
        optional_secret("token", &self.token, &self.token_env, &self.token_file)
    }
}

impl JiraRecordsConfig {
    pub fn token(&self) -> Result<Secret, String> {
        required_secret("token", &self.token, &self.token_env, &self.token_file)
    }
}

impl LinearRecordsConfig {
    pub fn token(&self) -> Result<Secret, String> {
        required_secret("token", &self.token, &self.token_env, &self.token_file)
    }
}

impl super::RecordsConfig {
    fn commons(&self) -> Vec<Common<'_>> {
        // Every source section has these fields under the same names (but the URL's).
        macro_rules! common {
            ($kind:literal, $url:ident, $max_page:expr, $required:expr) => {
                |(i, c)| Common {
                    path: format!(concat!("records.", $kind, "[{}]"), i),
                    name: &c.name,
                    url: &c.$url,
                    interval: c.interval_secs,
                    stale: c.stale_after_secs,
                    timeout: c.timeout_secs,
                    page: (c.page_size, $max_page),
                    token: (&c.token, &c.token_env, &c.token_file, $required),
                    readable: c.token().map(|_| ()),
                }
            };
        }
        let github = self
            .github
            .iter()
            .enumerate()
            .map(common!("github", api_url, 100, false));
        let jira = self
            .jira
            .iter()
            .enumerate()
            .map(common!("jira", url, 100, true));
        let linear = self
            .linear
            .iter()
            .enumerate()
            .map(common!("linear", api_url, 250, true));
        github.chain(jira).chain(linear).collect()
    }

    pub(super) fn resolve_source_paths(&mut self, base: &Path) {
        let files = self
            .github
            .iter_mut()
            .map(|c| &mut c.token_file)
            .chain(self.jira.iter_mut().map(|c| &mut c.token_file))
            .chain(self.linear.iter_mut().map(|c| &mut c.token_file));
        for f in files.flatten() {
            if f.is_relative() {
                *f = base.join(&*f);
            }
        }
    }

    /// The shape of every ticket source's settings.
    pub(super) fn validate_sources(&self, errs: &mut Vec<FieldError>) {
        let mut err = |field: String, message: String| errs.push(FieldError { field, message });
        let mut names: Vec<&str> = Vec::new();
        for c in self.commons() {
            let p = &c.path;
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                err(
                    format!("{p}.name"),
                    format!("`{}` must be letters, digits, - or _", c.name),
                );
            } else if names.contains(&c.name) {
                err(
                    format!("{p}.name"),
                    format!("records source name `{}` is used twice", c.name),
                );
            }
            names.push(c.name);
            if let Err(e) = http_url(c.url) {
                let f = if p.starts_with("records.jira") {
                    "url"
                } else {
                    "api_url"
                };
                err(format!("{p}.{f}"), e);
            }
            for (f, v) in [("interval_secs", c.interval), ("timeout_secs", c.timeout)] {
                if v == 0 {
                    err(format!("{p}.{f}"), "must be at least 1".into());
                }
            }
            if c.stale < c.interval {
                err(
                    format!("{p}.stale_after_secs"),
                    format!(
                        "must be at least interval_secs ({}): a source is not stale before its next poll",
                        c.interval
                    ),
                );
            }
            if !(1..=c.page.1).contains(&c.page.0) {
                err(
                    format!("{p}.page_size"),
                    format!("must be between 1 and {}", c.page.1),
                );
            }
            let (inline, env, file, required) = c.token;
            if let Err(e) = given("token", required, inline, env, file) {
                err(format!("{p}.token"), e);
            }
        }
        for (i, c) in self.github.iter().enumerate() {
            if c.repositories.is_empty() {
                err(
                    format!("records.github[{i}].repositories"),
                    "name at least one repository (owner/name)".into(),
                );
            }
            for (j, r) in c.repositories.iter().enumerate() {
                let ok = r.split('/').count() == 2
                    && r.split('/').all(|s| {
                        !s.is_empty()
                            && s.chars()
                                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
                    });
                if !ok {
                    err(
                        format!("records.github[{i}].repositories[{j}]"),
                        format!("`{r}` is not owner/name"),
                    );
                }
            }
            if c.label.trim().is_empty() {
                err(
                    format!("records.github[{i}].label"),
                    "must not be empty".into(),
                );
            }
        }
        for (i, c) in self.jira.iter().enumerate() {
            if c.jql.trim().is_empty() {
                err(format!("records.jira[{i}].jql"), "must not be empty".into());
            }
            if c.email.trim().is_empty() {
                err(
                    format!("records.jira[{i}].email"),
                    "must not be empty".into(),
                );
            }
            let f = &c.fields;
            if f.window_start.is_some() != f.window_end.is_some() {
                err(
                    format!("records.jira[{i}].fields"),
                    "set both window_start and window_end, or neither".into(),
                );
            }
            if f.approver.is_none() && f.approved_statuses.is_empty() {
                err(
                    format!("records.jira[{i}].fields.approved_statuses"),
                    "name at least one status, or set fields.approver".into(),
                );
            }
        }
        for (i, c) in self.linear.iter().enumerate() {
            if c.approved_states.is_empty() {
                err(
                    format!("records.linear[{i}].approved_states"),
                    "name at least one workflow state".into(),
                );
            }
            if c.label.trim().is_empty() {
                err(
                    format!("records.linear[{i}].label"),
                    "must not be empty".into(),
                );
            }
        }
    }

    /// Tokens that cannot be read (unset variable, unreadable file); never the value.
    pub(super) fn source_secret_errors(&self, errs: &mut Vec<FieldError>) {
        for c in self.commons() {
            if let Err(message) = c.readable {
                errs.push(FieldError {
                    field: format!("{}.token", c.path),
                    message,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, ConfigError};

    const AWS: &str = "[aws]\nregions = [\"us-east-1\"]\n[[aws.accounts]]\nid = \"123456789012\"\n";

    fn problems(extra: &str) -> Vec<String> {
        match Config::parse(
            Path::new("/etc/driftwatch/d.toml"),
            &format!("{AWS}{extra}"),
        ) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid { errors, .. }) => {
                errors.iter().map(|e| e.to_string()).collect()
            }
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
            gh.token_file.as_deref(),
            Some(Path::new("/etc/driftwatch/gh.token"))
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
}

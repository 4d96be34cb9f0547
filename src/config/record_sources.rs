//! Change records kept in ticket systems (`[[records.github]]`, `[[records.jira]]`,
//! `[[records.linear]]`): where to read them, how often, and the token (a `SecretRef`:
//! inline, `token_env` or `token_file`, like the sinks' secrets; never printed). Each section
//! is built into its loader by `build()` in `records::remote` (config does not know them).

// As with the sinks, each section repeats its schedule fields: `deny_unknown_fields` cannot be
// combined with `#[serde(flatten)]`, and unknown keys must stay errors. `commons` reads them
// back as one shape for the shared checks; the token is declared through
// `section_with_secrets!`.

use std::time::Duration;

use jiff::SignedDuration;
use serde::Deserialize;

use super::bounds::{self, HOUR, Unit, WEEK, YEAR};
use super::secret::section_with_secrets;
use super::sinks::http_url;
use super::{FieldError, SecretError, SecretRef};

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

section_with_secrets! {
    /// GitHub issues and pull requests with a label, in some repositories.
    pub struct GithubRecordsConfig via RawGithubRecordsConfig {
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
        /// Accounts whose pull request comments may carry the approved plan (a
        /// ```driftwatch-plan block), besides the author: the CI bot that posts
        /// `terraform show -json` (`github-actions[bot]`). Empty: comments are not read, only
        /// a plan block in the description counts.
        #[serde(default)]
        pub plan_commenters: Vec<String>,
    }
    secrets {
        /// A token that can read the repositories' issues and pull requests (public
        /// repositories need none).
        token: optional(token_env, token_file),
    }
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

section_with_secrets! {
    /// Jira Cloud issues found by a JQL search.
    pub struct JiraRecordsConfig via RawJiraRecordsConfig {
        #[serde(default = "default_jira_name")]
        pub name: String,
        /// The site, e.g. `https://acme.atlassian.net`.
        pub url: String,
        /// The account the API token belongs to (basic authentication).
        pub email: String,
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
    secrets {
        /// The API token of `email`.
        token: required(token_env, token_file),
    }
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

section_with_secrets! {
    /// Linear issues with a label.
    pub struct LinearRecordsConfig via RawLinearRecordsConfig {
        #[serde(default = "default_linear_name")]
        pub name: String,
        #[serde(default = "default_linear_api")]
        pub api_url: String,
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
    secrets {
        /// A Linear API key.
        token: required(token_env, token_file),
    }
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
    /// The key of the URL setting (`api_url`, or Jira's `url`) and its value.
    url: (&'static str, &'a str),
    interval: u64,
    stale: u64,
    timeout: u64,
    page: (u32, u32),
    /// Always given for Jira and Linear (possibly written wrong); optional for GitHub.
    token: Option<&'a SecretRef>,
}

/// The schedule and timeout of a ticket source, typed.
macro_rules! source_timing {
    ($($section:ty),*) => {$(
        impl $section {
            /// Time between polls.
            pub fn interval(&self) -> Duration {
                bounds::secs(self.interval_secs)
            }
            /// Age of the last good poll past which the source is stale.
            pub fn stale_after(&self) -> SignedDuration {
                bounds::signed_secs(self.stale_after_secs)
            }
            /// Per-request timeout.
            pub fn timeout(&self) -> Duration {
                bounds::secs(self.timeout_secs)
            }
        }
    )*};
}

source_timing!(GithubRecordsConfig, JiraRecordsConfig, LinearRecordsConfig);

impl GithubRecordsConfig {
    fn token_ref(&self) -> Option<&SecretRef> {
        self.token.as_ref()
    }

    /// How long a merged pull request's window lasts when its block gives none.
    pub fn merge_window(&self) -> SignedDuration {
        bounds::signed_secs(self.merge_window_secs)
    }
}

impl JiraRecordsConfig {
    fn token_ref(&self) -> Option<&SecretRef> {
        Some(&self.token)
    }
}

impl LinearRecordsConfig {
    fn token_ref(&self) -> Option<&SecretRef> {
        Some(&self.token)
    }
}

impl super::RecordsConfig {
    fn commons(&self) -> Vec<Common<'_>> {
        // Every source section has these fields under the same names (but the URL's).
        macro_rules! common {
            ($kind:literal, $url:ident, $max_page:expr) => {
                |(i, c)| Common {
                    path: format!(concat!("records.", $kind, "[{}]"), i),
                    name: &c.name,
                    url: (stringify!($url), &c.$url),
                    interval: c.interval_secs,
                    stale: c.stale_after_secs,
                    timeout: c.timeout_secs,
                    page: (c.page_size, $max_page),
                    token: c.token_ref(),
                }
            };
        }
        let github = (self.github.iter().enumerate()).map(common!("github", api_url, 100));
        let jira = (self.jira.iter().enumerate()).map(common!("jira", url, 100));
        let linear = (self.linear.iter().enumerate()).map(common!("linear", api_url, 250));
        github.chain(jira).chain(linear).collect()
    }

    /// Every token with the path of its section (`records.jira[0]`).
    pub(super) fn secrets_mut(&mut self) -> Vec<(String, &mut SecretRef)> {
        let github = self.github.iter_mut().enumerate().filter_map(|(i, c)| {
            c.token
                .as_mut()
                .map(|t| (format!("records.github[{i}]"), t))
        });
        let jira = (self.jira.iter_mut().enumerate())
            .map(|(i, c)| (format!("records.jira[{i}]"), &mut c.token));
        let linear = (self.linear.iter_mut().enumerate())
            .map(|(i, c)| (format!("records.linear[{i}]"), &mut c.token));
        github.chain(jira).chain(linear).collect()
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
            let (url_key, url) = c.url;
            if let Err(e) = http_url(url) {
                err(format!("{p}.{url_key}"), e);
            }
            let numbers = [
                ("interval_secs", c.interval, WEEK),
                ("timeout_secs", c.timeout, HOUR),
            ];
            for (f, v, max) in numbers {
                if let Err(m) = bounds::range(v, 1, max, Unit::Seconds) {
                    err(format!("{p}.{f}"), m);
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
            } else if let Err(m) = bounds::range(c.stale, 0, YEAR, Unit::Seconds) {
                err(format!("{p}.stale_after_secs"), m);
            }
            if !(1..=c.page.1).contains(&c.page.0) {
                err(
                    format!("{p}.page_size"),
                    format!("must be between 1 and {}", c.page.1),
                );
            }
            if let Some(Err(e)) = c.token.map(SecretRef::check) {
                err(format!("{p}.token"), e.problem.to_string());
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
            if let Err(m) = bounds::range(c.merge_window_secs, 0, YEAR, Unit::Seconds) {
                err(format!("records.github[{i}].merge_window_secs"), m);
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
    pub(super) fn source_secret_errors(&self) -> Vec<SecretError> {
        self.commons()
            .into_iter()
            .filter_map(|c| c.token?.resolve().err())
            .collect()
    }
}

#[cfg(test)]
mod tests;

//! The TOML configuration: typed sections with `deny_unknown_fields`, unit-suffixed names,
//! and validation that collects every error with its field path. Relative paths are resolved
//! against the directory of the config file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::Severity;

mod kubernetes;
mod record_sources;
mod sinks;
pub use kubernetes::{ClusterConfig, KindConfig, KubernetesConfig};
pub use record_sources::{
    GithubRecordsConfig, JiraFieldsConfig, JiraRecordsConfig, LinearRecordsConfig,
};
pub use sinks::{
    AlertingConfig, AlertmanagerSinkConfig, LogSinkConfig, PagerDutySinkConfig, RouteConfig,
    SinkConfig, SlackSinkConfig, WebhookSinkConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config {path} is invalid:\n{}", .errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        errors: Vec<FieldError>,
    },
}

/// One invalid setting, named by its path (`aws.accounts[0].id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A secret value (webhook URL, token). Never printed: `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite store lives.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Seconds between poll cycles in `run`.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    #[serde(default)]
    pub records: RecordsConfig,
    #[serde(default)]
    pub sources: SourcesConfig,
    #[serde(default)]
    pub aws: Option<AwsConfig>,
    #[serde(default)]
    pub kubernetes: Option<KubernetesConfig>,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    #[serde(default)]
    pub alerting: AlertingConfig,
    #[serde(default)]
    pub obligations: ObligationsConfig,
    #[serde(default)]
    pub http: HttpConfig,
    /// On SIGTERM, how long to keep delivering queued alerts after the cycle in flight.
    #[serde(default = "default_drain")]
    pub shutdown_drain_secs: u64,
    /// Log filter (`info`, `driftwatch=debug`); the DRIFTWATCH_LOG variable wins when set.
    #[serde(default)]
    pub log_level: Option<String>,
}

fn default_drain() -> u64 {
    15
}

/// The clocks after a change (`[obligations]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObligationsConfig {
    /// A retrospective record is owed within this long of an unplanned change or of a
    /// break-glass session's start.
    #[serde(default = "default_deadline")]
    pub retrospective_deadline_secs: u64,
    /// Reminders before the deadline; also the repeats after a missed `revert_by` or session end.
    #[serde(default = "default_reminders")]
    pub reminder_offsets_secs: Vec<u64>,
}

fn default_deadline() -> u64 {
    86_400
}
fn default_reminders() -> Vec<u64> {
    vec![4 * 3600, 12 * 3600, 20 * 3600]
}

impl Default for ObligationsConfig {
    fn default() -> Self {
        ObligationsConfig {
            retrospective_deadline_secs: default_deadline(),
            reminder_offsets_secs: default_reminders(),
        }
    }
}

impl ObligationsConfig {
    pub fn schedule(&self) -> crate::obligations::Schedule {
        let d = |s: u64| jiff::SignedDuration::from_secs(s.min(i64::MAX as u64) as i64);
        crate::obligations::Schedule {
            deadline: d(self.retrospective_deadline_secs),
            reminders: self.reminder_offsets_secs.iter().map(|s| d(*s)).collect(),
        }
    }
}

/// The HTTP listener for `/metrics`, `/healthz` and `/readyz` (`run` only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Address and port; loopback by default.
    #[serde(default = "default_listen")]
    pub listen: String,
}

fn default_true() -> bool {
    true
}
fn default_listen() -> String {
    "127.0.0.1:9187".into()
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            listen: default_listen(),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/driftwatch")
}
fn default_interval() -> u64 {
    300
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsConfig {
    /// Directory of change-record YAML files.
    #[serde(default = "default_records_dir")]
    pub dir: PathBuf,
    /// Allowance for poll delay after a window closes.
    #[serde(default = "default_grace")]
    pub grace_secs: u64,
    /// Accounts that can never approve (globs). Defaults to common bot names.
    #[serde(default)]
    pub bot_patterns: Option<Vec<String>>,
    /// How far after a window's end a `revert_by` may lie.
    #[serde(default = "default_revert_hours")]
    pub max_revert_after_window_hours: u64,
    /// Records kept as GitHub issues or pull requests (`[[records.github]]`).
    #[serde(default)]
    pub github: Vec<GithubRecordsConfig>,
    /// Records kept as Jira issues (`[[records.jira]]`).
    #[serde(default)]
    pub jira: Vec<JiraRecordsConfig>,
    /// Records kept as Linear issues (`[[records.linear]]`).
    #[serde(default)]
    pub linear: Vec<LinearRecordsConfig>,
}

fn default_records_dir() -> PathBuf {
    PathBuf::from("changes")
}
fn default_grace() -> u64 {
    600
}
fn default_revert_hours() -> u64 {
    720
}

impl Default for RecordsConfig {
    fn default() -> Self {
        RecordsConfig {
            dir: default_records_dir(),
            grace_secs: default_grace(),
            bot_patterns: None,
            max_revert_after_window_hours: default_revert_hours(),
            github: Vec::new(),
            jira: Vec::new(),
            linear: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// Consecutive failed polls after which a scope is reported blind.
    #[serde(default = "default_blind_after")]
    pub blind_after_failures: u32,
}

fn default_blind_after() -> u32 {
    3
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            blind_after_failures: default_blind_after(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Override the AWS endpoint (an emulator such as moto's server). Default: the standard
    /// endpoints, or `AWS_ENDPOINT_URL` when set.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Regions polled for every account that does not list its own.
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub accounts: Vec<AwsAccount>,
    /// Per-operation timeout (all retries included).
    #[serde(default = "default_aws_timeout")]
    pub timeout_secs: u64,
    /// SDK attempts per call (retries with backoff on throttling).
    #[serde(default = "default_aws_attempts")]
    pub max_attempts: u32,
    /// Page size for listing calls (AWS maximum 1000).
    #[serde(default = "default_page_size")]
    pub page_size: i32,
    /// Which services to watch in every account: `ec2` (per region), `iam` (global).
    #[serde(default = "default_services")]
    pub services: Vec<AwsService>,
    /// Average API calls per second per account and service (a token bucket).
    #[serde(default = "default_rps")]
    pub requests_per_second: f64,
    /// Calls allowed at once before the average applies.
    #[serde(default = "default_burst")]
    pub burst: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AwsService {
    Ec2,
    Iam,
}

fn default_services() -> Vec<AwsService> {
    vec![AwsService::Ec2, AwsService::Iam]
}
fn default_rps() -> f64 {
    10.0
}
fn default_burst() -> u32 {
    20
}

fn default_aws_timeout() -> u64 {
    30
}
fn default_aws_attempts() -> u32 {
    3
}
fn default_page_size() -> i32 {
    1000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsAccount {
    /// The 12-digit account id the credentials reach.
    pub id: String,
    /// A friendly name for messages.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    /// Reach this account by assuming a role from the base credentials.
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub session_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Replace the default sensitive port list.
    #[serde(default)]
    pub sensitive_ports: Option<Vec<u16>>,
    /// Add to the sensitive port list.
    #[serde(default)]
    pub extra_sensitive_ports: Vec<u16>,
    #[serde(default)]
    pub world_open_severity: Option<Severity>,
    #[serde(default)]
    pub sensitive_severity: Option<Severity>,
    /// Accounts a role may trust without a finding. Default: every configured account.
    #[serde(default)]
    pub trusted_accounts: Option<Vec<String>>,
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        let errors = cfg.validate();
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                errors,
            })
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.state_dir);
        fix(&mut self.records.dir);
        if let Some(k) = &mut self.kubernetes {
            k.resolve_paths(base);
        }
        self.records.resolve_source_paths(base);
        for s in &mut self.sinks {
            s.resolve_paths(base);
        }
    }

    /// Every problem, each with its field path.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let mut err = |field: String, message: String| errs.push(FieldError { field, message });
        if self.interval_secs == 0 {
            err("interval_secs".into(), "must be at least 1".into());
        }
        if self.http.enabled && self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            err(
                "http.listen".into(),
                format!(
                    "`{}` is not an address:port (e.g. 127.0.0.1:9187)",
                    self.http.listen
                ),
            );
        }
        if let Some(l) = &self.log_level
            && tracing_subscriber::EnvFilter::try_new(l).is_err()
        {
            err(
                "log_level".into(),
                format!("`{l}` is not a log filter (e.g. info, driftwatch=debug)"),
            );
        }
        if self.obligations.retrospective_deadline_secs == 0 {
            err(
                "obligations.retrospective_deadline_secs".into(),
                "must be at least 1".into(),
            );
        }
        if self.obligations.reminder_offsets_secs.contains(&0) {
            err(
                "obligations.reminder_offsets_secs".into(),
                "offsets must be at least 1".into(),
            );
        }
        if self.sources.blind_after_failures == 0 {
            err(
                "sources.blind_after_failures".into(),
                "must be at least 1".into(),
            );
        }
        if let Some(p) = &self.records.bot_patterns {
            for (i, g) in p.iter().enumerate() {
                if let Err(e) = globset::Glob::new(g) {
                    err(
                        format!("records.bot_patterns[{i}]"),
                        format!("invalid glob: {e}"),
                    );
                }
            }
        }
        match &self.aws {
            None if self.kubernetes.is_none() => err(
                "aws".into(),
                "no source configured: add an [aws] section with regions and [[aws.accounts]], or [[kubernetes.clusters]]"
                    .into(),
            ),
            None => {}
            Some(aws) => {
                if let Some(u) = &aws.endpoint_url
                    && reqwest::Url::parse(u).is_err()
                {
                    err("aws.endpoint_url".into(), format!("`{u}` is not a URL"));
                }
                if aws.accounts.is_empty() {
                    err(
                        "aws.accounts".into(),
                        "at least one [[aws.accounts]] entry is required".into(),
                    );
                }
                if !(1..=1000).contains(&aws.page_size) {
                    err("aws.page_size".into(), "must be between 1 and 1000".into());
                }
                if aws.timeout_secs == 0 {
                    err("aws.timeout_secs".into(), "must be at least 1".into());
                }
                if !aws.requests_per_second.is_finite() || aws.requests_per_second <= 0.0 {
                    err(
                        "aws.requests_per_second".into(),
                        "must be more than 0".into(),
                    );
                }
                if aws.services.is_empty() {
                    err(
                        "aws.services".into(),
                        "name at least one of ec2, iam".into(),
                    );
                }
                if aws.max_attempts == 0 {
                    err("aws.max_attempts".into(), "must be at least 1".into());
                }
                for (i, r) in aws.regions.iter().enumerate() {
                    if !valid_region(r) {
                        err(
                            format!("aws.regions[{i}]"),
                            format!("`{r}` is not a region name"),
                        );
                    }
                }
                let mut seen = Vec::new();
                for (i, a) in aws.accounts.iter().enumerate() {
                    if a.id.len() != 12 || !a.id.chars().all(|c| c.is_ascii_digit()) {
                        err(
                            format!("aws.accounts[{i}].id"),
                            format!("`{}` is not a 12-digit account id (quote it in TOML)", a.id),
                        );
                    }
                    if seen.contains(&&a.id) {
                        err(
                            format!("aws.accounts[{i}].id"),
                            format!("account {} is listed twice", a.id),
                        );
                    }
                    seen.push(&a.id);
                    if let Some(r) = &a.role_arn {
                        let ok = r.starts_with("arn:aws")
                            && r.contains(":iam::")
                            && r.contains(":role/");
                        if !ok {
                            err(
                                format!("aws.accounts[{i}].role_arn"),
                                format!("`{r}` is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
                            );
                        } else if !r.contains(&format!(":iam::{}:", a.id)) {
                            err(
                                format!("aws.accounts[{i}].role_arn"),
                                format!("`{r}` is not a role in account {}", a.id),
                            );
                        }
                    }
                    let regions = a.regions.as_ref().unwrap_or(&aws.regions);
                    if regions.is_empty() {
                        err(
                            format!("aws.accounts[{i}].regions"),
                            "no regions: set aws.regions or this account's regions".into(),
                        );
                    }
                    for (j, r) in a.regions.iter().flatten().enumerate() {
                        if !valid_region(r) {
                            err(
                                format!("aws.accounts[{i}].regions[{j}]"),
                                format!("`{r}` is not a region name"),
                            );
                        }
                    }
                }
            }
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, s) in self.sinks.iter().enumerate() {
            if names.contains(&s.name()) {
                err(
                    format!("sinks[{i}].name"),
                    format!("sink name `{}` is used twice", s.name()),
                );
            }
            names.push(s.name());
        }
        for (i, s) in self.sinks.iter().enumerate() {
            s.validate(&format!("sinks[{i}]"), &mut errs);
        }
        self.alerting.validate(&self.sinks, &mut errs);
        if let Some(k) = &self.kubernetes {
            k.validate(&mut errs);
        }
        self.records.validate_sources(&mut errs);
        errs
    }

    /// Every secret that cannot be read (for `config check` and before delivering alerts).
    pub fn secret_errors(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for (i, s) in self.sinks.iter().enumerate() {
            s.secret_errors(&format!("sinks[{i}]"), &mut errs);
        }
        self.records.source_secret_errors(&mut errs);
        errs
    }

    /// (account, region) pairs to poll.
    pub fn aws_scopes(&self) -> Vec<(String, String)> {
        let Some(aws) = &self.aws else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for a in &aws.accounts {
            for r in a.regions.as_ref().unwrap_or(&aws.regions) {
                out.push((a.id.clone(), r.clone()));
            }
        }
        out
    }

    pub fn database_path(&self) -> PathBuf {
        self.state_dir.join("driftwatch.db")
    }
}

fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.split('-').count() >= 3
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests;

//! The TOML configuration: typed sections with `deny_unknown_fields`, unit-suffixed names,
//! and validation that collects every error with its field path (numbers included: each has
//! its range, `bounds.rs`). Relative paths are resolved against the directory of the config
//! file. Secrets are `SecretRef`s (`secret.rs`). Each section gives its settings typed
//! (`RecordsConfig::validation`, `AlertingConfig::quiet_period`, ...); sources and sinks are
//! built from their own section by `build()` next to the component.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod alerting;
mod aws;
mod bounds;
mod ha;
mod kubernetes;
mod obligations;
mod record_sources;
mod records;
mod rules;
mod secret;
mod sinks;
mod store;
pub use alerting::{AlertingConfig, RouteConfig};
pub use aws::{AwsAccount, AwsConfig, AwsEventsConfig, AwsLookupConfig, AwsService};
pub use ha::{Election, HaConfig};
pub use kubernetes::{ClusterConfig, KindConfig, KubernetesConfig};
pub use obligations::ObligationsConfig;
pub use record_sources::{
    GithubRecordsConfig, JiraFieldsConfig, JiraRecordsConfig, LinearRecordsConfig,
};
pub use records::RecordsConfig;
pub use rules::RulesConfig;
pub use secret::{Secret, SecretError, SecretProblem, SecretRef, SecretSource};
pub use sinks::{
    AlertmanagerSinkConfig, LogSinkConfig, PagerDutySinkConfig, SinkConfig, SlackSinkConfig,
    WebhookSinkConfig,
};
pub use store::{StoreConfig, check_url as check_store_url};

use bounds::{HOUR, Unit, WEEK};

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite store lives (and, with a PostgreSQL store, the records cache and
    /// the single-process lock).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// A PostgreSQL store instead of the SQLite database in `state_dir`.
    #[serde(default)]
    pub store: Option<StoreConfig>,
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
    /// Several replicas on one PostgreSQL store, one active (`[ha]`).
    #[serde(default)]
    pub ha: Option<HaConfig>,
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
pub struct SourcesConfig {
    /// Consecutive failed polls after which a scope is reported blind.
    #[serde(default = "default_blind_after")]
    pub blind_after_failures: u32,
    /// A poll that has not finished by then fails (timeout) instead of holding up the cycle:
    /// one hanging scope must not stall the others' decisions and the obligations.
    #[serde(default = "default_poll_deadline")]
    pub poll_deadline_secs: u64,
    /// A complete poll that would delete more than this fraction of a scope's stored
    /// resources is held as suspect (an emptied listing from the wrong account, region or a
    /// broken API answer looks like a mass delete) until a second poll agrees. 1.0 turns the
    /// guard off.
    #[serde(default = "default_max_delete_fraction")]
    pub max_delete_fraction: f64,
    /// Scopes holding fewer resources than this are not guarded: removing most of a small
    /// scope is ordinary work.
    #[serde(default = "default_delete_guard_min")]
    pub delete_guard_min_resources: u32,
}

fn default_blind_after() -> u32 {
    3
}
fn default_poll_deadline() -> u64 {
    900
}
fn default_max_delete_fraction() -> f64 {
    0.5
}
fn default_delete_guard_min() -> u32 {
    10
}

impl SourcesConfig {
    /// How long one poll of one scope may take.
    pub fn poll_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.poll_deadline_secs)
    }

    /// The mass-delete guard of the decide step.
    pub fn delete_guard(&self) -> crate::engine::DeleteGuard {
        crate::engine::DeleteGuard {
            max_fraction: self.max_delete_fraction,
            min_resources: self.delete_guard_min_resources as usize,
        }
    }
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            blind_after_failures: default_blind_after(),
            poll_deadline_secs: default_poll_deadline(),
            max_delete_fraction: default_max_delete_fraction(),
            delete_guard_min_resources: default_delete_guard_min(),
        }
    }
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

    /// Make relative paths relative to `base` (the config file's directory), and name every
    /// secret setting by its field path.
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
        for (i, s) in self.sinks.iter_mut().enumerate() {
            let section = format!("sinks[{i}]");
            for r in s.secrets_mut() {
                r.locate(&section, base);
            }
        }
        for (section, r) in self.records.secrets_mut() {
            r.locate(&section, base);
        }
        if let Some(s) = &mut self.store {
            s.locate(base);
        }
        if let Some(h) = &mut self.ha {
            h.locate(base);
        }
    }

    /// Every problem, each with its field path.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        bounds::check(
            &mut errs,
            "interval_secs",
            self.interval_secs,
            1,
            WEEK,
            Unit::Seconds,
        );
        bounds::check(
            &mut errs,
            "shutdown_drain_secs",
            self.shutdown_drain_secs,
            0,
            HOUR,
            Unit::Seconds,
        );
        let mut err = |field: &str, message: String| {
            errs.push(FieldError {
                field: field.into(),
                message,
            })
        };
        if self.http.enabled && self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            err(
                "http.listen",
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
                "log_level",
                format!("`{l}` is not a log filter (e.g. info, driftwatch=debug)"),
            );
        }
        self.obligations.validate(&mut errs);
        bounds::check(
            &mut errs,
            "sources.blind_after_failures",
            self.sources.blind_after_failures,
            1,
            1_000,
            Unit::Count,
        );
        bounds::check(
            &mut errs,
            "sources.poll_deadline_secs",
            self.sources.poll_deadline_secs,
            1,
            bounds::DAY,
            Unit::Seconds,
        );
        let f = self.sources.max_delete_fraction;
        if !(f.is_finite() && f > 0.0 && f <= 1.0) {
            errs.push(FieldError {
                field: "sources.max_delete_fraction".into(),
                message: format!("`{f}` must be more than 0 and at most 1 (1 turns the guard off)"),
            });
        }
        bounds::check(
            &mut errs,
            "sources.delete_guard_min_resources",
            self.sources.delete_guard_min_resources,
            1,
            1_000_000,
            Unit::Count,
        );
        self.records.validate(&mut errs);
        match &self.aws {
            None if self.kubernetes.is_none() => errs.push(FieldError {
                field: "aws".into(),
                message: "no source configured: add an [aws] section with regions and [[aws.accounts]], or [[kubernetes.clusters]]"
                    .into(),
            }),
            None => {}
            Some(aws) => aws.validate(&mut errs),
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, s) in self.sinks.iter().enumerate() {
            if names.contains(&s.name()) {
                errs.push(FieldError {
                    field: format!("sinks[{i}].name"),
                    message: format!("sink name `{}` is used twice", s.name()),
                });
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
        if let Some(s) = &self.store {
            s.validate(&mut errs);
        }
        if let Some(h) = &self.ha {
            let events = self.aws.as_ref().is_some_and(|a| a.events.is_some());
            h.validate(self.store.is_some(), events, &mut errs);
        }
        errs
    }

    /// Every secret that cannot be read (for `config check` and before delivering alerts).
    pub fn secret_errors(&self) -> Vec<FieldError> {
        self.sinks
            .iter()
            .flat_map(SinkConfig::secret_errors)
            .chain(self.records.source_secret_errors())
            .chain(
                self.store
                    .iter()
                    .filter_map(|s| s.password.as_ref()?.resolve().err()),
            )
            .map(FieldError::from)
            .collect()
    }

    /// (account, region) pairs to poll.
    pub fn aws_scopes(&self) -> Vec<(String, String)> {
        self.aws.as_ref().map(AwsConfig::scopes).unwrap_or_default()
    }

    /// Time between poll cycles in `run`.
    pub fn interval(&self) -> Duration {
        bounds::secs(self.interval_secs)
    }

    /// How long queued alerts are still delivered after a stop request.
    pub fn shutdown_drain(&self) -> Duration {
        bounds::secs(self.shutdown_drain_secs)
    }

    pub fn database_path(&self) -> PathBuf {
        self.state_dir.join("driftwatch.db")
    }

    /// Where the state is, for messages: the SQLite file or the PostgreSQL URL.
    pub fn store_location(&self) -> String {
        match &self.store {
            Some(s) => s.url.clone(),
            None => self.database_path().display().to_string(),
        }
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

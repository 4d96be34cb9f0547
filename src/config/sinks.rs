//! Alert sinks and routing (`[[sinks]]` and `[alerting]`). Every secret (URL, routing key,
//! HMAC key) can be given inline, from an environment variable (`*_env`) or from a file
//! (`*_file`, e.g. a systemd credential or a mounted Secret); exactly one of the three.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{FieldError, Secret};
use crate::model::EventKind;
use crate::model::{Provider, Severity};

fn default_timeout() -> u64 {
    10
}
fn default_attempts() -> u32 {
    12
}
fn default_concurrency() -> usize {
    4
}
fn default_log_name() -> String {
    "log".into()
}
fn default_pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}
fn default_active_secs() -> u64 {
    86_400
}

// Each sink section repeats its delivery fields (timeout, attempts, concurrency) and its
// secret triple (inline, `_env`, `_file`): `deny_unknown_fields` cannot be combined with
// `#[serde(flatten)]`, and unknown keys must stay errors.

/// The log sink: alerts as structured log lines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSinkConfig {
    #[serde(default = "default_log_name")]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSinkConfig {
    pub name: String,
    #[serde(default)]
    pub url: Option<Secret>,
    #[serde(default)]
    pub url_env: Option<String>,
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Optional HMAC-SHA256 key: the body is signed in `X-Driftwatch-Signature`.
    #[serde(default)]
    pub hmac_key: Option<Secret>,
    #[serde(default)]
    pub hmac_key_env: Option<String>,
    #[serde(default)]
    pub hmac_key_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSinkConfig {
    pub name: String,
    /// The incoming-webhook URL (a secret).
    #[serde(default)]
    pub url: Option<Secret>,
    #[serde(default)]
    pub url_env: Option<String>,
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutySinkConfig {
    pub name: String,
    /// Events API v2 integration (routing) key (a secret).
    #[serde(default)]
    pub routing_key: Option<Secret>,
    #[serde(default)]
    pub routing_key_env: Option<String>,
    #[serde(default)]
    pub routing_key_file: Option<PathBuf>,
    /// The Events API endpoint (override for a proxy or a test receiver).
    #[serde(default = "default_pagerduty_url")]
    pub url: String,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerSinkConfig {
    pub name: String,
    /// Base URL; alerts are POSTed to `<url>/api/v2/alerts`.
    pub url: String,
    /// A firing alert carries `endsAt` this far ahead, so Alertmanager keeps it active without
    /// re-sending; a resolve sets `endsAt` to the closing time.
    #[serde(default = "default_active_secs")]
    pub active_secs: u64,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

/// One alert destination, built into a sink by `sinks::Router::from_config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SinkConfig {
    /// Structured log lines (stderr, or the journal under systemd).
    Log(LogSinkConfig),
    /// JSON POST to a URL (schema in docs/webhook.md), optionally HMAC-signed.
    Webhook(WebhookSinkConfig),
    /// Slack incoming webhook (Block Kit message).
    Slack(SlackSinkConfig),
    /// PagerDuty Events API v2 (trigger and resolve, dedup_key = drift id).
    Pagerduty(PagerDutySinkConfig),
    /// Prometheus Alertmanager API v2.
    Alertmanager(AlertmanagerSinkConfig),
}

impl SinkConfig {
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::Log(c) => &c.name,
            SinkConfig::Webhook(c) => &c.name,
            SinkConfig::Slack(c) => &c.name,
            SinkConfig::Pagerduty(c) => &c.name,
            SinkConfig::Alertmanager(c) => &c.name,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::Log(_) => "log",
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::Slack(_) => "slack",
            SinkConfig::Pagerduty(_) => "pagerduty",
            SinkConfig::Alertmanager(_) => "alertmanager",
        }
    }

    pub(super) fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(p) = p
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        match self {
            SinkConfig::Webhook(c) => {
                fix(&mut c.url_file);
                fix(&mut c.hmac_key_file);
            }
            SinkConfig::Slack(c) => fix(&mut c.url_file),
            SinkConfig::Pagerduty(c) => fix(&mut c.routing_key_file),
            SinkConfig::Log(_) | SinkConfig::Alertmanager(_) => {}
        }
    }

    /// Secrets that cannot be read (unset variable, unreadable file, malformed URL); errors
    /// name the field and never the value.
    pub fn secret_errors(&self, path: &str, errs: &mut Vec<FieldError>) {
        let mut err = |field: &str, message: String| {
            errs.push(FieldError {
                field: format!("{path}.{field}"),
                message,
            })
        };
        match self {
            SinkConfig::Webhook(c) => {
                if let Err(e) = self.url() {
                    err("url", e);
                }
                if let Err(e) = c.hmac_key() {
                    err("hmac_key", e);
                }
            }
            SinkConfig::Slack(_) => {
                if let Err(e) = self.url() {
                    err("url", e);
                }
            }
            SinkConfig::Pagerduty(c) => {
                if let Err(e) = c.routing_key() {
                    err("routing_key", e);
                }
            }
            SinkConfig::Log(_) | SinkConfig::Alertmanager(_) => {}
        }
    }

    /// The shape of this sink's settings (each secret given exactly once). Reading the
    /// secrets is `secret_errors`: commands that deliver nothing do not need them.
    pub fn validate(&self, path: &str, errs: &mut Vec<FieldError>) {
        let mut err = |field: &str, message: String| {
            errs.push(FieldError {
                field: format!("{path}.{field}"),
                message,
            })
        };
        let (timeout, attempts, concurrency) = match self {
            SinkConfig::Log(_) => return,
            SinkConfig::Webhook(c) => {
                if let Err(e) = given("url", true, &c.url, &c.url_env, &c.url_file) {
                    err("url", e);
                }
                if let Err(e) = given(
                    "hmac_key",
                    false,
                    &c.hmac_key,
                    &c.hmac_key_env,
                    &c.hmac_key_file,
                ) {
                    err("hmac_key", e);
                }
                (c.timeout_secs, c.max_attempts, c.concurrency)
            }
            SinkConfig::Slack(c) => {
                if let Err(e) = given("url", true, &c.url, &c.url_env, &c.url_file) {
                    err("url", e);
                }
                (c.timeout_secs, c.max_attempts, c.concurrency)
            }
            SinkConfig::Pagerduty(c) => {
                if let Err(e) = given(
                    "routing_key",
                    true,
                    &c.routing_key,
                    &c.routing_key_env,
                    &c.routing_key_file,
                ) {
                    err("routing_key", e);
                }
                if let Err(e) = http_url(&c.url) {
                    err("url", e);
                }
                (c.timeout_secs, c.max_attempts, c.concurrency)
            }
            SinkConfig::Alertmanager(c) => {
                if let Err(e) = http_url(&c.url) {
                    err("url", e);
                }
                if c.active_secs == 0 {
                    err("active_secs", "must be at least 1".into());
                }
                (c.timeout_secs, c.max_attempts, c.concurrency)
            }
        };
        if timeout == 0 {
            err("timeout_secs", "must be at least 1".into());
        }
        if attempts == 0 {
            err("max_attempts", "must be at least 1".into());
        }
        if concurrency == 0 {
            err("concurrency", "must be at least 1".into());
        }
    }

    /// The webhook or Slack URL. The error never contains the URL.
    pub fn url(&self) -> Result<Secret, String> {
        let (inline, env, file) = match self {
            SinkConfig::Webhook(c) => (&c.url, &c.url_env, &c.url_file),
            SinkConfig::Slack(c) => (&c.url, &c.url_env, &c.url_file),
            _ => return Err("this sink has no url secret".into()),
        };
        let s = required_secret("url", inline, env, file)?;
        http_url(s.expose()).map_err(|_| "the URL is not an http(s) URL".to_string())?;
        Ok(s)
    }
}

impl WebhookSinkConfig {
    pub fn hmac_key(&self) -> Result<Option<Secret>, String> {
        optional_secret(
            "hmac_key",
            &self.hmac_key,
            &self.hmac_key_env,
            &self.hmac_key_file,
        )
    }
}

impl PagerDutySinkConfig {
    pub fn routing_key(&self) -> Result<Secret, String> {
        required_secret(
            "routing_key",
            &self.routing_key,
            &self.routing_key_env,
            &self.routing_key_file,
        )
    }
}

pub(super) fn http_url(u: &str) -> Result<(), String> {
    match reqwest::Url::parse(u) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        _ => Err(format!("`{u}` is not an http(s) URL")),
    }
}

/// Exactly one of inline, env and file (or none, for an optional secret).
pub(super) fn given<T>(
    field: &str,
    required: bool,
    inline: &Option<T>,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<(), String> {
    let n = [inline.is_some(), env.is_some(), file.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    if n > 1 || (required && n == 0) {
        return Err(format!(
            "set exactly one of {field}, {field}_env, {field}_file"
        ));
    }
    Ok(())
}

pub(super) fn required_secret(
    field: &str,
    inline: &Option<Secret>,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Secret, String> {
    optional_secret(field, inline, env, file)?
        .ok_or_else(|| format!("set exactly one of {field}, {field}_env, {field}_file"))
}

pub(super) fn optional_secret(
    field: &str,
    inline: &Option<Secret>,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, String> {
    let given = [inline.is_some(), env.is_some(), file.is_some()];
    match given.iter().filter(|g| **g).count() {
        0 => return Ok(None),
        1 => {}
        _ => {
            return Err(format!(
                "set exactly one of {field}, {field}_env, {field}_file"
            ));
        }
    }
    let raw = if let Some(s) = inline {
        s.expose().to_string()
    } else if let Some(var) = env {
        std::env::var(var)
            .map_err(|_| format!("environment variable {var} ({field}_env) is not set"))?
    } else if let Some(f) = file {
        std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read {field}_file {}: {e}", f.display()))?
            .trim()
            .to_string()
    } else {
        return Ok(None);
    };
    if raw.is_empty() {
        return Err(format!("{field} is empty"));
    }
    Ok(Some(Secret::new(raw)))
}

/// Which alerts go to which sinks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Every matching route adds its sinks; when none matches, `default_route` applies.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Default: every configured sink, for every event but `matched`.
    #[serde(default)]
    pub default_route: Option<RouteConfig>,
    /// A new drift on a resource that was alerted for the same event this recently is
    /// recorded but not alerted again (a flapping rule pages once).
    #[serde(default = "default_quiet")]
    pub quiet_period_secs: u64,
    /// Consecutive failed deliveries after which a sink is reported down (`delivery_failed`
    /// to the other sinks that route it).
    #[serde(default = "default_escalate")]
    pub escalate_after_failures: u32,
}

fn default_quiet() -> u64 {
    900
}
fn default_escalate() -> u32 {
    3
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            routes: Vec::new(),
            default_route: None,
            quiet_period_secs: default_quiet(),
            escalate_after_failures: default_escalate(),
        }
    }
}

/// A routing rule: every condition given must hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Sink names.
    pub sinks: Vec<String>,
    /// Default: every event but `matched`.
    #[serde(default)]
    pub events: Option<Vec<EventKind>>,
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Empty: any provider.
    #[serde(default)]
    pub providers: Vec<Provider>,
    /// Globs over the scope (`aws:123456789012:*`, `kubernetes:prod`); empty: any.
    #[serde(default)]
    pub scopes: Vec<String>,
}

fn default_min_severity() -> Severity {
    Severity::Info
}

impl AlertingConfig {
    pub(super) fn validate(&self, sinks: &[SinkConfig], errs: &mut Vec<FieldError>) {
        let names: Vec<&str> = sinks.iter().map(SinkConfig::name).collect();
        let routes = self
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("alerting.routes[{i}]"), r))
            .chain(
                self.default_route
                    .iter()
                    .map(|r| ("alerting.default_route".to_string(), r)),
            );
        for (path, r) in routes {
            if r.sinks.is_empty() {
                errs.push(FieldError {
                    field: format!("{path}.sinks"),
                    message: "name at least one sink".into(),
                });
            }
            for (j, s) in r.sinks.iter().enumerate() {
                if !names.contains(&s.as_str()) {
                    errs.push(FieldError {
                        field: format!("{path}.sinks[{j}]"),
                        message: format!("no sink is named `{s}` (sinks: {})", names.join(", ")),
                    });
                }
            }
            for (j, g) in r.scopes.iter().enumerate() {
                if let Err(e) = globset::Glob::new(g) {
                    errs.push(FieldError {
                        field: format!("{path}.scopes[{j}]"),
                        message: format!("invalid glob: {e}"),
                    });
                }
            }
        }
    }
}

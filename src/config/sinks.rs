//! Alert sinks (`[[sinks]]`). Every secret (URL, routing key, HMAC key) is a `SecretRef`:
//! inline, from an environment variable (`*_env`) or from a file (`*_file`, e.g. a systemd
//! credential or a mounted Secret); exactly one of the three. Each section is built into its
//! sink by `build()` in `sinks::` (config does not know the sinks).

use std::time::Duration;

use jiff::SignedDuration;
use serde::Deserialize;

use super::bounds::{self, HOUR, Unit, YEAR};
use super::secret::section_with_secrets;
use super::{FieldError, Secret, SecretError, SecretProblem, SecretRef};

fn default_timeout() -> u64 {
    10
}
/// High enough that `alerting.give_up_after_secs` decides when an alert is given up (1000
/// attempts at the 10-minute cap is about a week); a lower `max_attempts` caps it sooner.
fn default_attempts() -> u32 {
    1_000
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

/// Deliveries to one sink in flight at once, at most.
const MAX_CONCURRENCY: u64 = 1_024;
/// Attempts before an alert is abandoned, at most.
const MAX_ATTEMPTS: u64 = 1_000;

// Each sink section repeats its delivery fields (timeout, attempts, concurrency):
// `deny_unknown_fields` cannot be combined with `#[serde(flatten)]`, and unknown keys must stay
// errors. Secrets are declared once each through `section_with_secrets!`.

/// The log sink: alerts as structured log lines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSinkConfig {
    #[serde(default = "default_log_name")]
    pub name: String,
}

section_with_secrets! {
    /// A JSON POST to a URL (docs/webhook.md), optionally HMAC-signed.
    pub struct WebhookSinkConfig via RawWebhookSinkConfig {
        pub name: String,
        #[serde(default = "default_timeout")]
        pub timeout_secs: u64,
        #[serde(default = "default_attempts")]
        pub max_attempts: u32,
        #[serde(default = "default_concurrency")]
        pub concurrency: usize,
    }
    secrets {
        /// The URL (a secret: it often carries a token).
        url: required(url_env, url_file),
        /// Optional HMAC-SHA256 key: the body is signed in `X-Driftwatch-Signature`.
        hmac_key: optional(hmac_key_env, hmac_key_file),
    }
}

section_with_secrets! {
    /// A Slack incoming webhook.
    pub struct SlackSinkConfig via RawSlackSinkConfig {
        pub name: String,
        #[serde(default = "default_timeout")]
        pub timeout_secs: u64,
        #[serde(default = "default_attempts")]
        pub max_attempts: u32,
        #[serde(default = "default_concurrency")]
        pub concurrency: usize,
    }
    secrets {
        /// The incoming-webhook URL (a secret).
        url: required(url_env, url_file),
    }
}

section_with_secrets! {
    /// PagerDuty Events API v2.
    pub struct PagerDutySinkConfig via RawPagerDutySinkConfig {
        pub name: String,
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
    secrets {
        /// Events API v2 integration (routing) key (a secret).
        routing_key: required(routing_key_env, routing_key_file),
    }
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

/// One alert destination, built into a sink by `SinkConfig::build` (in `sinks::`).
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

/// A secret URL, read and checked to be http(s). The error never contains the URL.
fn http_secret(url: &SecretRef) -> Result<Secret, SecretError> {
    let s = url.resolve()?;
    http_url(s.expose()).map_err(|_| SecretError {
        field: url.field().to_string(),
        problem: SecretProblem::Malformed("the URL is not an http(s) URL"),
    })?;
    Ok(s)
}

impl WebhookSinkConfig {
    /// The URL, read and checked.
    pub fn url(&self) -> Result<Secret, SecretError> {
        http_secret(&self.url)
    }

    /// The HMAC key, when one is configured.
    pub fn hmac_key(&self) -> Result<Option<Secret>, SecretError> {
        self.hmac_key.as_ref().map(SecretRef::resolve).transpose()
    }
}

impl SlackSinkConfig {
    /// The incoming-webhook URL, read and checked.
    pub fn url(&self) -> Result<Secret, SecretError> {
        http_secret(&self.url)
    }
}

/// Every network sink's per-delivery timeout, typed.
macro_rules! delivery_timeout {
    ($($section:ty),*) => {$(
        impl $section {
            /// The timeout of one delivery (connect, send, answer).
            pub fn timeout(&self) -> Duration {
                bounds::secs(self.timeout_secs)
            }
        }
    )*};
}

delivery_timeout!(
    WebhookSinkConfig,
    SlackSinkConfig,
    PagerDutySinkConfig,
    AlertmanagerSinkConfig
);

impl AlertmanagerSinkConfig {
    /// How long a firing alert stays active in Alertmanager without a re-send.
    pub fn active(&self) -> SignedDuration {
        bounds::signed_secs(self.active_secs)
    }
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

    /// (timeout, attempts, concurrency) of a network sink; none for the log sink.
    fn delivery(&self) -> Option<(u64, u32, usize)> {
        match self {
            SinkConfig::Log(_) => None,
            SinkConfig::Webhook(c) => Some((c.timeout_secs, c.max_attempts, c.concurrency)),
            SinkConfig::Slack(c) => Some((c.timeout_secs, c.max_attempts, c.concurrency)),
            SinkConfig::Pagerduty(c) => Some((c.timeout_secs, c.max_attempts, c.concurrency)),
            SinkConfig::Alertmanager(c) => Some((c.timeout_secs, c.max_attempts, c.concurrency)),
        }
    }

    /// Every secret setting of this sink.
    pub(super) fn secrets_mut(&mut self) -> Vec<&mut SecretRef> {
        match self {
            SinkConfig::Webhook(c) => std::iter::once(&mut c.url)
                .chain(c.hmac_key.as_mut())
                .collect(),
            SinkConfig::Slack(c) => vec![&mut c.url],
            SinkConfig::Pagerduty(c) => vec![&mut c.routing_key],
            SinkConfig::Log(_) | SinkConfig::Alertmanager(_) => Vec::new(),
        }
    }

    /// Secrets that cannot be read (unset variable, unreadable file, malformed URL); errors
    /// name the field and never the value.
    pub fn secret_errors(&self) -> Vec<SecretError> {
        let results = match self {
            SinkConfig::Webhook(c) => vec![c.url().map(drop), c.hmac_key().map(drop)],
            SinkConfig::Slack(c) => vec![c.url().map(drop)],
            SinkConfig::Pagerduty(c) => vec![c.routing_key.resolve().map(drop)],
            SinkConfig::Log(_) | SinkConfig::Alertmanager(_) => Vec::new(),
        };
        results.into_iter().filter_map(Result::err).collect()
    }

    /// The shape of this sink's settings (each secret given exactly once, numbers in range).
    /// Reading the secrets is `secret_errors`: commands that deliver nothing do not need them.
    pub fn validate(&self, path: &str, errs: &mut Vec<FieldError>) {
        let err = |errs: &mut Vec<FieldError>, field: &str, message: String| {
            errs.push(FieldError {
                field: format!("{path}.{field}"),
                message,
            })
        };
        let secret = |errs: &mut Vec<FieldError>, s: &SecretRef| {
            if let Err(e) = s.check() {
                err(errs, s.key(), e.problem.to_string());
            }
        };
        let Some((timeout, attempts, concurrency)) = self.delivery() else {
            return;
        };
        match self {
            SinkConfig::Log(_) => {}
            SinkConfig::Webhook(c) => {
                secret(errs, &c.url);
                if let Some(k) = &c.hmac_key {
                    secret(errs, k);
                }
            }
            SinkConfig::Slack(c) => secret(errs, &c.url),
            SinkConfig::Pagerduty(c) => {
                secret(errs, &c.routing_key);
                if let Err(e) = http_url(&c.url) {
                    err(errs, "url", e);
                }
            }
            SinkConfig::Alertmanager(c) => {
                if let Err(e) = http_url(&c.url) {
                    err(errs, "url", e);
                }
                if let Err(m) = bounds::range(c.active_secs, 1, YEAR, Unit::Seconds) {
                    err(errs, "active_secs", m);
                }
            }
        }
        let concurrency = u64::try_from(concurrency).unwrap_or(u64::MAX);
        let numbers = [
            (
                "timeout_secs",
                bounds::range(timeout, 1, HOUR, Unit::Seconds),
            ),
            (
                "max_attempts",
                bounds::range(attempts, 1, MAX_ATTEMPTS, Unit::Count),
            ),
            (
                "concurrency",
                bounds::range(concurrency, 1, MAX_CONCURRENCY, Unit::Count),
            ),
        ];
        for (field, r) in numbers {
            if let Err(m) = r {
                err(errs, field, m);
            }
        }
    }

    /// The webhook or Slack URL. The error never contains the URL.
    pub fn url(&self) -> Result<Secret, SecretError> {
        match self {
            SinkConfig::Webhook(c) => c.url(),
            SinkConfig::Slack(c) => c.url(),
            _ => Err(SecretError {
                field: format!("sinks.{}.url", self.name()),
                problem: SecretProblem::Malformed("this sink has no url secret"),
            }),
        }
    }
}

pub(super) fn http_url(u: &str) -> Result<(), String> {
    match reqwest::Url::parse(u) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        _ => Err(format!("`{u}` is not an http(s) URL")),
    }
}

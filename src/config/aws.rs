//! The `[aws]` section: the accounts and regions to poll, the services to watch, and the
//! SDK's timeout, retries, page size and request rate.

use std::time::Duration;

use serde::Deserialize;

use super::FieldError;
use super::bounds::{self, HOUR, Unit};

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
    /// CloudTrail events delivered by EventBridge to an SQS queue: each change is re-read
    /// and decided within seconds and attributed to its caller. The poll stays the backstop.
    #[serde(default)]
    pub events: Option<AwsEventsConfig>,
    /// CloudTrail LookupEvents for changes no event attributed (a poll found them).
    #[serde(default)]
    pub lookup: Option<AwsLookupConfig>,
}

/// `[aws.lookup]`: look a change up in CloudTrail's event history when no event announced it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsLookupConfig {
    /// A CloudTrail endpoint (a VPC endpoint, an emulator). Default: `aws.endpoint_url`, else
    /// the standard endpoint.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// LookupEvents calls per second per account and region (CloudTrail allows 2), on a
    /// token bucket of their own.
    #[serde(default = "default_lookup_rps")]
    pub requests_per_second: f64,
    /// The first look, this long after the change was decided (CloudTrail makes an event
    /// searchable minutes after the call).
    #[serde(default = "default_lookup_delay")]
    pub delay_secs: u64,
    /// Between looks while the event is not there yet.
    #[serde(default = "default_lookup_retry")]
    pub retry_secs: u64,
    /// Stop looking this long after the change.
    #[serde(default = "default_lookup_give_up")]
    pub give_up_after_secs: u64,
}

fn default_lookup_rps() -> f64 {
    2.0
}
fn default_lookup_delay() -> u64 {
    300
}
fn default_lookup_retry() -> u64 {
    300
}
fn default_lookup_give_up() -> u64 {
    3 * 3600
}

impl AwsLookupConfig {
    pub fn delay(&self) -> Duration {
        bounds::secs(self.delay_secs)
    }
    pub fn retry(&self) -> Duration {
        bounds::secs(self.retry_secs)
    }
    pub fn give_up_after(&self) -> Duration {
        bounds::secs(self.give_up_after_secs)
    }

    fn validate(&self, errs: &mut Vec<FieldError>) {
        let mut err = |field: &str, message: String| {
            errs.push(FieldError {
                field: format!("aws.lookup.{field}"),
                message,
            })
        };
        if let Some(u) = &self.endpoint_url
            && reqwest::Url::parse(u).is_err()
        {
            err("endpoint_url", format!("`{u}` is not a URL"));
        }
        if !self.requests_per_second.is_finite()
            || self.requests_per_second <= 0.0
            || self.requests_per_second > 2.0
        {
            err(
                "requests_per_second",
                "must be more than 0 and at most 2 (CloudTrail's LookupEvents quota)".into(),
            );
        }
        if let Err(m) = bounds::range(self.delay_secs, 0, 24 * HOUR, Unit::Seconds) {
            err("delay_secs", m);
        }
        if let Err(m) = bounds::range(self.retry_secs, 1, 24 * HOUR, Unit::Seconds) {
            err("retry_secs", m);
        }
        if let Err(m) = bounds::range(self.give_up_after_secs, 1, 7 * 24 * HOUR, Unit::Seconds) {
            err("give_up_after_secs", m);
        }
    }
}

/// `[aws.events]`: the queue EventBridge delivers CloudTrail management events to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsEventsConfig {
    /// `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`.
    pub queue_url: String,
    /// The queue's region. Default: the region in `queue_url`, else `us-east-1` (where
    /// IAM's events arrive).
    #[serde(default)]
    pub region: Option<String>,
    /// Long-poll wait per receive (SQS allows 0 to 20).
    #[serde(default = "default_wait_secs")]
    pub wait_secs: u64,
    /// Messages per receive (SQS allows 1 to 10).
    #[serde(default = "default_max_messages")]
    pub max_messages: u32,
    /// How long a received message stays hidden; one not deleted by then (its re-read
    /// failed, or driftwatch stopped before committing) is delivered again.
    #[serde(default = "default_visibility_secs")]
    pub visibility_timeout_secs: u64,
    /// An event older than this when it arrives counts as lagging (metric and warning).
    #[serde(default = "default_lag_warn_secs")]
    pub lag_warn_secs: u64,
}

fn default_wait_secs() -> u64 {
    20
}
fn default_max_messages() -> u32 {
    10
}
fn default_visibility_secs() -> u64 {
    120
}
fn default_lag_warn_secs() -> u64 {
    300
}

impl AwsEventsConfig {
    /// The queue's region: the setting, the one in the URL, or `us-east-1`.
    pub fn region(&self) -> String {
        if let Some(r) = &self.region {
            return r.clone();
        }
        reqwest::Url::parse(&self.queue_url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_string();
                let mut parts = host.split('.');
                match (parts.next(), parts.next()) {
                    (Some("sqs"), Some(r)) if valid_region(r) => Some(r.to_string()),
                    _ => None,
                }
            })
            .unwrap_or_else(|| "us-east-1".into())
    }

    pub fn wait(&self) -> Duration {
        bounds::secs(self.wait_secs)
    }

    pub fn lag_warn(&self) -> Duration {
        bounds::secs(self.lag_warn_secs)
    }

    fn validate(&self, errs: &mut Vec<FieldError>) {
        let mut err = |field: &str, message: String| {
            errs.push(FieldError {
                field: format!("aws.events.{field}"),
                message,
            })
        };
        match reqwest::Url::parse(&self.queue_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.path().len() > 1 => {}
            _ => err(
                "queue_url",
                format!(
                    "`{}` is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
                    self.queue_url
                ),
            ),
        }
        if let Some(r) = &self.region
            && !valid_region(r)
        {
            err("region", format!("`{r}` is not a region name"));
        }
        if let Err(m) = bounds::range(self.wait_secs, 0, 20, Unit::Seconds) {
            err("wait_secs", m);
        }
        if let Err(m) = bounds::range(self.max_messages, 1, 10, Unit::Count) {
            err("max_messages", m);
        }
        if let Err(m) = bounds::range(self.visibility_timeout_secs, 1, 12 * HOUR, Unit::Seconds) {
            err("visibility_timeout_secs", m);
        }
        if let Err(m) = bounds::range(self.lag_warn_secs, 1, 7 * 24 * HOUR, Unit::Seconds) {
            err("lag_warn_secs", m);
        }
    }
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

/// The most API calls per second a bucket may allow, and the largest burst.
const MAX_RPS: f64 = 10_000.0;
const MAX_BURST: u64 = 10_000;

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

impl AwsConfig {
    /// (account, region) pairs to poll.
    pub fn scopes(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for a in &self.accounts {
            for r in a.regions.as_ref().unwrap_or(&self.regions) {
                out.push((a.id.clone(), r.clone()));
            }
        }
        out
    }

    /// The per-operation timeout.
    pub fn timeout(&self) -> Duration {
        bounds::secs(self.timeout_secs)
    }

    pub(super) fn validate(&self, errs: &mut Vec<FieldError>) {
        let mut err = |field: String, message: String| errs.push(FieldError { field, message });
        if let Some(u) = &self.endpoint_url
            && reqwest::Url::parse(u).is_err()
        {
            err("aws.endpoint_url".into(), format!("`{u}` is not a URL"));
        }
        if self.accounts.is_empty() {
            err(
                "aws.accounts".into(),
                "at least one [[aws.accounts]] entry is required".into(),
            );
        }
        if !(1..=1000).contains(&self.page_size) {
            err("aws.page_size".into(), "must be between 1 and 1000".into());
        }
        if let Err(m) = bounds::range(self.timeout_secs, 1, HOUR, Unit::Seconds) {
            err("aws.timeout_secs".into(), m);
        }
        if !self.requests_per_second.is_finite() || self.requests_per_second <= 0.0 {
            err(
                "aws.requests_per_second".into(),
                "must be more than 0".into(),
            );
        } else if self.requests_per_second > MAX_RPS {
            err(
                "aws.requests_per_second".into(),
                format!("must be at most {MAX_RPS}"),
            );
        }
        if self.services.is_empty() {
            err(
                "aws.services".into(),
                "name at least one of ec2, iam".into(),
            );
        }
        if let Err(m) = bounds::range(self.max_attempts, 1, 100, Unit::Count) {
            err("aws.max_attempts".into(), m);
        }
        if let Err(m) = bounds::range(self.burst, 0, MAX_BURST, Unit::Count) {
            err("aws.burst".into(), m);
        }
        for (i, r) in self.regions.iter().enumerate() {
            if !valid_region(r) {
                err(
                    format!("aws.regions[{i}]"),
                    format!("`{r}` is not a region name"),
                );
            }
        }
        if let Some(l) = &self.lookup {
            l.validate(errs);
        }
        if let Some(e) = &self.events {
            e.validate(errs);
            if e.wait_secs >= self.timeout_secs {
                errs.push(FieldError {
                    field: "aws.events.wait_secs".into(),
                    message: format!(
                        "must be less than aws.timeout_secs ({}): a long poll is one call",
                        self.timeout_secs
                    ),
                });
            }
        }
        let mut err = |field: String, message: String| errs.push(FieldError { field, message });
        let mut seen = Vec::new();
        for (i, a) in self.accounts.iter().enumerate() {
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
                let ok = r.starts_with("arn:aws") && r.contains(":iam::") && r.contains(":role/");
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
            let regions = a.regions.as_ref().unwrap_or(&self.regions);
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

fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.split('-').count() >= 3
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

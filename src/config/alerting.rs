//! The `[alerting]` section: which alerts go to which sinks (routes, the default route), the
//! quiet period that keeps a flapping rule from paging twice, and when a failing sink is
//! escalated.

use jiff::SignedDuration;
use serde::Deserialize;

use super::bounds::{self, DAY, Unit, WEEK};
use super::{FieldError, SinkConfig};
use crate::model::{EventKind, Provider, Severity};

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
    /// How long an undelivered alert is retried (at the backoff's 10-minute cap once it is
    /// reached) before it is given up: a sink outage shorter than this loses nothing.
    #[serde(default = "default_give_up")]
    pub give_up_after_secs: u64,
}

fn default_quiet() -> u64 {
    900
}
fn default_escalate() -> u32 {
    3
}
fn default_give_up() -> u64 {
    86_400
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            routes: Vec::new(),
            default_route: None,
            quiet_period_secs: default_quiet(),
            escalate_after_failures: default_escalate(),
            give_up_after_secs: default_give_up(),
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
    /// How long a repeat alert for the same resource and event is held back (0: never).
    pub fn quiet_period(&self) -> SignedDuration {
        bounds::signed_secs(self.quiet_period_secs)
    }

    /// How long an undelivered alert is retried before it is given up.
    pub fn give_up_after(&self) -> SignedDuration {
        bounds::signed_secs(self.give_up_after_secs)
    }

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
        bounds::check(
            errs,
            "alerting.quiet_period_secs",
            self.quiet_period_secs,
            0,
            WEEK,
            Unit::Seconds,
        );
        bounds::check(
            errs,
            "alerting.give_up_after_secs",
            self.give_up_after_secs,
            1,
            30 * DAY,
            Unit::Seconds,
        );
        // 0 is taken as 1 by the dispatcher, as it always was.
        bounds::check(
            errs,
            "alerting.escalate_after_failures",
            self.escalate_after_failures,
            0,
            1_000,
            Unit::Count,
        );
    }
}

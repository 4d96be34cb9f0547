//! Prometheus metrics for every loop, source, sink and the store. One `Metrics` value is
//! shared (cheaply cloned) by the daemon, the dispatcher and the HTTP listener, which encodes
//! it in the OpenMetrics text format on `/metrics`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    pub scope: String,
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PollLabels {
    pub scope: String,
    pub service: String,
    /// `complete` or `failed`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub scope: String,
    pub service: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChangeLabels {
    pub scope: String,
    pub decision: String,
    pub severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    pub sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    pub account: String,
    pub service: String,
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KubeEventLabels {
    pub scope: String,
    /// `group/version/Kind`.
    pub kind: String,
    /// `apply`, `delete`, `listed`, or `error_<kind>` (`error_gone`, `error_forbidden`, ...).
    pub event: String,
}

/// What became of a CloudTrail event from the queue (`received`, `invalid`, `ignored`,
/// `matched`, `unmatched`, `reread_failed`, `lagging`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsEventLabels {
    pub outcome: String,
}

/// A failure of the event queue itself, by kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueErrorLabels {
    pub call: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// Every metric driftwatch exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub polls: Family<PollLabels, Counter>,
    pub poll_failures: Family<FailureLabels, Counter>,
    pub poll_duration: HistogramFamily<ScopeLabels>,
    pub scope_blind: Family<ScopeLabels, Gauge>,
    pub polls_held: Family<ScopeLabels, Counter>,
    pub resources: Family<ScopeLabels, Gauge>,
    pub changes: Family<ChangeLabels, Counter>,
    pub cycles: Counter,
    /// `[ha]`: 1 while this replica leads, 0 while it waits.
    pub leader: Gauge,
    /// `[ha]`: times this replica won the election.
    pub leader_elections: Counter,
    /// `[ha] replicas` above 1: live members, and the scopes this one owns.
    pub shard_members: Gauge,
    pub shard_scopes: Gauge,
    pub cycle_duration: Histogram,
    pub records_active: Gauge,
    pub record_errors: Gauge,
    pub record_plan_warnings: Gauge,
    pub record_reloads: Counter,
    pub alerts_delivered: Family<SinkLabels, Counter>,
    pub alerts_failed: Family<SinkLabels, Counter>,
    pub alerts_retried: Family<SinkLabels, Counter>,
    pub alerts_abandoned: Family<SinkLabels, Counter>,
    pub outbox_pending: Family<SinkLabels, Gauge>,
    pub outbox_oldest_age: Family<SinkLabels, Gauge>,
    pub ledger_entries: Gauge,
    pub obligations_open: Gauge,
    pub aws_requests: Family<AwsCallLabels, Counter>,
    pub obligations_overdue: Gauge,
    pub store_errors: Family<ErrorLabels, Counter>,
    pub config_reloads: Family<ErrorLabels, Counter>,
    pub kube_watch_events: Family<KubeEventLabels, Counter>,
    pub kube_detection: Histogram,
    pub aws_events: Family<AwsEventLabels, Counter>,
    pub aws_event_queue_errors: Family<QueueErrorLabels, Counter>,
    /// From CloudTrail's `eventTime` to the event's arrival from the queue.
    pub aws_event_lag: Histogram,
    /// From the event's arrival to its re-read decided and committed.
    pub aws_event_decision: Histogram,
    /// CloudTrail LookupEvents of unattributed changes, by outcome.
    pub aws_lookups: Family<AwsEventLabels, Counter>,
    pub aws_lookups_pending: Gauge,
    pub record_sources: RecordSourceMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        r.register(
            "driftwatch_build_info",
            "Build information (always 1)",
            build,
        );
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            polls: Family::default(),
            poll_failures: Family::default(),
            poll_duration: Family::new_with_constructor(duration_histogram),
            scope_blind: Family::default(),
            polls_held: Family::default(),
            resources: Family::default(),
            changes: Family::default(),
            cycles: Counter::default(),
            leader: Gauge::default(),
            leader_elections: Counter::default(),
            shard_members: Gauge::default(),
            shard_scopes: Gauge::default(),
            cycle_duration: duration_histogram(),
            records_active: Gauge::default(),
            record_errors: Gauge::default(),
            record_plan_warnings: Gauge::default(),
            record_reloads: Counter::default(),
            alerts_delivered: Family::default(),
            alerts_failed: Family::default(),
            alerts_retried: Family::default(),
            alerts_abandoned: Family::default(),
            outbox_pending: Family::default(),
            outbox_oldest_age: Family::default(),
            ledger_entries: Gauge::default(),
            obligations_open: Gauge::default(),
            aws_requests: Family::default(),
            obligations_overdue: Gauge::default(),
            store_errors: Family::default(),
            config_reloads: Family::default(),
            kube_watch_events: Family::default(),
            kube_detection: duration_histogram(),
            aws_events: Family::default(),
            aws_event_queue_errors: Family::default(),
            aws_event_lag: Histogram::new(exponential_buckets(0.5, 2.0, 14)),
            aws_event_decision: duration_histogram(),
            aws_lookups: Family::default(),
            aws_lookups_pending: Gauge::default(),
            record_sources: RecordSourceMetrics::default(),
        };
        m.record_sources.register(&mut r);
        r.register(
            "driftwatch_polls",
            "Polls of a scope by outcome (complete or failed)",
            m.polls.clone(),
        );
        r.register(
            "driftwatch_poll_failures",
            "Failed polls by failure kind",
            m.poll_failures.clone(),
        );
        r.register(
            "driftwatch_poll_duration_seconds",
            "Time to list one scope",
            m.poll_duration.clone(),
        );
        r.register(
            "driftwatch_scope_blind",
            "1 while a scope is blind (its polls keep failing)",
            m.scope_blind.clone(),
        );
        r.register(
            "driftwatch_polls_held",
            "Polls the mass-delete guard held (they would delete more than sources.max_delete_fraction of a scope)",
            m.polls_held.clone(),
        );
        r.register(
            "driftwatch_resources",
            "Resources in the last complete observation of a scope",
            m.resources.clone(),
        );
        r.register(
            "driftwatch_changes",
            "Changes seen, by decision and severity",
            m.changes.clone(),
        );
        r.register("driftwatch_cycles", "Poll cycles run", m.cycles.clone());
        r.register(
            "driftwatch_leader",
            "With [ha]: 1 while this replica leads (polls and alerts), 0 while it waits",
            m.leader.clone(),
        );
        r.register(
            "driftwatch_leader_elections",
            "With [ha]: times this replica won the election",
            m.leader_elections.clone(),
        );
        r.register(
            "driftwatch_shard_members",
            "With [ha] replicas above 1: live members of the set",
            m.shard_members.clone(),
        );
        r.register(
            "driftwatch_shard_scopes",
            "With [ha] replicas above 1: scopes this member owns and polls",
            m.shard_scopes.clone(),
        );
        r.register(
            "driftwatch_cycle_duration_seconds",
            "Time for one poll cycle over every source",
            m.cycle_duration.clone(),
        );
        r.register(
            "driftwatch_records_active",
            "Change records in force",
            m.records_active.clone(),
        );
        r.register(
            "driftwatch_record_errors",
            "Problems found in change-record files at the last load",
            m.record_errors.clone(),
        );
        r.register(
            "driftwatch_record_plan_warnings",
            "Planned changes in attached plans that driftwatch does not reconcile, at the last load",
            m.record_plan_warnings.clone(),
        );
        r.register(
            "driftwatch_record_reloads",
            "Reloads of the records directory",
            m.record_reloads.clone(),
        );
        r.register(
            "driftwatch_alerts_delivered",
            "Alerts delivered, by sink",
            m.alerts_delivered.clone(),
        );
        r.register(
            "driftwatch_alerts_failed",
            "Failed delivery attempts (retried later), by sink",
            m.alerts_failed.clone(),
        );
        r.register(
            "driftwatch_alerts_retried",
            "Failed deliveries scheduled for another attempt, by sink",
            m.alerts_retried.clone(),
        );
        r.register(
            "driftwatch_alerts_abandoned",
            "Alerts given up after the sink's attempt limit or a permanent error",
            m.alerts_abandoned.clone(),
        );
        r.register(
            "driftwatch_outbox_pending",
            "Alerts waiting in the outbox, by sink",
            m.outbox_pending.clone(),
        );
        r.register(
            "driftwatch_outbox_oldest_pending_age_seconds",
            "Age of the oldest undelivered alert, by sink",
            m.outbox_oldest_age.clone(),
        );
        r.register(
            "driftwatch_ledger_entries",
            "Entries in the hash-chained ledger",
            m.ledger_entries.clone(),
        );
        r.register(
            "driftwatch_aws_requests",
            "AWS API calls made, by account, service and operation",
            m.aws_requests.clone(),
        );
        r.register(
            "driftwatch_obligations_open",
            "Open obligations (retrospectives owed, temporary changes, break-glass sessions)",
            m.obligations_open.clone(),
        );
        r.register(
            "driftwatch_obligations_overdue",
            "Open obligations past their due time",
            m.obligations_overdue.clone(),
        );
        r.register(
            "driftwatch_store_errors",
            "Store operations that failed, by kind",
            m.store_errors.clone(),
        );
        r.register(
            "driftwatch_config_reloads",
            "Config reloads (SIGHUP), by result",
            m.config_reloads.clone(),
        );
        r.register(
            "driftwatch_kubernetes_watch_events",
            "Kubernetes watch events and errors, by cluster, kind and event",
            m.kube_watch_events.clone(),
        );
        r.register(
            "driftwatch_kubernetes_detection_seconds",
            "From a Kubernetes watch event to its changes decided and committed (ledger and outbox)",
            m.kube_detection.clone(),
        );
        r.register(
            "driftwatch_aws_events",
            "CloudTrail events from the queue by outcome: received, invalid, ignored (nothing watched), matched (a change attributed to it), matched_late (it attributed a change a poll had already decided), unmatched (it explains no change), reread_failed, lagging",
            m.aws_events.clone(),
        );
        r.register(
            "driftwatch_aws_event_queue_errors",
            "Failed calls to the event queue (ReceiveMessage, DeleteMessageBatch) by failure kind",
            m.aws_event_queue_errors.clone(),
        );
        r.register(
            "driftwatch_aws_event_lag_seconds",
            "From a CloudTrail event's eventTime to its arrival from the queue",
            m.aws_event_lag.clone(),
        );
        r.register(
            "driftwatch_aws_event_decision_seconds",
            "From a CloudTrail event's arrival to its re-read decided and committed (ledger and outbox)",
            m.aws_event_decision.clone(),
        );
        r.register(
            "driftwatch_aws_lookups",
            "CloudTrail LookupEvents of changes no event attributed, by outcome: found, retry (not there yet), not_found (given up), failed (the call failed; retried)",
            m.aws_lookups.clone(),
        );
        r.register(
            "driftwatch_aws_lookups_pending",
            "Changes waiting for their CloudTrail LookupEvents",
            m.aws_lookups_pending.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            ..m
        }
    }

    /// AWS calls made so far: `(account, service, operation) -> count`, read back from the
    /// exposition (the registry does not expose its families for iteration).
    pub fn aws_request_counts(&self) -> Vec<(String, String, String, u64)> {
        let text = self.encode();
        let label = |l: &str, name: &str| {
            l.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string()
        };
        text.lines()
            .filter(|l| l.starts_with("driftwatch_aws_requests_total{"))
            .filter_map(|l| {
                let n = l.rsplit(' ').next()?.parse::<f64>().ok()? as u64;
                Some((
                    label(l, "account"),
                    label(l, "service"),
                    label(l, "operation"),
                    n,
                ))
            })
            .collect()
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The classic Prometheus text format (0.0.4), for scrapers and tools that do not ask
    /// for OpenMetrics: counter families are named with their `_total` suffix in HELP and
    /// TYPE, and there is no `# EOF`.
    pub fn encode_prometheus(&self) -> String {
        to_prometheus_text(&self.encode())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecordSourceLabels {
    pub source: String,
    pub system: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecordSourcePollLabels {
    pub source: String,
    pub system: String,
    /// `ok` or `failed`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecordSourceErrorLabels {
    pub source: String,
    pub system: String,
    /// `unreachable`, `timeout`, `denied`, `rate_limited`, `server_error`, `invalid_response`.
    pub kind: String,
}

/// The loaders of change records from GitHub, Jira and Linear.
#[derive(Clone, Default)]
pub struct RecordSourceMetrics {
    pub polls: Family<RecordSourcePollLabels, Counter>,
    pub errors: Family<RecordSourceErrorLabels, Counter>,
    pub records: Family<RecordSourceLabels, Gauge>,
    pub rejected: Family<RecordSourceLabels, Gauge>,
    pub unchanged: Family<RecordSourceLabels, Counter>,
    pub last_success_age: Family<RecordSourceLabels, Gauge>,
    pub stale: Family<RecordSourceLabels, Gauge>,
}

impl RecordSourceMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "driftwatch_records_source_polls",
            "Polls of a ticket system holding change records, by outcome",
            self.polls.clone(),
        );
        r.register(
            "driftwatch_records_source_errors",
            "Failed polls of a ticket system, by failure kind",
            self.errors.clone(),
        );
        r.register(
            "driftwatch_records_source_records",
            "Records in force from a ticket system (its last good set)",
            self.records.clone(),
        );
        r.register(
            "driftwatch_records_source_rejected",
            "Problems with tickets at the last good poll (each names the ticket and field)",
            self.rejected.clone(),
        );
        r.register(
            "driftwatch_records_source_unchanged_answers",
            "Answers served from the conditional-request cache (HTTP 304)",
            self.unchanged.clone(),
        );
        r.register(
            "driftwatch_records_source_last_success_age_seconds",
            "Seconds since the last good poll of a ticket system (since start if none)",
            self.last_success_age.clone(),
        );
        r.register(
            "driftwatch_records_source_stale",
            "1 while a ticket system is stale (no good poll within stale_after_secs)",
            self.stale.clone(),
        );
    }
}

fn to_prometheus_text(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_help_and_encodes() {
        let m = Metrics::new();
        m.polls
            .get_or_create(&PollLabels {
                scope: "aws:1:r".into(),
                service: "aws.ec2".into(),
                outcome: "complete".into(),
            })
            .inc();
        let text = m.encode();
        assert!(text.contains("driftwatch_build_info{version=\""), "{text}");
        assert!(text.contains("driftwatch_polls_total{scope=\"aws:1:r\",service=\"aws.ec2\",outcome=\"complete\"} 1"), "{text}");
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let name = line.split_whitespace().nth(2).unwrap_or("");
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "no help for {name}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
        let classic = m.encode_prometheus();
        assert!(
            classic.contains("# HELP driftwatch_polls_total Polls"),
            "{classic}"
        );
        assert!(
            classic.contains("# TYPE driftwatch_polls_total counter"),
            "{classic}"
        );
        assert!(
            classic.contains("# TYPE driftwatch_records_active gauge"),
            "{classic}"
        );
        assert!(!classic.contains("# EOF"));
    }
}

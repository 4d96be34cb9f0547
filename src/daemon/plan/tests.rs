//! The cycle's decisions without a database: blindness and recovery, the quiet period,
//! resolves to the sinks that fired, drifts born open or closed, baselines.

use std::collections::HashSet;

use jiff::Timestamp;

use super::*;
use crate::config::Config;
use crate::diff::Previous;
use crate::engine;
use crate::matcher::MatchSettings;
use crate::model::Resource;
use crate::model::aws::fixtures::{res, rule, scope};
use crate::records::{ValidationSettings, parse_file};
use crate::rules::RuleSettings;
use crate::store::OpenDrift;

const CONFIG: &str = r#"
[aws]
regions = ["eu-west-1"]
[[aws.accounts]]
id = "123456789012"
[[sinks]]
type = "log"
name = "log"
"#;

fn sinks() -> Sinks {
    let cfg = Config::parse(std::path::Path::new("/x/driftwatch.toml"), CONFIG).expect("config");
    Sinks::from_config(&cfg.sinks, &cfg.alerting).expect("sinks")
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("ts")
}

/// A record covering sg-1 rules, temporary when `revert_by` is given.
fn records(revert_by: Option<&str>) -> RecordIndex {
    let revert = revert_by
        .map(|t| format!("revert_by: {t}\n"))
        .unwrap_or_default();
    let yaml = format!(
        "id: CHG-1\ntitle: Open 443\ntype: normal\npurpose: p\nimpact: i\nresources: r\nrequested_by: alice@example.com\napproved_by: [{{ name: bob@example.com, at: 2026-11-20T00:00:00Z }}]\nwindow: {{ start: 2026-11-21T00:00:00Z, end: 2026-11-22T00:00:00Z }}\n{revert}scope: [{{ provider: aws, kind: aws.ec2.security_group_rule, target: sg-1 }}]\n"
    );
    RecordIndex::new(parse_file("r.yaml", &yaml, &ValidationSettings::default()).expect("record"))
}

struct Case {
    sinks: Sinks,
    records: RecordIndex,
    state: ScopeState,
    triggers: Vec<Trigger>,
    recent: HashSet<(String, OutboxEvent)>,
    open: Vec<OpenDrift>,
    unwatched: Vec<(crate::model::Kind, usize)>,
}

impl Case {
    fn new() -> Self {
        Case {
            sinks: sinks(),
            records: RecordIndex::new(Vec::new()),
            state: ScopeState {
                baseline_at: Some(at("2026-11-21T00:00:00Z")),
                ..Default::default()
            },
            triggers: Vec::new(),
            recent: HashSet::new(),
            open: Vec::new(),
            unwatched: Vec::new(),
        }
    }

    /// Evaluate `obs` against `before` with the engine, then plan it.
    fn run(&self, before: Option<Vec<Resource>>, obs: Observation) -> (CycleWrite, ScopeReport) {
        self.run_with(before, obs, None, None)
    }

    /// The same, each change attributed to `person` (as the pipeline does with evidence),
    /// with `lookup_delay`.
    fn run_with(
        &self,
        before: Option<Vec<Resource>>,
        obs: Observation,
        person: Option<&str>,
        lookup_delay: Option<jiff::SignedDuration>,
    ) -> (CycleWrite, ScopeReport) {
        let rules = RuleSettings::default();
        let matching = MatchSettings::default();
        let previous = before.map(Previous::from_resources);
        let evaluation = engine::evaluate(
            previous.as_ref(),
            &obs,
            &engine::Settings {
                rules: &rules,
                matching: &matching,
                records: &self.records,
                open: &self
                    .open
                    .iter()
                    .map(|d| engine::OpenDrift {
                        drift_id: d.drift_id.clone(),
                        kind: d.kind.clone(),
                        resource_id: d.resource_id.clone(),
                        before_hash: d.before_hash.clone(),
                    })
                    .collect::<Vec<_>>(),
            },
        );
        let mut evaluation = evaluation;
        if let (Some(p), Evaluation::Compared { changes }) = (person, &mut evaluation) {
            for ev in changes.iter_mut() {
                ev.change.attribute(crate::model::Attribution {
                    actor: format!("{p} via role Admin"),
                    person: Some(p.to_string()),
                    identity_type: "assumed_role".into(),
                    arn: None,
                    source_ip: None,
                    client: "console".into(),
                    user_agent: None,
                    event_name: "AuthorizeSecurityGroupIngress".into(),
                    event_id: "ev-1".into(),
                    event_time: "2026-11-21T09:59:59Z".into(),
                    via: "event".into(),
                });
            }
        }
        let settings = PlanSettings {
            sinks: &self.sinks,
            records: &self.records,
            blind_after_failures: 3,
            delete_guard: engine::DeleteGuard::default(),
            lookup_delay,
        };
        let facts = ScopeFacts {
            state: &self.state,
            stored: previous.as_ref().map_or(0, Previous::len),
            open: &self.open,
            triggers: &self.triggers,
            recent: &self.recent,
            unwatched: &self.unwatched,
        };
        plan(&settings, &facts, obs, evaluation).expect("plan")
    }
}

fn complete(resources: Vec<Resource>, when: &str) -> Observation {
    Observation {
        scope: scope(),
        observed_at: at(when),
        outcome: Outcome::Complete(resources),
    }
}

fn failed_obs(when: &str) -> Observation {
    Observation {
        scope: scope(),
        observed_at: at(when),
        outcome: Outcome::Failed {
            kind: FailureKind::Throttled,
            message: "Rate exceeded".into(),
        },
    }
}

fn event_types(w: &CycleWrite) -> Vec<&'static str> {
    w.events.iter().map(|e| e.type_name()).collect()
}

fn ssh_world() -> Resource {
    res(rule("sg-1", "tcp", 22, 22, "0.0.0.0/0"))
}

#[test]
fn failures_count_then_turn_the_scope_blind_once() {
    let mut case = Case::new();
    let (w, r) = case.run(None, failed_obs("2026-11-21T10:00:00Z"));
    assert_eq!(event_types(&w), ["source_failed"]);
    assert!(w.outbox.is_empty());
    assert_eq!(
        w.scope_state.as_ref().map(|s| s.consecutive_failures),
        Some(1)
    );
    assert!(matches!(
        r.status,
        ScopeStatus::Failed {
            consecutive: 1,
            blind: false,
            ..
        }
    ));
    assert!(
        w.upserts.is_empty() && w.deletes.is_empty(),
        "a failed poll never deletes"
    );

    case.state.consecutive_failures = 2;
    let (w, r) = case.run(None, failed_obs("2026-11-21T10:05:00Z"));
    assert_eq!(event_types(&w), ["source_failed", "source_blind"]);
    assert_eq!(w.outbox.len(), 1, "one alert per sink");
    assert_eq!(
        w.outbox[0].event,
        OutboxEvent::Alert(EventKind::SourceBlind)
    );
    assert_eq!(
        w.outbox[0].payload["group"],
        "source_blind:aws:123456789012:eu-west-1:2026-11-21T10:05:00Z"
    );
    assert_eq!(
        w.outbox[0].subject.as_deref(),
        Some("aws:123456789012:eu-west-1")
    );
    assert_eq!(
        w.scope_state.as_ref().and_then(|s| s.blind_since),
        Some(at("2026-11-21T10:05:00Z"))
    );
    assert!(matches!(
        r.status,
        ScopeStatus::Failed {
            consecutive: 3,
            blind: true,
            ..
        }
    ));

    // Already blind: counted, not announced again.
    case.state.consecutive_failures = 3;
    case.state.blind_since = Some(at("2026-11-21T10:05:00Z"));
    let (w, _) = case.run(None, failed_obs("2026-11-21T10:10:00Z"));
    assert_eq!(event_types(&w), ["source_failed"]);
    assert!(w.outbox.is_empty());
}

#[test]
fn a_complete_poll_after_blindness_recovers_and_steady_state_writes_no_health() {
    let mut case = Case::new();
    let before = vec![ssh_world()];
    let (w, r) = case.run(
        Some(before.clone()),
        complete(before.clone(), "2026-11-21T11:00:00Z"),
    );
    assert!(
        w.scope_state.is_none(),
        "steady state leaves the scope row alone"
    );
    assert!(w.events.is_empty() && w.outbox.is_empty());
    assert_eq!(r.status, ScopeStatus::Compared);

    case.state.consecutive_failures = 4;
    case.state.blind_since = Some(at("2026-11-21T10:05:00Z"));
    let (w, r) = case.run(
        Some(before.clone()),
        complete(before, "2026-11-21T11:00:00Z"),
    );
    assert_eq!(r.status, ScopeStatus::Recovered);
    assert_eq!(event_types(&w), ["source_recovered"]);
    assert_eq!(
        w.outbox[0].event,
        OutboxEvent::Alert(EventKind::SourceRecovered)
    );
    // The recovery is the blind alert's resolve: same group, resolved status.
    let p = &w.outbox[0].payload;
    assert_eq!(p["status"], "resolved");
    let group = "source_blind:aws:123456789012:eu-west-1:2026-11-21T10:05:00Z";
    assert_eq!(p["group"], group);
    assert_eq!(w.outbox[0].idempotency_key, format!("{group}:resolved"));
    let s = w.scope_state.expect("health reset");
    assert_eq!((s.consecutive_failures, s.blind_since), (0, None));
}

#[test]
fn a_baseline_stores_the_observation_and_alerts_nobody() {
    let mut case = Case::new();
    case.state = ScopeState::default();
    let (w, r) = case.run(None, complete(vec![ssh_world()], "2026-11-21T09:00:00Z"));
    assert_eq!(event_types(&w), ["baseline"]);
    assert_eq!(w.upserts, vec![ssh_world()]);
    assert!(w.outbox.is_empty() && w.drifts.is_empty());
    assert_eq!(r.status, ScopeStatus::Baseline);
    assert_eq!(
        r.exposures.len(),
        1,
        "the world-open SSH rule is a pre-existing exposure"
    );
}

fn open_drift(id: &str, r: &Resource) -> OpenDrift {
    OpenDrift {
        drift_id: id.into(),
        kind: r.key.kind.clone(),
        resource_id: r.key.id.clone(),
        before_hash: None,
        observed_at: at("2026-11-21T11:58:00Z"),
    }
}

/// World-open on a port that is not sensitive: high, not critical.
fn web_world() -> Resource {
    res(rule("sg-1", "tcp", 8080, 8080, "0.0.0.0/0"))
}

#[test]
fn an_unplanned_change_opens_a_drift_and_alerts() {
    let case = Case::new();
    let (w, _) = case.run(
        Some(Vec::new()),
        complete(vec![web_world()], "2026-11-21T12:00:00Z"),
    );
    assert_eq!(event_types(&w), ["change"]);
    assert_eq!(w.drifts.len(), 1);
    assert_eq!(w.drifts[0].closed, None, "unplanned drifts stay open");
    assert_eq!(w.drifts[0].decision, DecisionKind::Unmatched);
    assert_eq!(w.outbox.len(), 1);
    assert_eq!(w.outbox[0].event, OutboxEvent::Alert(EventKind::Unmatched));
    let subject = web_world().key.to_string();
    assert_eq!(w.outbox[0].subject.as_deref(), Some(subject.as_str()));
}

/// Held back only while the earlier drift on the resource is open (its alert stands), never
/// for a critical change, never for another event.
#[test]
fn the_quiet_period_holds_back_only_while_the_earlier_drift_is_open() {
    let held = |resource: Resource, recent_event: EventKind, earlier_open: bool| {
        let mut case = Case::new();
        let subject = resource.key.to_string();
        case.recent
            .insert((subject, OutboxEvent::Alert(recent_event)));
        if earlier_open {
            case.open.push(open_drift("d-0000000e", &resource));
        }
        // A modify of the same resource (its description changed) while the earlier drift
        // may be open.
        let before = Resource::new(
            resource.key.clone(),
            "before".into(),
            resource.targets.clone(),
            resource.tags.clone(),
            resource.attributes(),
        );
        let (w, _) = case.run(
            Some(vec![before]),
            complete(vec![resource], "2026-11-21T12:05:00Z"),
        );
        let LedgerEvent::Change(entry) = &w.events[0] else {
            panic!("change entry")
        };
        assert_eq!(
            entry.alert_suppressed,
            w.outbox.is_empty(),
            "ledger says why"
        );
        assert_eq!(
            w.drifts.len(),
            1,
            "held back or not, it is ledgered and open"
        );
        entry.alert_suppressed
    };
    assert!(
        held(web_world(), EventKind::Unmatched, true),
        "repeat while open: held"
    );
    assert!(
        !held(web_world(), EventKind::Unmatched, false),
        "the earlier drift was closed (reverted): the reopening pages again"
    );
    assert!(
        !held(web_world(), EventKind::Violation, true),
        "another event is not a repeat"
    );
    assert!(
        !held(ssh_world(), EventKind::Unmatched, true),
        "a critical change is never held back"
    );
}

#[test]
fn planned_changes_are_born_closed_unless_temporary() {
    let mut case = Case::new();
    case.records = records(None);
    let (w, _) = case.run(
        Some(Vec::new()),
        complete(vec![ssh_world()], "2026-11-21T12:00:00Z"),
    );
    assert_eq!(w.drifts[0].decision, DecisionKind::Matched);
    assert_eq!(
        w.drifts[0].closed,
        Some(DriftClosure {
            at: at("2026-11-21T12:00:00Z"),
            reason: ClosedReason::Matched,
            by: None
        })
    );
    assert!(
        w.outbox.is_empty(),
        "matched changes page nobody by default"
    );

    case.records = records(Some("2026-11-21T18:00:00Z"));
    let (w, _) = case.run(
        Some(Vec::new()),
        complete(vec![ssh_world()], "2026-11-21T12:00:00Z"),
    );
    assert_eq!(
        w.drifts[0].closed, None,
        "a temporary change stays open until reverted"
    );
    assert_eq!(w.drifts[0].revert_by, Some(at("2026-11-21T18:00:00Z")));
    let LedgerEvent::Change(entry) = &w.events[0] else {
        panic!("change entry")
    };
    assert_eq!(entry.revert_by.as_deref(), Some("2026-11-21T18:00:00Z"));
}

#[test]
fn a_revert_closes_the_drift_and_resolves_only_where_it_fired() {
    let mut case = Case::new();
    let opened = ssh_world();
    case.open = vec![
        open_drift("d-00000001", &opened),
        OpenDrift {
            resource_id: "sg-9/other".into(),
            ..open_drift("d-00000002", &opened)
        },
    ];
    let fired = |d: &str| {
        let mut a = crate::sinks::alert_for_blind(
            "aws:123456789012:eu-west-1",
            "x".into(),
            "2026-11-21T10:00:00Z",
        );
        a.group = None;
        a.idempotency_key = format!("{d}:unmatched");
        a.drift_id = Some(d.to_string());
        serde_json::to_string(&a).expect("json")
    };
    case.triggers = vec![
        Trigger {
            drift_id: "d-00000001".into(),
            sink: "log".into(),
            payload: fired("d-00000001"),
        },
        Trigger {
            drift_id: "d-00000002".into(),
            sink: "log".into(),
            payload: fired("d-00000002"),
        },
    ];
    // The rule goes away again: the state before d-00000001 (no rule) is back.
    let (w, _) = case.run(
        Some(vec![opened]),
        complete(Vec::new(), "2026-11-21T13:00:00Z"),
    );
    assert_eq!(event_types(&w), ["change", "drift_closed"]);
    let LedgerEvent::DriftClosed {
        drift_id, reason, ..
    } = &w.events[1]
    else {
        panic!("drift_closed")
    };
    assert_eq!(
        (drift_id.as_str(), *reason),
        ("d-00000001", CloseReason::Reverted)
    );
    let closure = w.drifts[0].closed.as_ref().expect("born closed");
    assert_eq!(closure.reason, ClosedReason::Reverts);
    assert_eq!(closure.by.as_deref(), Some("d-00000001"));
    // A pure revert pages nobody; the one resolve goes to the sink that got d-00000001.
    assert_eq!(w.outbox.len(), 1, "{:?}", w.outbox);
    assert_eq!(w.outbox[0].event, OutboxEvent::Resolved);
    assert_eq!(w.outbox[0].idempotency_key, "d-00000001:resolved");
}

#[test]
fn a_failed_evaluation_of_a_complete_observation_is_refused() {
    let case = Case::new();
    let settings = PlanSettings {
        sinks: &case.sinks,
        records: &case.records,
        blind_after_failures: 3,
        delete_guard: engine::DeleteGuard::default(),
        lookup_delay: None,
    };
    let facts = ScopeFacts {
        state: &case.state,
        stored: 0,
        open: &case.open,
        triggers: &case.triggers,
        recent: &case.recent,
        unwatched: &[],
    };
    let got = plan(
        &settings,
        &facts,
        complete(Vec::new(), "2026-11-21T13:00:00Z"),
        Evaluation::Failed,
    );
    assert!(got.is_err());
}

/// Twelve rules stored, a poll that lists none: held (nothing but the hold written), then
/// believed when the next poll agrees, or dismissed when it does not.
#[test]
fn a_poll_deleting_most_of_a_scope_is_held_until_a_second_poll_agrees() {
    let mut case = Case::new();
    let stored: Vec<Resource> = (0..12)
        .map(|p| res(rule("sg-1", "tcp", 1000 + p, 1000 + p, "10.0.0.0/8")))
        .collect();
    let (w, r) = case.run(
        Some(stored.clone()),
        complete(Vec::new(), "2026-11-21T13:00:00Z"),
    );
    assert_eq!(event_types(&w), ["mass_delete"]);
    assert!(
        w.upserts.is_empty() && w.deletes.is_empty() && w.drifts.is_empty() && w.outbox.is_empty(),
        "a held poll writes nothing else: {w:?}"
    );
    assert_eq!(
        r.status,
        ScopeStatus::Held {
            deletes: 12,
            stored: 12
        }
    );
    let held = w
        .scope_state
        .and_then(|s| s.held)
        .expect("the hold is stored");
    assert_eq!(held.deletes, 12);

    // The next poll deletes the same twelve: recorded and alerted as usual.
    case.state.held = Some(held.clone());
    let (w, r) = case.run(
        Some(stored.clone()),
        complete(Vec::new(), "2026-11-21T13:05:00Z"),
    );
    assert_eq!(event_types(&w)[0], "mass_delete");
    assert!(matches!(
        &w.events[0],
        LedgerEvent::MassDelete {
            verdict: MassDeleteVerdict::Confirmed,
            deletes: 12,
            ..
        }
    ));
    assert_eq!(w.deletes.len(), 12);
    assert_eq!(r.changes.len(), 12);
    assert_eq!(r.status, ScopeStatus::Compared);
    assert_eq!(
        w.scope_state.as_ref().map(|s| s.held.clone()),
        Some(None),
        "the hold is cleared"
    );

    // Or the next poll lists them all again: the held poll was wrong, nothing is deleted.
    let (w, _) = case.run(
        Some(stored.clone()),
        complete(stored, "2026-11-21T13:05:00Z"),
    );
    assert_eq!(event_types(&w), ["mass_delete"]);
    assert!(matches!(
        &w.events[0],
        LedgerEvent::MassDelete {
            verdict: MassDeleteVerdict::Dismissed,
            ..
        }
    ));
    assert!(w.deletes.is_empty());
    assert_eq!(w.scope_state.map(|s| s.held), Some(None));
}

/// A kind removed from the config: its rows are purged (not deleted, nobody paged), its open
/// drift closes as unwatched and the sink that was told gets a resolve.
#[test]
fn a_kind_no_longer_watched_is_purged_and_its_open_drifts_resolved() {
    let mut case = Case::new();
    let user = Resource::new(
        crate::model::ResourceKey {
            scope: scope(),
            kind: crate::model::Kind::IamUser,
            id: "alice".into(),
        },
        "alice".into(),
        Vec::new(),
        Default::default(),
        serde_json::json!({}),
    );
    case.unwatched = vec![(crate::model::Kind::IamUser, 4)];
    case.open = vec![open_drift("d-0000000a", &user)];
    let mut a = crate::sinks::alert_for_blind("s", "x".into(), "2026-11-21T10:00:00Z");
    a.group = None;
    a.idempotency_key = "d-0000000a:unmatched".into();
    a.drift_id = Some("d-0000000a".into());
    case.triggers = vec![Trigger {
        drift_id: "d-0000000a".into(),
        sink: "log".into(),
        payload: serde_json::to_string(&a).expect("json"),
    }];
    let kept = web_world();
    let (w, r) = case.run(
        Some(vec![kept.clone()]),
        complete(vec![kept], "2026-11-21T13:00:00Z"),
    );
    assert_eq!(event_types(&w), ["kinds_purged", "drift_closed"]);
    assert!(matches!(
        &w.events[0],
        LedgerEvent::KindsPurged { resources: 4, kinds, .. } if kinds == &["aws.iam.user".to_string()]
    ));
    assert!(matches!(
        &w.events[1],
        LedgerEvent::DriftClosed {
            reason: CloseReason::Unwatched,
            ..
        }
    ));
    assert_eq!(w.purge_kinds, [crate::model::Kind::IamUser]);
    assert!(w.deletes.is_empty() && r.changes.is_empty());
    assert_eq!(w.outbox.len(), 1);
    assert_eq!(w.outbox[0].idempotency_key, "d-0000000a:resolved");
}

/// What the proven actor is to the matched record (CHG-1: requested by alice, approved by
/// bob) shows in the reason and the entry; an unattributed change waits for a lookup, an
/// attributed one does not.
#[test]
fn the_actor_s_role_to_the_record_and_the_lookup_queue() {
    let mut case = Case::new();
    case.records = records(None);
    let https = res(rule("sg-1", "tcp", 443, 443, "0.0.0.0/0"));
    let obs = || complete(vec![https.clone()], "2026-11-21T10:00:00Z");
    let entry = |w: &CycleWrite| match &w.events[0] {
        LedgerEvent::Change(c) => (**c).clone(),
        other => panic!("not a change: {other:?}"),
    };
    let (w, _) = case.run_with(Some(Vec::new()), obs(), Some("alice"), None);
    let e = entry(&w);
    assert_eq!(e.decision, DecisionKind::Matched);
    assert_eq!(e.actor_role, Some(PersonRole::Requester));
    assert!(
        e.reason
            .ends_with("; made by its requester alice (CloudTrail)"),
        "{}",
        e.reason
    );
    let (w, _) = case.run_with(Some(Vec::new()), obs(), Some("bob@example.com"), None);
    let e = entry(&w);
    assert_eq!(e.actor_role, Some(PersonRole::Approver));
    assert!(
        e.reason
            .ends_with("who approved CHG-1: segregation of duties"),
        "{}",
        e.reason
    );
    let (w, _) = case.run_with(Some(Vec::new()), obs(), Some("carol"), None);
    assert_eq!(entry(&w).actor_role, None);
    assert!(w.lookups.is_empty());
    let delay = Some(jiff::SignedDuration::from_mins(5));
    let (w, _) = case.run_with(Some(Vec::new()), obs(), None, delay);
    assert_eq!(
        w.lookups.len(),
        1,
        "an unattributed change waits for a lookup"
    );
    assert_eq!(w.lookups[0].next_at, at("2026-11-21T10:05:00Z"));
    assert_eq!(w.lookups[0].record_id.as_deref(), Some("CHG-1"));
    let (w, _) = case.run_with(Some(Vec::new()), obs(), Some("alice"), delay);
    assert!(w.lookups.is_empty(), "an attributed one does not");
}

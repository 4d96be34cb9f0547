//! The append-only, hash-chained ledger.
//!
//! Each entry's `body` is the canonical JSON (keys sorted, no whitespace) of the event with
//! its `seq` and `at`; `hash = hex(sha256(prev_hash || body))`, where `prev_hash` is the
//! previous entry's hash as 64 lowercase hex characters (64 zeros for the first entry).
//! ARCHITECTURE.md gives the construction for auditors who re-verify an export.

use super::sql::{Sql, Tx};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Db, Result, StoreError, ts};
use crate::model::{Action, DecisionKind, Severity, ViolationKind, canonical_json, sha256_hex};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A finding as written to the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerFinding {
    pub rule: String,
    pub severity: Severity,
    pub message: String,
}

/// A changed field as written to the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerField {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeEntry {
    pub drift_id: String,
    pub scope: String,
    pub kind: String,
    pub resource_id: String,
    pub name: String,
    pub action: Action,
    pub observed_at: String,
    pub fields: Vec<LedgerField>,
    pub findings: Vec<LedgerFinding>,
    pub severity: Severity,
    pub decision: DecisionKind,
    pub record_id: Option<String>,
    pub violation: Option<ViolationKind>,
    pub provisional: bool,
    pub reason: String,
    pub actor: Option<String>,
    pub before_hash: Option<String>,
    pub after_hash: Option<String>,
    /// Open drifts this change undid (the resource is back to their pre-change state).
    #[serde(default)]
    pub reverts: Vec<String>,
    /// Not alerted: the same resource was alerted for the same event within the quiet period.
    #[serde(default)]
    pub alert_suppressed: bool,
    /// Matched by a temporary record: the change must be undone by then.
    #[serde(default)]
    pub revert_by: Option<String>,
    /// The covering record's ticket (imported records), for alerts and the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_url: Option<String>,
    /// The evidence behind `actor` (a CloudTrail event), when one proves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<LedgerAttribution>,
    /// What the proven actor is to the covering record: `approver` is a segregation-of-
    /// duties problem (the report lists it), `requester` strengthens the match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_role: Option<crate::model::PersonRole>,
    /// The planned resource of the covering record's Terraform/OpenTofu plan this change was
    /// decided against (matched as planned, or applied beyond plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<LedgerPlanned>,
}

/// A change's planned resource: the plan's address and the record's scope entry made from it
/// (one address can plan several resources: a group and its inline rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPlanned {
    pub address: String,
    pub scope_entry: usize,
}

/// Who made a change and the event that proves it, as the ledger and alerts carry it (the
/// wire form of `model::Attribution`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerAttribution {
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    pub identity_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    pub client: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    pub event_name: String,
    pub event_id: String,
    pub event_time: String,
    /// `event` (EventBridge) or `lookup` (LookupEvents).
    pub via: String,
}

impl LedgerAttribution {
    /// The evidence in one line: `from 203.0.113.7 with aws-cli, CloudTrail
    /// AuthorizeSecurityGroupIngress at 2026-12-03T10:00:00Z (event a1b2…)`.
    pub fn evidence(&self) -> String {
        let from = self
            .source_ip
            .as_deref()
            .map(|ip| format!("from {ip} "))
            .unwrap_or_default();
        let how = if self.via == "lookup" {
            "CloudTrail LookupEvents"
        } else {
            "CloudTrail"
        };
        format!(
            "{from}with {}, {how} {} at {} (event {})",
            self.client, self.event_name, self.event_time, self.event_id
        )
    }
}

impl From<&crate::model::Attribution> for LedgerAttribution {
    fn from(a: &crate::model::Attribution) -> Self {
        LedgerAttribution {
            actor: a.actor.clone(),
            person: a.person.clone(),
            identity_type: a.identity_type.clone(),
            arn: a.arn.clone(),
            source_ip: a.source_ip.clone(),
            client: a.client.clone(),
            user_agent: a.user_agent.clone(),
            event_name: a.event_name.clone(),
            event_id: a.event_id.clone(),
            event_time: a.event_time.clone(),
            via: a.via.clone(),
        }
    }
}

/// Why a drift stopped needing attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The resource went back to its state before the drift.
    Reverted,
    /// A record naming the drift in `retrospective_for` was loaded.
    RetrospectiveFiled,
    /// Its kind is no longer watched (removed from the config): nobody can see it revert.
    Unwatched,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Reverted => "reverted",
            CloseReason::RetrospectiveFiled => "retrospective_filed",
            CloseReason::Unwatched => "unwatched",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExposureEntry {
    pub kind: String,
    pub resource_id: String,
    pub name: String,
    pub findings: Vec<LedgerFinding>,
}

/// What the mass-delete guard decided about a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MassDeleteVerdict {
    /// Nothing written but this entry; the next poll decides.
    Held,
    /// The next poll deleted the same resources: its changes are recorded as usual.
    Confirmed,
    /// The next poll did not repeat the deletes: the held poll was wrong.
    Dismissed,
}

/// Every kind of ledger entry (closed set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LedgerEvent {
    /// First complete observation of a scope; lists pre-existing exposure.
    Baseline {
        scope: String,
        resources: usize,
        exposures: Vec<ExposureEntry>,
    },
    Change(Box<ChangeEntry>),
    SourceFailed {
        scope: String,
        failure: String,
        message: String,
        consecutive_failures: u32,
    },
    SourceBlind {
        scope: String,
        consecutive_failures: u32,
        since: String,
    },
    SourceRecovered {
        scope: String,
        blind_since: String,
    },
    /// The mass-delete guard held a poll that would delete most of a scope, or ruled on the
    /// held poll with the next one.
    MassDelete {
        scope: String,
        /// Deletes the poll would have made.
        deletes: usize,
        /// Resources the scope held before it.
        resources: usize,
        verdict: MassDeleteVerdict,
    },
    /// Stored resources of kinds the config no longer watches were dropped from the scope's
    /// state, without reporting them deleted.
    KindsPurged {
        scope: String,
        kinds: Vec<String>,
        resources: usize,
    },
    /// CloudTrail's LookupEvents named who made a change no event had attributed (the
    /// change's own entry stays as it was: the ledger is append-only).
    Attributed {
        drift_id: String,
        scope: String,
        attribution: LedgerAttribution,
        /// What the actor is to the covering record, when one covered it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor_role: Option<crate::model::PersonRole>,
    },
    /// An open (unmatched or violating) drift closed.
    DriftClosed {
        drift_id: String,
        scope: String,
        reason: CloseReason,
        /// The reverting change's drift id, or the record id.
        by: String,
    },
    /// An obligation's clock reached a step (reminder, overdue, due) and on-call was told.
    ObligationStep {
        obligation: String,
        kind: String,
        subject: String,
        step: String,
        due_at: String,
    },
    /// An obligation about a break-glass session was met (closed, retrospective filed).
    ObligationClosed {
        obligation: String,
        subject: String,
    },
    /// A sink kept failing or gave up on an alert: on-call may not have been told.
    DeliveryFailed {
        sink: String,
        idempotency_key: String,
        attempts: u32,
        error: String,
        abandoned: bool,
    },
    /// A ticket system holding change records has not answered for its `stale_after_secs`.
    RecordsSourceStale {
        source: String,
        system: String,
        /// The last good poll, if there ever was one.
        last_success: Option<String>,
        age_secs: i64,
        error: String,
    },
    /// A stale ticket system answered again.
    RecordsSourceRecovered {
        source: String,
        system: String,
        stale_since: String,
    },
    /// A change-record file failed validation (written once per distinct error).
    RecordRejected {
        file: String,
        line: u32,
        field: String,
        message: String,
        /// The rule the record broke; absent in entries written before rules were stored
        /// (`RejectionRule::from_legacy_message` classifies those).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<driftwatch_core::records::RejectionRule>,
    },
}

impl LedgerEvent {
    pub fn type_name(&self) -> &'static str {
        match self {
            LedgerEvent::Baseline { .. } => "baseline",
            LedgerEvent::Change(_) => "change",
            LedgerEvent::SourceFailed { .. } => "source_failed",
            LedgerEvent::SourceBlind { .. } => "source_blind",
            LedgerEvent::SourceRecovered { .. } => "source_recovered",
            LedgerEvent::RecordRejected { .. } => "record_rejected",
            LedgerEvent::RecordsSourceStale { .. } => "records_source_stale",
            LedgerEvent::RecordsSourceRecovered { .. } => "records_source_recovered",
            LedgerEvent::DriftClosed { .. } => "drift_closed",
            LedgerEvent::Attributed { .. } => "attributed",
            LedgerEvent::MassDelete { .. } => "mass_delete",
            LedgerEvent::KindsPurged { .. } => "kinds_purged",
            LedgerEvent::ObligationStep { .. } => "obligation_step",
            LedgerEvent::ObligationClosed { .. } => "obligation_closed",
            LedgerEvent::DeliveryFailed { .. } => "delivery_failed",
        }
    }
}

/// One stored entry.
#[derive(Clone, Debug, PartialEq)]
pub struct LedgerEntry {
    pub seq: i64,
    pub at: String,
    pub event_type: String,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

impl LedgerEntry {
    pub fn event(&self) -> Result<LedgerEvent> {
        Ok(serde_json::from_str(&self.body)?)
    }
}

/// `hash = hex(sha256(prev_hash || body))`.
pub fn entry_hash(prev_hash: &str, body: &str) -> String {
    let mut bytes = Vec::with_capacity(prev_hash.len() + body.len());
    bytes.extend_from_slice(prev_hash.as_bytes());
    bytes.extend_from_slice(body.as_bytes());
    sha256_hex(&bytes)
}

/// Append events inside the caller's transaction; returns their sequence numbers.
pub(crate) fn append(tx: &Tx<'_>, at: Timestamp, events: &[LedgerEvent]) -> Result<Vec<i64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    if let Tx::Postgres(_) = tx {
        // Replicas of a sharded set append concurrently: one at a time reads the head and
        // chains onto it (held until this transaction ends).
        tx.exec("SELECT pg_advisory_xact_lock(1685545332, 1)", &[])?;
    }
    let (mut seq, mut prev): (i64, String) = tx
        .query_opt(
            "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1",
            &[],
            |r| Ok((r.int(0)?, r.text(1)?)),
        )?
        .unwrap_or_else(|| (0, GENESIS.to_string()));
    let mut seqs = Vec::with_capacity(events.len());
    let at_s = ts(at);
    for ev in events {
        seq += 1;
        let mut v = serde_json::to_value(ev)?;
        if let Value::Object(m) = &mut v {
            m.insert("seq".into(), Value::from(seq));
            m.insert("at".into(), Value::String(at_s.clone()));
        }
        let body = canonical_json(&v);
        let hash = entry_hash(&prev, &body);
        tx.exec(
            "INSERT INTO ledger (seq, at, type, body, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                seq.into(),
                (&at_s).into(),
                ev.type_name().into(),
                (&body).into(),
                (&prev).into(),
                (&hash).into(),
            ],
        )?;
        seqs.push(seq);
        prev = hash;
    }
    Ok(seqs)
}

/// The outcome of `ledger verify`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerifyReport {
    pub entries: u64,
    pub head_hash: String,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Db {
    /// Every entry in sequence order (the rowid order, so a reordering shows up too).
    pub fn ledger_entries(&self) -> Result<Vec<LedgerEntry>> {
        self.sql().query(
            "SELECT seq, at, type, body, prev_hash, hash FROM ledger ORDER BY seq",
            &[],
            |r| {
                Ok(LedgerEntry {
                    seq: r.int(0)?,
                    at: r.text(1)?,
                    event_type: r.text(2)?,
                    body: r.text(3)?,
                    prev_hash: r.text(4)?,
                    hash: r.text(5)?,
                })
            },
        )
    }

    pub fn ledger_head(&self) -> Result<(u64, String)> {
        Ok(self
            .sql()
            .query_opt(
                "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1",
                &[],
                |r| Ok((u64::try_from(r.int(0)?).unwrap_or(0), r.text(1)?)),
            )?
            .unwrap_or_else(|| (0, GENESIS.to_string())))
    }

    /// Recompute the chain: every edited, removed or reordered entry is reported.
    pub fn verify_ledger(&self) -> Result<VerifyReport> {
        Ok(verify_entries(&self.ledger_entries()?))
    }
}

/// Check a sequence of entries (from the database or an export).
pub fn verify_entries(entries: &[LedgerEntry]) -> VerifyReport {
    let mut problems = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1i64;
    for e in entries {
        if e.seq != expected_seq {
            problems.push(format!(
                "entry {}: expected sequence number {expected_seq} (an entry was removed or reordered)",
                e.seq
            ));
        }
        if e.prev_hash != prev {
            problems.push(format!(
                "entry {}: prev_hash does not match the hash of the entry before it",
                e.seq
            ));
        }
        let computed = entry_hash(&e.prev_hash, &e.body);
        if computed != e.hash {
            problems.push(format!(
                "entry {}: content does not match its hash (stored {}, computed {computed}): the entry was edited",
                e.seq, e.hash
            ));
        }
        match serde_json::from_str::<Value>(&e.body) {
            Ok(v) => {
                let seq_ok = v.get("seq").and_then(Value::as_i64) == Some(e.seq);
                let at_ok = v.get("at").and_then(Value::as_str) == Some(e.at.as_str());
                let type_ok = v.get("type").and_then(Value::as_str) == Some(e.event_type.as_str());
                if !(seq_ok && at_ok && type_ok) {
                    problems.push(format!(
                        "entry {}: the seq, at or type columns differ from the hashed body",
                        e.seq
                    ));
                }
            }
            Err(err) => problems.push(format!("entry {}: body is not JSON: {err}", e.seq)),
        }
        prev = e.hash.clone();
        expected_seq = e.seq + 1;
    }
    VerifyReport {
        entries: entries.len() as u64,
        head_hash: prev,
        problems,
    }
}

/// One line of `ledger export`: the hashed body plus the chain fields.
pub fn export_line(e: &LedgerEntry) -> Result<String> {
    let body: Value = serde_json::from_str(&e.body)?;
    let line = serde_json::json!({
        "seq": e.seq,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "body": e.body,
        "entry": body,
    });
    serde_json::to_string(&line).map_err(StoreError::from)
}

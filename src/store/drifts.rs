//! The drift index: one row per change the ledger recorded, with its lifecycle (open, or
//! closed with a reason). The rows are a projection the store writes as it is told
//! (`NewDrift`, `LedgerEvent::DriftClosed`); which drifts start open or closed is decided by the
//! daemon's pure cycle plan, not here. Read back, every column is parsed into its type, and a
//! row that does not parse is a `StoreError::Corrupt` naming the drift and column: never
//! silently skipped (a dropped open drift would silently drop its obligations).

use super::sql::{Sql, Tx, Value};
use super::{Db, Result, StoreError, parse_ts, ts};
use crate::model::{Action, DecisionKind, Kind, Severity};
use jiff::Timestamp;

/// Why a drift stopped needing attention (the `closed_reason` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedReason {
    /// Born closed: a planned change that is not temporary.
    Matched,
    /// Born closed: a change that undoes an earlier unplanned one.
    Reverts,
    /// The resource went back to its state before the drift.
    Reverted,
    /// A record naming the drift in `retrospective_for` was loaded.
    RetrospectiveFiled,
    /// Its kind is no longer watched.
    Unwatched,
}

impl ClosedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedReason::Matched => "matched",
            ClosedReason::Reverts => "reverts",
            ClosedReason::Reverted => "reverted",
            ClosedReason::RetrospectiveFiled => "retrospective_filed",
            ClosedReason::Unwatched => "unwatched",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "matched" => Some(ClosedReason::Matched),
            "reverts" => Some(ClosedReason::Reverts),
            "reverted" => Some(ClosedReason::Reverted),
            "retrospective_filed" => Some(ClosedReason::RetrospectiveFiled),
            "unwatched" => Some(ClosedReason::Unwatched),
            _ => None,
        }
    }
}

impl From<super::ledger::CloseReason> for ClosedReason {
    fn from(r: super::ledger::CloseReason) -> Self {
        match r {
            super::ledger::CloseReason::Reverted => ClosedReason::Reverted,
            super::ledger::CloseReason::RetrospectiveFiled => ClosedReason::RetrospectiveFiled,
            super::ledger::CloseReason::Unwatched => ClosedReason::Unwatched,
        }
    }
}

/// When and why a drift was closed, and by what (a drift id, a record id).
#[derive(Clone, Debug, PartialEq)]
pub struct DriftClosure {
    pub at: Timestamp,
    pub reason: ClosedReason,
    pub by: Option<String>,
}

/// A drift as indexed for lookups (`drifts` listing, obligations, reports).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDrift {
    pub drift_id: String,
    pub scope: String,
    pub kind: Kind,
    pub resource_id: String,
    pub name: String,
    pub action: Action,
    pub observed_at: Timestamp,
    pub decision: DecisionKind,
    pub record_id: Option<String>,
    pub severity: Severity,
    pub ledger_seq: i64,
    pub revert_by: Option<Timestamp>,
    pub closed: Option<DriftClosure>,
}

/// A drift row to insert with the ledger entry of its change (`drift_id` names that entry).
#[derive(Clone, Debug, PartialEq)]
pub struct NewDrift {
    pub drift_id: String,
    pub scope: String,
    pub kind: Kind,
    pub resource_id: String,
    pub name: String,
    pub action: Action,
    pub observed_at: Timestamp,
    pub decision: DecisionKind,
    pub record_id: Option<String>,
    pub severity: Severity,
    pub before_hash: Option<String>,
    pub after_hash: Option<String>,
    pub revert_by: Option<Timestamp>,
    /// `Some` for a drift that is born closed (planned, or undoing another one).
    pub closed: Option<DriftClosure>,
}

/// An open drift of one scope, as revert detection needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenDrift {
    pub drift_id: String,
    pub kind: Kind,
    pub resource_id: String,
    /// Content hash before the drift; `None` when the drift created the resource.
    pub before_hash: Option<String>,
    pub observed_at: Timestamp,
}

fn corrupt(drift: &str, column: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "drift {drift}: column {column} holds `{value}`, which is not a valid value"
    ))
}

fn kind(drift: &str, s: &str) -> Result<Kind> {
    s.parse().map_err(|_| corrupt(drift, "kind", s))
}

fn time(drift: &str, column: &str, s: &str) -> Result<Timestamp> {
    parse_ts(s).map_err(|_| corrupt(drift, column, s))
}

/// The columns of a drift row as SQLite hands them over, before parsing.
struct RawDrift {
    drift_id: String,
    scope: String,
    kind: String,
    resource_id: String,
    name: String,
    action: String,
    observed_at: String,
    decision: String,
    record_id: Option<String>,
    severity: String,
    ledger_seq: i64,
    revert_by: Option<String>,
    closed_at: Option<String>,
    closed_reason: Option<String>,
    closed_by: Option<String>,
}

impl RawDrift {
    fn parse(self) -> Result<StoredDrift> {
        let d = self.drift_id.as_str();
        let closed = match (&self.closed_at, &self.closed_reason) {
            (None, None) => None,
            (Some(at), Some(reason)) => Some(DriftClosure {
                at: time(d, "closed_at", at)?,
                reason: ClosedReason::parse(reason)
                    .ok_or_else(|| corrupt(d, "closed_reason", reason))?,
                by: self.closed_by.clone(),
            }),
            (Some(at), None) => {
                return Err(corrupt(
                    d,
                    "closed_reason",
                    &format!("NULL (closed at {at})"),
                ));
            }
            (None, Some(reason)) => {
                return Err(corrupt(
                    d,
                    "closed_at",
                    &format!("NULL (closed as {reason})"),
                ));
            }
        };
        Ok(StoredDrift {
            kind: kind(d, &self.kind)?,
            action: Action::parse(&self.action)
                .ok_or_else(|| corrupt(d, "action", &self.action))?,
            observed_at: time(d, "observed_at", &self.observed_at)?,
            decision: DecisionKind::parse(&self.decision)
                .ok_or_else(|| corrupt(d, "decision", &self.decision))?,
            severity: Severity::parse(&self.severity)
                .ok_or_else(|| corrupt(d, "severity", &self.severity))?,
            revert_by: self
                .revert_by
                .as_deref()
                .map(|t| time(d, "revert_by", t))
                .transpose()?,
            closed,
            drift_id: self.drift_id,
            scope: self.scope,
            resource_id: self.resource_id,
            name: self.name,
            record_id: self.record_id,
            ledger_seq: self.ledger_seq,
        })
    }
}

/// Insert a drift row linked to its ledger entry `seq`.
pub(crate) fn insert(tx: &Tx<'_>, d: &NewDrift, seq: i64) -> Result<()> {
    tx.exec(
        // Not OR REPLACE: drift ids are made unique before the plan (`Change::make_id_unique`),
        // and a clash that slipped through must fail the cycle, not overwrite a drift.
        "INSERT INTO drifts (drift_id, scope, kind, resource_id, name, action,
           observed_at, decision, record_id, severity, ledger_seq, before_hash,
           after_hash, closed_at, closed_reason, closed_by, revert_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        &[
            (&d.drift_id).into(),
            (&d.scope).into(),
            (&d.kind.to_string()).into(),
            (&d.resource_id).into(),
            (&d.name).into(),
            d.action.as_str().into(),
            (&ts(d.observed_at)).into(),
            d.decision.as_str().into(),
            d.record_id.as_deref().into(),
            d.severity.as_str().into(),
            seq.into(),
            d.before_hash.as_deref().into(),
            d.after_hash.as_deref().into(),
            d.closed.as_ref().map(|c| ts(c.at)).as_ref().into(),
            d.closed.as_ref().map(|c| c.reason.as_str()).into(),
            d.closed.as_ref().and_then(|c| c.by.as_deref()).into(),
            d.revert_by.map(ts).as_ref().into(),
        ],
    )?;
    Ok(())
}

/// Close a drift that is still open (a no-op for one already closed or unknown).
pub(crate) fn close(
    tx: &Tx<'_>,
    drift_id: &str,
    at: Timestamp,
    reason: ClosedReason,
    by: &str,
) -> Result<()> {
    tx.exec(
        "UPDATE drifts SET closed_at = ?2, closed_reason = ?3, closed_by = ?4
             WHERE drift_id = ?1 AND closed_at IS NULL",
        &[
            drift_id.into(),
            (&ts(at)).into(),
            reason.as_str().into(),
            by.into(),
        ],
    )?;
    Ok(())
}

impl Db {
    /// Drifts of a scope not yet closed, oldest first.
    pub fn open_drifts(&self, scope: &str) -> Result<Vec<OpenDrift>> {
        let rows = self.sql().query(
            "SELECT drift_id, kind, resource_id, before_hash, observed_at FROM drifts
             WHERE scope = ?1 AND closed_at IS NULL
             ORDER BY observed_at, ledger_seq",
            &[scope.into()],
            |r| {
                Ok((
                    r.text(0)?,
                    r.text(1)?,
                    r.text(2)?,
                    r.opt_text(3)?,
                    r.text(4)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (drift_id, k, resource_id, before_hash, observed_at) = row;
            out.push(OpenDrift {
                kind: kind(&drift_id, &k)?,
                observed_at: time(&drift_id, "observed_at", &observed_at)?,
                drift_id,
                resource_id,
                before_hash,
            });
        }
        Ok(out)
    }

    /// Whether a drift with this id exists (open or closed).
    pub fn drift_exists(&self, id: &str) -> Result<bool> {
        Ok(self
            .sql()
            .query_opt(
                "SELECT 1 FROM drifts WHERE drift_id = ?1",
                &[id.into()],
                |_| Ok(()),
            )?
            .is_some())
    }

    /// Every open unplanned (unmatched or violating) drift whose id is in `ids`: (drift id,
    /// scope).
    pub fn open_drifts_among(&self, ids: &[String]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(row) = self.sql().query_opt(
                "SELECT drift_id, scope FROM drifts WHERE drift_id = ?1 AND closed_at IS NULL
                   AND decision IN ('unmatched', 'violation')",
                &[id.into()],
                |r| Ok((r.text(0)?, r.text(1)?)),
            )? {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Every drift not yet closed, in every scope, oldest first.
    pub fn all_open_drifts(&self) -> Result<Vec<StoredDrift>> {
        self.query_drifts(
            "WHERE closed_at IS NULL ORDER BY observed_at, ledger_seq",
            &[],
        )
    }

    /// Every drift, newest first, up to `limit`.
    pub fn recent_drifts(&self, limit: usize) -> Result<Vec<StoredDrift>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_drifts(
            "ORDER BY observed_at DESC, ledger_seq DESC LIMIT ?1",
            &[limit.into()],
        )
    }

    /// Every drift, in ledger order.
    pub fn every_drift(&self) -> Result<Vec<StoredDrift>> {
        self.query_drifts("ORDER BY ledger_seq", &[])
    }

    pub fn drift(&self, id: &str) -> Result<Option<StoredDrift>> {
        Ok(self
            .query_drifts("WHERE drift_id = ?1", &[id.into()])?
            .into_iter()
            .next())
    }

    fn query_drifts(&self, tail: &str, args: &[Value<'_>]) -> Result<Vec<StoredDrift>> {
        let sql = format!(
            "SELECT drift_id, scope, kind, resource_id, name, action, observed_at, decision,
                    record_id, severity, ledger_seq, revert_by, closed_at, closed_reason, closed_by
             FROM drifts {tail}"
        );
        let rows = self.sql().query(&sql, args, |r| {
            Ok(RawDrift {
                drift_id: r.text(0)?,
                scope: r.text(1)?,
                kind: r.text(2)?,
                resource_id: r.text(3)?,
                name: r.text(4)?,
                action: r.text(5)?,
                observed_at: r.text(6)?,
                decision: r.text(7)?,
                record_id: r.opt_text(8)?,
                severity: r.text(9)?,
                ledger_seq: r.int(10)?,
                revert_by: r.opt_text(11)?,
                closed_at: r.opt_text(12)?,
                closed_reason: r.opt_text(13)?,
                closed_by: r.opt_text(14)?,
            })
        })?;
        rows.into_iter().map(RawDrift::parse).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_drift(id: &str, closed: Option<DriftClosure>) -> NewDrift {
        NewDrift {
            drift_id: id.into(),
            scope: "aws:123456789012:eu-west-1".into(),
            kind: "aws.ec2.security_group_rule".parse().expect("kind"),
            resource_id: "sg-1/ingress/tcp/22-22/0.0.0.0/0".into(),
            name: "sg-1-name".into(),
            action: Action::Create,
            observed_at: "2026-11-21T10:00:00Z".parse().expect("ts"),
            decision: DecisionKind::Unmatched,
            record_id: None,
            severity: Severity::Critical,
            before_hash: None,
            after_hash: Some("ab".into()),
            revert_by: None,
            closed,
        }
    }

    fn stored(db: &mut Db, drifts: &[NewDrift]) {
        let tx = db.transaction().expect("tx");
        for (i, d) in drifts.iter().enumerate() {
            insert(&tx, d, i as i64 + 1).expect("insert");
        }
        tx.commit().expect("commit");
    }

    #[test]
    fn drifts_round_trip_typed() {
        for (mut db, _keep) in crate::store::sql::testing::fresh_stores() {
            eprintln!("engine: {}", db.engine_name());
            let closed = DriftClosure {
                at: "2026-11-21T10:05:00Z".parse().expect("ts"),
                reason: ClosedReason::Matched,
                by: None,
            };
            stored(
                &mut db,
                &[
                    new_drift("d-00000001", None),
                    new_drift("d-00000002", Some(closed.clone())),
                ],
            );
            let open = db.all_open_drifts().expect("open");
            assert_eq!(open.len(), 1);
            assert_eq!(open[0].drift_id, "d-00000001");
            assert_eq!(open[0].severity, Severity::Critical);
            assert_eq!(open[0].decision, DecisionKind::Unmatched);
            assert_eq!(open[0].action, Action::Create);
            let d2 = db.drift("d-00000002").expect("drift").expect("present");
            assert_eq!(d2.closed, Some(closed));
            let scoped = db.open_drifts("aws:123456789012:eu-west-1").expect("open");
            assert_eq!(scoped.len(), 1);
            assert_eq!(scoped[0].kind.to_string(), "aws.ec2.security_group_rule");
        }
    }

    /// A row edited into something that does not parse fails the read, naming the drift and
    /// the column, instead of vanishing from obligations and reports.
    #[test]
    fn a_row_that_does_not_parse_is_corrupt_not_dropped() {
        let cases = [
            ("kind", "aws.ec2.nonsense"),
            ("severity", "catastrophic"),
            ("decision", "maybe"),
            ("action", "explode"),
            ("observed_at", "yesterday"),
            ("revert_by", "soon"),
        ];
        for (column, value) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut db = Db::open(&dir.path().join("t.db")).expect("db");
            stored(&mut db, &[new_drift("d-0000000a", None)]);
            db.sql()
                .exec(&format!("UPDATE drifts SET {column} = ?1"), &[value.into()])
                .expect("tamper");
            let want = format!("drift d-0000000a: column {column} holds `{value}`");
            match db.all_open_drifts() {
                Err(StoreError::Corrupt(m)) => assert!(m.contains(&want), "{column}: {m}"),
                other => panic!("{column}: expected Corrupt, got {other:?}"),
            }
            if column == "kind" || column == "observed_at" {
                assert!(
                    matches!(db.open_drifts("aws:123456789012:eu-west-1"), Err(StoreError::Corrupt(m)) if m.contains(&want)),
                    "{column}: open_drifts must fail too"
                );
            }
        }
    }
}

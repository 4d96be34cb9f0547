//! The last complete state per scope: digests for every cycle, full rows (checked against
//! their hashes) for the keys a cycle changes, and the whole-state check `ledger verify` runs.

use super::sql::Sql;
use super::{Db, Result, StoreError};
use crate::model::key::ParseKeyError;
use crate::model::{ContentHash, Digest, Kind, Resource, ResourceKey, Scope};

impl Db {
    /// The last complete state of a scope as digests (kind, id, stored content hash): what a
    /// steady-state cycle reads. Hashes are trusted here; a row's hash is checked when its full
    /// row is read (`snapshot_rows`) and for every row by `verify_snapshots`.
    pub fn snapshot_digests(&self, scope: &Scope) -> Result<Vec<Digest>> {
        // Rows come in primary-key order, so one kind's rows are consecutive (ORDER BY says so
        // for PostgreSQL; SQLite reads the primary key's order either way).
        let mut last: Option<(String, Kind)> = None;
        self.sql().query(
            "SELECT kind, id, hash FROM snapshots WHERE scope = ?1 ORDER BY kind, id",
            &[(&scope.to_string()).into()],
            |r| {
                let kind = r.with_str(0, |kind_s| match &last {
                    Some((s, k)) if s == kind_s => Ok::<Kind, StoreError>(k.clone()),
                    _ => {
                        let k: Kind = kind_s
                            .parse()
                            .map_err(|e: ParseKeyError| StoreError::Corrupt(e.to_string()))?;
                        last = Some((kind_s.to_string(), k.clone()));
                        Ok(k)
                    }
                })??;
                let id = r.text(1)?;
                let hash = r.with_str(2, ContentHash::from_hex)?.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "snapshot row {scope}/{kind}/{id} has a malformed hash"
                    ))
                })?;
                Ok(Digest { kind, id, hash })
            },
        )
    }

    /// The full stored rows of some keys of a scope (those a cycle modifies or deletes), each
    /// checked against its stored hash: a row altered in the database is an error here, before
    /// its content reaches a change, the ledger or an alert.
    pub fn snapshot_rows(&self, scope: &Scope, keys: &[(Kind, String)]) -> Result<Vec<Resource>> {
        let scope_s = scope.to_string();
        let mut out = Vec::with_capacity(keys.len());
        for (kind, id) in keys {
            let row = self.sql().query_opt(
                "SELECT name, targets, tags, attributes, hash FROM snapshots
                 WHERE scope = ?1 AND kind = ?2 AND id = ?3",
                &[(&scope_s).into(), (&kind.to_string()).into(), id.into()],
                |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.text(3)?, r.text(4)?)),
            )?;
            if let Some(row) = row {
                let key = ResourceKey {
                    scope: scope.clone(),
                    kind: kind.clone(),
                    id: id.clone(),
                };
                out.push(verified(key, row)?);
            }
        }
        Ok(out)
    }

    /// Every stored row whose content does not match its stored hash (or does not parse), in
    /// every scope: the check `ledger verify` runs on the stored state, which cycles trust.
    /// Returns (rows checked, problems).
    pub fn verify_snapshots(&self) -> Result<(u64, Vec<String>)> {
        let mut problems = Vec::new();
        let mut n = 0;
        for (scope, _) in self.scopes()? {
            let scope: Scope = scope
                .parse()
                .map_err(|e: ParseKeyError| StoreError::Corrupt(e.to_string()))?;
            let rows = self.sql().query(
                "SELECT kind, id, name, targets, tags, attributes, hash FROM snapshots
                 WHERE scope = ?1 ORDER BY kind, id",
                &[(&scope.to_string()).into()],
                |r| {
                    Ok((
                        r.text(0)?,
                        r.text(1)?,
                        (r.text(2)?, r.text(3)?, r.text(4)?, r.text(5)?, r.text(6)?),
                    ))
                },
            )?;
            for (kind, id, row) in rows {
                n += 1;
                let checked = kind
                    .parse::<Kind>()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
                    .and_then(|kind| {
                        let key = ResourceKey {
                            scope: scope.clone(),
                            kind,
                            id: id.clone(),
                        };
                        verified(key, row)
                    });
                match checked {
                    Ok(_) => {}
                    Err(StoreError::Corrupt(m)) => problems.push(m),
                    Err(e) => problems.push(format!("snapshot row {scope}/{kind}/{id}: {e}")),
                }
            }
        }
        Ok((n, problems))
    }
}

/// A stored row as a resource, its content checked against its stored hash.
fn verified(key: ResourceKey, row: (String, String, String, String, String)) -> Result<Resource> {
    let (name, targets, tags, attributes, hash) = row;
    let Some(hash) = ContentHash::from_hex(&hash) else {
        return Err(StoreError::Corrupt(format!(
            "snapshot row {key} has a malformed hash"
        )));
    };
    let r = Resource::from_stored(
        key,
        name,
        serde_json::from_str(&targets)?,
        serde_json::from_str(&tags)?,
        attributes,
        hash,
    );
    if !r.verify_hash() {
        return Err(StoreError::Corrupt(format!(
            "snapshot row {} does not match its stored hash",
            r.key
        )));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::aws::fixtures::{res, rule, scope};
    use crate::store::{CycleWrite, ScopeState};

    fn stored(db: &mut Db, resources: Vec<Resource>) {
        db.commit_cycle(&CycleWrite {
            upserts: resources,
            scope_state: Some(ScopeState {
                baseline_at: Some("2026-11-21T10:00:00Z".parse().expect("ts")),
                ..Default::default()
            }),
            ..CycleWrite::new(scope(), "2026-11-21T10:00:00Z".parse().expect("ts"))
        })
        .expect("commit");
    }

    /// Rows of a kind the source no longer watches are counted apart (not part of the
    /// previous state, so not deleted) and a purge drops exactly them.
    #[test]
    fn unwatched_kinds_are_loaded_apart_and_purged() {
        for (mut db, _keep) in crate::store::sql::testing::fresh_stores() {
            eprintln!("engine: {}", db.engine_name());
            let a = res(rule("sg-1", "tcp", 22, 22, "10.0.0.0/8"));
            let b = res(rule("sg-1", "tcp", 443, 443, "0.0.0.0/0"));
            let user_key = crate::model::ResourceKey {
                scope: scope(),
                kind: crate::model::Kind::IamUser,
                id: "alice".into(),
            };
            let user = Resource::new(
                user_key,
                "alice".into(),
                Vec::new(),
                Default::default(),
                serde_json::json!({}),
            );
            stored(&mut db, vec![a.clone(), b.clone(), user]);
            let at: jiff::Timestamp = "2026-11-21T10:05:00Z".parse().expect("ts");
            let obs = crate::model::Observation {
                scope: scope(),
                observed_at: at,
                outcome: crate::model::Outcome::Complete(vec![a.clone(), b.clone()]),
            };
            let rule_kind = [a.key.kind.clone()];
            let load = db
                .load_scope(&scope(), &obs, at, Some(&rule_kind))
                .expect("load");
            assert_eq!(load.unwatched, vec![(crate::model::Kind::IamUser, 1)]);
            assert_eq!(load.previous.as_ref().map(|p| p.len()), Some(2));
            let all = db.load_scope(&scope(), &obs, at, None).expect("load");
            assert!(all.unwatched.is_empty());
            assert_eq!(all.previous.as_ref().map(|p| p.len()), Some(3));

            db.commit_cycle(&CycleWrite {
                purge_kinds: vec![crate::model::Kind::IamUser],
                ..CycleWrite::new(scope(), at)
            })
            .expect("purge");
            assert_eq!(
                db.snapshot_digests(&scope()).expect("digests"),
                vec![a.digest(), b.digest()]
            );
        }
    }

    #[test]
    fn digests_rows_and_verification_of_the_stored_state() {
        for (mut db, _keep) in crate::store::sql::testing::fresh_stores() {
            eprintln!("engine: {}", db.engine_name());
            let a = res(rule("sg-1", "tcp", 22, 22, "10.0.0.0/8"));
            let b = res(rule("sg-1", "tcp", 443, 443, "0.0.0.0/0"));
            stored(&mut db, vec![a.clone(), b.clone()]);
            let digests = db.snapshot_digests(&scope()).expect("digests");
            assert_eq!(digests, vec![a.digest(), b.digest()]);
            let key = |r: &Resource| (r.key.kind.clone(), r.key.id.clone());
            assert_eq!(
                db.snapshot_rows(&scope(), &[key(&b)]).expect("rows"),
                vec![b.clone()]
            );
            assert_eq!(db.verify_snapshots().expect("verify"), (2, Vec::new()));

            // Content altered without its hash: digests still load (trusted), the row does not.
            db.sql()
            .exec(
                "UPDATE snapshots SET attributes = replace(attributes, '\"tcp\"', '\"udp\"') WHERE id = ?1",
                &[(&b.key.id).into()],
            )
            .expect("tamper");
            assert_eq!(db.snapshot_digests(&scope()).expect("digests").len(), 2);
            assert!(matches!(
                db.snapshot_rows(&scope(), &[key(&b)]),
                Err(StoreError::Corrupt(m)) if m.contains("does not match its stored hash")
            ));
            assert!(db.snapshot_rows(&scope(), &[key(&a)]).is_ok());
            let (n, problems) = db.verify_snapshots().expect("verify");
            assert_eq!(n, 2);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains(&b.key.id), "{problems:?}");

            // A hash that is not 64 hex digits fails the digest load itself.
            db.sql()
                .exec(
                    "UPDATE snapshots SET hash = 'x' WHERE id = ?1",
                    &[(&a.key.id).into()],
                )
                .expect("tamper");
            assert!(matches!(
                db.snapshot_digests(&scope()),
                Err(StoreError::Corrupt(m)) if m.contains("malformed hash")
            ));
        }
    }

    #[test]
    fn attributes_are_stored_as_their_canonical_text() {
        for (mut db, _keep) in crate::store::sql::testing::fresh_stores() {
            eprintln!("engine: {}", db.engine_name());
            let a = res(rule("sg-1", "tcp", 22, 22, "10.0.0.0/8"));
            stored(&mut db, vec![a.clone()]);
            let text: String = db
                .sql()
                .query_opt("SELECT attributes FROM snapshots", &[], |r| r.text(0))
                .expect("row")
                .expect("a row");
            assert_eq!(text, crate::model::canonical_json(&a.attributes()));
            assert_eq!(text, a.attributes_json());
        }
    }
}

//! Health and baseline status per scope: when its baseline was taken, how many polls failed in
//! a row, since when it is blind, and the poll the mass-delete guard holds.

use super::sql::Sql;
use super::{Db, Result, StoreError, parse_ts};
use crate::model::Scope;
use jiff::Timestamp;

/// Health and baseline status of one scope.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScopeState {
    pub baseline_at: Option<Timestamp>,
    pub consecutive_failures: u32,
    pub blind_since: Option<Timestamp>,
    pub last_error: Option<String>,
    /// A poll held by the mass-delete guard, waiting for a second poll to agree.
    pub held: Option<HeldDeletes>,
}

/// A poll whose deletes the mass-delete guard did not believe yet.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldDeletes {
    pub since: Timestamp,
    pub deletes: u32,
    /// `engine::DeleteGuard`'s digest of the deleted keys.
    pub digest: String,
}

impl Db {
    pub fn scope_state(&self, scope: &Scope) -> Result<Option<ScopeState>> {
        let row = self.sql().query_opt(
            "SELECT baseline_at, consecutive_failures, blind_since, last_error, held_since, held_deletes, held_digest
             FROM scopes WHERE scope = ?1",
            &[(&scope.to_string()).into()],
            |r| {
                Ok((
                    r.opt_text(0)?,
                    r.u32(1)?,
                    r.opt_text(2)?,
                    r.opt_text(3)?,
                    r.opt_text(4)?,
                    r.opt_u32(5)?,
                    r.opt_text(6)?,
                ))
            },
        )?;
        row.map(|(b, f, s, e, hs, hn, hd)| {
            let held = match (hs, hn, hd) {
                (Some(since), Some(deletes), Some(digest)) => Some(HeldDeletes {
                    since: parse_ts(&since)?,
                    deletes,
                    digest,
                }),
                (None, None, None) => None,
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "scope {scope}: a held poll with some of its columns empty"
                    )));
                }
            };
            Ok(ScopeState {
                baseline_at: b.as_deref().map(parse_ts).transpose()?,
                consecutive_failures: f,
                blind_since: s.as_deref().map(parse_ts).transpose()?,
                last_error: e,
                held,
            })
        })
        .transpose()
    }

    /// Every scope the store knows, with its state.
    pub fn scopes(&self) -> Result<Vec<(String, ScopeState)>> {
        let names: Vec<String> =
            self.sql()
                .query("SELECT scope FROM scopes ORDER BY scope", &[], |r| {
                    r.text(0)
                })?;
        let mut out = Vec::new();
        for n in names {
            let scope: Scope = n.parse().map_err(|e: crate::model::key::ParseKeyError| {
                StoreError::Corrupt(e.to_string())
            })?;
            if let Some(s) = self.scope_state(&scope)? {
                out.push((n, s));
            }
        }
        Ok(out)
    }
}

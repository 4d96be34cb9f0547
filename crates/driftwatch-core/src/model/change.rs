//! Changes between two states of a resource, and the drift id people type to refer to one.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::key::ResourceKey;
use super::resource::{Resource, sha256_hex};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Modify,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Modify => "modify",
            Action::Delete => "delete",
        }
    }

    /// The inverse of `as_str` (stored and wire forms).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(Action::Create),
            "modify" => Some(Action::Modify),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One changed leaf: a dotted path into `{name, tags, attributes}` with both values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A short, stable, typeable identifier of one change (`d-` and 8 hex digits of the
/// fingerprint), e.g. `d-7f3a9c2e`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DriftId(pub String);

impl fmt::Display for DriftId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hash_or_dash(r: Option<&Resource>) -> String {
    r.map_or_else(|| "-".to_string(), |r| r.hash().to_string())
}

#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub key: ResourceKey,
    pub action: Action,
    pub before: Option<Resource>,
    pub after: Option<Resource>,
    pub fields: Vec<FieldChange>,
    pub observed_at: Timestamp,
    /// Who made it, when the source knows (CloudTrail user, Kubernetes field manager).
    pub actor: Option<String>,
    /// The evidence behind `actor` when an event proves it (CloudTrail).
    pub attribution: Option<super::attribution::Attribution>,
    pub fingerprint: String,
}

impl Change {
    pub fn new(
        key: ResourceKey,
        action: Action,
        before: Option<Resource>,
        after: Option<Resource>,
        fields: Vec<FieldChange>,
        observed_at: Timestamp,
    ) -> Self {
        let material = format!(
            "{key}\n{action}\n{}\n{}\n{observed_at}",
            hash_or_dash(before.as_ref()),
            hash_or_dash(after.as_ref()),
        );
        Change {
            key,
            action,
            before,
            after,
            fields,
            observed_at,
            actor: None,
            attribution: None,
            fingerprint: sha256_hex(material.as_bytes()),
        }
    }

    /// The same change attributed to `actor` (not part of the fingerprint).
    pub fn with_actor(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    /// Attribute the change by an event's evidence: its actor label replaces the source's
    /// (a field manager names a tool, an event names a caller). Not part of the fingerprint.
    pub fn attribute(&mut self, a: super::attribution::Attribution) {
        self.actor = Some(a.actor.clone());
        self.attribution = Some(a);
    }

    pub fn drift_id(&self) -> DriftId {
        DriftId(format!(
            "d-{}",
            self.fingerprint.get(..8).unwrap_or(&self.fingerprint)
        ))
    }

    /// Make this change's drift id one nobody holds yet: when `taken` says its id is in use
    /// (an earlier drift with the same short id, or the same change seen again within the
    /// fingerprint's one-second resolution), the fingerprint is re-derived as
    /// `sha256(fingerprint ":" n)` for n = 1, 2, ... until the id is free. Ids stay short and
    /// typeable, and every drift keeps its own. Returns whether it had to re-derive.
    pub fn make_id_unique<E>(
        &mut self,
        mut taken: impl FnMut(&str) -> Result<bool, E>,
    ) -> Result<bool, E> {
        if !taken(&self.drift_id().0)? {
            return Ok(false);
        }
        let base = self.fingerprint.clone();
        // 32-bit ids: each try is free with probability ~1; the bound only stops a broken
        // oracle from looping. Past it the last candidate stands, and the store's unique key
        // refuses it loudly rather than overwrite anything.
        for n in 1..=64u32 {
            self.fingerprint = sha256_hex(format!("{base}:{n}").as_bytes());
            if !taken(&self.drift_id().0)? {
                break;
            }
        }
        Ok(true)
    }

    /// The resource as it is now, or as it was before a delete.
    pub fn resource(&self) -> Option<&Resource> {
        self.after.as_ref().or(self.before.as_ref())
    }

    /// Display name of the changed resource.
    pub fn name(&self) -> &str {
        self.resource()
            .map(|r| r.name.as_str())
            .unwrap_or(&self.key.id)
    }

    /// One line naming the changed fields, for tables and alert titles.
    pub fn summary(&self) -> String {
        match self.action {
            Action::Create => format!("created {}", self.name()),
            Action::Delete => format!("deleted {}", self.name()),
            Action::Modify => {
                let paths: Vec<&str> = self.fields.iter().map(|f| f.path.as_str()).collect();
                format!("modified {}: {}", self.name(), paths.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::convert::Infallible;

    use super::*;
    use crate::model::aws::fixtures::{res, rule};

    fn change(at: &str) -> Change {
        let r = res(rule("sg-1", "tcp", 22, 22, "0.0.0.0/0"));
        Change::new(
            r.key.clone(),
            Action::Create,
            None,
            Some(r),
            Vec::new(),
            at.parse().expect("ts"),
        )
    }

    #[test]
    fn a_taken_drift_id_is_re_derived_and_stays_short() {
        // The same rule opened twice within one second: the same fingerprint.
        let first = change("2026-11-21T10:00:00Z");
        let mut again = change("2026-11-21T10:00:00Z");
        assert_eq!(first.drift_id(), again.drift_id());
        let taken: HashSet<String> = [first.drift_id().0].into();
        let rederived = again
            .make_id_unique(|id| Ok::<_, Infallible>(taken.contains(id)))
            .expect("infallible");
        assert!(rederived);
        assert_ne!(again.drift_id(), first.drift_id());
        assert_eq!(again.drift_id().0.len(), 10, "still d- and 8 hex digits");
        // Deterministic: the same clash gives the same new id.
        let mut third = change("2026-11-21T10:00:00Z");
        third
            .make_id_unique(|id| Ok::<_, Infallible>(taken.contains(id)))
            .expect("infallible");
        assert_eq!(third.drift_id(), again.drift_id());
        // A free id is left alone.
        let mut free = change("2026-11-21T10:00:01Z");
        let before = free.drift_id();
        assert!(
            !free
                .make_id_unique(|id| Ok::<_, Infallible>(taken.contains(id)))
                .expect("infallible")
        );
        assert_eq!(free.drift_id(), before);
    }

    #[test]
    fn re_derivation_skips_every_taken_candidate() {
        let mut c = change("2026-11-21T10:00:00Z");
        let mut asked = Vec::new();
        c.make_id_unique(|id| {
            asked.push(id.to_string());
            Ok::<_, Infallible>(asked.len() <= 3)
        })
        .expect("infallible");
        assert_eq!(asked.len(), 4, "the base and two re-derived ids were taken");
        assert_eq!(c.drift_id().0, asked[3]);
    }
}

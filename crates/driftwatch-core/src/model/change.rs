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
            fingerprint: sha256_hex(material.as_bytes()),
        }
    }

    /// The same change attributed to `actor` (not part of the fingerprint).
    pub fn with_actor(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    pub fn drift_id(&self) -> DriftId {
        DriftId(format!(
            "d-{}",
            self.fingerprint.get(..8).unwrap_or(&self.fingerprint)
        ))
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

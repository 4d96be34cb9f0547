//! Normalized resources and the observations that carry them.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::key::{ResourceKey, Scope};

/// One normalized resource. `attributes` hold only what a person can change (volatile fields
/// are removed by the source) so that equal content means equal hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub key: ResourceKey,
    /// Human name (security group name, IAM entity name, `namespace/name`).
    pub name: String,
    /// The identifiers a change record's `target` glob is matched against (for a security-group
    /// rule: its group's id and name).
    pub targets: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub attributes: Value,
    hash: String,
    /// Who last wrote it, when the API says (a Kubernetes field manager). Not content: it is
    /// outside the hash, and not part of the stored state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

impl Resource {
    pub fn new(
        key: ResourceKey,
        name: String,
        targets: Vec<String>,
        tags: BTreeMap<String, String>,
        attributes: Value,
    ) -> Self {
        let hash = content_hash(&name, &tags, &attributes);
        Resource {
            key,
            name,
            targets,
            tags,
            attributes,
            hash,
            actor: None,
        }
    }

    /// The same resource with the API's last writer attached.
    pub fn with_actor(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    /// SHA-256 over the canonical JSON of name, tags and attributes.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The comparable content as one JSON object: `{name, tags, attributes}`.
    pub fn content(&self) -> Value {
        content_value(&self.name, &self.tags, &self.attributes)
    }
}

fn json_str(s: &str, out: &mut String) {
    // Serializing a string cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// SHA-256 of the canonical JSON of `{attributes, name, tags}` (keys in sorted order), written
/// directly rather than through a cloned `Value`: the hot path of every poll.
fn content_hash(name: &str, tags: &BTreeMap<String, String>, attributes: &Value) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"attributes\":");
    write_canonical(attributes, &mut out);
    out.push_str(",\"name\":");
    json_str(name, &mut out);
    out.push_str(",\"tags\":{");
    for (i, (k, v)) in tags.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(k, &mut out);
        out.push(':');
        json_str(v, &mut out);
    }
    out.push_str("}}");
    sha256_hex(out.as_bytes())
}

fn content_value(name: &str, tags: &BTreeMap<String, String>, attributes: &Value) -> Value {
    let tags: serde_json::Map<String, Value> = tags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut m = serde_json::Map::new();
    m.insert("name".into(), Value::String(name.to_string()));
    m.insert("tags".into(), Value::Object(tags));
    m.insert("attributes".into(), attributes.clone());
    Value::Object(m)
}

/// Why a listing did not complete. Becomes a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Throttled,
    Unreachable,
    Denied,
    Timeout,
    InvalidResponse,
    Other,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Throttled => "throttled",
            FailureKind::Unreachable => "unreachable",
            FailureKind::Denied => "denied",
            FailureKind::Timeout => "timeout",
            FailureKind::InvalidResponse => "invalid_response",
            FailureKind::Other => "other",
        }
    }
}

/// The result of one poll of one scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub scope: Scope,
    pub observed_at: Timestamp,
    pub outcome: Outcome,
}

/// A listing either completed (every page read) or failed; a failed or partial listing carries
/// no resources at all, so it can never be mistaken for deletions.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Complete(Vec<Resource>),
    Failed { kind: FailureKind, message: String },
}

/// Canonical JSON: object keys sorted, no whitespace. Used for content hashes and the ledger.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(val) = map.get(*k) {
                    write_canonical(val, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_hash_is_the_hash_of_the_canonical_content() {
        let tags: BTreeMap<String, String> = [
            ("b\"q".to_string(), "<x>".to_string()),
            ("a".to_string(), "é".to_string()),
        ]
        .into();
        let attrs = json!({"z": [1, {"y": null}], "a": "tab\t"});
        assert_eq!(
            content_hash("n\"ame", &tags, &attrs),
            sha256_hex(canonical_json(&content_value("n\"ame", &tags, &attrs)).as_bytes())
        );
    }

    #[test]
    fn canonical_json_sorts_keys_without_whitespace() {
        let v = json!({"b": 1, "a": {"d": [1, {"z": null, "y": "x"}], "c": true}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":true,"d":[1,{"y":"x","z":null}]},"b":1}"#
        );
    }
}

//! Normalized resources and the observations that carry them.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::key::{Kind, ResourceKey, Scope};

/// One normalized resource. Its attributes hold only what a person can change (volatile fields
/// are removed by the source) so that equal content means equal hash.
///
/// The attributes are kept as their canonical JSON text, not as a `serde_json::Value`: a
/// resource is compared by its hash and stored as text, and only a changed one is read
/// (`attributes()`), so a poll of a million unchanged resources keeps a few hundred bytes per
/// resource instead of a tree of small allocations.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub key: ResourceKey,
    /// Human name (security group name, IAM entity name, `namespace/name`).
    pub name: String,
    /// The identifiers a change record's `target` glob is matched against (for a security-group
    /// rule: its group's id and name).
    pub targets: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// Canonical JSON of the attributes (keys sorted, no whitespace).
    attributes: Box<str>,
    hash: ContentHash,
    /// Who last wrote it, when the API says (a Kubernetes field manager). Not content: it is
    /// outside the hash, and not part of the stored state.
    pub actor: Option<String>,
}

/// SHA-256 of a resource's canonical content, 32 bytes inline (shown as 64 hex digits).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Parse 64 hex digits (as stored and written to the ledger).
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(ContentHash(out))
    }

    fn of(bytes: &[u8]) -> Self {
        ContentHash(Sha256::digest(bytes).into())
    }
}

impl std::fmt::Display for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = [0u8; 64];
        // 32 bytes always fit 64 hex digits, which are ASCII.
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| std::fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf).map_err(|_| std::fmt::Error)?)
    }
}

impl std::fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl Resource {
    pub fn new(
        mut key: ResourceKey,
        mut name: String,
        targets: Vec<String>,
        tags: BTreeMap<String, String>,
        attributes: Value,
    ) -> Self {
        // Ids and names are usually built with `format!`, which leaves spare capacity; a poll
        // holds every resource at once, so it is given back.
        key.id.shrink_to_fit();
        name.shrink_to_fit();
        let mut text = String::with_capacity(128);
        write_canonical(&attributes, &mut text);
        let hash = content_hash(&name, &tags, &text);
        Resource {
            key,
            name,
            targets,
            tags,
            attributes: text.into_boxed_str(),
            hash,
            actor: None,
        }
    }

    /// A resource as stored: attributes as canonical JSON text and the content hash computed
    /// when it was written, trusted rather than recomputed (`verify_hash` checks it).
    pub fn from_stored(
        key: ResourceKey,
        name: String,
        targets: Vec<String>,
        tags: BTreeMap<String, String>,
        attributes_json: String,
        hash: ContentHash,
    ) -> Self {
        Resource {
            key,
            name,
            targets,
            tags,
            attributes: attributes_json.into_boxed_str(),
            hash,
            actor: None,
        }
    }

    /// Whether the stored hash is the hash of the content (a stored row was not altered).
    pub fn verify_hash(&self) -> bool {
        let Ok(v) = serde_json::from_str::<Value>(&self.attributes) else {
            return false;
        };
        let mut text = String::with_capacity(self.attributes.len());
        write_canonical(&v, &mut text);
        content_hash(&self.name, &self.tags, &text) == self.hash
    }

    /// The same resource with the API's last writer attached.
    pub fn with_actor(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    /// SHA-256 over the canonical JSON of name, tags and attributes.
    pub fn hash(&self) -> ContentHash {
        self.hash
    }

    /// The attributes, parsed from their canonical text (a new value on every call: read them
    /// once per use).
    pub fn attributes(&self) -> Value {
        // The text was written from a `Value` (or read back from the store, where a row that
        // does not parse fails `verify_hash`).
        serde_json::from_str(&self.attributes).unwrap_or(Value::Null)
    }

    /// The attributes' canonical JSON text (what the store writes).
    pub fn attributes_json(&self) -> &str {
        &self.attributes
    }

    /// The comparable content as one JSON object: `{name, tags, attributes}`.
    pub fn content(&self) -> Value {
        content_value(&self.name, &self.tags, self.attributes())
    }

    /// What the diff keeps of the resource: identity within its scope and content hash.
    pub fn digest(&self) -> Digest {
        Digest {
            kind: self.key.kind.clone(),
            id: self.key.id.clone(),
            hash: self.hash,
        }
    }
}

/// A stored resource as the steady-state diff reads it: its kind and id within the scope and
/// its content hash, without name, targets, tags or attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    pub kind: Kind,
    pub id: String,
    pub hash: ContentHash,
}

/// SHA-256 of the canonical JSON of `{attributes, name, tags}` (keys in sorted order), written
/// directly from the parts rather than through a combined `Value`: the hot path of every poll.
fn content_hash(name: &str, tags: &BTreeMap<String, String>, attributes: &str) -> ContentHash {
    let mut out = Vec::with_capacity(attributes.len() + name.len() + 48);
    out.extend_from_slice(b"{\"attributes\":");
    out.extend_from_slice(attributes.as_bytes());
    out.extend_from_slice(b",\"name\":");
    // Writing strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, name);
    out.extend_from_slice(b",\"tags\":{");
    for (i, (k, v)) in tags.iter().enumerate() {
        write_key(i, k, &mut out);
        let _ = serde_json::to_writer(&mut out, v);
    }
    out.extend_from_slice(b"}}");
    ContentHash::of(&out)
}

fn content_value(name: &str, tags: &BTreeMap<String, String>, attributes: Value) -> Value {
    let tags: serde_json::Map<String, Value> = tags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut m = serde_json::Map::new();
    m.insert("name".into(), Value::String(name.to_string()));
    m.insert("tags".into(), Value::Object(tags));
    m.insert("attributes".into(), attributes);
    Value::Object(m)
}

/// Why a listing did not complete. Becomes a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Throttled,
    Unreachable,
    Denied,
    /// The credentials answer for another account than the scope's (`GetCallerIdentity`):
    /// listing with them would show another account's state as this one's.
    WrongAccount,
    /// The service answered with its own failure (HTTP 5xx, `InternalError`,
    /// `ServiceUnavailable`): worth retrying, nothing wrong on our side.
    Server,
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
            FailureKind::WrongAccount => "wrong_account",
            FailureKind::Server => "server_error",
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
    /// A targeted re-read of part of the scope (one security group, one IAM entity): the
    /// whole current state of what its coverage names, nothing about the rest.
    Part(super::coverage::Part),
    Failed {
        kind: FailureKind,
        message: String,
    },
}

/// Canonical JSON: object keys sorted, no whitespace. Used for content hashes and the ledger.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    let mut buf = std::mem::take(out).into_bytes();
    write_canonical_bytes(v, &mut buf);
    // serde_json writes UTF-8 only.
    *out = String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// Leaves and keys are written by serde_json's serializer straight into the buffer (no string
/// per value); objects whose keys iterate in order (serde_json's default map) are not sorted
/// again.
fn write_canonical_bytes(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            out.push(b'{');
            if map.keys().is_sorted() {
                for (i, (k, val)) in map.iter().enumerate() {
                    write_key(i, k, out);
                    write_canonical_bytes(val, out);
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                for (i, (k, val)) in entries.into_iter().enumerate() {
                    write_key(i, k, out);
                    write_canonical_bytes(val, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_bytes(item, out);
            }
            out.push(b']');
        }
        // Writing a leaf into a Vec cannot fail.
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

fn write_key(i: usize, k: &str, out: &mut Vec<u8>) {
    if i > 0 {
        out.push(b',');
    }
    let _ = serde_json::to_writer(&mut *out, k);
    out.push(b':');
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
            content_hash("n\"ame", &tags, &canonical_json(&attrs)).to_string(),
            sha256_hex(canonical_json(&content_value("n\"ame", &tags, attrs)).as_bytes())
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

//! Pure diff: the last complete state of a scope and a new observation give the changes.
//! No IO, no clock: `observed_at` comes from the observation.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{
    Action, Change, Digest, FieldChange, Kind, Observation, Outcome, Resource, ResourceKey,
};

/// A scope's last complete state as the diff reads it: the digest (kind, id, content hash) of
/// every stored resource, and the full stored version of the resources an observation
/// modifies or deletes, the only ones whose content a change shows. A steady-state cycle
/// loads digests only (`rows_needed` says which full rows a cycle needs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Previous {
    /// Sorted by (kind, id), one per key.
    digests: Vec<Digest>,
    /// Sorted by (kind, id).
    rows: Vec<Resource>,
}

impl Previous {
    /// From digests and the full rows of (at least) the keys `rows_needed` named.
    pub fn new(mut digests: Vec<Digest>, mut rows: Vec<Resource>) -> Self {
        // The store reads them in key order: checked without the scratch buffer a stable sort
        // allocates (tens of MB at a million).
        if !digests.is_sorted_by(|a, b| digest_key(a) <= digest_key(b)) {
            digests.sort_by(|a, b| digest_key(a).cmp(&digest_key(b)));
        }
        digests.dedup_by(|a, b| a.kind == b.kind && a.id == b.id);
        rows.sort_by(by_key);
        Previous { digests, rows }
    }

    /// Every resource in full (tests, and callers that hold the whole state anyway).
    pub fn from_resources(rows: Vec<Resource>) -> Self {
        let digests = rows.iter().map(Resource::digest).collect();
        Previous::new(digests, rows)
    }

    pub fn digests(&self) -> &[Digest] {
        &self.digests
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The stored version of a key. A row the caller did not load (a broken contract, not a
    /// state of the world) stands in as its digest: the change is still reported, with its
    /// hashes and without field details.
    fn row(&self, d: &Digest, scope: &crate::model::Scope) -> Resource {
        match self
            .rows
            .binary_search_by(|r| (&r.key.kind, r.key.id.as_str()).cmp(&(&d.kind, d.id.as_str())))
        {
            Ok(i) => self.rows[i].clone(),
            Err(_) => Resource::from_stored(
                ResourceKey {
                    scope: scope.clone(),
                    kind: d.kind.clone(),
                    id: d.id.clone(),
                },
                d.id.clone(),
                Vec::new(),
                BTreeMap::new(),
                "null".into(),
                d.hash,
            ),
        }
    }
}

fn digest_key(d: &Digest) -> (&Kind, &str) {
    (&d.kind, d.id.as_str())
}

fn by_key(a: &Resource, b: &Resource) -> Ordering {
    (&a.key.kind, a.key.id.as_str()).cmp(&(&b.key.kind, b.key.id.as_str()))
}

/// One step of the merge of the stored digests with the observation, both in key order.
enum Step<'a> {
    Created(&'a Resource),
    Modified(&'a Digest, &'a Resource),
    Deleted(&'a Digest),
}

/// Merge-join of the sorted digests with the observed resources sorted by (kind, id): one
/// scope per observation, so the scope's strings are never compared. A key observed twice
/// counts once (the last one listed). Sorting references and walking both lists measured
/// faster than building ordered or hashed maps of either side.
fn merge<'a>(digests: &'a [Digest], current: &'a [Resource], mut visit: impl FnMut(Step<'a>)) {
    let mut now: Vec<&Resource> = current.iter().collect();
    // Stable and adaptive: a listing already in key order (or in a few runs) sorts in one pass.
    now.sort_by(|a, b| by_key(a, b));
    let mut i = 0;
    let mut j = 0;
    while j < now.len() {
        // The last of equal keys wins.
        while j + 1 < now.len() && by_key(now[j], now[j + 1]) == Ordering::Equal {
            j += 1;
        }
        let r = now[j];
        let key = (&r.key.kind, r.key.id.as_str());
        while i < digests.len() && (&digests[i].kind, digests[i].id.as_str()) < key {
            visit(Step::Deleted(&digests[i]));
            i += 1;
        }
        match digests.get(i) {
            Some(d) if (&d.kind, d.id.as_str()) == key => {
                if d.hash != r.hash() {
                    visit(Step::Modified(d, r));
                }
                i += 1;
            }
            _ => visit(Step::Created(r)),
        }
        j += 1;
    }
    for d in &digests[i..] {
        visit(Step::Deleted(d));
    }
}

/// The keys whose full stored rows a diff of this observation needs: those it modifies or
/// deletes. Empty in steady state and for a failed observation.
pub fn rows_needed(previous: &[Digest], observation: &Observation) -> Vec<(Kind, String)> {
    let mut sorted;
    let mut digests = if previous
        .windows(2)
        .all(|w| digest_key(&w[0]) < digest_key(&w[1]))
    {
        previous
    } else {
        sorted = previous.to_vec();
        sorted.sort_by(|a, b| digest_key(a).cmp(&digest_key(b)));
        sorted.dedup_by(|a, b| a.kind == b.kind && a.id == b.id);
        &sorted[..]
    };
    let covered_digests;
    let covered_now;
    let current = match &observation.outcome {
        Outcome::Complete(current) => current,
        Outcome::Part(part) => {
            covered_digests = covered(digests, &part.coverage);
            digests = &covered_digests;
            covered_now = covered_resources(part);
            &covered_now
        }
        Outcome::Failed { .. } => return Vec::new(),
    };
    let mut out = Vec::new();
    merge(digests, current, |step| match step {
        Step::Modified(d, _) | Step::Deleted(d) => out.push((d.kind.clone(), d.id.clone())),
        Step::Created(_) => {}
    });
    out
}

/// Compare the previous complete state of a scope with a new observation.
///
/// A failed observation yields no changes at all: a listing that did not complete can never
/// be read as deletions (DESIGN invariant 1).
pub fn diff(previous: &Previous, observation: &Observation) -> Vec<Change> {
    let covered_digests;
    let covered_now;
    let (digests, current) = match &observation.outcome {
        Outcome::Complete(resources) => (&previous.digests[..], resources),
        // A targeted re-read answers for its coverage only: the rest of the stored state is
        // neither compared nor deleted.
        Outcome::Part(part) => {
            covered_digests = covered(&previous.digests, &part.coverage);
            covered_now = covered_resources(part);
            (&covered_digests[..], &covered_now)
        }
        Outcome::Failed { .. } => return Vec::new(),
    };
    let at = observation.observed_at;
    let scope = &observation.scope;
    let mut changes = Vec::new();
    merge(digests, current, |step| match step {
        Step::Created(now) => changes.push(
            Change::new(
                now.key.clone(),
                Action::Create,
                None,
                Some(now.clone()),
                field_changes(None, Some(now)),
                at,
            )
            .with_actor(now.actor.clone()),
        ),
        Step::Modified(d, now) => {
            let was = previous.row(d, scope);
            let fields = field_changes(Some(&was), Some(now));
            changes.push(
                Change::new(
                    now.key.clone(),
                    Action::Modify,
                    Some(was),
                    Some(now.clone()),
                    fields,
                    at,
                )
                .with_actor(now.actor.clone()),
            );
        }
        Step::Deleted(d) => {
            let was = previous.row(d, scope);
            let fields = field_changes(Some(&was), None);
            changes.push(Change::new(
                was.key.clone(),
                Action::Delete,
                Some(was),
                None,
                fields,
                at,
            ));
        }
    });
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    changes
}

/// The stored digests a targeted re-read answers for, in key order.
fn covered(digests: &[Digest], coverage: &crate::model::Coverage) -> Vec<Digest> {
    digests
        .iter()
        .filter(|d| coverage.covers(&d.kind, &d.id))
        .cloned()
        .collect()
}

/// The listed resources within the read's coverage (a resource outside it is not the read's
/// to answer for).
fn covered_resources(part: &crate::model::Part) -> Vec<Resource> {
    part.resources
        .iter()
        .filter(|r| part.coverage.covers(&r.key.kind, &r.key.id))
        .cloned()
        .collect()
}

/// Field-level differences between two versions (either may be absent), as dotted paths into
/// `{name, tags, attributes}`. Arrays are compared as whole values.
pub fn field_changes(before: Option<&Resource>, after: Option<&Resource>) -> Vec<FieldChange> {
    let mut a = BTreeMap::new();
    let mut b = BTreeMap::new();
    if let Some(r) = before {
        flatten("", &r.content(), &mut a);
    }
    if let Some(r) = after {
        flatten("", &r.content(), &mut b);
    }
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|p| {
            let (x, y) = (a.get(p), b.get(p));
            (x != y).then(|| FieldChange {
                path: p.clone(),
                before: x.cloned(),
                after: y.cloned(),
            })
        })
        .collect()
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        Value::Null => {}
        Value::Object(_) => {}
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

#[cfg(test)]
mod tests;

//! Pure matcher: a change and the active change records give a decision with its reason.
//! Records are indexed by (provider, kind) and target glob (one `GlobSet` per bucket) so a
//! change is compared only with the scope entries that could cover it, never with every record.
//! Entries made from a Terraform/OpenTofu plan are indexed by the resource they name (its key
//! id, or its name when apply decides the id) and compare the observed after-state with the
//! planned one: equal is a match naming the plan's address, different a `BeyondPlan` violation
//! naming the fields.

use std::collections::HashMap;

use globset::{Glob, GlobMatcher, GlobSet, GlobSetBuilder};
use jiff::SignedDuration;

use crate::model::aws::SecurityGroupRule;
use crate::model::record::{AttributeMatch, Locator, Planned, ScopeEntry};
use crate::model::resource::canonical_json;
use crate::model::{
    Change, ChangeRecord, Decision, Kind, Provider, RecordType, Scope, ViolationKind,
};

/// Matcher settings (from `[records]`).
#[derive(Clone, Copy, Debug)]
pub struct MatchSettings {
    /// Allowance for poll delay: a change seen this long after the window closed still counts.
    pub grace: SignedDuration,
}

impl Default for MatchSettings {
    fn default() -> Self {
        MatchSettings {
            grace: SignedDuration::from_mins(10),
        }
    }
}

struct IndexedEntry {
    record: usize,
    entry: usize,
    target: Option<GlobMatcher>,
}

/// The scope entries of one (provider, kind): those without a target apply to every change;
/// targeted ones are found through one `GlobSet` over all their globs, so a change meets only
/// the entries whose target glob matches one of its names.
#[derive(Default)]
struct Bucket {
    untargeted: Vec<IndexedEntry>,
    targeted: Vec<IndexedEntry>,
    globs: Vec<Glob>,
    set: GlobSet,
    /// Planned entries by the key id, or by the name, of the one resource they cover; and
    /// those recognised by shape alone (compared with every change of the kind).
    planned_ids: HashMap<String, Vec<IndexedEntry>>,
    planned_names: HashMap<String, Vec<IndexedEntry>>,
    planned_shapes: Vec<IndexedEntry>,
}

/// The active records with their scope entries indexed by provider, kind and target.
pub struct RecordIndex {
    records: Vec<ChangeRecord>,
    by_id: HashMap<String, usize>,
    by_kind: HashMap<(Provider, Option<Kind>), Bucket>,
}

impl RecordIndex {
    pub fn new(records: Vec<ChangeRecord>) -> Self {
        let mut by_kind: HashMap<(Provider, Option<Kind>), Bucket> = HashMap::new();
        for (ri, r) in records.iter().enumerate() {
            for (ei, e) in r.scope.iter().enumerate() {
                let bucket = by_kind.entry((e.provider, e.kind.clone())).or_default();
                let indexed = IndexedEntry {
                    record: ri,
                    entry: ei,
                    target: None,
                };
                if let Some(p) = &e.planned {
                    match &p.locator {
                        Locator::Id(id) => bucket
                            .planned_ids
                            .entry(id.clone())
                            .or_default()
                            .push(indexed),
                        Locator::Name(n) => bucket
                            .planned_names
                            .entry(n.clone())
                            .or_default()
                            .push(indexed),
                        Locator::Shape => bucket.planned_shapes.push(indexed),
                    }
                    continue;
                }
                match &e.target {
                    None => bucket.untargeted.push(IndexedEntry {
                        record: ri,
                        entry: ei,
                        target: None,
                    }),
                    // Targets were validated as globs when the record was loaded; an entry
                    // whose glob still fails to compile is skipped rather than matching all.
                    Some(t) => {
                        if let Ok(g) = Glob::new(t) {
                            bucket.globs.push(g.clone());
                            bucket.targeted.push(IndexedEntry {
                                record: ri,
                                entry: ei,
                                target: Some(g.compile_matcher()),
                            });
                        }
                    }
                }
            }
        }
        for b in by_kind.values_mut() {
            // Every glob in the builder compiled above, so building the set cannot fail; an
            // empty set (matching nothing) is the safe fallback.
            let mut builder = GlobSetBuilder::new();
            for g in b.globs.drain(..) {
                builder.add(g);
            }
            b.set = builder.build().unwrap_or_else(|_| GlobSet::empty());
        }
        let by_id = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        RecordIndex {
            records,
            by_id,
            by_kind,
        }
    }

    pub fn records(&self) -> &[ChangeRecord] {
        &self.records
    }

    pub fn get(&self, id: &str) -> Option<&ChangeRecord> {
        self.by_id.get(id).and_then(|i| self.records.get(*i))
    }

    /// The scope entries that could cover this change, each once.
    fn candidates(&self, change: &Change) -> Vec<&IndexedEntry> {
        let p = change.key.provider();
        let names: &[String] = change
            .resource()
            .map(|r| r.targets.as_slice())
            .unwrap_or(&[]);
        let mut out = Vec::new();
        for key in [(p, Some(change.key.kind.clone())), (p, None)] {
            let Some(b) = self.by_kind.get(&key) else {
                continue;
            };
            out.extend(b.untargeted.iter());
            let mut hits: Vec<usize> = names.iter().flat_map(|n| b.set.matches(n)).collect();
            hits.sort_unstable();
            hits.dedup();
            out.extend(hits.into_iter().filter_map(|i| b.targeted.get(i)));
            out.extend(b.planned_ids.get(&change.key.id).into_iter().flatten());
            for n in names {
                out.extend(b.planned_names.get(n).into_iter().flatten());
            }
            out.extend(b.planned_shapes.iter());
        }
        out.sort_by_key(|e| (e.record, e.entry));
        out.dedup_by_key(|e| (e.record, e.entry));
        out
    }
}

/// Decide one change. Preference: a valid non-emergency match, then an emergency (provisional)
/// match, then a violation by a covering record, else unmatched.
pub fn decide(change: &Change, index: &RecordIndex, settings: &MatchSettings) -> Decision {
    let mut provisional: Option<Decision> = None;
    let mut violation: Option<Decision> = None;
    for c in index.candidates(change) {
        let (Some(record), Some(entry)) = (
            index.records.get(c.record),
            index
                .records
                .get(c.record)
                .and_then(|r| r.scope.get(c.entry)),
        ) else {
            continue;
        };
        if !covers(entry, c.target.as_ref(), change) {
            continue;
        }
        let plan = match entry
            .planned
            .as_deref()
            .map(|p| (p, against_plan(p, change)))
        {
            // A shape that differs is some other resource: not this entry's business.
            Some((p, Err(_))) if p.locator == Locator::Shape => continue,
            other => other,
        };
        let what = format!(
            "{} scope[{}] ({}) covers {} {} {}",
            record.id,
            c.entry,
            describe_entry(entry),
            change.action,
            change.key.kind,
            change.name()
        );
        let checked = check_time(record, change, settings).and_then(|()| match &plan {
            Some((p, Err(why))) => Err((
                ViolationKind::BeyondPlan,
                format!("it was applied beyond plan {}: {why}", p.address),
            )),
            _ => Ok(()),
        });
        let what = match &plan {
            Some((p, Ok(n))) => format!("{what}, as planned ({n})", n = as_planned(p, *n)),
            _ => what,
        };
        match checked {
            Ok(()) if record.record_type == RecordType::Emergency => {
                if provisional.is_none() {
                    provisional = Some(Decision::Matched {
                        record_id: record.id.clone(),
                        scope_entry: c.entry,
                        provisional: true,
                        reason: format!(
                            "{what}; emergency record: matched provisionally, retrospective owed"
                        ),
                    });
                }
            }
            Ok(()) => {
                let when = match record.window {
                    Some(w) => format!("inside its window {} .. {}", w.start, w.end),
                    None => "a standard (pre-approved) record".to_string(),
                };
                return Decision::Matched {
                    record_id: record.id.clone(),
                    scope_entry: c.entry,
                    provisional: false,
                    reason: format!("{what}; observed {} {when}", change.observed_at),
                };
            }
            Err((kind, why)) => {
                if violation.is_none() {
                    violation = Some(Decision::Violation {
                        record_id: record.id.clone(),
                        scope_entry: c.entry,
                        violation: kind,
                        reason: format!("{what}, but {why}"),
                    });
                }
            }
        }
    }
    if let Some(d) = provisional.or(violation) {
        return d;
    }
    Decision::Unmatched {
        reason: format!(
            "no active change record covers {} {} {} in {} ({} records checked)",
            change.action,
            change.key.kind,
            change.name(),
            change.key.scope,
            index.records.len()
        ),
    }
}

fn check_time(
    record: &ChangeRecord,
    change: &Change,
    settings: &MatchSettings,
) -> Result<(), (ViolationKind, String)> {
    let t = change.observed_at;
    if record.record_type != RecordType::Emergency {
        match record.approved_at() {
            None => {
                return Err((
                    ViolationKind::NotApproved,
                    "the record has no approval".into(),
                ));
            }
            Some(a) if a > t => {
                return Err((
                    ViolationKind::ApprovedAfterChange,
                    format!("it was approved at {a}, after the change was observed at {t}"),
                ));
            }
            _ => {}
        }
    }
    if let Some(w) = record.window {
        // The change happened at or before the poll saw it: allow `grace` after the end for
        // poll delay. Before the start there is no allowance.
        let late = w.end.checked_add(settings.grace).unwrap_or(w.end);
        if t < w.start || t > late {
            return Err((
                ViolationKind::OutsideWindow,
                format!(
                    "observed at {t}, outside its window {} .. {} (grace {} min)",
                    w.start,
                    w.end,
                    settings.grace.as_mins()
                ),
            ));
        }
    }
    Ok(())
}

fn covers(entry: &ScopeEntry, target: Option<&GlobMatcher>, change: &Change) -> bool {
    if !entry.actions.is_empty() && !entry.actions.contains(&change.action) {
        return false;
    }
    match &change.key.scope {
        Scope::Aws { account, region } => {
            if entry.account.as_ref().is_some_and(|a| **a != **account) {
                return false;
            }
            if entry.region.as_ref().is_some_and(|r| **r != **region) {
                return false;
            }
        }
        Scope::Kubernetes { cluster } => {
            if entry.cluster.as_ref().is_some_and(|c| **c != **cluster) {
                return false;
            }
        }
    }
    let Some(resource) = change.resource() else {
        return false;
    };
    if let Some(g) = target
        && !resource.targets.iter().any(|t| g.is_match(t))
    {
        return false;
    }
    if entry.matches.is_empty() {
        return true;
    }
    // Attribute matches apply to security-group rules; both the old and new state are
    // considered so that a modify is covered when either side is described.
    let states = [change.before.as_ref(), change.after.as_ref()];
    states
        .into_iter()
        .flatten()
        .filter_map(SecurityGroupRule::from_resource)
        .any(|rule| entry.matches.iter().all(|m| attribute_matches(m, &rule)))
}

fn attribute_matches(m: &AttributeMatch, rule: &SecurityGroupRule) -> bool {
    match m {
        AttributeMatch::Port(p) => rule.covers_port(*p),
        AttributeMatch::Protocol(p) => rule.protocol == *p,
        AttributeMatch::Direction(d) => rule.direction == *d,
        AttributeMatch::Peer(want) => {
            let have = rule.peer.value();
            if have == want {
                return true;
            }
            // A CIDR inside the named network is covered by it.
            match (want.parse::<ipnet::IpNet>(), have.parse::<ipnet::IpNet>()) {
                (Ok(net), Ok(inner)) => net.contains(&inner),
                _ => false,
            }
        }
    }
}

/// Compare an observed change with the planned one: `Ok(fields compared)` when the action
/// is the plan's and every planned value is the one observed, else what differs.
fn against_plan(p: &Planned, change: &Change) -> Result<usize, String> {
    if !p.action.accepts(change.action) {
        return Err(format!(
            "the plan would {} it, it was observed {}",
            p.action.as_str(),
            past(change.action)
        ));
    }
    let Some(after) = change.after.as_ref() else {
        return Ok(0);
    };
    let attributes = after.attributes();
    let mut differ = Vec::new();
    for f in &p.fields {
        let observed = if f.path == "tags" {
            serde_json::to_value(&after.tags).unwrap_or(serde_json::Value::Null)
        } else {
            f.path
                .split('.')
                .try_fold(&attributes, |v, k| v.get(k))
                .cloned()
                .unwrap_or(serde_json::Value::Null)
        };
        let text = canonical_json(&observed);
        if text != f.value {
            differ.push(describe_difference(&f.path, &f.value, &observed, &text));
        }
    }
    if differ.is_empty() {
        Ok(p.fields.len())
    } else {
        Err(differ.join("; "))
    }
}

/// One field's difference in a sentence. Lists (rules, subjects, statements) name the items
/// only one side has, which a long value cut short would hide.
fn describe_difference(
    path: &str,
    planned: &str,
    observed: &serde_json::Value,
    observed_text: &str,
) -> String {
    use serde_json::Value;
    if let (Ok(Value::Array(want)), Value::Array(have)) =
        (serde_json::from_str::<Value>(planned), observed)
    {
        let only = |a: &[Value], b: &[Value]| -> Vec<String> {
            a.iter()
                .filter(|x| !b.contains(x))
                .map(|x| shorten(&canonical_json(x)))
                .collect()
        };
        let (extra, missing) = (only(have, &want), only(&want, have));
        let mut parts = Vec::new();
        if !extra.is_empty() {
            parts.push(format!("observed also {}", extra.join(", ")));
        }
        if !missing.is_empty() {
            parts.push(format!("planned but missing {}", missing.join(", ")));
        }
        if parts.is_empty() {
            parts.push("the same items in another order".into());
        }
        return format!("{path}: {}", parts.join("; "));
    }
    format!(
        "{path} planned {}, observed {}",
        shorten(planned),
        shorten(observed_text)
    )
}

fn past(a: crate::model::Action) -> &'static str {
    match a {
        crate::model::Action::Create => "created",
        crate::model::Action::Modify => "modified",
        crate::model::Action::Delete => "deleted",
    }
}

fn as_planned(p: &Planned, fields: usize) -> String {
    match fields {
        0 => format!("the plan would {} it", p.action.as_str()),
        1 => "the 1 planned value observed".into(),
        n => format!("all {n} planned values observed"),
    }
}

/// A value in a sentence: long documents are cut (the full diff is in the change).
fn shorten(v: &str) -> String {
    const MAX: usize = 120;
    if v.len() <= MAX {
        return v.to_string();
    }
    let mut end = MAX;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &v[..end])
}

fn describe_entry(e: &ScopeEntry) -> String {
    if let Some(p) = &e.planned {
        return format!("plan {}", p.address);
    }
    let mut parts = vec![e.provider.to_string()];
    if let Some(a) = &e.account {
        parts.push(format!("account {a}"));
    }
    if let Some(r) = &e.region {
        parts.push(format!("region {r}"));
    }
    if let Some(c) = &e.cluster {
        parts.push(format!("cluster {c}"));
    }
    if let Some(k) = &e.kind {
        parts.push(k.to_string());
    }
    if let Some(t) = &e.target {
        parts.push(format!("target {t}"));
    }
    if !e.actions.is_empty() {
        let a: Vec<&str> = e.actions.iter().map(|a| a.as_str()).collect();
        parts.push(format!("actions {}", a.join("/")));
    }
    for m in &e.matches {
        parts.push(match m {
            AttributeMatch::Port(p) => format!("port {p}"),
            AttributeMatch::Protocol(p) => format!("protocol {p}"),
            AttributeMatch::Direction(d) => format!("direction {}", d.as_str()),
            AttributeMatch::Peer(p) => format!("peer {p}"),
        });
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests;

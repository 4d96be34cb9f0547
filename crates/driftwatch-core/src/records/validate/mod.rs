//! Parse one record file and check every rule of the change-record contract, collecting all
//! errors rather than stopping at the first.

mod scope;
mod settings;

use serde_saphyr::Spanned;

use super::schema::{RawPlan, RawRecord};
use super::yaml;
use super::{RecordError, RejectionRule};
use crate::model::record::{Approval, PlanRef, RecordOrigin, Window};
use crate::model::{ChangeRecord, RecordType};
use scope::scope_entry;
pub use settings::ValidationSettings;

/// Parse a file holding one record or a list of records, and validate each.
/// Returns the records when the whole file is valid, else every error found.
pub fn parse_file(
    file: &str,
    text: &str,
    settings: &ValidationSettings,
) -> Result<Vec<ChangeRecord>, Vec<RecordError>> {
    let syntax = |e: serde_saphyr::Error| vec![yaml_error(file, &e)];
    // Is the document a list of records or one record?
    let shape: serde_json::Value = yaml::from_str(text).map_err(syntax)?;
    let raws: Vec<RawRecord> = match shape {
        serde_json::Value::Array(_) => yaml::from_str(text).map_err(syntax)?,
        serde_json::Value::Object(_) => vec![yaml::from_str(text).map_err(syntax)?],
        serde_json::Value::Null => {
            return Err(vec![RecordError {
                file: file.to_string(),
                line: 1,
                field: String::new(),
                message: "file is empty: expected a change record or a list of them".into(),
                rule: RejectionRule::NotARecord,
            }]);
        }
        _ => {
            return Err(vec![RecordError {
                file: file.to_string(),
                line: 1,
                field: String::new(),
                message: "expected a change record (a mapping) or a list of them".into(),
                rule: RejectionRule::NotARecord,
            }]);
        }
    };
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let list = raws.len() > 1;
    for (i, raw) in raws.into_iter().enumerate() {
        let prefix = if list {
            format!("[{i}].")
        } else {
            String::new()
        };
        match validate(file, &prefix, raw, settings) {
            Ok(r) => records.push(r),
            Err(mut e) => errors.append(&mut e),
        }
    }
    // Duplicate ids inside the file.
    for (i, r) in records.iter().enumerate() {
        if let Some(first) = records[..i].iter().find(|o| o.id == r.id) {
            errors.push(RecordError {
                file: file.to_string(),
                line: r.origin.line,
                field: "id".into(),
                message: format!(
                    "duplicate id {} (first defined at line {})",
                    r.id, first.origin.line
                ),
                rule: RejectionRule::DuplicateId,
            });
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// A YAML error in `file` as a `RecordError`: its line, the rule (a limit of `yaml`, an
/// unknown or missing field, else syntax) and the message.
pub(crate) fn yaml_error(file: &str, e: &serde_saphyr::Error) -> RecordError {
    let line = e.location().map(|l| l.line() as u32).unwrap_or(0);
    let (rule, message) = match (yaml::limit_exceeded(e), yaml::original(e)) {
        (Some(limit), _) => (RejectionRule::LimitExceeded, limit),
        (None, serde_saphyr::Error::SerdeUnknownField { .. }) => {
            (RejectionRule::UnknownField, plain_message(e))
        }
        (None, serde_saphyr::Error::SerdeMissingField { .. }) => {
            (RejectionRule::MissingField, plain_message(e))
        }
        (None, _) => (RejectionRule::Syntax, plain_message(e)),
    };
    RecordError {
        file: file.to_string(),
        line,
        field: String::new(),
        message,
        rule,
    }
}

/// The error's text without the source snippet or location suffix (we print `file:line:`).
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or("").trim();
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

struct Errors<'a> {
    file: &'a str,
    prefix: &'a str,
    list: Vec<RecordError>,
}

impl Errors<'_> {
    fn push(&mut self, rule: RejectionRule, line: usize, field: &str, message: String) {
        self.list.push(RecordError {
            file: self.file.to_string(),
            line: line as u32,
            field: format!("{}{field}", self.prefix),
            message,
            rule,
        });
    }
}

/// `d-` and 8 lowercase hex digits.
pub fn is_drift_id(v: &str) -> bool {
    v.len() == 10
        && v.starts_with("d-")
        && v[2..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

/// A record id as teams write them: an upper-case prefix, a dash, then letters, digits, dashes
/// (`CHG-2041`, `BG-20261129-0930`).
pub fn is_record_id(v: &str) -> bool {
    let Some((prefix, rest)) = v.split_once('-') else {
        return false;
    };
    prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase())
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn a_record(t: RecordType) -> &'static str {
    match t {
        RecordType::Standard => "a standard record",
        RecordType::Normal => "a normal record",
        RecordType::Emergency => "an emergency record",
    }
}

pub(super) fn line<T>(s: &Spanned<T>) -> usize {
    s.referenced.line() as usize
}

fn validate(
    file: &str,
    prefix: &str,
    raw: RawRecord,
    settings: &ValidationSettings,
) -> Result<ChangeRecord, Vec<RecordError>> {
    let mut errs = Errors {
        file,
        prefix,
        list: Vec::new(),
    };
    let rtype = raw.record_type.value;
    let id_line = line(&raw.id);
    if raw.id.value.trim().is_empty() {
        errs.push(
            RejectionRule::MissingField,
            id_line,
            "id",
            "must not be empty".into(),
        );
    }
    if raw.title.value.trim().is_empty() {
        errs.push(
            RejectionRule::MissingField,
            line(&raw.title),
            "title",
            "must not be empty".into(),
        );
    }
    // The four pillars: why, impact, resources (normal and emergency), authority.
    if rtype != RecordType::Standard {
        for (field, value, pillar) in [
            ("purpose", &raw.purpose, "pillar 1: why the change is made"),
            (
                "impact",
                &raw.impact,
                "pillar 2: integrity and blast radius",
            ),
            ("resources", &raw.resources, "pillar 3: resources needed"),
        ] {
            let missing = value.as_ref().is_none_or(|v| v.value.trim().is_empty());
            if missing {
                let at = value.as_ref().map(line).unwrap_or(id_line);
                errs.push(
                    RejectionRule::MissingPillar,
                    at,
                    field,
                    format!("required for {} ({pillar})", a_record(rtype)),
                );
            }
        }
    }
    let requester = raw.requested_by.value.trim().to_string();
    if requester.is_empty() {
        errs.push(
            RejectionRule::MissingField,
            line(&raw.requested_by),
            "requested_by",
            "must not be empty".into(),
        );
    }
    if raw.approved_by.is_empty() && rtype != RecordType::Emergency {
        errs.push(
            RejectionRule::MissingApproval,
            id_line,
            "approved_by",
            format!(
                "{} needs at least one approval (pillar 4: authority)",
                a_record(rtype)
            ),
        );
    }
    let mut approvals = Vec::new();
    for (i, a) in raw.approved_by.iter().enumerate() {
        let name = a.value.name.value.trim();
        let at = line(&a.value.name);
        if name.is_empty() {
            errs.push(
                RejectionRule::MissingField,
                at,
                &format!("approved_by[{i}].name"),
                "must not be empty".into(),
            );
        } else if name.eq_ignore_ascii_case(&requester) {
            errs.push(
                RejectionRule::SelfApproval,
                at,
                &format!("approved_by[{i}].name"),
                format!("approver {name} is also the requester; a change needs a second person"),
            );
        } else if let Some(p) = settings.bot_pattern(name) {
            errs.push(
                RejectionRule::BotApprover,
                at,
                &format!("approved_by[{i}].name"),
                format!("approver {name} is a bot account (matches `{p}`); a person must approve"),
            );
        }
        approvals.push(Approval {
            name: name.to_string(),
            at: a.value.at.value,
        });
    }
    let window = raw.window.as_ref().map(|w| Window {
        start: w.value.start.value,
        end: w.value.end.value,
    });
    match (&raw.window, rtype) {
        (None, RecordType::Normal | RecordType::Emergency) => {
            errs.push(
                RejectionRule::MissingField,
                id_line,
                "window",
                format!("required for {}", a_record(rtype)),
            );
        }
        (Some(w), _) if w.value.end.value <= w.value.start.value => {
            errs.push(
                RejectionRule::WindowOrder,
                line(&w.value.end),
                "window.end",
                format!(
                    "{} is not after window.start {}",
                    w.value.end.value, w.value.start.value
                ),
            );
        }
        _ => {}
    }
    if let Some(rb) = &raw.revert_by {
        let t = rb.value;
        match window {
            Some(w) if t < w.start => errs.push(
                RejectionRule::RevertBounds,
                line(rb),
                "revert_by",
                format!("{t} is before the window starts ({})", w.start),
            ),
            Some(w) if t.duration_since(w.end) > settings.max_revert_after_window => errs.push(
                RejectionRule::RevertBounds,
                line(rb),
                "revert_by",
                format!(
                    "{t} is more than {} h after the window ends ({}); a temporary change must be short",
                    settings.max_revert_after_window.as_hours(),
                    w.end
                ),
            ),
            None => errs.push(
                RejectionRule::RevertBounds,
                line(rb),
                "revert_by",
                "needs a window: a temporary change is bounded by its window".into(),
            ),
            _ => {}
        }
    }
    let plan = raw.plan.as_ref().and_then(|p| plan_ref(&mut errs, p));
    let entries = raw
        .scope
        .as_ref()
        .map(|s| s.value.as_slice())
        .unwrap_or(&[]);
    if entries.is_empty() && raw.plan.is_none() {
        let at = raw.scope.as_ref().map(line).unwrap_or(id_line);
        errs.push(
            RejectionRule::MissingField,
            at,
            "scope",
            "at least one entry is required (or a `plan` whose resources are the scope)".into(),
        );
    }
    let mut scope = Vec::new();
    for (i, s) in entries.iter().enumerate() {
        if let Some(entry) = scope_entry(&mut errs, i, line(s), &s.value) {
            scope.push(entry);
        }
    }
    let mut retro = Vec::new();
    for (i, d) in raw.retrospective_for.iter().enumerate() {
        let v = d.value.trim();
        if !is_drift_id(v) && !is_record_id(v) {
            errs.push(
                RejectionRule::RetrospectiveRef,
                line(d),
                &format!("retrospective_for[{i}]"),
                format!("`{v}` is not a drift id (d- and 8 lowercase hex digits, as in alerts) nor a record id (like BG-20261129-0930)"),
            );
        }
        retro.push(v.to_string());
    }
    if let Some(c) = &raw.closed_at {
        match (rtype, window) {
            (RecordType::Emergency, Some(w)) if c.value < w.start => errs.push(
                RejectionRule::ClosedAt,
                line(c),
                "closed_at",
                format!("{} is before the window starts ({})", c.value, w.start),
            ),
            (RecordType::Emergency, _) => {}
            _ => errs.push(
                RejectionRule::ClosedAt,
                line(c),
                "closed_at",
                "only an emergency (break-glass) record is closed".into(),
            ),
        }
    }
    if !errs.list.is_empty() {
        return Err(errs.list);
    }
    Ok(ChangeRecord {
        id: raw.id.value.trim().to_string(),
        title: raw.title.value.trim().to_string(),
        record_type: rtype,
        purpose: raw.purpose.map(|s| s.value),
        impact: raw.impact.map(|s| s.value),
        resources: raw.resources.map(|s| s.value),
        requested_by: requester,
        approved_by: approvals,
        window,
        revert_by: raw.revert_by.map(|s| s.value),
        scope,
        evidence: raw.evidence,
        retrospective_for: retro,
        closed_at: raw.closed_at.map(|c| c.value),
        plan,
        origin: RecordOrigin {
            file: file.to_string(),
            line: id_line as u32,
            url: None,
        },
    })
}

/// `plan`: a relative path that stays inside the records directory, with the account and
/// region (AWS resources) or cluster (Kubernetes ones) it applies to. The file itself is
/// read and mapped by the loader (`plan::attach`).
fn plan_ref(errs: &mut Errors<'_>, p: &Spanned<RawPlan>) -> Option<PlanRef> {
    let at = line(p);
    let (path, account, region, cluster) = match &p.value {
        RawPlan::Path(path) => (path.trim(), None, None, None),
        RawPlan::Full(f) => (
            f.path.trim(),
            f.account.clone(),
            f.region.clone(),
            f.cluster.clone(),
        ),
    };
    let field = if matches!(p.value, RawPlan::Path(_)) {
        "plan"
    } else {
        "plan.path"
    };
    let problem = if path.is_empty() {
        Some("must not be empty")
    } else if path.starts_with('/') || path.starts_with('\\') || path.contains(':') {
        Some("must be relative to the record file's directory")
    } else if path.split(['/', '\\']).any(|c| c == "..") {
        Some("must stay inside the records directory (no `..`)")
    } else {
        None
    };
    if let Some(m) = problem {
        errs.push(RejectionRule::InvalidPlan, at, field, m.into());
        return None;
    }
    Some(PlanRef {
        path: path.to_string(),
        account,
        region,
        cluster,
        line: at as u32,
    })
}

#[cfg(test)]
mod tests;

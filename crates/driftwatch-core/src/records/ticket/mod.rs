//! Change records from tickets (pure: decoded API answers in, records or precise errors out).
//! A GitHub issue or pull request, a Jira issue or a Linear issue becomes a `Ticket`; its
//! record block (front matter or a ```driftwatch fence, the file schema) is completed with
//! what the system itself proves — the key, the title, the author as requester, the approvals
//! that pass the shared rule (`approval`), mapped fields — and validated exactly like a file.
//! Errors name the source, the ticket and the field (and the line in the ticket's text when
//! the field comes from the block).

pub mod approval;
pub mod block;
pub mod github;
pub mod jira;
pub mod linear;

use crate::model::ChangeRecord;
use crate::model::record::{Approval, Window};

use super::plan::PlanWarning;
use super::{RecordError, RejectionRule, ValidationSettings, is_drift_id, parse_file, yaml_error};
use approval::NotCounted;

/// What a record needs from a ticket, whatever system holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticket {
    /// The configured source's name (`github`, `jira`, or the `name` given in the config).
    pub source: String,
    /// `acme/infra#42`, `CHG-7`, `SEC-12`: the record's id.
    pub key: String,
    /// The ticket's web page.
    pub url: String,
    pub title: String,
    /// The ticket's author: the record's requester.
    pub author: String,
    /// Text holding the record block (Markdown, or Jira's document flattened to text).
    pub body: String,
    /// Approvals that passed the rule, and why the others did not count.
    pub approvals: Vec<Approval>,
    pub not_counted: Vec<NotCounted>,
    /// Where this system's approvals come from, for messages.
    pub approval_source: String,
    /// Record fields taken from the ticket's own fields (Jira's mapped custom fields): the
    /// key and its YAML value, and what it was read from.
    pub fields: Vec<MappedField>,
    /// The window when the block gives none (a merged pull request's merge time).
    pub default_window: Option<Window>,
    /// A mapped field that could not be read: `(field, message)`.
    pub field_errors: Vec<(String, String)>,
    /// The plan the record approves, found outside the body (a GitHub pull request comment
    /// by a trusted account); a ```driftwatch-plan block in the body is read by `to_record`.
    pub plan: Option<TicketPlan>,
}

/// A plan read from a ticket, and where (`from` names it in messages and the record).
#[derive(Clone, Debug, PartialEq)]
pub struct TicketPlan {
    pub block: block::PlanBlock,
    /// `the ticket's driftwatch-plan block`, `comment 1234 by github-actions[bot]`.
    pub from: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MappedField {
    pub key: String,
    pub yaml: String,
    /// `customfield_10040`.
    pub from: String,
}

impl Ticket {
    /// How messages and reports name the ticket: `github acme/infra#42`.
    pub fn label(&self) -> String {
        format!("{} {}", self.source, self.key)
    }
}

use super::yaml::{self, quote as q};

/// Drift ids the ticket names as `drift:d-xxxxxxxx` in its title or text.
pub fn drift_refs(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in text.match_indices("drift:") {
        let id = text[i + 6..].trim_start().get(..10).unwrap_or("");
        if is_drift_id(id) && !out.iter().any(|d| d == id) {
            out.push(id.to_string());
        }
    }
    out
}

/// Keys of the top-level mapping, with their 0-based line in `yaml`.
fn top_level_keys(yaml: &str) -> Vec<(String, usize)> {
    yaml.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with([' ', '\t', '#', '-']))
        .filter_map(|(i, l)| {
            let (k, _) = l.split_once(':')?;
            let k = k.trim().trim_matches(['"', '\'']);
            (!k.is_empty()).then(|| (k.to_string(), i))
        })
        .collect()
}

/// Why a ticket with no approval that counts has none, when its votes were all discounted for
/// segregation of duties: its author's own vote first, then bot accounts.
fn discounted_rule(not_counted: &[NotCounted]) -> Option<RejectionRule> {
    [RejectionRule::SelfApproval, RejectionRule::BotApprover]
        .into_iter()
        .find(|r| not_counted.iter().any(|n| n.rule == *r))
}

/// The ticket as a validated change record, or every problem found.
pub fn to_record(
    t: &Ticket,
    settings: &ValidationSettings,
) -> Result<ChangeRecord, Vec<RecordError>> {
    to_record_checked(t, settings).map(|(r, _)| r)
}

/// `to_record`, with what the record's plan changes that driftwatch does not reconcile.
pub fn to_record_checked(
    t: &Ticket,
    settings: &ValidationSettings,
) -> Result<(ChangeRecord, Vec<PlanWarning>), Vec<RecordError>> {
    let label = t.label();
    let err = |rule: RejectionRule, line: usize, field: &str, message: String| RecordError {
        file: label.clone(),
        line: line as u32,
        field: field.to_string(),
        message,
        rule,
    };
    let block = match block::find(&t.body) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Err(vec![err(
                RejectionRule::TicketBlock,
                0,
                "",
                "no record block: put the record's fields in YAML front matter (--- … ---) or in a ```driftwatch fenced block".into(),
            )]);
        }
        Err(e) => return Err(vec![err(RejectionRule::TicketBlock, 0, "", e)]),
    };
    let plan = match &t.plan {
        Some(p) => Some(p.clone()),
        None => match block::find_plan(&t.body) {
            Ok(b) => b.map(|block| TicketPlan {
                block,
                from: "the ticket's driftwatch-plan block".into(),
            }),
            Err(e) => return Err(vec![err(RejectionRule::InvalidPlan, 0, "plan", e)]),
        },
    };
    let offset = block.first_line - 1;
    // The block alone first: YAML within the limits, and a mapping. Its keys are the parsed
    // ones (however they are spelled: quoted, escaped, `? key`, an alias, a merge), so a field
    // the system provides cannot slip in; the line scan only says where a key is.
    let keys: Vec<String> = match yaml::from_str::<serde_json::Value>(&block.yaml) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        Ok(serde_json::Value::Null) => Vec::new(),
        Ok(_) => {
            return Err(vec![err(
                RejectionRule::TicketBlock,
                block.first_line,
                "",
                "the record block must be a mapping of record fields (type: …, scope: …)".into(),
            )]);
        }
        Err(e) => {
            let mut e = yaml_error(&label, &e);
            e.line = if e.line == 0 {
                block.first_line as u32
            } else {
                e.line + offset as u32
            };
            return Err(vec![e]);
        }
    };
    let key_lines = top_level_keys(&block.yaml);
    let line_of = |key: &str| {
        key_lines
            .iter()
            .find(|(k, _)| k == key)
            .map_or(block.first_line, |(_, l)| l + 1 + offset)
    };
    let mut errors = Vec::new();
    // The block is the file schema minus what the system itself proves.
    let owned: Vec<(&str, String)> = [
        ("id", "the ticket key".to_string()),
        ("title", "the ticket's title".to_string()),
        ("requested_by", "the ticket's author".to_string()),
        ("approved_by", t.approval_source.clone()),
        (
            "plan",
            "a ```driftwatch-plan block in the ticket".to_string(),
        ),
    ]
    .into_iter()
    .chain(
        t.fields
            .iter()
            .map(|f| (f.key.as_str(), format!("the ticket's field {}", f.from))),
    )
    .collect();
    for key in &keys {
        if let Some((_, what)) = owned.iter().find(|(k, _)| k == key) {
            let rule = if key == "approved_by" {
                RejectionRule::ApprovedInTicketText
            } else {
                RejectionRule::FieldFromTicket
            };
            errors.push(err(
                rule,
                line_of(key),
                key,
                format!("comes from {what}; remove it from the block"),
            ));
        }
    }
    errors.sort_by_key(|e| e.line);
    for (field, message) in &t.field_errors {
        let rule = if field == "plan" {
            RejectionRule::InvalidPlan
        } else {
            RejectionRule::MappedField
        };
        errors.push(err(rule, 0, field, message.clone()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Blank lines first, so the block's lines keep their numbers in the ticket's text; the
    // system's fields follow it, each remembered with its first line and where it came from
    // (an error there names that field, not a line of the ticket).
    let mut text = "\n".repeat(offset);
    text.push_str(&block.yaml);
    text.push('\n');
    let appended_from = text.lines().count() + 1;
    let mut appended: Vec<(usize, String, String)> = Vec::new();
    let mut append = |text: &mut String, key: &str, from: String, yaml: String| {
        appended.push((text.lines().count() + 1, key.to_string(), from));
        text.push_str(&yaml);
    };
    append(
        &mut text,
        "id",
        "the ticket key".into(),
        format!("id: {}\n", q(&t.key)),
    );
    append(
        &mut text,
        "title",
        "the ticket's title".into(),
        format!("title: {}\n", q(&t.title)),
    );
    append(
        &mut text,
        "requested_by",
        "the ticket's author".into(),
        format!("requested_by: {}\n", q(&t.author)),
    );
    if !t.approvals.is_empty() {
        let mut yaml = "approved_by:\n".to_string();
        for a in &t.approvals {
            yaml.push_str(&format!("  - {{ name: {}, at: {} }}\n", q(&a.name), a.at));
        }
        append(&mut text, "approved_by", t.approval_source.clone(), yaml);
    }
    for f in &t.fields {
        let yaml = if f.yaml.contains('\n') {
            let mut y = format!("{}:\n", f.key);
            for l in f.yaml.lines() {
                y.push_str(&format!("  {l}\n"));
            }
            y
        } else {
            format!("{}: {}\n", f.key, f.yaml)
        };
        append(
            &mut text,
            &f.key,
            format!("the ticket's field {}", f.from),
            yaml,
        );
    }
    let has_window =
        keys.iter().any(|k| k == "window") || t.fields.iter().any(|f| f.key == "window");
    if let (false, Some(w)) = (has_window, t.default_window) {
        append(
            &mut text,
            "window",
            "the merge time".into(),
            format!("window: {{ start: {}, end: {} }}\n", w.start, w.end),
        );
    }
    if let Some(p) = &plan {
        let mut yaml = format!("plan: {{ path: {}", q(&p.from));
        for (k, v) in [
            ("account", &p.block.account),
            ("region", &p.block.region),
            ("cluster", &p.block.cluster),
        ] {
            if let Some(v) = v {
                yaml.push_str(&format!(", {k}: {}", q(v)));
            }
        }
        yaml.push_str(" }\n");
        append(&mut text, "plan", p.from.clone(), yaml);
    }
    let parsed = parse_file(&label, &text, settings).and_then(|mut rs| {
        if rs.len() == 1 {
            Ok(rs.remove(0))
        } else {
            Err(vec![err(
                RejectionRule::TicketBlock,
                block.first_line,
                "",
                "a ticket holds one record, not a list".into(),
            )])
        }
    });
    match parsed {
        Ok(mut r) => {
            r.origin.line = block.first_line as u32;
            r.origin.url = Some(t.url.clone());
            for d in drift_refs(&format!("{}\n{}", t.title, t.body)) {
                if !r.retrospective_for.contains(&d) {
                    r.retrospective_for.push(d);
                }
            }
            let mut warnings = Vec::new();
            if let (Some(p), Some(pr)) = (&plan, r.plan.as_mut()) {
                // The body's block is named by its line; a comment has no line in the body.
                pr.line = if t.plan.is_some() {
                    0
                } else {
                    p.block.line as u32
                };
                let attached =
                    super::plan::attach(&mut r, &p.from, &p.block.json).map_err(|e| vec![e])?;
                warnings = attached.warnings;
            }
            Ok((r, warnings))
        }
        Err(errs) => Err(errs
            .into_iter()
            .map(|mut e| {
                if e.line as usize >= appended_from {
                    if let Some((_, key, from)) = appended
                        .iter()
                        .rev()
                        .find(|(l, _, _)| *l <= e.line as usize)
                        && (e.field.is_empty()
                            || e.field == *key
                            || e.field.starts_with(&format!("{key}."))
                            || e.field.starts_with(&format!("{key}[")))
                    {
                        if e.field.is_empty() {
                            e.field = key.clone();
                        }
                        e.message = format!("{} (from {from})", e.message);
                    }
                    e.line = 0;
                }
                if e.field == "approved_by" && !t.not_counted.is_empty() {
                    let reasons: Vec<&str> =
                        t.not_counted.iter().map(|n| n.reason.as_str()).collect();
                    e.message = format!("{} (not counted: {})", e.message, reasons.join("; "));
                }
                if e.rule == RejectionRule::MissingApproval && t.approvals.is_empty() {
                    e.rule = discounted_rule(&t.not_counted).unwrap_or(e.rule);
                }
                if e.field == "approved_by" && t.approvals.is_empty() {
                    e.message = format!("{}; approval comes from {}", e.message, t.approval_source);
                }
                e
            })
            .collect()),
    }
}

#[cfg(test)]
mod tests;

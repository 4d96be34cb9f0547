//! Jira Cloud issues (REST API v3 `POST /rest/api/3/search/jql`, `expand=changelog`): the
//! payload shapes driftwatch reads, Atlassian Document Format flattened to text, and the
//! mapping to a `Ticket`. Approval is a transition into an approved status, or a user in an
//! approver field (dated by the change history), by a person (`accountType == "atlassian"`,
//! not an app) other than the reporter.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::approval::{Vote, approvals};
use super::{MappedField, Ticket};

/// A page of `POST /rest/api/3/search/jql`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    #[serde(default)]
    pub issues: Vec<Issue>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub is_last: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Issue {
    pub key: String,
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    #[serde(default)]
    pub changelog: Option<Changelog>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Changelog {
    #[serde(default)]
    pub histories: Vec<History>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct History {
    #[serde(default)]
    pub author: Option<JiraUser>,
    pub created: String,
    #[serde(default)]
    pub items: Vec<HistoryItem>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    pub field: String,
    #[serde(default)]
    pub field_id: Option<String>,
    /// The new value's display text (a status name for `status`).
    #[serde(default, rename = "toString")]
    pub to_text: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraUser {
    pub account_id: String,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `atlassian` (a person), `app` (a bot or integration), `customer`.
    #[serde(default)]
    pub account_type: Option<String>,
}

impl JiraUser {
    fn name(&self) -> String {
        self.email_address
            .clone()
            .or_else(|| self.display_name.clone())
            .unwrap_or_else(|| self.account_id.clone())
    }

    fn bot(&self) -> Option<String> {
        match self.account_type.as_deref() {
            Some("atlassian") => None,
            Some(other) => Some(format!("accountType {other}")),
            None => Some("no accountType".into()),
        }
    }
}

/// Which Jira fields hold what (`[records.jira.fields]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldMap {
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// A text field holding the scope as YAML (a list of scope entries).
    pub scope: Option<String>,
    /// A user (or multi-user) field naming the approver; else approvals are transitions.
    pub approver: Option<String>,
    /// Statuses whose entry by a person is an approval (transition mode).
    pub approved_statuses: Vec<String>,
}

impl FieldMap {
    /// Fields the search must return.
    pub fn wanted(&self) -> Vec<String> {
        let mut f: Vec<String> = ["summary", "description", "reporter", "status", "updated"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for x in [
            &self.window_start,
            &self.window_end,
            &self.scope,
            &self.approver,
        ]
        .into_iter()
        .flatten()
        {
            f.push(x.clone());
        }
        f
    }
}

/// Jira's datetime (`2026-11-21T09:00:00.000+0000`), RFC 3339, or a date (UTC midnight).
pub fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let b = s.as_bytes();
    if b.len() > 5
        && matches!(b[b.len() - 5], b'+' | b'-')
        && s[s.len() - 4..].bytes().all(|c| c.is_ascii_digit())
    {
        let fixed = format!("{}:{}", &s[..s.len() - 2], &s[s.len() - 2..]);
        if let Ok(t) = fixed.parse::<Timestamp>() {
            return Some(t);
        }
    }
    let d = s.parse::<jiff::civil::Date>().ok()?;
    d.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Atlassian Document Format as plain text: paragraphs and headings as lines, code blocks as
/// fenced blocks with their language (so a `driftwatch` code block is found like Markdown's).
pub fn adf_text(doc: &Value) -> String {
    let mut out = String::new();
    adf_block(doc, &mut out);
    out
}

fn adf_inline(v: &Value, out: &mut String) {
    match v.get("type").and_then(Value::as_str) {
        Some("text") => out.push_str(v.get("text").and_then(Value::as_str).unwrap_or("")),
        Some("hardBreak") => out.push('\n'),
        _ => {
            for c in v
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                adf_inline(c, out);
            }
        }
    }
}

fn adf_block(v: &Value, out: &mut String) {
    match v.get("type").and_then(Value::as_str) {
        Some("codeBlock") => {
            let lang = v
                .pointer("/attrs/language")
                .and_then(Value::as_str)
                .unwrap_or("");
            out.push_str(&format!("```{lang}\n"));
            let mut code = String::new();
            adf_inline(v, &mut code);
            out.push_str(code.trim_end_matches('\n'));
            out.push_str("\n```\n");
        }
        Some("paragraph" | "heading") => {
            adf_inline(v, out);
            out.push('\n');
        }
        Some("text" | "hardBreak") => adf_inline(v, out),
        _ => {
            for c in v
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                adf_block(c, out);
            }
        }
    }
}

/// A text-ish field's value: a string, or a rich-text (ADF) document.
fn field_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => Some(adf_text(v)),
        _ => None,
    }
}

/// The ticket for a Jira issue; `base_url` is the site (`https://acme.atlassian.net`).
pub fn ticket(source: &str, base_url: &str, issue: &Issue, map: &FieldMap) -> Ticket {
    let field = |id: &str| issue.fields.get(id).filter(|v| !v.is_null());
    let reporter: Option<JiraUser> =
        field("reporter").and_then(|v| serde_json::from_value(v.clone()).ok());
    let author_account = reporter
        .as_ref()
        .map(|r| r.account_id.clone())
        .unwrap_or_default();
    let mut field_errors = Vec::new();
    let mut fields = Vec::new();
    let histories = issue
        .changelog
        .as_ref()
        .map(|c| c.histories.as_slice())
        .unwrap_or(&[]);
    let votes: Vec<Vote> = match &map.approver {
        Some(id) => {
            let users: Vec<JiraUser> = match field(id) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|u| serde_json::from_value(u.clone()).ok())
                    .collect(),
                Some(v) => serde_json::from_value(v.clone())
                    .map(|u| vec![u])
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            // When was the approver set? The latest change of that field.
            let set_at = histories
                .iter()
                .filter(|h| {
                    h.items
                        .iter()
                        .any(|i| i.field_id.as_deref() == Some(id.as_str()))
                })
                .filter_map(|h| parse_time(&h.created))
                .max();
            match (users.is_empty(), set_at) {
                (true, _) => Vec::new(),
                (false, None) => {
                    field_errors.push((
                        "approved_by".to_string(),
                        format!("approver field {id} is set but its change history does not say when (approval time unknown)"),
                    ));
                    Vec::new()
                }
                (false, Some(at)) => users
                    .iter()
                    .map(|u| Vote {
                        name: u.name(),
                        account: u.account_id.clone(),
                        bot: u.bot(),
                        at,
                    })
                    .collect(),
            }
        }
        None => histories
            .iter()
            .filter(|h| {
                h.items.iter().any(|i| {
                    i.field == "status"
                        && i.to_text.as_deref().is_some_and(|s| {
                            map.approved_statuses
                                .iter()
                                .any(|a| a.eq_ignore_ascii_case(s))
                        })
                })
            })
            .filter_map(|h| {
                let a = h.author.as_ref()?;
                Some(Vote {
                    name: a.name(),
                    account: a.account_id.clone(),
                    bot: a.bot(),
                    at: parse_time(&h.created)?,
                })
            })
            .collect(),
    };
    let (approved, not_counted) = approvals(&author_account, &votes);
    let mut time_field = |id: &Option<String>, what: &str| -> Option<Timestamp> {
        let id = id.as_ref()?;
        let v = field(id)?;
        match v.as_str().and_then(parse_time) {
            Some(t) => Some(t),
            None => {
                field_errors.push((
                    what.to_string(),
                    format!("field {id}: `{v}` is not a date-time"),
                ));
                None
            }
        }
    };
    let start = time_field(&map.window_start, "window.start");
    let end = time_field(&map.window_end, "window.end");
    if let (Some(s), Some(e)) = (start, end) {
        fields.push(MappedField {
            key: "window".into(),
            yaml: format!("{{ start: {s}, end: {e} }}"),
            from: format!(
                "{} and {}",
                map.window_start.as_deref().unwrap_or(""),
                map.window_end.as_deref().unwrap_or("")
            ),
        });
    }
    if let Some(id) = &map.scope
        && let Some(v) = field(id)
    {
        match field_text(v) {
            Some(text) if !text.trim().is_empty() => fields.push(MappedField {
                key: "scope".into(),
                yaml: text.trim_end().to_string(),
                from: id.clone(),
            }),
            _ => field_errors.push(("scope".into(), format!("field {id} is not text"))),
        }
    }
    let approval_source = match &map.approver {
        Some(id) => format!("the approver field {id} (a person, not the reporter)"),
        None => format!(
            "a transition to {} by a person other than the reporter",
            map.approved_statuses.join(" or ")
        ),
    };
    Ticket {
        source: source.to_string(),
        key: issue.key.clone(),
        url: format!("{}/browse/{}", base_url.trim_end_matches('/'), issue.key),
        title: field("summary")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        author: reporter.as_ref().map(JiraUser::name).unwrap_or_default(),
        body: field("description")
            .and_then(field_text)
            .unwrap_or_default(),
        approvals: approved,
        not_counted,
        approval_source,
        fields,
        default_window: None,
        field_errors,
        plan: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::RejectionRule;
    use serde_json::json;

    #[test]
    fn times() {
        for (s, want) in [
            ("2026-11-21T09:00:00.000+0000", Some("2026-11-21T09:00:00Z")),
            ("2026-11-21T11:00:00.000+0200", Some("2026-11-21T09:00:00Z")),
            ("2026-11-21T09:00:00Z", Some("2026-11-21T09:00:00Z")),
            ("2026-11-21", Some("2026-11-21T00:00:00Z")),
            ("tomorrow", None),
        ] {
            assert_eq!(parse_time(s).map(|t| t.to_string()).as_deref(), want, "{s}");
        }
    }

    #[test]
    fn adf_code_block_becomes_a_fence() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Why: "}, {"type": "hardBreak"}, {"type": "text", "text": "NCCL"}]},
            {"type": "codeBlock", "attrs": {"language": "driftwatch"}, "content": [{"type": "text", "text": "type: normal\npurpose: p\n"}]}
        ]});
        assert_eq!(
            adf_text(&doc),
            "Why: \nNCCL\n```driftwatch\ntype: normal\npurpose: p\n```\n"
        );
    }

    fn user(id: &str, kind: &str) -> Value {
        json!({"accountId": id, "emailAddress": format!("{id}@example.com"), "accountType": kind})
    }

    fn approved(t: &Ticket) -> Vec<String> {
        t.approvals
            .iter()
            .map(|a| format!("{} at {}", a.name, a.at))
            .collect()
    }

    fn not_counted(t: &Ticket) -> Vec<String> {
        t.not_counted.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn approvals_from_transitions_or_a_field() {
        let issue: Issue = serde_json::from_value(json!({
            "key": "CHG-1",
            "fields": {"summary": "s", "reporter": user("alice", "atlassian"), "customfield_1": [user("bob", "atlassian"), user("automation", "app")]},
            "changelog": {"histories": [
                {"author": user("bob", "atlassian"), "created": "2026-11-20T10:00:00.000+0000", "items": [{"field": "status", "fieldId": "status", "toString": "Approved"}]},
                {"author": user("alice", "atlassian"), "created": "2026-11-20T10:05:00.000+0000", "items": [{"field": "status", "fieldId": "status", "toString": "Approved"}]},
                {"author": user("jsm", "app"), "created": "2026-11-20T10:06:00.000+0000", "items": [{"field": "status", "fieldId": "status", "toString": "Approved"}]},
                {"author": user("carol", "atlassian"), "created": "2026-11-20T10:07:00.000+0000", "items": [{"field": "status", "fieldId": "status", "toString": "Implementing"}]},
                {"author": user("alice", "atlassian"), "created": "2026-11-20T09:00:00.000+0000", "items": [{"field": "Approvers", "fieldId": "customfield_1"}]}
            ]}
        }))
        .expect("issue");
        let transitions = FieldMap {
            approved_statuses: vec!["Approved".into()],
            ..Default::default()
        };
        let t = ticket("jira", "https://acme.atlassian.net/", &issue, &transitions);
        assert_eq!(t.url, "https://acme.atlassian.net/browse/CHG-1");
        assert_eq!(
            approved(&t),
            vec!["bob@example.com at 2026-11-20T10:00:00Z"]
        );
        assert_eq!(
            not_counted(&t),
            vec![
                "alice@example.com is the ticket's author and cannot approve their own change",
                "jsm@example.com is a bot account (accountType app)"
            ]
        );
        let rules: Vec<RejectionRule> = t.not_counted.iter().map(|n| n.rule).collect();
        assert_eq!(
            rules,
            vec![RejectionRule::SelfApproval, RejectionRule::BotApprover]
        );
        let field = FieldMap {
            approver: Some("customfield_1".into()),
            ..Default::default()
        };
        let t = ticket("jira", "https://acme.atlassian.net", &issue, &field);
        assert_eq!(
            approved(&t),
            vec!["bob@example.com at 2026-11-20T09:00:00Z"]
        );
        assert_eq!(
            not_counted(&t),
            vec!["automation@example.com is a bot account (accountType app)"]
        );
        assert_eq!(t.not_counted[0].rule, RejectionRule::BotApprover);
    }
}

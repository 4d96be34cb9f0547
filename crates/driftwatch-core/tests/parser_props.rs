//! Property tests of the core's parsers of untrusted input: record files (parse and
//! validate), ticket record blocks, the GitHub, Jira and Linear payload mappers, and IAM policy
//! documents. Each property feeds arbitrary text and near-valid documents (valid examples
//! with values replaced by hostile ones, lines dropped, duplicated, re-indented or cut) and
//! asserts the parser returns rather than panics, and that every error names where it is: the
//! file or ticket, and a line inside the text or a field.
//!
//! 256 cases per property by default (`PROPTEST_CASES` for a longer run); failures are kept in
//! `proptest-regressions/`.

mod common;

use common::{Edit, apply, apply_json, config, edit, hostile_value, json_edit};
use driftwatch_core::model::ChangeRecord;
use driftwatch_core::model::iam;
use driftwatch_core::model::record::{Approval, Window};
use driftwatch_core::records::render::render;
use driftwatch_core::records::ticket::approval::NotCounted;
use driftwatch_core::records::ticket::{self, MappedField, Ticket, block, github, jira, linear};
use driftwatch_core::records::{RecordError, RejectionRule, ValidationSettings, parse_file};
use proptest::prelude::*;
use serde_json::{Value, json};

const RECORD: &str = "\
id: CHG-2041
title: Open SSH from the office VPN for GPU node maintenance
type: normal
purpose: Debug NCCL timeouts on the training cluster
impact: Only 10.8.0.0/16 gets port 22; IAM unchanged
resources: 2 engineers, 4h
requested_by: alice@example.com
approved_by:
  - name: bob@example.com
    at: 2026-11-20T10:00:00Z
window: { start: 2026-11-21T09:00:00Z, end: 2026-11-21T18:00:00Z }
revert_by: 2026-11-21T18:00:00Z
scope:
  - provider: aws
    account: \"123456789012\"
    region: eu-west-1
    kind: aws.ec2.security_group_rule
    target: sg-0abc*
    actions: [create, delete]
    match: { port: 22, peer: 10.8.0.0/16, protocol: tcp, direction: ingress }
  - provider: kubernetes
    cluster: prod-eu
    kind: rbac.authorization.k8s.io/v1/ClusterRoleBinding
    target: ops-*
evidence: [https://ci.example.com/runs/88231]
retrospective_for: [d-0123abcd, BG-20261129-0930]
";

const LIST: &str = "\
- id: STD-7
  title: Rotate inference API ingress descriptions
  type: standard
  requested_by: platform@example.com
  approved_by:
    - { name: carol@example.com, at: 2026-01-05T09:00:00Z }
  scope:
    - provider: aws
      kind: aws.ec2.security_group_rule
      target: inference-*
      actions: [modify]
- id: BG-20261122-0100
  title: Emergency close of an exposed Jupyter port
  type: emergency
  purpose: Jupyter was reachable from the internet
  impact: Notebook users must use the VPN
  resources: 1 engineer, 10 minutes
  requested_by: dave@example.com
  window: { start: 2026-11-22T01:00:00Z, end: 2026-11-22T03:00:00Z }
  closed_at: 2026-11-22T02:00:00Z
  scope:
    - provider: aws
      account: 123456789012
      target: jupyter-*
";

/// With anchors and aliases, as an author may reuse a scope entry.
const ANCHORED: &str = "\
- id: STD-8
  title: t
  type: standard
  requested_by: a@example.com
  approved_by: [{ name: b@example.com, at: 2026-01-05T09:00:00Z }]
  scope: [&entry { provider: aws, kind: aws.iam.role, target: ml-* }]
- id: STD-9
  title: t
  type: standard
  requested_by: a@example.com
  approved_by: [{ name: b@example.com, at: 2026-01-05T09:00:00Z }]
  scope: [*entry]
";

/// The fenced block of a ticket (the system supplies id, title, requester and approvals).
const TICKET_BODY: &str = "\
Open SSH for the GPU nodes.

```driftwatch
type: normal
purpose: debug NCCL
impact: 10.8.0.0/16 gets 22
resources: 2 engineers
window: { start: 2026-11-21T09:00:00Z, end: 2026-11-21T18:00:00Z }
scope:
  - { provider: aws, kind: aws.ec2.security_group_rule, target: training-*, match: { port: 22 } }
retrospective_for: [d-0123abcd]
```
Thanks! drift:d-89abcdef
";

fn lines_of(text: &str) -> usize {
    text.lines().count().max(1)
}

/// Every error names the file, and a line inside the text (or, for a problem of the whole
/// document, a field); none is empty.
fn check_errors(file: &str, text: &str, errors: &[RecordError]) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty(), "an Err with no error");
    for e in errors {
        prop_assert_eq!(&e.file, file);
        prop_assert!(!e.message.trim().is_empty(), "empty message: {:?}", e);
        prop_assert!(
            e.line > 0 || !e.field.is_empty(),
            "error without line or field: {:?}",
            e
        );
        prop_assert!(
            e.line as usize <= lines_of(text) + 1,
            "line {} past the end ({} lines): {:?}",
            e.line,
            lines_of(text),
            e
        );
        prop_assert!(e.to_string().starts_with(file));
    }
    Ok(())
}

/// A valid file's records come from it, and render back to the same records (what
/// `break-glass` writes is what is read).
fn check_records(file: &str, text: &str, records: &[ChangeRecord]) -> Result<(), TestCaseError> {
    let settings = ValidationSettings::default();
    for r in records {
        prop_assert_eq!(&r.origin.file, file);
        prop_assert!(r.origin.line >= 1 && r.origin.line as usize <= lines_of(text));
        let again = parse_file("again.yaml", &render(r), &settings);
        prop_assert!(
            again.is_ok(),
            "render of {:?} does not parse: {:?}\n{}",
            r,
            again,
            render(r)
        );
        let mut back = again.unwrap_or_default().remove(0);
        back.origin = r.origin.clone();
        prop_assert_eq!(&back, r);
    }
    Ok(())
}

fn check_file(file: &str, text: &str) -> Result<(), TestCaseError> {
    match parse_file(file, text, &ValidationSettings::default()) {
        Ok(records) => check_records(file, text, &records),
        Err(errors) => check_errors(file, text, &errors),
    }
}

#[test]
fn the_examples_the_mutations_start_from_are_valid() {
    for text in [RECORD, LIST, ANCHORED] {
        let records = parse_file("x.yaml", text, &ValidationSettings::default())
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(!records.is_empty());
    }
    let t = github_ticket(TICKET_BODY);
    ticket::to_record(&t, &ValidationSettings::default()).expect("the ticket example is valid");
}

proptest! {
    #![proptest_config(config("proptest-regressions/parser_props-records.txt", 1))]

    #[test]
    fn record_files_of_any_text(text in any::<String>()) {
        check_file("any.yaml", &text)?;
    }

    #[test]
    fn record_files_of_yaml_punctuation(text in "[a-z0-9 :\\-\\[\\]{}&*!|>'\"#,.?%@`~\n\t]{0,300}") {
        check_file("punct.yaml", &text)?;
    }

    #[test]
    fn mutated_records(base in prop::sample::select(vec![RECORD, LIST, ANCHORED]),
                       edits in prop::collection::vec(edit(), 1..5)) {
        let text = apply(base, &edits);
        check_file("mutated.yaml", &text)?;
    }

    #[test]
    fn one_field_of_a_record_replaced(line in any::<usize>(), value in hostile_value()) {
        let text = apply(RECORD, &[Edit::Value(line, value)]);
        check_file("one.yaml", &text)?;
    }
}

fn github_ticket(body: &str) -> Ticket {
    Ticket {
        source: "github".into(),
        key: "acme/infra#42".into(),
        url: "https://github.com/acme/infra/pull/42".into(),
        title: "Open SSH for GPU maintenance".into(),
        author: "alice".into(),
        body: body.into(),
        approvals: vec![Approval {
            name: "bob".into(),
            at: "2026-11-20T10:00:00Z".parse().expect("ts"),
        }],
        not_counted: Vec::new(),
        approval_source: "an APPROVED pull request review by a person".into(),
        fields: Vec::new(),
        default_window: None,
        field_errors: Vec::new(),
        plan: None,
    }
}

/// A ticket's errors name the ticket; a line, when given, is inside the ticket's text.
fn check_ticket(t: &Ticket) -> Result<(), TestCaseError> {
    let label = t.label();
    match ticket::to_record(t, &ValidationSettings::default()) {
        Ok(r) => {
            prop_assert_eq!(&r.origin.file, &label);
            prop_assert!(r.origin.line >= 1 && r.origin.line as usize <= lines_of(&t.body));
            // What the system proves is the record's, whatever the block says.
            prop_assert_eq!(r.id.as_str(), t.key.trim());
            prop_assert_eq!(r.title.as_str(), t.title.trim());
            prop_assert_eq!(r.requested_by.as_str(), t.author.trim());
            let approvals: Vec<Approval> = t
                .approvals
                .iter()
                .map(|a| Approval {
                    name: a.name.trim().to_string(),
                    at: a.at,
                })
                .collect();
            prop_assert_eq!(&r.approved_by, &approvals);
        }
        Err(errors) => {
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert_eq!(&e.file, &label);
                prop_assert!(!e.message.trim().is_empty());
                prop_assert!(
                    e.line as usize <= lines_of(&t.body),
                    "line {} past the ticket's text ({} lines): {:?}",
                    e.line,
                    lines_of(&t.body),
                    e
                );
                // A problem of the ticket as a whole (no block) needs neither.
                prop_assert!(
                    e.line > 0 || !e.field.is_empty() || e.rule == RejectionRule::TicketBlock,
                    "an error without line or field: {:?}",
                    e
                );
            }
        }
    }
    Ok(())
}

/// Markdown made of lines that matter to the block finder.
fn markdown() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        prop::sample::select(vec![
            "---",
            "...",
            "--- ",
            "```driftwatch",
            "``` driftwatch extra",
            "~~~driftwatch",
            "````driftwatch",
            "```",
            "````",
            "~~~",
            "    ```driftwatch",
            "```yaml",
            "prose",
            "",
            "\r",
            "type: normal",
            "scope: []",
            "a: [",
            "é: ü",
            "? approved_by",
            ": [{ name: mallory, at: 2026-11-20T10:00:00Z }]",
            "\"approved\\u005fby\": []",
            "<<: { approved_by: [] }",
            "evidence: [&k approved_by]",
            "*k : []",
            "'id': x",
            "{ title: x }",
        ])
        .prop_map(String::from),
        hostile_value(),
    ];
    prop::collection::vec(line, 0..20).prop_map(|l| l.join("\n"))
}

/// A found block's first line is where its YAML starts in the text.
fn check_block(text: &str) -> Result<(), TestCaseError> {
    if let Ok(Some(b)) = block::find(text) {
        let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
        prop_assert!(b.first_line >= 2 || text.starts_with("---"));
        prop_assert!(b.first_line >= 1 && b.first_line <= lines.len() + 1);
        if !b.yaml.is_empty() {
            let n = b.yaml.split('\n').count();
            let from = b.first_line - 1;
            prop_assert!(from + n <= lines.len());
            prop_assert_eq!(lines[from..from + n].join("\n"), b.yaml.clone());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config("proptest-regressions/parser_props-tickets.txt", 1))]

    #[test]
    fn blocks_in_any_text(text in any::<String>()) {
        check_block(&text)?;
        check_ticket(&github_ticket(&text))?;
    }

    #[test]
    fn blocks_in_markdown(text in markdown()) {
        check_block(&text)?;
        check_ticket(&github_ticket(&text))?;
    }

    #[test]
    fn mutated_ticket_blocks(edits in prop::collection::vec(edit(), 1..5)) {
        let body = apply(TICKET_BODY, &edits);
        check_block(&body)?;
        check_ticket(&github_ticket(&body))?;
    }

    #[test]
    fn tickets_with_hostile_system_fields(
        key in hostile_value(), title in hostile_value(), author in hostile_value(),
        approver in hostile_value(), mapped_key in "scope|window|purpose|[a-z]{1,6}",
        mapped in hostile_value(), window in any::<Option<(i64, i64)>>(),
    ) {
        let mut t = github_ticket(TICKET_BODY);
        t.key = key;
        t.title = title;
        t.author = author;
        t.approvals[0].name = approver;
        t.fields = vec![MappedField { key: mapped_key, yaml: mapped, from: "customfield_1".into() }];
        t.default_window = window.and_then(|(a, b)| {
            let start = jiff::Timestamp::from_second(a.rem_euclid(250_000_000_000)).ok()?;
            let end = jiff::Timestamp::from_second(b.rem_euclid(250_000_000_000)).ok()?;
            Some(Window { start, end })
        });
        t.not_counted = vec![NotCounted { rule: RejectionRule::BotApprover, reason: "x".into() }];
        check_ticket(&t)?;
    }
}

fn github_issue() -> Value {
    json!({
        "number": 42,
        "title": "Open SSH",
        "body": TICKET_BODY,
        "user": {"login": "alice", "type": "User"},
        "html_url": "https://github.com/acme/infra/pull/42",
        "state": "closed",
        "updated_at": "2026-11-21T09:00:00Z",
        "pull_request": {"merged_at": "2026-11-21T10:00:00Z"}
    })
}

fn github_reviews() -> Value {
    json!([
        {"user": {"login": "bob", "type": "User"}, "state": "APPROVED", "submitted_at": "2026-11-20T10:00:00Z"},
        {"user": {"login": "renovate[bot]", "type": "Bot"}, "state": "APPROVED", "submitted_at": "2026-11-20T10:00:00Z"},
        {"user": null, "state": "CHANGES_REQUESTED"}
    ])
}

fn jira_page() -> Value {
    let user = |id: &str, kind: &str| json!({"accountId": id, "emailAddress": format!("{id}@example.com"), "accountType": kind});
    json!({
        "issues": [{
            "key": "CHG-7",
            "fields": {
                "summary": "Open SSH",
                "reporter": user("alice", "atlassian"),
                "description": {"type": "doc", "version": 1, "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "Why"}, {"type": "hardBreak"}]},
                    {"type": "codeBlock", "attrs": {"language": "driftwatch"}, "content": [{"type": "text", "text": "type: normal\npurpose: p\nimpact: i\nresources: r\n"}]}
                ]},
                "customfield_1": "2026-11-21T09:00:00.000+0000",
                "customfield_2": "2026-11-21T18:00:00.000+0200",
                "customfield_3": "- { provider: aws, kind: aws.iam.role, target: ml-* }",
                "customfield_4": [user("bob", "atlassian"), user("bot", "app")]
            },
            "changelog": {"histories": [
                {"author": user("bob", "atlassian"), "created": "2026-11-20T10:00:00.000+0000", "items": [{"field": "status", "fieldId": "status", "toString": "Approved"}]},
                {"author": user("alice", "atlassian"), "created": "2026-11-20T09:00:00.000+0000", "items": [{"field": "Approvers", "fieldId": "customfield_4"}]}
            ]}
        }],
        "nextPageToken": "abc",
        "isLast": false
    })
}

fn linear_response() -> Value {
    json!({"data": {"issues": {
        "nodes": [{
            "identifier": "SEC-12",
            "title": "Open SSH",
            "description": TICKET_BODY,
            "url": "https://linear.app/acme/issue/SEC-12",
            "creator": {"id": "u1", "name": "Alice", "email": "alice@example.com"},
            "history": {"nodes": [
                {"createdAt": "2026-11-20T10:00:00Z", "actor": {"id": "u2", "name": "Bob"}, "toState": {"name": "Approved"}},
                {"createdAt": "2026-11-20T10:00:00Z", "botActor": {"name": "zap"}, "toState": {"name": "Approved"}}
            ]}
        }],
        "pageInfo": {"hasNextPage": false, "endCursor": null}
    }}})
}

/// The JSON as the loaders see it: text from the API (serde_json's recursion limit applies).
fn roundtrip(v: &Value) -> String {
    v.to_string()
}

fn jira_maps() -> impl Strategy<Value = jira::FieldMap> {
    let id = prop::option::of(
        prop::sample::select(vec![
            "customfield_1",
            "customfield_2",
            "customfield_3",
            "customfield_4",
            "summary",
            "description",
            "reporter",
            "missing",
        ])
        .prop_map(String::from),
    );
    (
        id.clone(),
        id.clone(),
        id.clone(),
        id,
        prop::collection::vec("Approved|approved|[A-Za-z ]{0,8}", 0..3),
    )
        .prop_map(
            |(window_start, window_end, scope, approver, approved_statuses)| jira::FieldMap {
                window_start,
                window_end,
                scope,
                approver,
                approved_statuses,
            },
        )
}

proptest! {
    #![proptest_config(config("proptest-regressions/parser_props-payloads.txt", 2))]

    #[test]
    fn github_payloads(issue_edits in prop::collection::vec(json_edit(), 0..4),
                       review_edits in prop::collection::vec(json_edit(), 0..3),
                       merge_window in any::<i64>()) {
        let mut issue = github_issue();
        for e in &issue_edits { apply_json(&mut issue, e); }
        let mut reviews = github_reviews();
        for e in &review_edits { apply_json(&mut reviews, e); }
        let issue: Result<github::Issue, _> = serde_json::from_str(&roundtrip(&issue));
        let reviews: Vec<github::Review> = serde_json::from_str(&roundtrip(&reviews)).unwrap_or_default();
        if let Ok(issue) = issue {
            let window = jiff::SignedDuration::from_secs(merge_window);
            let t = github::ticket("github", "acme/infra", &issue, &reviews, window);
            check_ticket(&t)?;
        }
    }

    #[test]
    fn github_link_headers(h in any::<String>(), parts in prop::collection::vec("<[^>]{0,20}>|; ?rel=\"(next|last)\"|,|;| ", 0..10)) {
        let _ = github::next_link(&h);
        let joined = parts.concat();
        if let Some(next) = github::next_link(&joined) {
            prop_assert!(joined.contains(&next));
        }
    }

    #[test]
    fn jira_payloads(edits in prop::collection::vec(json_edit(), 0..4), map in jira_maps()) {
        let mut page = jira_page();
        for e in &edits { apply_json(&mut page, e); }
        if let Ok(page) = serde_json::from_str::<jira::SearchPage>(&roundtrip(&page)) {
            for issue in &page.issues {
                let t = jira::ticket("jira", "https://acme.atlassian.net/", issue, &map);
                check_ticket(&t)?;
                for (field, message) in &t.field_errors {
                    prop_assert!(!field.is_empty() && !message.is_empty());
                }
            }
        }
    }

    #[test]
    fn jira_documents_and_times(doc in common::json_value(), s in any::<String>(),
                                t in "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?([+-][0-9]{4}|Z|[+-][0-9]{2}:[0-9]{2})?)?[^\n]{0,3}") {
        let text = jira::adf_text(&doc);
        // Flattened text is found like Markdown.
        check_block(&text)?;
        let _ = jira::parse_time(&s);
        let _ = jira::parse_time(&t);
    }

    #[test]
    fn linear_payloads(edits in prop::collection::vec(json_edit(), 0..4),
                       states in prop::collection::vec("Approved|[A-Za-z]{0,6}", 0..3)) {
        let mut response = linear_response();
        for e in &edits { apply_json(&mut response, e); }
        if let Ok(r) = serde_json::from_str::<linear::Response>(&roundtrip(&response))
            && let Some(data) = r.data
        {
            for issue in &data.issues.nodes {
                check_ticket(&linear::ticket("linear", issue, &states))?;
            }
        }
    }
}

fn policy() -> impl Strategy<Value = Value> {
    let names = prop::collection::vec(
        prop::sample::select(vec![
            "s3:GetObject",
            "s3:*",
            "*",
            "iam:PassRole",
            "ec2:Describe*",
            "sts:AssumeRole",
        ]),
        1..4,
    );
    let statement = (
        any::<bool>(),
        names.clone(),
        names,
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![
            "*",
            "arn:aws:iam::111111111111:root",
            "222222222222",
        ])),
    )
        .prop_map(|(allow, actions, resources, not_action, principal)| {
            let mut s = json!({
                "Effect": if allow { "Allow" } else { "Deny" },
                "Resource": resources,
            });
            s[if not_action { "NotAction" } else { "Action" }] = json!(actions);
            if let Some(p) = principal {
                s["Principal"] = json!({"AWS": [p]});
            }
            s
        });
    prop::collection::vec(statement, 1..5).prop_map(|statements| {
        let with_sids: Vec<Value> = statements
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                if i % 2 == 0 {
                    s["Sid"] = json!(format!("S{i}"));
                }
                s
            })
            .collect();
        json!({"Version": "2012-10-17", "Statement": with_sids})
    })
}

/// `doc` with its statements and every list in reverse order, and one-element lists as
/// plain strings: an equal document as IAM may return it.
fn shuffled(doc: &Value) -> Value {
    let mut d = doc.clone();
    if let Some(Value::Array(statements)) = d.get_mut("Statement") {
        statements.reverse();
        for s in statements.iter_mut() {
            if let Value::Object(m) = s {
                for v in m.values_mut() {
                    if let Value::Array(a) = v {
                        a.reverse();
                        if a.len() == 1 {
                            *v = a[0].clone();
                        }
                    }
                }
            }
        }
    }
    d
}

proptest! {
    #![proptest_config(config("proptest-regressions/parser_props-iam.txt", 1))]

    #[test]
    fn iam_documents_of_any_text(text in any::<String>()) {
        if let Err(e) = iam::decode(&text) {
            prop_assert!(e.contains(" at line ") || e.contains("UTF-8"), "{}", e);
        }
        if let Ok(doc) = iam::canonical_text(&text) {
            let _ = iam::statements(&doc);
        }
    }

    #[test]
    fn iam_documents_of_any_json(doc in common::json_value(), encode in any::<bool>()) {
        let text = doc.to_string();
        let text = if encode {
            percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC).to_string()
        } else {
            text
        };
        // A document is an object; an encoded one decodes to exactly its JSON.
        let decoded = iam::decode(&text);
        if encode || text.starts_with('{') {
            prop_assert!(decoded.is_ok(), "{:?}", decoded);
        }
        let canonical = iam::canonical_text(&text).unwrap_or_default();
        let _ = iam::statements(&canonical);
        let _ = iam::statements(&doc);
    }

    #[test]
    fn iam_mutated_policies(doc in policy(), edits in prop::collection::vec(json_edit(), 0..3)) {
        let mut doc = doc;
        for e in &edits { apply_json(&mut doc, e); }
        let c = iam::canonical(&doc);
        let _ = iam::statements(&c);
    }

    #[test]
    fn iam_equal_documents_are_one_canonical_form(doc in policy(), encode in any::<bool>()) {
        let plain = iam::canonical_text(&doc.to_string());
        let text = shuffled(&doc).to_string();
        let other = if encode {
            percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC).to_string()
        } else {
            text
        };
        let other = iam::canonical_text(&other);
        prop_assert!(plain.is_ok() && other.is_ok());
        prop_assert_eq!(plain.unwrap_or_default(), other.unwrap_or_default());
    }
}

/// Named regressions and limits. These tests time the parse the limits bound; the crate's
/// own code never reads the clock (`clippy.toml`).
#[allow(clippy::disallowed_methods)]
mod limits {
    use super::*;
    use std::time::Instant;

    fn bomb(levels: usize) -> String {
        let mut s = String::from(
            "a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
        );
        for i in 1..levels {
            let refs: Vec<String> = (0..9).map(|_| format!("*a{}", i - 1)).collect();
            s.push_str(&format!("a{i}: &a{i} [{}]\n", refs.join(", ")));
        }
        s
    }

    fn limit_error(file: &str, text: &str) -> RecordError {
        let t = Instant::now();
        let errors = parse_file(file, text, &ValidationSettings::default()).expect_err("refused");
        assert!(t.elapsed().as_secs() < 2, "took {:?}", t.elapsed());
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = errors[0].clone();
        assert_eq!(e.rule, RejectionRule::LimitExceeded, "{e}");
        assert_eq!(e.file, file);
        e
    }

    #[test]
    fn a_billion_laughs_is_refused_at_its_line() {
        let e = limit_error("bomb.yaml", &bomb(10));
        assert!(e.line >= 2 && e.line <= 10, "{e}");
        assert!(
            e.message
                .contains("expands aliases to more than 20000 nodes"),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_at_its_line() {
        let mut block = String::new();
        for i in 0..200 {
            block.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
        }
        let e = limit_error("deep.yaml", &block);
        assert_eq!(e.line, 33, "{e}");
        assert!(e.message.contains("nests deeper than 32 levels"), "{e}");
        let flow = format!("id: [{}{}]\n", "[".repeat(5000), "]".repeat(5000));
        let e = limit_error("flow.yaml", &flow);
        assert_eq!(e.line, 1);
        assert!(e.message.contains("nests deeper than 32 levels"), "{e}");
        // A real record's depth is far below the limit.
        let list_in_list = RECORD.replace(
            "actions: [create, delete]",
            "actions: [create, delete]\n    # six levels: list, record, scope, entry, match, value",
        );
        assert!(parse_file("ok.yaml", &list_in_list, &ValidationSettings::default()).is_ok());
    }

    #[test]
    fn a_long_string_replayed_by_aliases_is_refused() {
        let mut s = format!("id: &s \"{}\"\nevidence: [", "x".repeat(512 * 1024));
        s.push_str(&"*s, ".repeat(200));
        s.push_str("]\n");
        let e = limit_error("text.yaml", &s);
        assert!(e.message.contains("MiB of text"), "{e}");
    }

    #[test]
    fn a_bomb_in_a_ticket_block_is_refused_with_the_ticket_and_line() {
        let body = format!("Why.\n\n```driftwatch\n{}```\n", bomb(10));
        let t = Instant::now();
        let errors = ticket::to_record(&github_ticket(&body), &ValidationSettings::default())
            .expect_err("refused");
        assert!(t.elapsed().as_secs() < 2, "took {:?}", t.elapsed());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].rule, RejectionRule::LimitExceeded);
        assert_eq!(errors[0].file, "github acme/infra#42");
        assert!(
            (5..=14).contains(&errors[0].line),
            "a line of the block: {}",
            errors[0]
        );
        assert!(errors[0].to_string().starts_with("github acme/infra#42:"));
    }

    #[test]
    fn deep_adf_and_policy_documents_from_the_api_parse_or_fail_cleanly() {
        // Nearly as deep as serde_json reads (128 levels): flattening and canonicalizing recurse.
        let adf = format!(
            "{}{{\"type\":\"text\",\"text\":\"x\"}}{}",
            "{\"type\":\"p\",\"content\":[".repeat(62),
            "]}".repeat(62)
        );
        let doc: Value = serde_json::from_str(&adf).expect("parses at depth 127");
        assert_eq!(jira::adf_text(&doc), "x");
        let policy = format!(
            "{{\"Statement\":[{{\"Condition\":{}1{}}}]}}",
            "{\"a\":".repeat(120),
            "}".repeat(120)
        );
        iam::canonical_text(&policy).expect("deep condition");
        let too_deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let e = iam::decode(&too_deep).expect_err("too deep");
        assert!(e.contains("recursion limit exceeded at line 1"), "{e}");
    }
}

proptest! {
    #![proptest_config(config("proptest-regressions/parser_props-plan.txt", 1))]

    /// Any JSON as a plan: parsed or refused with an error naming what, never a panic; a
    /// version-1 wrapper around arbitrary resource changes is refused only for its entries.
    #[test]
    fn terraform_plans_of_any_json(doc in common::json_value(), changes in common::json_value()) {
        let _ = driftwatch_core::records::plan::parse(&doc.to_string());
        let wrapped = serde_json::json!({"format_version": "1.2", "resource_changes": changes});
        if let Err(e) = driftwatch_core::records::plan::parse(&wrapped.to_string()) {
            let text = e.to_string();
            prop_assert!(text.starts_with("resource_changes"), "{}", text);
        }
    }
}

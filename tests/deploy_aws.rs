//! The AWS deployment files, checked offline against the code: the read-only policy allows
//! every call the sources make, the EventBridge rule selects exactly the calls the event
//! parser re-reads (and the events the tests send match it), the CloudFormation templates
//! embed those patterns, and the queue's policies allow what EventBridge and the reader do.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::cloudtrail::{assumed, authorize_event, iam_event};
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(rel: &str) -> Value {
    let p = root().join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn strings(v: &Value) -> BTreeSet<String> {
    match v {
        Value::String(s) => BTreeSet::from([s.clone()]),
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// Every action a policy document allows.
fn allowed(policy: &Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| strings(&s["Action"]))
        .collect()
}

/// The AWS operations a source file calls, by the names it gives the token bucket
/// (`acquire("Op")`, `paged!(self, "Op", ...)`).
fn operations(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).expect("source");
    let mut out = BTreeSet::new();
    // The first string literal after each marker (rustfmt may break the line).
    for marker in ["acquire(", "paged!("] {
        for (i, _) in text.match_indices(marker) {
            let rest = &text[i + marker.len()..];
            let Some(start) = rest.find('"') else {
                continue;
            };
            // Only a literal argument (`acquire("Op")`, `paged!(self, "Op"`), not a variable.
            if !rest[..start].chars().all(|c| c.is_whitespace() || c == ',')
                && rest[..start].trim().trim_end_matches(',').trim() != "self"
            {
                continue;
            }
            let rest = &rest[start + 1..];
            if let Some(end) = rest.find('"') {
                out.insert(rest[..end].to_string());
            }
        }
    }
    out
}

#[test]
fn the_read_only_policy_allows_every_call_the_sources_make() {
    let actions = allowed(&read_json("deploy/aws/driftwatch-readonly-policy.json"));
    let aws = root().join("src/sources/aws");
    let mut checked = 0;
    for (file, service) in [
        (aws.join("ec2.rs"), "ec2"),
        (aws.join("iam.rs"), "iam"),
        (aws.join("iam/entity.rs"), "iam"),
        (aws.join("lookup.rs"), "cloudtrail"),
    ] {
        let ops = operations(&file);
        assert!(!ops.is_empty(), "no operations found in {}", file.display());
        for op in ops {
            assert!(
                actions.contains(&format!("{service}:{op}")),
                "{} calls {op}, which driftwatch-readonly-policy.json does not allow",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} operations found");
    for a in &actions {
        let verb = a.split(':').nth(1).unwrap_or("");
        assert!(
            ["Get", "List", "Describe", "Lookup"]
                .iter()
                .any(|p| verb.starts_with(p)),
            "{a} is not a read"
        );
    }
}

/// EventBridge's matching for the fields the rule uses: each named field's value is one of
/// the listed strings.
fn matches(pattern: &Value, event: &Value) -> bool {
    let field = |path: &[&str]| {
        let mut p = pattern;
        let mut e = event;
        for k in path {
            p = &p[*k];
            e = &e[*k];
        }
        p.is_null() || strings(p).contains(e.as_str().unwrap_or("\u{0}"))
    };
    field(&["source"])
        && field(&["detail-type"])
        && field(&["detail", "eventSource"])
        && field(&["detail", "eventName"])
}

#[test]
fn the_event_rule_selects_exactly_the_calls_driftwatch_re_reads() {
    let pattern = read_json("deploy/aws/events/event-pattern.json");
    let names = strings(&pattern["detail"]["eventName"]);
    let parsed: BTreeSet<String> = driftwatch::cloudtrail::EVENT_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names, parsed,
        "event-pattern.json and cloudtrail::EVENT_NAMES differ"
    );
    let ec2 = read_json("deploy/aws/events/event-pattern-ec2.json");
    let ec2_names = strings(&ec2["detail"]["eventName"]);
    assert!(ec2_names.iter().all(|n| n.contains("SecurityGroup")));
    assert_eq!(
        ec2_names,
        parsed
            .iter()
            .filter(|n| n.contains("SecurityGroup"))
            .cloned()
            .collect(),
    );
    // The events the tests put on the queue are ones the rule would deliver; others not.
    let who = assumed("Admin", "alice");
    let t = "2026-12-03T10:00:00Z";
    for body in [
        authorize_event("a", "sg-1", 22, "0.0.0.0/0", who.clone(), t),
        iam_event(
            "b",
            "CreateAccessKey",
            json!({"userName": "u"}),
            Value::Null,
            who.clone(),
            t,
        ),
    ] {
        let e: Value = serde_json::from_str(&body).expect("event");
        assert!(matches(&pattern, &e), "{body}");
    }
    let other = iam_event("c", "ListUsers", json!({}), Value::Null, who, t);
    assert!(!matches(
        &pattern,
        &serde_json::from_str(&other).expect("event")
    ));
    // The templates embed the same patterns.
    let central = read_json("deploy/aws/events/driftwatch-events.cfn.json");
    assert_eq!(
        central["Resources"]["Rule"]["Properties"]["EventPattern"],
        pattern
    );
    let forwarder = read_json("deploy/aws/events/driftwatch-events-forwarder.cfn.json");
    assert_eq!(
        forwarder["Resources"]["Rule"]["Properties"]["EventPattern"],
        ec2
    );
}

#[test]
fn the_queue_lets_eventbridge_send_and_driftwatch_receive_and_delete_only() {
    let central = read_json("deploy/aws/events/driftwatch-events.cfn.json");
    let r = &central["Resources"];
    assert_eq!(
        r["Queue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["DeadLetters", "Arn"]}),
        "messages driftwatch cannot read end in the dead-letter queue"
    );
    let statements = r["QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements");
    let send = statements
        .iter()
        .find(|s| s["Principal"]["Service"] == "events.amazonaws.com")
        .expect("EventBridge statement");
    assert_eq!(send["Action"], "sqs:SendMessage");
    assert_eq!(
        send["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({"Fn::GetAtt": ["Rule", "Arn"]}),
        "only driftwatch's rule may send"
    );
    let standalone = read_json("deploy/aws/events/queue-policy.json");
    assert_eq!(standalone["Statement"][0]["Action"], "sqs:SendMessage");
    assert!(standalone["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"].is_string());
    // The reader's permissions are exactly the calls the queue reader makes.
    let reader = allowed(&read_json(
        "deploy/aws/events/driftwatch-events-reader-policy.json",
    ));
    assert_eq!(
        reader,
        BTreeSet::from([
            "sqs:DeleteMessage".to_string(),
            "sqs:ReceiveMessage".to_string()
        ])
    );
    let code = std::fs::read_to_string(root().join("src/sources/aws/events.rs")).expect("source");
    let calls: BTreeSet<&str> = [
        "receive_message()",
        "delete_message_batch()",
        "delete_message()",
        "send_message()",
        "change_message_visibility()",
        "purge_queue()",
    ]
    .into_iter()
    .filter(|c| code.contains(&format!(".{c}")))
    .collect();
    assert_eq!(
        calls,
        BTreeSet::from(["delete_message_batch()", "receive_message()"]),
        "DeleteMessageBatch needs sqs:DeleteMessage"
    );
}

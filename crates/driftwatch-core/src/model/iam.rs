//! IAM policy documents: decoding, canonical form, and a typed view for the rules.
//!
//! Canonical form: `{"Version": …, "Statement": {<key>: <statement>}}` where each statement's
//! `Action`, `NotAction`, `Resource`, `NotResource` and principal lists are sorted arrays,
//! condition values are sorted arrays, and the statements are keyed by their `Sid` (or by a
//! short hash of their content when they have none). Statement order, a single string versus a
//! one-element list, and whitespace therefore never make a change, and the field diff names the
//! statement that changed (`attributes.document.Statement.AllowS3.Action`).

use serde_json::{Map, Value};

use super::resource::{canonical_json, sha256_hex};

/// Decode a policy document as IAM returns it: URL-encoded JSON, or plain JSON.
pub fn decode(text: &str) -> Result<Value, String> {
    let t = text.trim_start();
    let json = if t.starts_with('{') {
        t.to_string()
    } else {
        percent_encoding::percent_decode_str(t)
            .decode_utf8()
            .map_err(|e| format!("policy document is not UTF-8 after URL-decoding: {e}"))?
            .to_string()
    };
    serde_json::from_str(&json).map_err(|e| format!("policy document is not JSON: {e}"))
}

fn sorted_list(v: &Value) -> Value {
    let mut items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    items.sort_by_key(canonical_json);
    items.dedup();
    Value::Array(items)
}

fn canonical_principal(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), sorted_list(v))).collect())
        }
        other => other.clone(),
    }
}

fn canonical_condition(v: &Value) -> Value {
    match v {
        Value::Object(ops) => Value::Object(
            ops.iter()
                .map(|(op, keys)| {
                    let keys = match keys {
                        Value::Object(k) => Value::Object(
                            k.iter().map(|(k, v)| (k.clone(), sorted_list(v))).collect(),
                        ),
                        other => other.clone(),
                    };
                    (op.clone(), keys)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn canonical_statement(s: &Value) -> Value {
    let Value::Object(m) = s else {
        return s.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        let v = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => sorted_list(v),
            "Principal" | "NotPrincipal" => canonical_principal(v),
            "Condition" => canonical_condition(v),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// The canonical form of a decoded document.
pub fn canonical(doc: &Value) -> Value {
    let Value::Object(m) = doc else {
        return doc.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        if k != "Statement" {
            out.insert(k.clone(), v.clone());
        }
    }
    let statements: Vec<Value> = match m.get("Statement") {
        Some(Value::Array(a)) => a.iter().map(canonical_statement).collect(),
        Some(one) => vec![canonical_statement(one)],
        None => Vec::new(),
    };
    let mut keyed = Map::new();
    for s in statements {
        let key = match s.get("Sid").and_then(Value::as_str) {
            Some(sid) if !sid.is_empty() && !keyed.contains_key(sid) => sid.to_string(),
            _ => {
                let h = sha256_hex(canonical_json(&s).as_bytes());
                format!("#{}", h.get(..8).unwrap_or(&h))
            }
        };
        keyed.insert(key, s);
    }
    out.insert("Statement".into(), Value::Object(keyed));
    Value::Object(out)
}

/// Decode and canonicalize in one step.
pub fn canonical_text(text: &str) -> Result<Value, String> {
    decode(text).map(|d| canonical(&d))
}

/// A statement, read for the rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub resources: Vec<String>,
    /// Principals: `*` for anyone, else ARNs or account ids (AWS), service names (Service), …
    pub principals: Vec<String>,
    pub has_not_action: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Statements of a canonical (or raw) document.
pub fn statements(doc: &Value) -> Vec<Statement> {
    let list: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Object(m)) => m.values().collect(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    list.into_iter()
        .map(|s| {
            let principals = match s.get("Principal") {
                Some(Value::String(p)) => vec![p.clone()],
                Some(Value::Object(m)) => m.values().flat_map(|v| strings(Some(v))).collect(),
                _ => Vec::new(),
            };
            Statement {
                allow: s.get("Effect").and_then(Value::as_str) == Some("Allow"),
                actions: strings(s.get("Action")),
                not_actions: strings(s.get("NotAction")),
                resources: strings(s.get("Resource")),
                principals,
                has_not_action: s.get("NotAction").is_some(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_lists_and_encoding_do_not_matter() {
        let a = r#"{"Version":"2012-10-17","Statement":[{"Sid":"S3","Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::b/*"},{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}"#;
        let b = r#"{
            "Statement": [
                {"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": ["*"]},
                {"Resource": ["arn:aws:s3:::b/*"], "Action": ["s3:GetObject", "s3:PutObject"], "Effect": "Allow", "Sid": "S3"}
            ],
            "Version": "2012-10-17"
        }"#;
        let encoded: String =
            percent_encoding::utf8_percent_encode(a, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let ca = canonical_text(a).expect("a");
        assert_eq!(
            canonical_json(&ca),
            canonical_json(&canonical_text(b).expect("b"))
        );
        assert_eq!(
            canonical_json(&ca),
            canonical_json(&canonical_text(&encoded).expect("encoded"))
        );
        assert_eq!(
            ca["Statement"]["S3"]["Action"],
            serde_json::json!(["s3:GetObject", "s3:PutObject"])
        );
    }

    #[test]
    fn a_changed_statement_is_named() {
        let before = canonical_text(r#"{"Statement":[{"Sid":"S3","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#).expect("before");
        let after = canonical_text(
            r#"{"Statement":[{"Sid":"S3","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        )
        .expect("after");
        assert_ne!(before["Statement"]["S3"], after["Statement"]["S3"]);
        assert_eq!(
            after["Statement"]["S3"]["Action"],
            serde_json::json!(["s3:*"])
        );
    }

    #[test]
    fn statements_for_rules() {
        let doc = canonical_text(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}}"#).expect("doc");
        let s = statements(&doc);
        assert_eq!(s.len(), 1);
        assert!(s[0].allow);
        assert_eq!(
            s[0].principals,
            vec!["arn:aws:iam::999988887777:root".to_string()]
        );
        assert!(decode("not json").is_err());
    }
}

//! The YAML schema of a change-record file, exactly as users write it (DESIGN.md's contract).
//! Every field keeps its source position so validation can name the line.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use crate::model::{Action, Provider, RecordType};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecord {
    pub id: Spanned<String>,
    pub title: Spanned<String>,
    #[serde(rename = "type")]
    pub record_type: Spanned<RecordType>,
    #[serde(default)]
    pub purpose: Option<Spanned<String>>,
    #[serde(default)]
    pub impact: Option<Spanned<String>>,
    #[serde(default)]
    pub resources: Option<Spanned<String>>,
    pub requested_by: Spanned<String>,
    #[serde(default)]
    pub approved_by: Vec<Spanned<RawApproval>>,
    #[serde(default)]
    pub window: Option<Spanned<RawWindow>>,
    #[serde(default)]
    pub revert_by: Option<Spanned<Timestamp>>,
    /// Optional when `plan` is given: the plan's resources are then the scope.
    #[serde(default)]
    pub scope: Option<Spanned<Vec<Spanned<RawScope>>>>,
    #[serde(default)]
    pub plan: Option<Spanned<RawPlan>>,
    #[serde(default)]
    pub evidence: Vec<String>,
    #[serde(default)]
    pub retrospective_for: Vec<Spanned<String>>,
    #[serde(default)]
    pub closed_at: Option<Spanned<Timestamp>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApproval {
    pub name: Spanned<String>,
    pub at: Spanned<Timestamp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWindow {
    pub start: Spanned<Timestamp>,
    pub end: Spanned<Timestamp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScope {
    pub provider: Provider,
    #[serde(default, deserialize_with = "string_or_int")]
    pub account: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
    #[serde(default)]
    pub target: Option<Spanned<String>>,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default, rename = "match")]
    pub matches: BTreeMap<String, Spanned<ScalarValue>>,
}

/// `plan: plans/pr-42.json`, or the path with where the plan applies.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawPlan {
    Path(String),
    Full(RawPlanFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlanFull {
    pub path: String,
    #[serde(default, deserialize_with = "string_or_int")]
    pub account: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub cluster: Option<String>,
}

/// A scalar in a `match` map: `port: 22`, `peer: 10.0.0.0/8`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum ScalarValue {
    Int(i64),
    Text(String),
}

/// Account ids are digits; accept them quoted or not (an unquoted 12-digit id is a YAML int).
fn string_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<ScalarValue>::deserialize(d)?.map(|v| match v {
        ScalarValue::Int(i) => format!("{i:012}"),
        ScalarValue::Text(s) => s,
    }))
}

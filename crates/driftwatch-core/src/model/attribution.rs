//! Who made a change, as far as evidence proves it: the CloudTrail event of the call (its
//! caller resolved to a person where the identity names one, the source IP, the client by
//! user agent, the event id an auditor can look up).

use serde::{Deserialize, Serialize};

/// The evidence behind a change's actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// How people read it: `alice via role Admin`, `bob`, `root`.
    pub actor: String,
    /// The person, when the identity names one (IAM user, session name, SSO user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// `iam_user`, `assumed_role`, `identity_center`, `federated_user`, `root`,
    /// `aws_service`, `unknown`.
    pub identity_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// `console`, `terraform`, `aws-cli`, `sdk`, `other`.
    pub client: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The API call (`AuthorizeSecurityGroupIngress`).
    pub event_name: String,
    /// CloudTrail's `eventID`.
    pub event_id: String,
    /// CloudTrail's `eventTime`, RFC 3339.
    pub event_time: String,
    /// How it was found: `event` (delivered by EventBridge) or `lookup` (LookupEvents).
    pub via: String,
}

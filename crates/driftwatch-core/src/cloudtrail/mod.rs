//! CloudTrail management events, pure: the documented event shape (as EventBridge delivers
//! it, `detail` being the CloudTrail record; or the record alone, as `LookupEvents` gives it
//! in `CloudTrailEvent`) → a typed `TrailEvent`: which resource the call touched (the target a
//! targeted re-read needs), who made it (`Actor`, resolved to a person when the identity
//! proves one), from where, and with what client. Events that change nothing driftwatch
//! watches, read-only calls and failed calls have no target. No IO: the event path and the
//! LookupEvents fallback of the daemon feed it text.

mod explain;
#[cfg(test)]
mod tests;

pub use explain::{best, explains};

use jiff::Timestamp;
use serde_json::Value;

/// Every call whose event names something driftwatch watches (the EventBridge rule in
/// `deploy/aws/events/` selects exactly these; a test keeps the two equal).
pub const EVENT_NAMES: &[&str] = &[
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
    "ModifySecurityGroupRules",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "CreateUser",
    "DeleteUser",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "PutUserPolicy",
    "DeleteUserPolicy",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "DeleteLoginProfile",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "CreateAccessKey",
    "DeleteAccessKey",
    "UpdateAccessKey",
    "CreateRole",
    "DeleteRole",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
    "UpdateAssumeRolePolicy",
    "CreateGroup",
    "DeleteGroup",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
    "PutGroupPolicy",
    "DeleteGroupPolicy",
    "CreatePolicy",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "DeletePolicyVersion",
    "DeletePolicy",
];

/// One CloudTrail management event, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct TrailEvent {
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    pub event_time: Timestamp,
    pub account: String,
    pub region: String,
    pub actor: Actor,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub client: Client,
    /// What the call changed, when it is a call that changes something driftwatch watches
    /// and it succeeded.
    pub target: Option<Target>,
    /// The call failed (`AccessDenied`, ...): it changed nothing.
    pub error_code: Option<String>,
    /// The access key an access-key call names (`DeleteAccessKey`'s, `CreateAccessKey`'s
    /// new one): a re-read of the user covers it even once it is gone.
    pub access_key_id: Option<String>,
    /// The call's `requestParameters` (null when absent), which say what exactly it changed.
    pub request: Value,
}

impl TrailEvent {
    /// The evidence this event gives about who made the change. `via`: `event` or `lookup`.
    pub fn attribution(&self, via: &str) -> crate::model::Attribution {
        crate::model::Attribution {
            actor: self.actor.label(),
            person: self.actor.person.clone(),
            identity_type: self.actor.kind.as_str().to_string(),
            arn: self.actor.arn.clone(),
            source_ip: self.source_ip.clone(),
            client: self.client.as_str().to_string(),
            user_agent: self.user_agent.clone(),
            event_name: self.event_name.clone(),
            event_id: self.event_id.clone(),
            event_time: self.event_time.to_string(),
            via: via.to_string(),
        }
    }

    /// The scope the target lives in: IAM is global (`global`), EC2 regional.
    pub fn scope(&self) -> Option<crate::model::Scope> {
        let region = match self.target.as_ref()? {
            Target::SecurityGroup { .. } => self.region.as_str(),
            _ => "global",
        };
        (!self.account.is_empty()).then(|| crate::model::Scope::Aws {
            account: self.account.as_str().into(),
            region: region.into(),
        })
    }
}

/// The resource a call touched, as specific as the event says.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    SecurityGroup { group_id: String },
    IamUser { name: String },
    IamRole { name: String },
    IamGroup { name: String },
    IamPolicy { arn: String },
}

/// Who made a call. `person` is set only when the identity names one: an IAM user's name,
/// an assumed role's source identity or session name, an IAM Identity Center user.
#[derive(Clone, Debug, PartialEq)]
pub struct Actor {
    pub kind: ActorKind,
    pub person: Option<String>,
    /// The principal's ARN (`arn:aws:sts::…:assumed-role/Admin/alice`).
    pub arn: Option<String>,
    /// The role a session was assumed from, or the Identity Center permission set.
    pub via: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    IamUser,
    AssumedRole,
    /// An IAM Identity Center (SSO) user, through an `AWSReservedSSO_*` role.
    IdentityCenter,
    FederatedUser,
    Root,
    /// An AWS service acting on its own (`invokedBy`).
    AwsService,
    Unknown,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::IamUser => "iam_user",
            ActorKind::AssumedRole => "assumed_role",
            ActorKind::IdentityCenter => "identity_center",
            ActorKind::FederatedUser => "federated_user",
            ActorKind::Root => "root",
            ActorKind::AwsService => "aws_service",
            ActorKind::Unknown => "unknown",
        }
    }
}

impl Actor {
    /// How people read it: `alice`, `alice@example.com via role Admin`, `root`.
    pub fn label(&self) -> String {
        let who = self
            .person
            .clone()
            .or_else(|| self.arn.clone())
            .unwrap_or_else(|| "unknown".into());
        match (self.kind, &self.via) {
            (ActorKind::AssumedRole, Some(r)) => format!("{who} via role {r}"),
            (ActorKind::IdentityCenter, Some(p)) => format!("{who} (SSO, permission set {p})"),
            (ActorKind::Root, _) => "root".into(),
            (ActorKind::AwsService, _) => format!("service {who}"),
            _ => who,
        }
    }
}

/// The kind of client a call came from, by its user agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Console,
    Terraform,
    AwsCli,
    Sdk,
    Other,
}

impl Client {
    pub fn as_str(self) -> &'static str {
        match self {
            Client::Console => "console",
            Client::Terraform => "terraform",
            Client::AwsCli => "aws-cli",
            Client::Sdk => "sdk",
            Client::Other => "other",
        }
    }

    /// Terraform's provider embeds the SDK's agent, so it is looked for first.
    pub fn classify(user_agent: Option<&str>) -> Client {
        let Some(ua) = user_agent else {
            return Client::Other;
        };
        let lower = ua.to_ascii_lowercase();
        if lower.contains("terraform") {
            Client::Terraform
        } else if lower.starts_with("aws-cli/") || lower.contains(" aws-cli/") {
            Client::AwsCli
        } else if lower.contains("console.amazonaws.com")
            || lower.contains("console.ec2.amazonaws.com")
            || lower.contains("signin.amazonaws.com")
            || lower == "aws internal"
        {
            Client::Console
        } else if lower.contains("boto3/")
            || lower.contains("botocore/")
            || lower.contains("aws-sdk-")
            || lower.contains("aws-sdk/")
        {
            Client::Sdk
        } else {
            Client::Other
        }
    }
}

/// The name CloudTrail records a resource's calls under (LookupEvents' `ResourceName`): the
/// group id of a group or rule, the user, role or group that owns an IAM resource, a
/// managed policy's ARN. `None` for what CloudTrail does not record here (Kubernetes).
pub fn lookup_name(r: &crate::model::Resource) -> Option<String> {
    use crate::model::Kind;
    let id = r.key.id.as_str();
    let attr = |k: &str| {
        r.attributes()
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match &r.key.kind {
        Kind::Ec2SecurityGroup => Some(id.to_string()),
        Kind::Ec2SecurityGroupRule => id.split('/').next().map(str::to_string),
        Kind::IamUser | Kind::IamRole | Kind::IamGroup => Some(id.to_string()),
        // `user/alice/...`: the entity that owns it.
        Kind::IamInlinePolicy | Kind::IamPolicyAttachment => {
            id.split('/').nth(1).map(str::to_string)
        }
        // `group/user`: the call (AddUserToGroup) names both; the user is the target.
        Kind::IamGroupMembership => id.split('/').nth(1).map(str::to_string),
        Kind::IamAccessKey => attr("user"),
        Kind::IamPolicy => attr("arn"),
        _ => None,
    }
}

/// Why a text is not a CloudTrail event driftwatch can use, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrailError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("{field}: missing")]
    Missing { field: String },
    #[error("{field}: `{value}` is not a time")]
    BadTime { field: String, value: String },
}

/// An event as EventBridge delivers it (`detail` is the CloudTrail record), or the record
/// itself.
pub fn parse(text: &str) -> Result<TrailEvent, TrailError> {
    let v: Value = serde_json::from_str(text).map_err(|e| TrailError::Json(e.to_string()))?;
    match v.get("detail") {
        Some(d) if d.is_object() => from_record(d, "detail."),
        _ => from_record(&v, ""),
    }
}

fn from_record(r: &Value, at: &'static str) -> Result<TrailEvent, TrailError> {
    let text = |name: &'static str| -> Result<String, TrailError> {
        r.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| TrailError::Missing {
                field: format!("{at}{name}"),
            })
    };
    let event_name = text("eventName")?;
    let event_source = text("eventSource")?;
    let time = text("eventTime")?;
    let event_time = time.parse::<Timestamp>().map_err(|_| TrailError::BadTime {
        field: format!("{at}eventTime"),
        value: time.clone(),
    })?;
    let identity = r.get("userIdentity").unwrap_or(&Value::Null);
    let account = r
        .get("recipientAccountId")
        .and_then(Value::as_str)
        .or_else(|| identity.get("accountId").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let user_agent = r
        .get("userAgent")
        .and_then(Value::as_str)
        .map(str::to_string);
    let error_code = r
        .get("errorCode")
        .and_then(Value::as_str)
        .map(str::to_string);
    let read_only = r.get("readOnly").and_then(Value::as_bool).unwrap_or(false);
    let target = if error_code.is_some() || read_only {
        None
    } else {
        target(&event_name, r, identity)
    };
    Ok(TrailEvent {
        event_id: text("eventID")?,
        region: text("awsRegion")?,
        event_name,
        event_source,
        event_time,
        account,
        actor: actor(identity),
        source_ip: r
            .get("sourceIPAddress")
            .and_then(Value::as_str)
            .map(str::to_string),
        client: Client::classify(user_agent.as_deref()),
        user_agent,
        target,
        error_code,
        access_key_id: str_at(r, &["requestParameters", "accessKeyId"])
            .or_else(|| str_at(r, &["responseElements", "accessKey", "accessKeyId"]))
            .map(str::to_string),
        request: r.get("requestParameters").cloned().unwrap_or(Value::Null),
    })
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

/// The caller's identity resolved as far as it proves a person.
pub fn actor(identity: &Value) -> Actor {
    let arn = str_at(identity, &["arn"]).map(str::to_string);
    let kind = str_at(identity, &["type"]).unwrap_or("");
    match kind {
        "IAMUser" => Actor {
            kind: ActorKind::IamUser,
            person: str_at(identity, &["userName"])
                .map(str::to_string)
                .or_else(|| {
                    arn.as_deref()
                        .and_then(|a| a.rsplit('/').next())
                        .map(str::to_string)
                }),
            arn,
            via: None,
        },
        "AssumedRole" => {
            let role = str_at(identity, &["sessionContext", "sessionIssuer", "userName"])
                .map(str::to_string);
            // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
            let session = arn
                .as_deref()
                .and_then(|a| a.split_once(":assumed-role/"))
                .and_then(|(_, rest)| rest.split_once('/'))
                .map(|(_, s)| s.to_string());
            let source_identity =
                str_at(identity, &["sessionContext", "sourceIdentity"]).map(str::to_string);
            match role
                .as_deref()
                .and_then(|r| r.strip_prefix("AWSReservedSSO_"))
            {
                Some(rest) => Actor {
                    kind: ActorKind::IdentityCenter,
                    person: source_identity.or(session),
                    arn,
                    // AWSReservedSSO_<permission set>_<16 hex>
                    via: Some(
                        rest.rsplit_once('_')
                            .map_or(rest, |(set, _)| set)
                            .to_string(),
                    ),
                },
                None => Actor {
                    kind: ActorKind::AssumedRole,
                    person: source_identity.or(session),
                    arn,
                    via: role,
                },
            }
        }
        "FederatedUser" => Actor {
            kind: ActorKind::FederatedUser,
            person: arn
                .as_deref()
                .and_then(|a| a.split_once(":federated-user/"))
                .map(|(_, n)| n.to_string()),
            arn,
            via: None,
        },
        "Root" => Actor {
            kind: ActorKind::Root,
            person: None,
            arn,
            via: None,
        },
        "AWSService" => Actor {
            kind: ActorKind::AwsService,
            person: str_at(identity, &["invokedBy"]).map(str::to_string),
            arn,
            via: None,
        },
        _ => Actor {
            kind: ActorKind::Unknown,
            person: None,
            arn,
            via: None,
        },
    }
}

/// The resource a successful call of `event` changed, for the calls that change what
/// driftwatch watches.
fn target(event: &str, r: &Value, identity: &Value) -> Option<Target> {
    let req = r.get("requestParameters").unwrap_or(&Value::Null);
    let resp = r.get("responseElements").unwrap_or(&Value::Null);
    let param = |k: &str| str_at(req, &[k]).map(str::to_string);
    match event {
        "AuthorizeSecurityGroupIngress"
        | "AuthorizeSecurityGroupEgress"
        | "RevokeSecurityGroupIngress"
        | "RevokeSecurityGroupEgress"
        | "UpdateSecurityGroupRuleDescriptionsIngress"
        | "UpdateSecurityGroupRuleDescriptionsEgress"
        | "DeleteSecurityGroup" => {
            param("groupId").map(|group_id| Target::SecurityGroup { group_id })
        }
        "ModifySecurityGroupRules" => str_at(req, &["ModifySecurityGroupRulesRequest", "GroupId"])
            .or_else(|| str_at(req, &["groupId"]))
            .map(|g| Target::SecurityGroup {
                group_id: g.to_string(),
            }),
        "CreateSecurityGroup" => str_at(resp, &["groupId"]).map(|g| Target::SecurityGroup {
            group_id: g.to_string(),
        }),
        "CreateUser"
        | "DeleteUser"
        | "AttachUserPolicy"
        | "DetachUserPolicy"
        | "PutUserPolicy"
        | "DeleteUserPolicy"
        | "CreateLoginProfile"
        | "UpdateLoginProfile"
        | "DeleteLoginProfile"
        | "AddUserToGroup"
        | "RemoveUserFromGroup" => param("userName").map(|name| Target::IamUser { name }),
        // Without a userName, an access-key call acts on the caller's own user.
        "CreateAccessKey" | "DeleteAccessKey" | "UpdateAccessKey" => param("userName")
            .or_else(|| match str_at(identity, &["type"]) {
                Some("IAMUser") => str_at(identity, &["userName"]).map(str::to_string),
                _ => None,
            })
            .map(|name| Target::IamUser { name }),
        "CreateRole"
        | "DeleteRole"
        | "AttachRolePolicy"
        | "DetachRolePolicy"
        | "PutRolePolicy"
        | "DeleteRolePolicy"
        | "UpdateAssumeRolePolicy" => param("roleName").map(|name| Target::IamRole { name }),
        "CreateGroup" | "DeleteGroup" | "AttachGroupPolicy" | "DetachGroupPolicy"
        | "PutGroupPolicy" | "DeleteGroupPolicy" => {
            param("groupName").map(|name| Target::IamGroup { name })
        }
        "CreatePolicyVersion"
        | "SetDefaultPolicyVersion"
        | "DeletePolicyVersion"
        | "DeletePolicy" => param("policyArn").map(|arn| Target::IamPolicy { arn }),
        "CreatePolicy" => {
            str_at(resp, &["policy", "arn"]).map(|a| Target::IamPolicy { arn: a.to_string() })
        }
        _ => None,
    }
}

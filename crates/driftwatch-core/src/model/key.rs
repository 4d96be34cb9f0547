//! Resource identity: provider, scope, kind and stable id.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a resource lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Aws,
    Kubernetes,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Kubernetes => "kubernetes",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One independently observed unit: an AWS account in one region (IAM uses the region
/// `global`), or one Kubernetes cluster. Each scope has its own last complete state.
///
/// The names are shared (`Arc<str>`): every resource's key holds its scope, and a clone of it
/// is then a reference count rather than two small strings per resource.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Aws { account: Arc<str>, region: Arc<str> },
    Kubernetes { cluster: Arc<str> },
}

impl Scope {
    pub fn provider(&self) -> Provider {
        match self {
            Scope::Aws { .. } => Provider::Aws,
            Scope::Kubernetes { .. } => Provider::Kubernetes,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Aws { account, region } => write!(f, "aws:{account}:{region}"),
            Scope::Kubernetes { cluster } => write!(f, "kubernetes:{cluster}"),
        }
    }
}

/// A string that is not a valid scope, kind or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{value}`: {why}")]
pub struct ParseKeyError {
    pub what: &'static str,
    pub value: String,
    pub why: &'static str,
}

impl FromStr for Scope {
    type Err = ParseKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| ParseKeyError {
            what: "scope",
            value: s.to_string(),
            why,
        };
        let mut parts = s.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("aws"), Some(account), Some(region))
                if !account.is_empty() && !region.is_empty() =>
            {
                Ok(Scope::Aws {
                    account: account.into(),
                    region: region.into(),
                })
            }
            (Some("kubernetes"), Some(cluster), None) if !cluster.is_empty() => {
                Ok(Scope::Kubernetes {
                    cluster: cluster.into(),
                })
            }
            _ => Err(err("expected `aws:ACCOUNT:REGION` or `kubernetes:CLUSTER`")),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The closed set of resource kinds. Kubernetes kinds carry their group/version/kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Ec2SecurityGroup,
    Ec2SecurityGroupRule,
    IamUser,
    IamGroup,
    IamRole,
    IamPolicy,
    IamInlinePolicy,
    IamPolicyAttachment,
    IamGroupMembership,
    IamAccessKey,
    /// Boxed: a kind is held by every resource and stored digest, and the AWS kinds then take
    /// 16 bytes instead of the 72 three strings would give every variant.
    Kubernetes(Box<ApiKind>),
}

/// A Kubernetes group/version/kind (`group` empty for the core group).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

const AWS_KINDS: &[(Kind, &str)] = &[
    (Kind::Ec2SecurityGroup, "aws.ec2.security_group"),
    (Kind::Ec2SecurityGroupRule, "aws.ec2.security_group_rule"),
    (Kind::IamUser, "aws.iam.user"),
    (Kind::IamGroup, "aws.iam.group"),
    (Kind::IamRole, "aws.iam.role"),
    (Kind::IamPolicy, "aws.iam.policy"),
    (Kind::IamInlinePolicy, "aws.iam.inline_policy"),
    (Kind::IamPolicyAttachment, "aws.iam.policy_attachment"),
    (Kind::IamGroupMembership, "aws.iam.group_membership"),
    (Kind::IamAccessKey, "aws.iam.access_key"),
];

impl Kind {
    pub fn kubernetes(group: &str, version: &str, kind: &str) -> Kind {
        Kind::Kubernetes(Box::new(ApiKind {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        }))
    }

    pub fn provider(&self) -> Provider {
        match self {
            Kind::Kubernetes { .. } => Provider::Kubernetes,
            _ => Provider::Aws,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Kind::Kubernetes(k) = self {
            let ApiKind {
                group,
                version,
                kind,
            } = k.as_ref();
            return if group.is_empty() {
                write!(f, "{version}/{kind}")
            } else {
                write!(f, "{group}/{version}/{kind}")
            };
        }
        let name = AWS_KINDS
            .iter()
            .find(|(k, _)| k == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown");
        f.write_str(name)
    }
}

impl FromStr for Kind {
    type Err = ParseKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((k, _)) = AWS_KINDS.iter().find(|(_, n)| *n == s) {
            return Ok(k.clone());
        }
        let err = |why| ParseKeyError {
            what: "kind",
            value: s.to_string(),
            why,
        };
        if s.starts_with("aws.") {
            return Err(err(
                "unknown AWS kind (known: aws.ec2.security_group, aws.ec2.security_group_rule, aws.iam.user, aws.iam.group, aws.iam.role, aws.iam.policy, aws.iam.inline_policy, aws.iam.policy_attachment, aws.iam.group_membership, aws.iam.access_key)",
            ));
        }
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| !p.is_empty() && !p.contains(char::is_whitespace);
        match parts.as_slice() {
            [version, kind] if ok(version) && ok(kind) => Ok(Kind::kubernetes("", version, kind)),
            [group, version, kind] if ok(group) && ok(version) && ok(kind) => {
                Ok(Kind::kubernetes(group, version, kind))
            }
            _ => Err(err(
                "expected an aws.* kind or a Kubernetes `group/version/Kind`",
            )),
        }
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The identity of one resource: stable across polls, independent of list order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceKey {
    pub scope: Scope,
    pub kind: Kind,
    pub id: String,
}

impl ResourceKey {
    pub fn provider(&self) -> Provider {
        self.scope.provider()
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.scope, self.kind, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for (kind, name) in AWS_KINDS {
            assert_eq!(kind.to_string(), *name);
            assert_eq!(name.parse::<Kind>().as_ref(), Ok(kind));
        }
        for name in ["v1/Service", "rbac.authorization.k8s.io/v1/ClusterRole"] {
            assert_eq!(
                name.parse::<Kind>().map(|k| k.to_string()).as_deref(),
                Ok(name)
            );
        }
        assert!("aws.ec2.instance".parse::<Kind>().is_err());
        assert!("Service".parse::<Kind>().is_err());
    }

    #[test]
    fn scopes_round_trip() {
        for s in [
            "aws:123456789012:eu-west-1",
            "aws:123456789012:global",
            "kubernetes:prod",
        ] {
            assert_eq!(s.parse::<Scope>().map(|x| x.to_string()).as_deref(), Ok(s));
        }
        assert!("aws:123".parse::<Scope>().is_err());
        assert!("gcp:x".parse::<Scope>().is_err());
    }
}

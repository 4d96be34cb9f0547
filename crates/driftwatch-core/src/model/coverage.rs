//! Targeted re-reads: what part of a scope one answers for. A CloudTrail event names one
//! security group or one IAM entity; the source reads just that and says which stored keys
//! the answer covers (`Coverage`), so the diff compares only those and cannot read the rest
//! of the scope as deleted.

use super::key::Kind;
use super::resource::Resource;

/// Which keys of a kind one cover names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdMatch {
    /// This id exactly.
    Exact(String),
    /// Every id starting with this text (`sg-1/` for the rules of group `sg-1`).
    Prefix(String),
    /// Every id ending with this text (`/alice` for alice's group memberships).
    Suffix(String),
}

/// The stored keys a targeted re-read answers for: the read lists every resource that exists
/// among them now, and any stored one among them it does not list is gone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    covers: Vec<(Kind, IdMatch)>,
}

impl Coverage {
    pub fn new() -> Self {
        Coverage::default()
    }

    /// Also cover the keys of `kind` that `id` matches.
    pub fn with(mut self, kind: Kind, id: IdMatch) -> Self {
        self.covers.push((kind, id));
        self
    }

    pub fn covers(&self, kind: &Kind, id: &str) -> bool {
        self.covers.iter().any(|(k, m)| {
            k == kind
                && match m {
                    IdMatch::Exact(x) => id == x,
                    IdMatch::Prefix(p) => id.starts_with(p.as_str()),
                    IdMatch::Suffix(s) => id.ends_with(s.as_str()),
                }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.covers.is_empty()
    }
}

/// The answer of a targeted re-read: the current state of the covered resources.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub coverage: Coverage,
    /// Every covered resource that exists now (a listed resource outside the coverage is
    /// ignored: the read does not answer for it).
    pub resources: Vec<Resource>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_by_exact_id_prefix_and_suffix_within_the_kind() {
        let c = Coverage::new()
            .with(Kind::Ec2SecurityGroup, IdMatch::Exact("sg-1".into()))
            .with(Kind::Ec2SecurityGroupRule, IdMatch::Prefix("sg-1/".into()))
            .with(Kind::IamGroupMembership, IdMatch::Suffix("/alice".into()));
        let cases = [
            (Kind::Ec2SecurityGroup, "sg-1", true),
            (Kind::Ec2SecurityGroup, "sg-10", false),
            (
                Kind::Ec2SecurityGroupRule,
                "sg-1/ingress/tcp/22/ipv4:0.0.0.0/0",
                true,
            ),
            (
                Kind::Ec2SecurityGroupRule,
                "sg-10/ingress/tcp/22/ipv4:0.0.0.0/0",
                false,
            ),
            (Kind::Ec2SecurityGroupRule, "sg-1", false),
            (Kind::IamGroupMembership, "admins/alice", true),
            (Kind::IamGroupMembership, "admins/malice", false),
            (Kind::IamUser, "alice", false),
        ];
        for (kind, id, want) in cases {
            assert_eq!(c.covers(&kind, id), want, "{kind} {id}");
        }
        assert!(Coverage::new().is_empty());
    }
}

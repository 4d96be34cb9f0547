//! Typed attributes of AWS resources. Sources serialize these into a `Resource`'s attributes;
//! rules and the matcher read them back, so both sides agree on one shape.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// EC2's protocol spellings (`-1`, `6`, `tcp`, ...) as one name: `all`, `tcp`, `udp`,
/// `icmp`, `icmpv6`, or the number of any other protocol.
pub fn normalize_protocol(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "-1" | "all" => "all".into(),
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "58" | "icmpv6" => "icmpv6".into(),
        other => other.into(),
    }
}

/// The other side of a security-group rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Peer {
    Ipv4(String),
    Ipv6(String),
    PrefixList(String),
    /// A referenced security group (`sg-...`, or `account/sg-...` across accounts).
    Group(String),
}

impl Peer {
    pub fn type_str(&self) -> &'static str {
        match self {
            Peer::Ipv4(_) => "ipv4",
            Peer::Ipv6(_) => "ipv6",
            Peer::PrefixList(_) => "prefix_list",
            Peer::Group(_) => "group",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Peer::Ipv4(v) | Peer::Ipv6(v) | Peer::PrefixList(v) | Peer::Group(v) => v,
        }
    }

    /// Reachable from the whole internet.
    pub fn is_world(&self) -> bool {
        match self {
            Peer::Ipv4(c) => c == "0.0.0.0/0",
            Peer::Ipv6(c) => c == "::/0",
            _ => false,
        }
    }
}

/// Group metadata (`aws.ec2.security_group`); its rules are separate resources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    pub group_id: String,
    pub group_name: String,
    pub description: String,
    pub vpc_id: Option<String>,
}

/// One rule (`aws.ec2.security_group_rule`), keyed by its meaning rather than its position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupRule {
    pub group_id: String,
    pub group_name: String,
    pub vpc_id: Option<String>,
    pub direction: Direction,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `all`, or an IP protocol number.
    pub protocol: String,
    /// Absent for `all`; for ICMP these are type and code.
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub peer: Peer,
    pub description: Option<String>,
}

impl SecurityGroupRule {
    /// The stable id: group, direction, protocol, port range and peer. Description is content,
    /// not identity, so editing it is a modify.
    pub fn key_id(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}:{}",
            self.group_id,
            self.direction.as_str(),
            self.protocol,
            self.port_text(),
            self.peer.type_str(),
            self.peer.value()
        )
    }

    pub fn port_text(&self) -> String {
        match (self.from_port, self.to_port) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) => format!("{a}-{b}"),
            _ => "all".to_string(),
        }
    }

    pub fn all_traffic(&self) -> bool {
        self.protocol == "all"
            || ((self.protocol == "tcp" || self.protocol == "udp")
                && self.from_port.unwrap_or(0) <= 0
                && self.to_port.unwrap_or(65535) >= 65535)
    }

    /// Whether TCP/UDP traffic to `port` is allowed by this rule.
    pub fn covers_port(&self, port: u16) -> bool {
        let p = i32::from(port);
        match self.protocol.as_str() {
            "all" => true,
            "tcp" | "udp" => self.from_port.unwrap_or(0) <= p && p <= self.to_port.unwrap_or(65535),
            _ => false,
        }
    }
}

impl SecurityGroup {
    pub fn into_resource(
        self,
        scope: &super::Scope,
        tags: std::collections::BTreeMap<String, String>,
    ) -> super::Resource {
        let key = super::ResourceKey {
            scope: scope.clone(),
            kind: super::Kind::Ec2SecurityGroup,
            id: self.group_id.clone(),
        };
        let name = self.group_name.clone();
        let targets = vec![self.group_id.clone(), self.group_name.clone()];
        // Serializing a plain struct of strings to a JSON value cannot fail.
        let attributes = serde_json::to_value(&self).unwrap_or(serde_json::Value::Null);
        super::Resource::new(key, name, targets, tags, attributes)
    }
}

impl SecurityGroupRule {
    pub fn into_resource(self, scope: &super::Scope) -> super::Resource {
        let key = super::ResourceKey {
            scope: scope.clone(),
            kind: super::Kind::Ec2SecurityGroupRule,
            id: self.key_id(),
        };
        let name = format!(
            "{} {} {}/{} {} {}",
            self.group_name,
            self.direction.as_str(),
            self.protocol,
            self.port_text(),
            if self.direction == Direction::Ingress {
                "from"
            } else {
                "to"
            },
            self.peer.value()
        );
        let targets = vec![self.group_id.clone(), self.group_name.clone()];
        // Serializing a plain struct of strings and integers to a JSON value cannot fail.
        let attributes = serde_json::to_value(&self).unwrap_or(serde_json::Value::Null);
        super::Resource::new(key, name, targets, Default::default(), attributes)
    }

    /// Read a rule back from a resource's attributes.
    pub fn from_resource(r: &super::Resource) -> Option<Self> {
        if r.key.kind != super::Kind::Ec2SecurityGroupRule {
            return None;
        }
        serde_json::from_str(r.attributes_json()).ok()
    }
}

#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures {
    //! Builders for unit tests across the workspace (the daemon crate's tests enable the
    //! `test-fixtures` feature; release builds never contain them).
    use super::*;
    use crate::model::{Resource, Scope};

    pub fn scope() -> Scope {
        Scope::Aws {
            account: "123456789012".into(),
            region: "eu-west-1".into(),
        }
    }

    pub fn rule(group: &str, proto: &str, from: i32, to: i32, cidr: &str) -> SecurityGroupRule {
        SecurityGroupRule {
            group_id: group.into(),
            group_name: format!("{group}-name"),
            vpc_id: Some("vpc-1".into()),
            direction: Direction::Ingress,
            protocol: proto.into(),
            from_port: (proto != "all").then_some(from),
            to_port: (proto != "all").then_some(to),
            peer: if cidr.contains(':') {
                Peer::Ipv6(cidr.into())
            } else {
                Peer::Ipv4(cidr.into())
            },
            description: None,
        }
    }

    pub fn res(r: SecurityGroupRule) -> Resource {
        r.into_resource(&scope())
    }
}

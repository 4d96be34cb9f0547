//! Planned changes → what driftwatch expects to observe: the resource key each planned
//! change makes, the action, and the attribute values the plan knows (values unknown until
//! apply are left out: wildcards). Security-group rules first (`aws_security_group_rule`,
//! one rule per peer as the source keys them; `aws_vpc_security_group_ingress_rule` and
//! `_egress_rule`, one peer each); the other mapped types follow.

use serde_json::Value;

use super::{PlanAction, PlannedChange};
use crate::model::aws::{Direction, Peer, SecurityGroupRule, normalize_protocol};
use crate::model::{Action, Kind};

/// One resource a planned change creates, modifies or deletes, as driftwatch keys it.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    /// The plan's address (the match reason names it).
    pub address: String,
    pub kind: Kind,
    pub id: String,
    pub action: Action,
    /// Attribute values the change must have after it (dotted paths into the resource's
    /// attributes); absent for a delete.
    pub fields: Vec<(String, Value)>,
}

/// Why a planned change cannot be mapped yet (the key depends on what apply decides).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("{address}: `{field}` is unknown until apply, and driftwatch keys the resource by it")]
    UnknownKey { address: String, field: String },
    #[error("{address}: `{field}`: {message}")]
    Invalid {
        address: String,
        field: String,
        message: String,
    },
    #[error("{address}: mapping {resource_type} is not built yet")]
    NotYet {
        address: String,
        resource_type: String,
    },
}

/// The resources a planned change touches. A replace is a delete of the old rules and a
/// create of the new ones (for rules keyed by meaning, usually the same keys: a modify).
pub fn expected(c: &PlannedChange) -> Result<Vec<Expected>, MapError> {
    match c.resource_type.as_str() {
        "aws_security_group_rule" => rules(c, legacy_rules),
        "aws_vpc_security_group_ingress_rule" => {
            rules(c, |v, a| vpc_rule(v, a, Direction::Ingress))
        }
        "aws_vpc_security_group_egress_rule" => rules(c, |v, a| vpc_rule(v, a, Direction::Egress)),
        other => Err(MapError::NotYet {
            address: c.address.clone(),
            resource_type: other.to_string(),
        }),
    }
}

type RuleReader = fn(&Value, &str) -> Result<Vec<SecurityGroupRule>, MapError>;

fn rules(c: &PlannedChange, read: RuleReader) -> Result<Vec<Expected>, MapError> {
    let mut out = Vec::new();
    let expect = |rule: &SecurityGroupRule, action: Action, fields: bool| Expected {
        address: c.address.clone(),
        kind: Kind::Ec2SecurityGroupRule,
        id: rule.key_id(),
        action,
        fields: if fields {
            vec![(
                "description".to_string(),
                rule.description
                    .clone()
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            )]
        } else {
            Vec::new()
        },
    };
    let unknown = |field: &str| {
        if c.is_unknown(&[field]) {
            Err(MapError::UnknownKey {
                address: c.address.clone(),
                field: field.to_string(),
            })
        } else {
            Ok(())
        }
    };
    match c.action {
        PlanAction::Create | PlanAction::Update => {
            unknown("security_group_id")?;
            let action = if c.action == PlanAction::Create {
                Action::Create
            } else {
                Action::Modify
            };
            for r in read(&c.after, &c.address)? {
                out.push(expect(&r, action, true));
            }
        }
        PlanAction::Delete => {
            for r in read(&c.before, &c.address)? {
                out.push(expect(&r, Action::Delete, false));
            }
        }
        PlanAction::Replace => {
            unknown("security_group_id")?;
            let after = read(&c.after, &c.address)?;
            for r in read(&c.before, &c.address)? {
                if !after.iter().any(|a| a.key_id() == r.key_id()) {
                    out.push(expect(&r, Action::Delete, false));
                }
            }
            for r in &after {
                out.push(expect(r, Action::Create, true));
            }
        }
    }
    Ok(out)
}

fn text<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn strings(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn base(
    v: &Value,
    address: &str,
    direction: Direction,
    protocol_field: &str,
) -> Result<SecurityGroupRule, MapError> {
    let bad = |field: &str, message: &str| MapError::Invalid {
        address: address.to_string(),
        field: field.to_string(),
        message: message.to_string(),
    };
    let group_id =
        text(v, "security_group_id").ok_or_else(|| bad("security_group_id", "missing"))?;
    let protocol = normalize_protocol(text(v, protocol_field).unwrap_or("-1"));
    let port = |f: &str| {
        v.get(f)
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
    };
    let (from_port, to_port) = if protocol == "all" {
        (None, None)
    } else {
        (port("from_port"), port("to_port"))
    };
    Ok(SecurityGroupRule {
        group_id: group_id.to_string(),
        // Names do not key a rule; the observed resource carries the group's name.
        group_name: String::new(),
        vpc_id: None,
        direction,
        protocol,
        from_port,
        to_port,
        peer: Peer::Ipv4(String::new()),
        description: text(v, "description").map(String::from),
    })
}

/// `aws_security_group_rule`: `type`, `protocol`, ports, and any number of peers
/// (`cidr_blocks`, `ipv6_cidr_blocks`, `prefix_list_ids`, `source_security_group_id`, `self`).
fn legacy_rules(v: &Value, address: &str) -> Result<Vec<SecurityGroupRule>, MapError> {
    let direction = match text(v, "type") {
        Some("ingress") => Direction::Ingress,
        Some("egress") => Direction::Egress,
        other => {
            return Err(MapError::Invalid {
                address: address.to_string(),
                field: "type".into(),
                message: format!("{other:?} is neither ingress nor egress"),
            });
        }
    };
    let b = base(v, address, direction, "protocol")?;
    let mut peers: Vec<Peer> = Vec::new();
    peers.extend(strings(v, "cidr_blocks").into_iter().map(Peer::Ipv4));
    peers.extend(strings(v, "ipv6_cidr_blocks").into_iter().map(Peer::Ipv6));
    peers.extend(
        strings(v, "prefix_list_ids")
            .into_iter()
            .map(Peer::PrefixList),
    );
    if let Some(g) = text(v, "source_security_group_id") {
        peers.push(Peer::Group(g.to_string()));
    }
    if v.get("self").and_then(Value::as_bool) == Some(true) {
        peers.push(Peer::Group(b.group_id.clone()));
    }
    Ok(peers
        .into_iter()
        .map(|peer| SecurityGroupRule { peer, ..b.clone() })
        .collect())
}

/// `aws_vpc_security_group_ingress_rule` / `_egress_rule`: one peer each.
fn vpc_rule(
    v: &Value,
    address: &str,
    direction: Direction,
) -> Result<Vec<SecurityGroupRule>, MapError> {
    let b = base(v, address, direction, "ip_protocol")?;
    let peer = if let Some(c) = text(v, "cidr_ipv4") {
        Peer::Ipv4(c.to_string())
    } else if let Some(c) = text(v, "cidr_ipv6") {
        Peer::Ipv6(c.to_string())
    } else if let Some(p) = text(v, "prefix_list_id") {
        Peer::PrefixList(p.to_string())
    } else if let Some(g) = text(v, "referenced_security_group_id") {
        Peer::Group(g.to_string())
    } else {
        return Err(MapError::Invalid {
            address: address.to_string(),
            field: "cidr_ipv4".into(),
            message:
                "no peer (cidr_ipv4, cidr_ipv6, prefix_list_id or referenced_security_group_id)"
                    .into(),
        });
    };
    Ok(vec![SecurityGroupRule { peer, ..b }])
}

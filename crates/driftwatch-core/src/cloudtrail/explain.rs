//! Which change an event explains. A targeted re-read shows the resource as it is now, which
//! may hold more than one caller's work (alice opens 22, bob opens 443 a second later, and
//! alice's event triggers the read): a change is attributed only to an event whose call would
//! make exactly that change (same scope, same resource, the call's kind of action, and for
//! security-group rules the permission the request names).

use serde_json::Value;

use super::{Target, TrailEvent, str_at};
use crate::model::aws::{Direction, Peer, SecurityGroupRule, normalize_protocol};
use crate::model::{Action, Change, Kind};

/// The latest of `events` that explains `change`, if any.
pub fn best<'a>(events: &'a [TrailEvent], change: &Change) -> Option<&'a TrailEvent> {
    events
        .iter()
        .filter(|e| explains(e, change))
        .max_by_key(|e| e.event_time)
}

/// Whether `e`'s call would make `change`.
pub fn explains(e: &TrailEvent, change: &Change) -> bool {
    if e.scope().as_ref() != Some(&change.key.scope) {
        return false;
    }
    let Some(target) = &e.target else {
        return false;
    };
    let name = e.event_name.as_str();
    let action = change.action;
    let id = change.key.id.as_str();
    let param = |k: &str| str_at(&e.request, &[k]);
    match (target, &change.key.kind) {
        (Target::SecurityGroup { group_id }, Kind::Ec2SecurityGroup) => {
            id == group_id
                && matches!(
                    (name, action),
                    ("CreateSecurityGroup", Action::Create)
                        | ("DeleteSecurityGroup", Action::Delete)
                )
        }
        (Target::SecurityGroup { group_id }, Kind::Ec2SecurityGroupRule) => {
            let Some(rule) = change.resource().and_then(SecurityGroupRule::from_resource) else {
                return false;
            };
            rule.group_id == *group_id && rule_explained(e, &rule, action)
        }
        (Target::IamUser { name: user }, kind) => {
            entity_change(e, "user", user, kind, id, action)
                || match kind {
                    Kind::IamUser => {
                        id == user
                            && matches!(
                                (name, action),
                                ("CreateUser", Action::Create)
                                    | ("DeleteUser", Action::Delete)
                                    | (
                                        "CreateLoginProfile"
                                            | "UpdateLoginProfile"
                                            | "DeleteLoginProfile",
                                        Action::Modify
                                    )
                            )
                    }
                    Kind::IamGroupMembership => {
                        param("groupName").is_some_and(|g| id == format!("{g}/{user}"))
                            && matches!(
                                (name, action),
                                ("AddUserToGroup", Action::Create)
                                    | ("RemoveUserFromGroup", Action::Delete)
                            )
                    }
                    Kind::IamAccessKey => {
                        e.access_key_id.as_deref() == Some(id)
                            && matches!(
                                (name, action),
                                ("CreateAccessKey", Action::Create)
                                    | ("UpdateAccessKey", Action::Modify)
                                    | ("DeleteAccessKey", Action::Delete)
                            )
                    }
                    _ => false,
                }
        }
        (Target::IamRole { name: role }, kind) => {
            entity_change(e, "role", role, kind, id, action)
                || (*kind == Kind::IamRole
                    && id == role
                    && matches!(
                        (name, action),
                        ("CreateRole", Action::Create)
                            | ("DeleteRole", Action::Delete)
                            | ("UpdateAssumeRolePolicy", Action::Modify)
                    ))
        }
        (Target::IamGroup { name: group }, kind) => {
            entity_change(e, "group", group, kind, id, action)
                || (*kind == Kind::IamGroup
                    && id == group
                    && matches!(
                        (name, action),
                        ("CreateGroup", Action::Create) | ("DeleteGroup", Action::Delete)
                    ))
        }
        (Target::IamPolicy { arn }, Kind::IamPolicy) => {
            arn.rsplit('/').next() == Some(id)
                && matches!(
                    (name, action),
                    ("CreatePolicy", Action::Create)
                        | ("DeletePolicy", Action::Delete)
                        | (
                            "CreatePolicyVersion"
                                | "SetDefaultPolicyVersion"
                                | "DeletePolicyVersion",
                            Action::Modify
                        )
                )
        }
        _ => false,
    }
}

/// Inline policies and attachments of a user, role or group (`Put{Type}Policy`,
/// `Attach{Type}Policy`, ...).
fn entity_change(
    e: &TrailEvent,
    entity_type: &str,
    entity: &str,
    kind: &Kind,
    id: &str,
    action: Action,
) -> bool {
    let ty = match entity_type {
        "user" => "User",
        "role" => "Role",
        _ => "Group",
    };
    let name = e.event_name.as_str();
    match kind {
        Kind::IamInlinePolicy => {
            str_at(&e.request, &["policyName"])
                .is_some_and(|p| id == format!("{entity_type}/{entity}/{p}"))
                && ((name == format!("Put{ty}Policy") && action != Action::Delete)
                    || (name == format!("Delete{ty}Policy") && action == Action::Delete))
        }
        Kind::IamPolicyAttachment => {
            str_at(&e.request, &["policyArn"])
                .is_some_and(|p| id == format!("{entity_type}/{entity}/{p}"))
                && ((name == format!("Attach{ty}Policy") && action == Action::Create)
                    || (name == format!("Detach{ty}Policy") && action == Action::Delete))
        }
        _ => false,
    }
}

fn rule_explained(e: &TrailEvent, rule: &SecurityGroupRule, action: Action) -> bool {
    let name = e.event_name.as_str();
    let dir = |suffix: &str| match rule.direction {
        Direction::Ingress => suffix == "Ingress",
        Direction::Egress => suffix == "Egress",
    };
    if let Some(d) = name.strip_prefix("AuthorizeSecurityGroup") {
        return dir(d) && action == Action::Create && names_rule(&e.request, rule);
    }
    if let Some(d) = name.strip_prefix("RevokeSecurityGroup") {
        // Revoked by rule id (`securityGroupRuleIds`): the request names no content to check.
        let by_id = e.request.get("securityGroupRuleIds").is_some()
            && e.request.get("ipPermissions").is_none();
        return dir(d) && action == Action::Delete && (by_id || names_rule(&e.request, rule));
    }
    if let Some(d) = name.strip_prefix("UpdateSecurityGroupRuleDescriptions") {
        return dir(d) && action == Action::Modify && names_rule(&e.request, rule);
    }
    match name {
        // Rules are named by EC2's rule ids, which driftwatch does not key by.
        "ModifySecurityGroupRules" => true,
        // A new group's default rule (all egress), and every rule of a deleted group.
        "CreateSecurityGroup" => action == Action::Create && rule.direction == Direction::Egress,
        "DeleteSecurityGroup" => action == Action::Delete,
        _ => false,
    }
}

/// `items` of a CloudTrail list (`{"items": [...]}`), or nothing.
fn items(v: Option<&Value>) -> &[Value] {
    v.and_then(|x| x.get("items"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(|x| x.as_i64().or_else(|| x.as_str()?.parse().ok()))
}

/// Whether the request's permissions (`ipPermissions`, or the legacy top-level `cidrIp`,
/// `ipProtocol`, `fromPort`, `toPort`) include the rule: same protocol, ports and peer.
fn names_rule(req: &Value, rule: &SecurityGroupRule) -> bool {
    let perms = items(req.get("ipPermissions"));
    let legacy = [req.clone()];
    let perms = if perms.is_empty() && req.get("ipProtocol").is_some() {
        &legacy[..]
    } else {
        perms
    };
    perms.iter().any(|p| {
        let protocol =
            normalize_protocol(p.get("ipProtocol").and_then(Value::as_str).unwrap_or("-1"));
        if protocol != rule.protocol {
            return false;
        }
        if protocol != "all"
            && (int(p.get("fromPort")) != rule.from_port.map(i64::from)
                || int(p.get("toPort")) != rule.to_port.map(i64::from))
        {
            return false;
        }
        let peer_in = |list: &str, field: &str, want: &str| {
            items(p.get(list))
                .iter()
                .any(|i| i.get(field).and_then(Value::as_str) == Some(want))
        };
        match &rule.peer {
            Peer::Ipv4(c) => {
                peer_in("ipRanges", "cidrIp", c)
                    || p.get("cidrIp").and_then(Value::as_str) == Some(c.as_str())
            }
            Peer::Ipv6(c) => peer_in("ipv6Ranges", "cidrIpv6", c),
            Peer::PrefixList(c) => peer_in("prefixListIds", "prefixListId", c),
            Peer::Group(g) => {
                let gid = g.rsplit('/').next().unwrap_or(g);
                peer_in("groups", "groupId", gid)
            }
        }
    })
}

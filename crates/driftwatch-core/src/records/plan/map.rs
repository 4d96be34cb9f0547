//! Planned changes → what driftwatch expects to observe: for each resource a planned change
//! touches, how to recognise it (its key id, or when apply decides the id, its name or its
//! shape), what the plan does to it, and the attribute values the plan knows (values unknown
//! until apply are left out: wildcards).
//!
//! Every mapped type is read as a set of *items*, one per driftwatch resource: a security
//! group is the group and its inline rules, `aws_security_group_rule` one rule per peer,
//! `aws_iam_policy_attachment` one attachment per user, role and group. A create expects its
//! after-items, a delete its before-items; an update or a replace expects what differs
//! between the two (members only one side has are created or deleted).

use serde_json::{Map, Value, json};

use super::{PlanAction, PlannedChange};
use crate::model::Kind;
use crate::model::aws::{Direction, Peer, normalize_protocol};
use crate::model::iam;
use crate::model::record::{Locator, Planned, PlannedAction, PlannedField};
use crate::model::resource::canonical_json;

/// Why a planned change cannot be mapped: a value the resource is keyed by is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{address}: `{field}`: {message}")]
pub struct MapError {
    pub address: String,
    pub field: String,
    pub message: String,
}

/// One driftwatch resource on one side (before or after) of a planned change.
#[derive(Clone, Debug, PartialEq)]
struct Item {
    kind: Kind,
    locator: Locator,
    fields: Vec<(String, Value)>,
}

impl Item {
    /// What identifies the item across before and after.
    fn identity(&self) -> String {
        match &self.locator {
            // A shape is identified by everything it is.
            Locator::Shape => format!("{}|shape|{}", self.kind, fields_key(&self.fields)),
            Locator::Id(id) => format!("{}|id|{id}", self.kind),
            Locator::Name(n) => format!("{}|name|{n}|{}", self.kind, fields_key(&self.fields)),
        }
    }
}

fn fields_key(f: &[(String, Value)]) -> String {
    f.iter()
        .map(|(k, v)| format!("{k}={}", canonical_json(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Which side of the change an item is read from (for the unknown-value check: only the
/// after-side has unknowns).
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Before,
    After,
}

struct Reader<'a> {
    c: &'a PlannedChange,
    v: &'a Value,
    side: Side,
}

impl<'a> Reader<'a> {
    fn unknown(&self, field: &str) -> bool {
        self.side == Side::After && self.c.is_unknown(&[field])
    }

    fn bad(&self, field: &str, message: impl Into<String>) -> MapError {
        MapError {
            address: self.c.address.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// A known, non-empty string.
    fn text(&self, field: &str) -> Option<&'a str> {
        if self.unknown(field) {
            return None;
        }
        text(self.v, field)
    }

    /// A string the resource is keyed by: `None` when unknown until apply, an error when
    /// known but missing.
    fn key(&self, field: &str) -> Result<Option<&'a str>, MapError> {
        if self.unknown(field) {
            return Ok(None);
        }
        text(self.v, field)
            .map(Some)
            .ok_or_else(|| self.bad(field, "missing"))
    }

    /// A known value (absent when unknown until apply).
    fn known(&self, field: &str) -> Option<&'a Value> {
        if self.unknown(field) {
            return None;
        }
        self.v.get(field)
    }

    /// `tags_all` (the provider's default tags included) or `tags`, as the resource's tags.
    fn tags(&self) -> Option<Value> {
        for f in ["tags_all", "tags"] {
            if self.unknown(f) {
                return None;
            }
            match self.v.get(f) {
                Some(Value::Object(m)) => return Some(Value::Object(m.clone())),
                Some(Value::Null) | None => continue,
                Some(_) => return None,
            }
        }
        Some(json!({}))
    }

    /// A policy document as JSON text, in driftwatch's canonical form.
    fn document(&self, field: &str) -> Result<Option<Value>, MapError> {
        match self.text(field) {
            None => Ok(None),
            Some(t) => iam::canonical_text(t)
                .map(Some)
                .map_err(|e| self.bad(field, e)),
        }
    }
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
                .filter_map(|x| x.as_str().filter(|s| !s.is_empty()).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The first element of a block list (`metadata[0]`, `spec[0]`), as the kubernetes provider
/// writes nested blocks.
fn block<'a>(v: &'a Value, field: &str) -> Option<&'a Value> {
    match v.get(field) {
        Some(Value::Array(a)) => a.first(),
        Some(o @ Value::Object(_)) => Some(o),
        _ => None,
    }
}

fn id_or_shape(id: Option<String>) -> Locator {
    id.map(Locator::Id).unwrap_or(Locator::Shape)
}

/// The resources a planned change touches, each with what the plan does to it.
pub fn planned(c: &PlannedChange) -> Result<Vec<Planned>, MapError> {
    let read = |v: &Value, side: Side| -> Result<Vec<Item>, MapError> {
        if v.is_null() {
            return Ok(Vec::new());
        }
        items(&Reader { c, v, side })
    };
    let out = |i: Item, action: PlannedAction| Planned {
        address: c.address.clone(),
        kind: i.kind,
        locator: i.locator,
        action,
        fields: if action == PlannedAction::Delete {
            Vec::new()
        } else {
            i.fields
                .into_iter()
                .map(|(path, v)| PlannedField {
                    path,
                    value: canonical_json(&v),
                })
                .collect()
        },
    };
    Ok(match c.action {
        PlanAction::Create => read(&c.after, Side::After)?
            .into_iter()
            .map(|i| out(i, PlannedAction::Create))
            .collect(),
        PlanAction::Delete => read(&c.before, Side::Before)?
            .into_iter()
            .map(|i| out(i, PlannedAction::Delete))
            .collect(),
        PlanAction::Update | PlanAction::Replace => {
            let before = read(&c.before, Side::Before)?;
            let after = read(&c.after, Side::After)?;
            let single = before.len() <= 1 && after.len() <= 1;
            let mut list = Vec::new();
            for b in &before {
                if !after.iter().any(|a| a.identity() == b.identity()) {
                    list.push(out(b.clone(), PlannedAction::Delete));
                }
            }
            for a in after {
                match before.iter().find(|b| b.identity() == a.identity()) {
                    None => list.push(out(a, PlannedAction::Create)),
                    Some(_) if c.action == PlanAction::Replace => {
                        list.push(out(a, PlannedAction::Replace))
                    }
                    // A member of a set the update leaves as it was is not a change; a lone
                    // resource the plan updates is (in what driftwatch may not track).
                    Some(b) if b.fields == a.fields && !single => {}
                    Some(_) => list.push(out(a, PlannedAction::Modify)),
                }
            }
            list
        }
    })
}

fn items(r: &Reader<'_>) -> Result<Vec<Item>, MapError> {
    let t = r.c.resource_type.as_str();
    match t {
        "aws_security_group" => group(r),
        "aws_security_group_rule" => legacy_rules(r),
        "aws_vpc_security_group_ingress_rule" => vpc_rule(r, Direction::Ingress),
        "aws_vpc_security_group_egress_rule" => vpc_rule(r, Direction::Egress),
        "aws_iam_role" | "aws_iam_user" | "aws_iam_group" | "aws_iam_policy" => iam_entity(r, t),
        "aws_iam_role_policy" | "aws_iam_user_policy" | "aws_iam_group_policy" => {
            inline_policy(r, t)
        }
        "aws_iam_role_policy_attachment"
        | "aws_iam_user_policy_attachment"
        | "aws_iam_group_policy_attachment" => attachment(r, t),
        "aws_iam_policy_attachment" => exclusive_attachment(r),
        "aws_iam_group_membership" => {
            let group = r.key("group")?;
            Ok(memberships(group, strings(r.v, "users"), |g, u| {
                format!("{g}/{u}")
            }))
        }
        "aws_iam_user_group_membership" => {
            let user = r.key("user")?;
            Ok(memberships(user, strings(r.v, "groups"), |u, g| {
                format!("{g}/{u}")
            }))
        }
        "aws_iam_access_key" => access_key(r),
        _ => match kubernetes_kind(t) {
            Some(kind) => kubernetes(r, kind),
            None => Err(r.bad("type", format!("{t} is not a type driftwatch maps"))),
        },
    }
}

// ---- security groups ----

/// A rule's meaning and description, as the EC2 source writes them into its attributes
/// (`model::aws::SecurityGroupRule`); `peer` is left out when apply decides it.
fn rule_fields(
    direction: Direction,
    protocol: &str,
    ports: (Option<i64>, Option<i64>),
    peer: Option<&Peer>,
    description: Option<&str>,
) -> Vec<(String, Value)> {
    let protocol = normalize_protocol(protocol);
    let (from, to) = if protocol == "all" {
        (None, None)
    } else {
        ports
    };
    let mut f = vec![
        ("direction".to_string(), json!(direction.as_str())),
        ("protocol".to_string(), json!(protocol)),
        ("from_port".to_string(), json!(from)),
        ("to_port".to_string(), json!(to)),
    ];
    if let Some(p) = peer {
        f.push((
            "peer".to_string(),
            json!({"type": p.type_str(), "value": p.value()}),
        ));
    }
    f.push((
        "description".to_string(),
        description.map(Value::from).unwrap_or(Value::Null),
    ));
    f
}

fn rule_id(group_id: &str, fields: &[(String, Value)], peer: &Peer) -> String {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(p, _)| p == k)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null)
    };
    let rule = crate::model::aws::SecurityGroupRule {
        group_id: group_id.to_string(),
        group_name: String::new(),
        vpc_id: None,
        direction: if get("direction") == json!("egress") {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        protocol: get("protocol").as_str().unwrap_or("all").to_string(),
        from_port: get("from_port")
            .as_i64()
            .and_then(|p| i32::try_from(p).ok()),
        to_port: get("to_port").as_i64().and_then(|p| i32::try_from(p).ok()),
        peer: peer.clone(),
        description: None,
    };
    rule.key_id()
}

/// Rules of one group: keyed when its id is known, else by the group's name (a group the
/// plan creates) or by shape alone (a rule whose group is decided at apply).
fn rule_item(
    group: &GroupRef,
    direction: Direction,
    protocol: &str,
    ports: (Option<i64>, Option<i64>),
    peer: Option<Peer>,
    description: Option<&str>,
) -> Item {
    let fields = rule_fields(direction, protocol, ports, peer.as_ref(), description);
    let locator = match (group, &peer) {
        (GroupRef::Id(g), Some(p)) => Locator::Id(rule_id(g, &fields, p)),
        (GroupRef::Name(n), _) => Locator::Name(n.clone()),
        _ => Locator::Shape,
    };
    Item {
        kind: Kind::Ec2SecurityGroupRule,
        locator,
        fields,
    }
}

enum GroupRef {
    Id(String),
    Name(String),
    Unknown,
}

fn port(v: &Value, f: &str) -> Option<i64> {
    v.get(f).and_then(Value::as_i64)
}

/// Peers of an `aws_security_group_rule` or an inline rule block. `self` names the group
/// itself, unknown while the group is being created.
fn peers(v: &Value, group_id: Option<&str>, groups_field: &str) -> Vec<Option<Peer>> {
    let mut out: Vec<Option<Peer>> = Vec::new();
    out.extend(
        strings(v, "cidr_blocks")
            .into_iter()
            .map(|c| Some(Peer::Ipv4(c))),
    );
    out.extend(
        strings(v, "ipv6_cidr_blocks")
            .into_iter()
            .map(|c| Some(Peer::Ipv6(c))),
    );
    out.extend(
        strings(v, "prefix_list_ids")
            .into_iter()
            .map(|c| Some(Peer::PrefixList(c))),
    );
    match v.get(groups_field) {
        Some(Value::String(g)) if !g.is_empty() => out.push(Some(Peer::Group(g.clone()))),
        Some(Value::Array(_)) => out.extend(
            strings(v, groups_field)
                .into_iter()
                .map(|g| Some(Peer::Group(g))),
        ),
        _ => {}
    }
    if v.get("self").and_then(Value::as_bool) == Some(true) {
        out.push(group_id.map(|g| Peer::Group(g.to_string())));
    }
    out
}

fn legacy_rules(r: &Reader<'_>) -> Result<Vec<Item>, MapError> {
    let direction = match text(r.v, "type") {
        Some("ingress") => Direction::Ingress,
        Some("egress") => Direction::Egress,
        other => return Err(r.bad("type", format!("{other:?} is neither ingress nor egress"))),
    };
    let gid = r.key("security_group_id")?;
    let group = gid.map_or(GroupRef::Unknown, |g| GroupRef::Id(g.to_string()));
    let protocol = text(r.v, "protocol").unwrap_or("-1");
    let ports = (port(r.v, "from_port"), port(r.v, "to_port"));
    let description = r.text("description");
    Ok(peers(r.v, gid, "source_security_group_id")
        .into_iter()
        .map(|p| rule_item(&group, direction, protocol, ports, p, description))
        .collect())
}

fn vpc_rule(r: &Reader<'_>, direction: Direction) -> Result<Vec<Item>, MapError> {
    let gid = r.key("security_group_id")?;
    let group = gid.map_or(GroupRef::Unknown, |g| GroupRef::Id(g.to_string()));
    let peer = if let Some(c) = text(r.v, "cidr_ipv4") {
        Some(Peer::Ipv4(c.to_string()))
    } else if let Some(c) = text(r.v, "cidr_ipv6") {
        Some(Peer::Ipv6(c.to_string()))
    } else if let Some(p) = text(r.v, "prefix_list_id") {
        Some(Peer::PrefixList(p.to_string()))
    } else if let Some(g) = text(r.v, "referenced_security_group_id") {
        Some(Peer::Group(g.to_string()))
    } else if r.unknown("referenced_security_group_id") {
        None
    } else {
        return Err(r.bad(
            "cidr_ipv4",
            "no peer (cidr_ipv4, cidr_ipv6, prefix_list_id or referenced_security_group_id)",
        ));
    };
    let protocol = text(r.v, "ip_protocol").unwrap_or("-1");
    let ports = (port(r.v, "from_port"), port(r.v, "to_port"));
    Ok(vec![rule_item(
        &group,
        direction,
        protocol,
        ports,
        peer,
        r.text("description"),
    )])
}

/// `aws_security_group`: the group, and its inline `ingress`/`egress` blocks as rules.
fn group(r: &Reader<'_>) -> Result<Vec<Item>, MapError> {
    let id = r.key("id")?;
    let name = r.text("name");
    let mut fields = Vec::new();
    if let Some(n) = name {
        fields.push(("group_name".to_string(), json!(n)));
    }
    if let Some(d) = r.known("description") {
        fields.push(("description".to_string(), d.clone()));
    }
    if let Some(v) = r.text("vpc_id") {
        fields.push(("vpc_id".to_string(), json!(v)));
    }
    if let Some(t) = r.tags() {
        fields.push(("tags".to_string(), t));
    }
    let gref = match (id, name) {
        (Some(i), _) => GroupRef::Id(i.to_string()),
        (None, Some(n)) => GroupRef::Name(n.to_string()),
        (None, None) => GroupRef::Unknown,
    };
    let locator = match &gref {
        GroupRef::Id(i) => Locator::Id(i.clone()),
        GroupRef::Name(n) => Locator::Name(n.clone()),
        GroupRef::Unknown => Locator::Shape,
    };
    let mut out = vec![Item {
        kind: Kind::Ec2SecurityGroup,
        locator,
        fields,
    }];
    for (field, direction) in [
        ("ingress", Direction::Ingress),
        ("egress", Direction::Egress),
    ] {
        if r.unknown(field) {
            continue;
        }
        let blocks = r.v.get(field).and_then(Value::as_array);
        for b in blocks.into_iter().flatten() {
            let protocol = text(b, "protocol").unwrap_or("-1");
            let ports = (port(b, "from_port"), port(b, "to_port"));
            let description = text(b, "description");
            for p in peers(b, id, "security_groups") {
                out.push(rule_item(&gref, direction, protocol, ports, p, description));
            }
        }
    }
    Ok(out)
}

// ---- IAM ----

fn iam_entity(r: &Reader<'_>, t: &str) -> Result<Vec<Item>, MapError> {
    let name = r.key("name")?.map(str::to_string);
    let mut fields = Vec::new();
    if let Some(p) = r.text("path") {
        fields.push(("path".to_string(), json!(p)));
    }
    let boundary = |fields: &mut Vec<(String, Value)>| {
        if !r.unknown("permissions_boundary") {
            let b = r.text("permissions_boundary");
            fields.push(("permissions_boundary".to_string(), json!(b)));
        }
    };
    let kind = match t {
        "aws_iam_role" => {
            if let Some(d) = r.document("assume_role_policy")? {
                fields.push(("trust_policy".to_string(), d));
            }
            boundary(&mut fields);
            Kind::IamRole
        }
        "aws_iam_user" => {
            boundary(&mut fields);
            Kind::IamUser
        }
        "aws_iam_group" => Kind::IamGroup,
        _ => {
            if let Some(d) = r.document("policy")? {
                fields.push(("document".to_string(), d));
            }
            Kind::IamPolicy
        }
    };
    if matches!(kind, Kind::IamRole | Kind::IamUser)
        && let Some(tags) = r.tags()
    {
        fields.push(("tags".to_string(), tags));
    }
    Ok(vec![Item {
        kind,
        locator: id_or_shape(name),
        fields,
    }])
}

fn entity_of(t: &str) -> (&'static str, &'static str) {
    if t.starts_with("aws_iam_role") {
        ("role", "role")
    } else if t.starts_with("aws_iam_user") {
        ("user", "user")
    } else {
        ("group", "group")
    }
}

fn inline_policy(r: &Reader<'_>, t: &str) -> Result<Vec<Item>, MapError> {
    let (entity_type, field) = entity_of(t);
    let entity = r.key(field)?;
    let name = r.key("name")?;
    let mut fields = Vec::new();
    if let Some(d) = r.document("policy")? {
        fields.push(("document".to_string(), d));
    }
    let id = match (entity, name) {
        (Some(e), Some(n)) => Some(format!("{entity_type}/{e}/{n}")),
        _ => None,
    };
    Ok(vec![Item {
        kind: Kind::IamInlinePolicy,
        locator: id_or_shape(id),
        fields,
    }])
}

fn attached(entity_type: &str, entity: &str, policy_arn: Option<&str>) -> Item {
    Item {
        kind: Kind::IamPolicyAttachment,
        locator: match policy_arn {
            Some(arn) => Locator::Id(format!("{entity_type}/{entity}/{arn}")),
            // A policy the plan creates: its ARN is decided at apply.
            None => Locator::Shape,
        },
        fields: vec![
            ("entity_type".to_string(), json!(entity_type)),
            ("entity".to_string(), json!(entity)),
        ],
    }
}

fn attachment(r: &Reader<'_>, t: &str) -> Result<Vec<Item>, MapError> {
    let (entity_type, field) = entity_of(t);
    let Some(entity) = r.key(field)? else {
        return Ok(vec![Item {
            kind: Kind::IamPolicyAttachment,
            locator: Locator::Shape,
            fields: vec![("entity_type".to_string(), json!(entity_type))],
        }]);
    };
    Ok(vec![attached(entity_type, entity, r.key("policy_arn")?)])
}

/// `aws_iam_policy_attachment`: one policy attached to every listed user, role and group.
fn exclusive_attachment(r: &Reader<'_>) -> Result<Vec<Item>, MapError> {
    let arn = r.key("policy_arn")?;
    let mut out = Vec::new();
    for (entity_type, field) in [("user", "users"), ("role", "roles"), ("group", "groups")] {
        for e in strings(r.v, field) {
            out.push(attached(entity_type, &e, arn));
        }
    }
    Ok(out)
}

/// Memberships of one group or one user (`one`, unknown until apply: none can be keyed),
/// each keyed `group/user` by `id(one, member)`.
fn memberships(
    one: Option<&str>,
    many: Vec<String>,
    id: impl Fn(&str, &str) -> String,
) -> Vec<Item> {
    let Some(one) = one else {
        return Vec::new();
    };
    many.iter()
        .map(|m| Item {
            kind: Kind::IamGroupMembership,
            locator: Locator::Id(id(one, m)),
            fields: Vec::new(),
        })
        .collect()
}

/// An access key's id is decided at apply: a new key is recognised by its user's name.
fn access_key(r: &Reader<'_>) -> Result<Vec<Item>, MapError> {
    let user = r.key("user")?;
    let mut fields = Vec::new();
    if let Some(s) = r.text("status") {
        fields.push(("status".to_string(), json!(s)));
    }
    if let Some(u) = user {
        fields.push(("user".to_string(), json!(u)));
    }
    let locator = match (r.text("id"), user) {
        (Some(id), _) => Locator::Id(id.to_string()),
        (None, Some(u)) => Locator::Name(u.to_string()),
        (None, None) => Locator::Shape,
    };
    Ok(vec![Item {
        kind: Kind::IamAccessKey,
        locator,
        fields,
    }])
}

// ---- Kubernetes ----

fn kubernetes_kind(t: &str) -> Option<Kind> {
    let base = t.strip_suffix("_v1").unwrap_or(t);
    let (group, kind) = match base {
        "kubernetes_cluster_role" => ("rbac.authorization.k8s.io", "ClusterRole"),
        "kubernetes_cluster_role_binding" => ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        "kubernetes_role" => ("rbac.authorization.k8s.io", "Role"),
        "kubernetes_role_binding" => ("rbac.authorization.k8s.io", "RoleBinding"),
        "kubernetes_service" => ("", "Service"),
        "kubernetes_network_policy" => ("networking.k8s.io", "NetworkPolicy"),
        _ => return None,
    };
    Some(Kind::kubernetes(group, "v1", kind))
}

/// Keep the non-empty values of a provider block under the API's field names.
fn api_object(b: &Value, names: &[(&str, &str)]) -> Value {
    let mut m = Map::new();
    for (tf, api) in names {
        match b.get(*tf) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(v) => {
                m.insert((*api).to_string(), v.clone());
            }
        }
    }
    Value::Object(m)
}

fn kubernetes(r: &Reader<'_>, kind: Kind) -> Result<Vec<Item>, MapError> {
    let meta = block(r.v, "metadata").ok_or_else(|| r.bad("metadata", "missing"))?;
    let name = text(meta, "name");
    let namespace = text(meta, "namespace");
    let kind_name = match &kind {
        Kind::Kubernetes(k) => k.kind.clone(),
        _ => String::new(),
    };
    let namespaced = !kind_name.starts_with("Cluster");
    let id = name.map(|n| match (namespaced, namespace) {
        (true, Some(ns)) => format!("{ns}/{n}"),
        (true, None) => format!("default/{n}"),
        (false, _) => n.to_string(),
    });
    let mut fields = Vec::new();
    match meta.get("labels") {
        Some(Value::Object(l)) => fields.push(("tags".to_string(), Value::Object(l.clone()))),
        Some(Value::Null) | None => fields.push(("tags".to_string(), json!({}))),
        Some(_) => {}
    }
    let rules = |v: &Value| -> Value {
        Value::Array(
            v.get("rule")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|b| {
                    api_object(
                        b,
                        &[
                            ("api_groups", "apiGroups"),
                            ("non_resource_urls", "nonResourceURLs"),
                            ("resource_names", "resourceNames"),
                            ("resources", "resources"),
                            ("verbs", "verbs"),
                        ],
                    )
                })
                .collect(),
        )
    };
    match kind_name.as_str() {
        "Role" => fields.push(("rules".to_string(), rules(r.v))),
        "ClusterRole" if block(r.v, "aggregation_rule").is_none() => {
            fields.push(("rules".to_string(), rules(r.v)));
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            if let Some(rr) = block(r.v, "role_ref") {
                let role_ref = api_object(
                    rr,
                    &[
                        ("api_group", "apiGroup"),
                        ("kind", "kind"),
                        ("name", "name"),
                    ],
                );
                fields.push(("roleRef".to_string(), role_ref));
            }
            let subjects: Vec<Value> =
                r.v.get("subject")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        let mut o = api_object(
                            s,
                            &[
                                ("api_group", "apiGroup"),
                                ("kind", "kind"),
                                ("name", "name"),
                                ("namespace", "namespace"),
                            ],
                        );
                        // The API leaves a service account's (empty) group out.
                        if o.get("kind") == Some(&json!("ServiceAccount"))
                            && let Value::Object(m) = &mut o
                        {
                            m.remove("apiGroup");
                        }
                        o
                    })
                    .collect();
            fields.push(("subjects".to_string(), Value::Array(subjects)));
        }
        "Service" => {
            if let Some(spec) = block(r.v, "spec") {
                if let Some(t) = text(spec, "type") {
                    fields.push(("spec.type".to_string(), json!(t)));
                }
                if let Some(Value::Object(sel)) = spec.get("selector") {
                    fields.push(("spec.selector".to_string(), Value::Object(sel.clone())));
                }
            }
        }
        "NetworkPolicy" => {
            if let Some(spec) = block(r.v, "spec") {
                let types = strings(spec, "policy_types");
                if !types.is_empty() {
                    fields.push(("spec.policyTypes".to_string(), json!(types)));
                }
                if let Some(sel) = block(spec, "pod_selector") {
                    let labels = sel
                        .get("match_labels")
                        .and_then(Value::as_object)
                        .filter(|m| !m.is_empty())
                        .map(|m| json!({ "matchLabels": m }))
                        .unwrap_or_else(|| json!({}));
                    fields.push(("spec.podSelector".to_string(), labels));
                }
            }
        }
        _ => {}
    }
    Ok(vec![Item {
        kind,
        locator: id_or_shape(id),
        fields,
    }])
}

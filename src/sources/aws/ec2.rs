//! EC2 security groups: `DescribeSecurityGroups` paged to the end, each group's metadata as
//! one resource and each rule (one per peer) as its own resource keyed by meaning.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{IpPermission, SecurityGroup as SdkGroup};
use jiff::Timestamp;

use aws_sdk_ec2::error::ProvideErrorMetadata;

use super::classify;
use crate::cloudtrail::Target;
use crate::model::aws::{Direction, Peer, SecurityGroup, SecurityGroupRule, normalize_protocol};
use crate::model::{Coverage, FailureKind, IdMatch, Kind, Resource, Scope};
use crate::sources::{PollFuture, RereadFuture, RereadRequest, Source, observation};

pub struct Ec2Source {
    scope: Scope,
    client: aws_sdk_ec2::Client,
    page_size: i32,
    throttle: std::sync::Arc<super::limit::Throttle>,
    account: std::sync::Arc<super::identity::AccountCheck>,
    lookup: Option<std::sync::Arc<super::lookup::TrailLookup>>,
}

impl Ec2Source {
    pub fn new(
        scope: Scope,
        client: aws_sdk_ec2::Client,
        page_size: i32,
        throttle: std::sync::Arc<super::limit::Throttle>,
        account: std::sync::Arc<super::identity::AccountCheck>,
    ) -> Self {
        Ec2Source {
            scope,
            client,
            page_size,
            throttle,
            account,
            lookup: None,
        }
    }

    /// Look changes up in this region's CloudTrail (`[aws.lookup]`).
    pub fn with_lookup(mut self, l: Option<std::sync::Arc<super::lookup::TrailLookup>>) -> Self {
        self.lookup = l;
        self
    }

    async fn list(&self) -> Result<Vec<Resource>, (FailureKind, String)> {
        let mut resources = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = super::paging::Pages::new();
        loop {
            self.throttle.acquire("DescribeSecurityGroups").await;
            let resp = self
                .client
                .describe_security_groups()
                .max_results(self.page_size)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    let (kind, msg) = classify(&e);
                    (
                        kind,
                        format!("DescribeSecurityGroups page {}: {msg}", pages.count() + 1),
                    )
                })?;
            for g in resp.security_groups() {
                resources.extend(
                    normalize_group(&self.scope, g)
                        .map_err(|m| (FailureKind::InvalidResponse, m))?,
                );
            }
            token = pages
                .next("DescribeSecurityGroups", resp.next_token())
                .map_err(|m| (FailureKind::InvalidResponse, m))?;
            if token.is_none() {
                break;
            }
        }
        tracing::debug!(scope = %self.scope, pages = pages.count(), resources = resources.len(), "listed security groups");
        Ok(resources)
    }
}

impl Ec2Source {
    /// One group by id, after a CloudTrail event named it. `InvalidGroup.NotFound` is a
    /// proven absence: the group is gone, and so are its rules.
    async fn read_group(&self, group_id: &str) -> Result<Vec<Resource>, (FailureKind, String)> {
        self.throttle.acquire("DescribeSecurityGroups").await;
        let resp = match self
            .client
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.code() == Some("InvalidGroup.NotFound") => return Ok(Vec::new()),
            Err(e) => {
                let (kind, msg) = classify(&e);
                return Err((kind, format!("DescribeSecurityGroups {group_id}: {msg}")));
            }
        };
        let mut out = Vec::new();
        for g in resp
            .security_groups()
            .iter()
            .filter(|g| g.group_id() == Some(group_id))
        {
            out.extend(
                normalize_group(&self.scope, g).map_err(|m| (FailureKind::InvalidResponse, m))?,
            );
        }
        Ok(out)
    }
}

/// The stored keys one group's re-read answers for: its metadata and every rule (rule ids
/// start with the group id and a slash).
pub fn group_coverage(group_id: &str) -> Coverage {
    Coverage::new()
        .with(Kind::Ec2SecurityGroup, IdMatch::Exact(group_id.to_string()))
        .with(
            Kind::Ec2SecurityGroupRule,
            IdMatch::Prefix(format!("{group_id}/")),
        )
}

/// A group id as EC2 makes them (`sg-` and hex): anything else in an event is not used as
/// a key prefix.
fn is_group_id(s: &str) -> bool {
    s.strip_prefix("sg-")
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl Source for Ec2Source {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn service(&self) -> &'static str {
        "aws.ec2"
    }

    fn poll(&self, observed_at: Timestamp) -> PollFuture<'_> {
        Box::pin(async move {
            let listed = match self.account.verify(observed_at).await {
                Ok(()) => self.list().await,
                Err(e) => Err(e),
            };
            observation(&self.scope, observed_at, listed)
        })
    }

    fn lookup(
        &self,
        resource: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Option<crate::sources::LookupFuture<'_>> {
        super::lookup::lookup_future(self.lookup.as_ref(), resource, start, end)
    }

    fn reread(&self, request: &RereadRequest, observed_at: Timestamp) -> Option<RereadFuture<'_>> {
        let Target::SecurityGroup { group_id } = &request.target else {
            return None;
        };
        let group_id = group_id.clone();
        Some(Box::pin(async move {
            if !is_group_id(&group_id) {
                return Err((
                    FailureKind::InvalidResponse,
                    format!("`{group_id}` is not a security group id"),
                ));
            }
            self.account.verify(observed_at).await?;
            let resources = self.read_group(&group_id).await?;
            Ok((group_coverage(&group_id), resources))
        }))
    }
}

/// One API group → its metadata resource and one resource per rule and peer. An answer
/// without a group id is invalid (we cannot key it), and fails the whole listing.
pub fn normalize_group(scope: &Scope, g: &SdkGroup) -> Result<Vec<Resource>, String> {
    let group_id = g
        .group_id()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "a security group in the answer has no GroupId".to_string())?
        .to_string();
    let group_name = g.group_name().unwrap_or(&group_id).to_string();
    let vpc_id = g.vpc_id().map(str::to_string);
    let tags: BTreeMap<String, String> = g
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect();
    let mut out = vec![
        SecurityGroup {
            group_id: group_id.clone(),
            group_name: group_name.clone(),
            description: g.description().unwrap_or("").to_string(),
            vpc_id: vpc_id.clone(),
        }
        .into_resource(scope, tags),
    ];
    let base = |direction| SecurityGroupRule {
        group_id: group_id.clone(),
        group_name: group_name.clone(),
        vpc_id: vpc_id.clone(),
        direction,
        protocol: String::new(),
        from_port: None,
        to_port: None,
        peer: Peer::Ipv4(String::new()),
        description: None,
    };
    let mut rules: BTreeMap<String, Resource> = BTreeMap::new();
    for (direction, perms) in [
        (Direction::Ingress, g.ip_permissions()),
        (Direction::Egress, g.ip_permissions_egress()),
    ] {
        for p in perms {
            for rule in expand(base(direction), p) {
                let r = rule.into_resource(scope);
                // The same meaning twice in one answer is one rule.
                rules.insert(r.key.id.clone(), r);
            }
        }
    }
    out.extend(rules.into_values());
    Ok(out)
}

fn expand(base: SecurityGroupRule, p: &IpPermission) -> Vec<SecurityGroupRule> {
    let protocol = normalize_protocol(p.ip_protocol().unwrap_or("-1"));
    let (from_port, to_port) = if protocol == "all" {
        (None, None)
    } else {
        (p.from_port(), p.to_port())
    };
    let mk = |peer: Peer, description: Option<&str>| SecurityGroupRule {
        protocol: protocol.clone(),
        from_port,
        to_port,
        peer,
        description: description.filter(|d| !d.is_empty()).map(str::to_string),
        ..base.clone()
    };
    let mut out = Vec::new();
    for r in p.ip_ranges() {
        if let Some(c) = r.cidr_ip() {
            out.push(mk(Peer::Ipv4(c.to_string()), r.description()));
        }
    }
    for r in p.ipv6_ranges() {
        if let Some(c) = r.cidr_ipv6() {
            out.push(mk(Peer::Ipv6(c.to_string()), r.description()));
        }
    }
    for r in p.prefix_list_ids() {
        if let Some(c) = r.prefix_list_id() {
            out.push(mk(Peer::PrefixList(c.to_string()), r.description()));
        }
    }
    for r in p.user_id_group_pairs() {
        if let Some(gid) = r.group_id() {
            let v = match r.user_id() {
                Some(u) if !u.is_empty() && gid.starts_with("sg-") => format!("{u}/{gid}"),
                _ => gid.to_string(),
            };
            out.push(mk(Peer::Group(v), r.description()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, Tag, UserIdGroupPair};

    use super::*;

    fn scope() -> Scope {
        Scope::Aws {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        }
    }

    fn group(perms: Vec<IpPermission>) -> SdkGroup {
        SdkGroup::builder()
            .group_id("sg-1")
            .group_name("jupyter")
            .description("notebooks")
            .vpc_id("vpc-1")
            .tags(Tag::builder().key("team").value("research").build())
            .set_ip_permissions(Some(perms))
            .build()
    }

    #[test]
    fn one_resource_per_rule_and_peer() {
        let p = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(8888)
            .to_port(8888)
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip("0.0.0.0/0")
                    .description("oops")
                    .build(),
            )
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-2").build())
            .build();
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let rs = normalize_group(&scope(), &group(vec![p, all])).expect("valid");
        let ids: Vec<&str> = rs.iter().map(|r| r.key.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "sg-1",
                "sg-1/ingress/all/all/ipv4:0.0.0.0/0",
                "sg-1/ingress/tcp/8888/group:sg-2",
                "sg-1/ingress/tcp/8888/ipv4:0.0.0.0/0",
                "sg-1/ingress/tcp/8888/ipv4:10.0.0.0/8",
                "sg-1/ingress/tcp/8888/ipv6:::/0",
            ]
        );
        assert_eq!(rs[0].tags.get("team").map(String::as_str), Some("research"));
        assert_eq!(
            rs[3].targets,
            vec!["sg-1".to_string(), "jupyter".to_string()]
        );
    }

    #[test]
    fn rule_order_in_the_answer_does_not_matter() {
        let a = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .build();
        let b = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let x = normalize_group(&scope(), &group(vec![a.clone(), b.clone()])).expect("valid");
        let y = normalize_group(&scope(), &group(vec![b, a])).expect("valid");
        assert_eq!(x, y);
    }

    #[test]
    fn group_without_id_is_invalid() {
        let g = SdkGroup::builder().group_name("x").build();
        assert!(normalize_group(&scope(), &g).is_err());
    }
}

//! The scope entries of a record: provider-specific fields, kinds, target globs and the
//! `match` map, each problem an `InvalidScope` error at its line.

use globset::Glob;

use super::{Errors, line};
use crate::model::aws::Direction;
use crate::model::record::{AttributeMatch, ScopeEntry};
use crate::model::{Kind, Provider};
use crate::records::RejectionRule;
use crate::records::schema::{RawScope, ScalarValue};

pub(super) fn scope_entry(
    errs: &mut Errors<'_>,
    i: usize,
    at: usize,
    s: &RawScope,
) -> Option<ScopeEntry> {
    let before = errs.list.len();
    let field = |f: &str| format!("scope[{i}].{f}");
    match s.provider {
        Provider::Aws if s.cluster.is_some() => errs.push(
            RejectionRule::InvalidScope,
            at,
            &field("cluster"),
            "only for provider kubernetes".into(),
        ),
        Provider::Kubernetes if s.account.is_some() || s.region.is_some() => errs.push(
            RejectionRule::InvalidScope,
            at,
            &field(if s.account.is_some() {
                "account"
            } else {
                "region"
            }),
            "only for provider aws".into(),
        ),
        _ => {}
    }
    let kind = match &s.kind {
        None => None,
        Some(k) => match k.value.parse::<Kind>() {
            Ok(kind) if kind.provider() != s.provider => {
                errs.push(
                    RejectionRule::InvalidScope,
                    line(k),
                    &field("kind"),
                    format!("{kind} is not a {} kind", s.provider),
                );
                None
            }
            Ok(kind) => Some(kind),
            Err(e) => {
                errs.push(
                    RejectionRule::InvalidScope,
                    line(k),
                    &field("kind"),
                    e.to_string(),
                );
                None
            }
        },
    };
    if let Some(t) = &s.target
        && let Err(e) = Glob::new(&t.value)
    {
        errs.push(
            RejectionRule::InvalidScope,
            line(t),
            &field("target"),
            format!("invalid glob: {e}"),
        );
    }
    let mut matches = Vec::new();
    for (key, v) in &s.matches {
        let mline = line(v);
        let f = field(&format!("match.{key}"));
        let text = match &v.value {
            ScalarValue::Int(n) => n.to_string(),
            ScalarValue::Text(t) => t.clone(),
        };
        match key.as_str() {
            "port" => match text.parse::<u16>() {
                Ok(p) => matches.push(AttributeMatch::Port(p)),
                Err(_) => errs.push(
                    RejectionRule::InvalidScope,
                    mline,
                    &f,
                    format!("`{text}` is not a port number (0-65535)"),
                ),
            },
            "protocol" => matches.push(AttributeMatch::Protocol(text.to_ascii_lowercase())),
            "direction" => match text.as_str() {
                "ingress" => matches.push(AttributeMatch::Direction(Direction::Ingress)),
                "egress" => matches.push(AttributeMatch::Direction(Direction::Egress)),
                _ => errs.push(
                    RejectionRule::InvalidScope,
                    mline,
                    &f,
                    format!("`{text}` is not ingress or egress"),
                ),
            },
            "peer" => {
                let is_net = text.parse::<ipnet::IpNet>().is_ok();
                let is_ref = text.starts_with("sg-") || text.starts_with("pl-");
                if is_net || is_ref {
                    matches.push(AttributeMatch::Peer(text));
                } else {
                    errs.push(
                        RejectionRule::InvalidScope,
                        mline,
                        &f,
                        format!("`{text}` is not a CIDR, sg- or pl- id"),
                    );
                }
            }
            _ => errs.push(
                RejectionRule::InvalidScope,
                mline,
                &f,
                "unknown match key (supported: port, protocol, direction, peer)".into(),
            ),
        }
    }
    if !matches.is_empty()
        && kind
            .as_ref()
            .is_some_and(|k| *k != Kind::Ec2SecurityGroupRule)
    {
        errs.push(
            RejectionRule::InvalidScope,
            at,
            &field("match"),
            "match applies only to kind aws.ec2.security_group_rule".into(),
        );
    }
    (errs.list.len() == before).then(|| ScopeEntry {
        provider: s.provider,
        account: s.account.clone(),
        region: s.region.clone(),
        cluster: s.cluster.clone(),
        kind,
        target: s.target.as_ref().map(|t| t.value.clone()),
        actions: s.actions.clone(),
        matches,
        planned: None,
    })
}

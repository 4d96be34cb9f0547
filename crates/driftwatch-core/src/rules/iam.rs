//! IAM risk rules: admin-equivalent policies (inline too), NotAction allows, PassRole on any
//! role, admin policies attached, roles anyone or an outside account can assume, and new
//! users, access keys and console logins.

use serde_json::Value;

use super::RuleSettings;
use crate::model::iam::statements;
use crate::model::{Action, Change, Finding, Kind, Resource, RuleId, Scope, Severity};

fn finding(rule: RuleId, severity: Severity, message: String) -> Finding {
    Finding {
        rule,
        severity,
        message,
    }
}

fn has(list: &[String], v: &str) -> bool {
    list.iter().any(|x| x == v)
}

fn document_findings(name: &str, doc: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in statements(doc).into_iter().filter(|s| s.allow) {
        let any_resource = has(&s.resources, "*");
        if has(&s.actions, "*") && any_resource {
            out.push(finding(
                RuleId::IamAdminPolicy,
                Severity::Critical,
                format!("{name} allows every action on every resource (admin)"),
            ));
        } else if (has(&s.actions, "iam:PassRole") || has(&s.actions, "iam:*")) && any_resource {
            out.push(finding(
                RuleId::IamPassRoleAny,
                Severity::High,
                format!("{name} allows iam:PassRole on any role (privilege escalation)"),
            ));
        }
        if s.has_not_action {
            out.push(finding(
                RuleId::IamNotActionAllow,
                Severity::High,
                format!(
                    "{name} allows everything except {} (NotAction with Allow)",
                    s.not_actions.join(", ")
                ),
            ));
        }
    }
    out.sort_by_key(|f| f.rule);
    out.dedup();
    out
}

fn principal_account(p: &str) -> Option<&str> {
    if p.len() == 12 && p.chars().all(|c| c.is_ascii_digit()) {
        return Some(p);
    }
    let rest = p.strip_prefix("arn:aws:iam::")?;
    let acct = rest.split(':').next()?;
    (acct.len() == 12 && acct.chars().all(|c| c.is_ascii_digit())).then_some(acct)
}

fn trust_findings(role: &str, own: &str, doc: &Value, s: &RuleSettings) -> Vec<Finding> {
    let mut out = Vec::new();
    for st in statements(doc).into_iter().filter(|x| x.allow) {
        if has(&st.principals, "*") {
            out.push(finding(
                RuleId::IamTrustAnyone,
                Severity::Critical,
                format!("role {role} can be assumed by anyone (Principal *)"),
            ));
        }
        for p in &st.principals {
            if let Some(acct) = principal_account(p)
                && acct != own
                && !s.trusted_accounts.iter().any(|t| t == acct)
            {
                out.push(finding(
                    RuleId::IamTrustExternalAccount,
                    Severity::High,
                    format!("role {role} trusts account {acct}, outside the organization list"),
                ));
            }
        }
    }
    out.dedup();
    out
}

/// Findings on an IAM resource as it stands.
pub fn assess(r: &Resource, s: &RuleSettings) -> Vec<Finding> {
    let a = &r.attributes();
    match r.key.kind {
        Kind::IamPolicy | Kind::IamInlinePolicy => {
            document_findings(&r.name, a.get("document").unwrap_or(&Value::Null))
        }
        Kind::IamPolicyAttachment => {
            let arn = a.get("policy_arn").and_then(Value::as_str).unwrap_or("");
            let who = format!(
                "{} {}",
                a.get("entity_type").and_then(Value::as_str).unwrap_or(""),
                a.get("entity").and_then(Value::as_str).unwrap_or("")
            );
            if arn.ends_with(":policy/AdministratorAccess") {
                vec![finding(
                    RuleId::IamAdminAttached,
                    Severity::Critical,
                    format!("AdministratorAccess attached to {who}"),
                )]
            } else if arn.ends_with(":policy/PowerUserAccess")
                || arn.ends_with(":policy/IAMFullAccess")
            {
                vec![finding(
                    RuleId::IamPowerUserAttached,
                    Severity::High,
                    format!(
                        "{} attached to {who}",
                        arn.rsplit('/').next().unwrap_or(arn)
                    ),
                )]
            } else {
                Vec::new()
            }
        }
        Kind::IamRole => {
            let own = match &r.key.scope {
                Scope::Aws { account, .. } => &**account,
                Scope::Kubernetes { .. } => "",
            };
            trust_findings(
                &r.name,
                own,
                a.get("trust_policy").unwrap_or(&Value::Null),
                s,
            )
        }
        _ => Vec::new(),
    }
}

/// Findings only a change can have: something new appeared.
pub fn assess_change(c: &Change) -> Vec<Finding> {
    let Some(after) = &c.after else {
        return Vec::new();
    };
    let console = |r: Option<&Resource>| {
        r.and_then(|r| r.attributes().get("console_login").and_then(Value::as_bool))
            .unwrap_or(false)
    };
    let mut out = Vec::new();
    match (&c.key.kind, c.action) {
        (Kind::IamAccessKey, Action::Create) => out.push(finding(
            RuleId::IamNewAccessKey,
            Severity::Medium,
            format!("new {}", after.name),
        )),
        (Kind::IamUser, Action::Create) => out.push(finding(
            RuleId::IamNewUser,
            Severity::Medium,
            format!("new IAM user {}", after.name),
        )),
        _ => {}
    }
    if c.key.kind == Kind::IamUser && console(Some(after)) && !console(c.before.as_ref()) {
        out.push(finding(
            RuleId::IamConsoleLogin,
            Severity::Medium,
            format!("console login enabled for {}", after.name),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::model::{ResourceKey, iam};

    fn res(kind: Kind, name: &str, attributes: Value) -> Resource {
        Resource::new(
            ResourceKey {
                scope: Scope::Aws {
                    account: "111111111111".into(),
                    region: "global".into(),
                },
                kind,
                id: name.into(),
            },
            name.into(),
            vec![name.into()],
            BTreeMap::new(),
            attributes,
        )
    }

    fn policy(kind: Kind, doc: &str) -> Resource {
        res(
            kind,
            "p",
            json!({ "document": iam::canonical_text(doc).expect("doc") }),
        )
    }

    #[test]
    fn table() {
        let s = RuleSettings {
            trusted_accounts: vec!["222222222222".into()],
            ..RuleSettings::default()
        };
        let cases: Vec<(&str, Resource, Vec<RuleId>)> = vec![
            (
                "inline admin",
                policy(
                    Kind::IamInlinePolicy,
                    r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
                ),
                vec![RuleId::IamAdminPolicy],
            ),
            (
                "managed admin",
                policy(
                    Kind::IamPolicy,
                    r#"{"Statement":[{"Effect":"Allow","Action":["*"],"Resource":["*"]}]}"#,
                ),
                vec![RuleId::IamAdminPolicy],
            ),
            (
                "deny all is fine",
                policy(
                    Kind::IamPolicy,
                    r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#,
                ),
                vec![],
            ),
            (
                "s3 read is fine",
                policy(
                    Kind::IamPolicy,
                    r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
                ),
                vec![],
            ),
            (
                "not action",
                policy(
                    Kind::IamPolicy,
                    r#"{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#,
                ),
                vec![RuleId::IamNotActionAllow],
            ),
            (
                "pass role",
                policy(
                    Kind::IamInlinePolicy,
                    r#"{"Statement":{"Effect":"Allow","Action":["iam:PassRole","ec2:RunInstances"],"Resource":"*"}}"#,
                ),
                vec![RuleId::IamPassRoleAny],
            ),
            (
                "admin attached",
                res(
                    Kind::IamPolicyAttachment,
                    "a",
                    json!({"entity_type":"role","entity":"ml","policy_arn":"arn:aws:iam::aws:policy/AdministratorAccess"}),
                ),
                vec![RuleId::IamAdminAttached],
            ),
            (
                "power user attached",
                res(
                    Kind::IamPolicyAttachment,
                    "a",
                    json!({"entity_type":"user","entity":"bob","policy_arn":"arn:aws:iam::aws:policy/PowerUserAccess"}),
                ),
                vec![RuleId::IamPowerUserAttached],
            ),
            (
                "trust anyone",
                res(
                    Kind::IamRole,
                    "r",
                    json!({"trust_policy": iam::canonical_text(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}"#).expect("doc")}),
                ),
                vec![RuleId::IamTrustAnyone],
            ),
            (
                "trust outside account",
                res(
                    Kind::IamRole,
                    "r",
                    json!({"trust_policy": iam::canonical_text(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}}"#).expect("doc")}),
                ),
                vec![RuleId::IamTrustExternalAccount],
            ),
            (
                "trust org account",
                res(
                    Kind::IamRole,
                    "r",
                    json!({"trust_policy": iam::canonical_text(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["222222222222","arn:aws:iam::111111111111:root"]},"Action":"sts:AssumeRole"}}"#).expect("doc")}),
                ),
                vec![],
            ),
            (
                "trust a service",
                res(
                    Kind::IamRole,
                    "r",
                    json!({"trust_policy": iam::canonical_text(r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}"#).expect("doc")}),
                ),
                vec![],
            ),
        ];
        let mut failures = Vec::new();
        for (name, r, want) in cases {
            let got: Vec<RuleId> = assess(&r, &s).into_iter().map(|f| f.rule).collect();
            if got != want {
                failures.push(format!("{name}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }
}

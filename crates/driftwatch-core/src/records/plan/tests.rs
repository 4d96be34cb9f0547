//! Plans in the documented `terraform show -json` shape (format version 1.2, terraform 1.9).

use super::*;

const PLAN: &str = r#"{
  "format_version": "1.2",
  "terraform_version": "1.9.8",
  "planned_values": { "root_module": {} },
  "resource_changes": [
    {
      "address": "aws_security_group_rule.ssh_vpn",
      "mode": "managed",
      "type": "aws_security_group_rule",
      "name": "ssh_vpn",
      "provider_name": "registry.terraform.io/hashicorp/aws",
      "change": {
        "actions": ["create"],
        "before": null,
        "after": { "type": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22,
                   "cidr_blocks": ["10.8.0.0/16"], "security_group_id": "sg-0a1b2c3d", "description": "VPN" },
        "after_unknown": { "id": true, "security_group_rule_id": true, "cidr_blocks": [false] },
        "before_sensitive": false,
        "after_sensitive": {}
      }
    },
    {
      "address": "module.iam.aws_iam_role.etl",
      "module_address": "module.iam",
      "mode": "managed",
      "type": "aws_iam_role",
      "name": "etl",
      "change": {
        "actions": ["update"],
        "before": { "name": "etl", "assume_role_policy": "{}" },
        "after": { "name": "etl", "assume_role_policy": "{\"Version\":\"2012-10-17\"}" },
        "after_unknown": {}
      }
    },
    {
      "address": "aws_iam_policy.old",
      "mode": "managed",
      "type": "aws_iam_policy",
      "name": "old",
      "change": { "actions": ["delete", "create"], "before": { "name": "old" }, "after": { "name": "old" }, "after_unknown": { "arn": true } }
    },
    {
      "address": "aws_s3_bucket.logs",
      "mode": "managed",
      "type": "aws_s3_bucket",
      "name": "logs",
      "change": { "actions": ["create"], "before": null, "after": { "bucket": "logs" }, "after_unknown": {} }
    },
    {
      "address": "aws_iam_user.kept",
      "mode": "managed",
      "type": "aws_iam_user",
      "name": "kept",
      "change": { "actions": ["no-op"], "before": { "name": "kept" }, "after": { "name": "kept" }, "after_unknown": {} }
    },
    {
      "address": "data.aws_iam_policy_document.trust",
      "mode": "data",
      "type": "aws_iam_policy_document",
      "name": "trust",
      "change": { "actions": ["read"], "before": null, "after": {}, "after_unknown": {} }
    }
  ]
}"#;

#[test]
fn mapped_changes_unmapped_types_and_no_ops() {
    let p = parse(PLAN).expect("plan");
    assert_eq!(p.format_version, "1.2");
    assert_eq!(p.terraform_version.as_deref(), Some("1.9.8"));
    let got: Vec<(&str, PlanAction)> = p
        .changes
        .iter()
        .map(|c| (c.address.as_str(), c.action))
        .collect();
    assert_eq!(
        got,
        vec![
            ("aws_security_group_rule.ssh_vpn", PlanAction::Create),
            ("module.iam.aws_iam_role.etl", PlanAction::Update),
            ("aws_iam_policy.old", PlanAction::Replace),
        ]
    );
    assert_eq!(
        p.unmapped,
        vec![(
            "aws_s3_bucket.logs".to_string(),
            "aws_s3_bucket".to_string()
        )]
    );
    let ssh = &p.changes[0];
    assert_eq!(ssh.after["from_port"], 22);
    assert!(ssh.is_unknown(&["id"]));
    assert!(!ssh.is_unknown(&["from_port"]));
    assert!(
        !ssh.is_unknown(&["cidr_blocks"]),
        "a list of knowns is not unknown"
    );
}

/// (what, plan text, the error it must name)
#[test]
fn bad_plans_name_what_is_wrong() {
    let cases = [
        ("not JSON", "{", "not JSON"),
        (
            "no version",
            r#"{"resource_changes": []}"#,
            "format_version: missing",
        ),
        (
            "a future format",
            r#"{"format_version": "2.0"}"#,
            "format_version `2.0` is not supported",
        ),
        (
            "resource_changes not a list",
            r#"{"format_version": "1.2", "resource_changes": {}}"#,
            "resource_changes: must be a list",
        ),
        (
            "an entry without its type",
            r#"{"format_version": "1.2", "resource_changes": [{"address": "a.b", "change": {"actions": ["create"]}}]}"#,
            "resource_changes[0].type: missing",
        ),
        (
            "an action list terraform never writes",
            r#"{"format_version": "1.2", "resource_changes": [{"address": "aws_iam_user.u", "type": "aws_iam_user", "change": {"actions": ["create", "update"]}}]}"#,
            "resource_changes[0].change.actions: [\"create\", \"update\"] is not an action list terraform writes",
        ),
    ];
    for (what, text, want) in cases {
        let err = parse(text).expect_err(what).to_string();
        assert!(err.contains(want), "{what}: `{err}` lacks `{want}`");
    }
    let empty = parse(r#"{"format_version": "1.1"}"#).expect("a plan with no changes");
    assert!(empty.changes.is_empty() && empty.unmapped.is_empty());
}

mod mapping {
    use super::*;

    fn change(
        resource_type: &str,
        action: PlanAction,
        before: Value,
        after: Value,
        unknown: Value,
    ) -> PlannedChange {
        PlannedChange {
            address: format!("{resource_type}.x"),
            resource_type: resource_type.into(),
            action,
            before,
            after,
            after_unknown: unknown,
        }
    }

    fn line(p: &crate::model::record::Planned) -> String {
        let mut s = format!(
            "{}: {} {} {}",
            p.address,
            p.action.as_str(),
            p.kind,
            p.locator
        );
        for f in &p.fields {
            s.push_str(&format!(" {}={}", f.path, f.value));
        }
        s
    }

    /// Each fixture plan (hand-written to the documented schema, one or more changes of
    /// every mapped type) against the resources it must expect, one line each. Set
    /// `DRIFTWATCH_BLESS=1` to rewrite the `.expected` files after a deliberate change, and
    /// read the diff.
    #[test]
    fn fixture_plans_expect_these_resources() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans");
        let mut types_seen = std::collections::BTreeSet::new();
        for name in ["security-groups", "iam", "kubernetes"] {
            let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("fixture");
            let plan = parse(&text).unwrap_or_else(|e| panic!("{name}.json: {e}"));
            assert!(plan.unmapped.is_empty(), "{name}.json: {:?}", plan.unmapped);
            let mut got = String::new();
            for c in &plan.changes {
                types_seen.insert(c.resource_type.trim_end_matches("_v1").to_string());
                for p in planned(c).unwrap_or_else(|e| panic!("{name}.json: {e}")) {
                    got.push_str(&line(&p));
                    got.push('\n');
                }
            }
            let path = dir.join(format!("{name}.expected"));
            if std::env::var_os("DRIFTWATCH_BLESS").is_some() {
                std::fs::write(&path, &got).expect("bless");
            }
            let want = std::fs::read_to_string(&path).expect("expected file");
            for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
                assert_eq!(g, w, "{name}.json, resource {}", i + 1);
            }
            assert_eq!(
                got.lines().count(),
                want.lines().count(),
                "{name}.json: {got}"
            );
        }
        let mapped: std::collections::BTreeSet<String> = MAPPED_TYPES
            .iter()
            .map(|t| t.trim_end_matches("_v1").to_string())
            .collect();
        assert_eq!(types_seen, mapped, "every mapped type has a fixture");
    }

    #[test]
    fn an_update_that_leaves_a_member_as_it_was_expects_only_the_difference() {
        let rule = |cidrs: Value| {
            serde_json::json!({"type": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22,
                "security_group_id": "sg-1", "cidr_blocks": cidrs})
        };
        let c = change(
            "aws_security_group_rule",
            PlanAction::Update,
            rule(serde_json::json!(["10.0.0.0/8", "10.1.0.0/16"])),
            rule(serde_json::json!(["10.0.0.0/8", "10.2.0.0/16"])),
            serde_json::json!({}),
        );
        let got: Vec<String> = planned(&c)
            .expect("mapped")
            .iter()
            .map(|p| format!("{} {}", p.action.as_str(), p.locator))
            .collect();
        assert_eq!(
            got,
            [
                "delete sg-1/ingress/tcp/22/ipv4:10.1.0.0/16",
                "create sg-1/ingress/tcp/22/ipv4:10.2.0.0/16"
            ]
        );
    }

    /// (what, change, the error it must name)
    #[test]
    fn what_cannot_be_mapped_says_why() {
        let no_type = change(
            "aws_security_group_rule",
            PlanAction::Create,
            Value::Null,
            serde_json::json!({"protocol": "tcp", "security_group_id": "sg-1"}),
            serde_json::json!({}),
        );
        let no_peer = change(
            "aws_vpc_security_group_ingress_rule",
            PlanAction::Create,
            Value::Null,
            serde_json::json!({"security_group_id": "sg-1", "ip_protocol": "tcp"}),
            serde_json::json!({}),
        );
        let no_name = change(
            "aws_iam_role",
            PlanAction::Update,
            serde_json::json!({"path": "/"}),
            serde_json::json!({"path": "/"}),
            serde_json::json!({}),
        );
        let bad_policy = change(
            "aws_iam_policy",
            PlanAction::Create,
            Value::Null,
            serde_json::json!({"name": "p", "policy": "{not json"}),
            serde_json::json!({}),
        );
        let no_metadata = change(
            "kubernetes_role",
            PlanAction::Create,
            Value::Null,
            serde_json::json!({"rule": []}),
            serde_json::json!({}),
        );
        let cases = [
            (
                "no type",
                no_type,
                "`type`: None is neither ingress nor egress",
            ),
            ("no peer", no_peer, "`cidr_ipv4`: no peer"),
            ("a role without its name", no_name, "`name`: missing"),
            (
                "a policy that is not JSON",
                bad_policy,
                "`policy`: policy document is not JSON",
            ),
            ("no metadata block", no_metadata, "`metadata`: missing"),
        ];
        for (what, c, want) in cases {
            let err = planned(&c).expect_err(what).to_string();
            assert!(err.contains(want), "{what}: `{err}` lacks `{want}`");
            assert!(
                err.starts_with(&c.address),
                "{what}: `{err}` names the address"
            );
        }
    }
}

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
    use crate::model::Action;

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

    fn ids(e: &[Expected]) -> Vec<(Action, &str)> {
        e.iter().map(|x| (x.action, x.id.as_str())).collect()
    }

    #[test]
    fn a_legacy_rule_is_one_expected_rule_per_peer() {
        let p = parse(PLAN).expect("plan");
        let e = expected(&p.changes[0]).expect("mapped");
        assert_eq!(
            ids(&e),
            vec![(
                Action::Create,
                "sg-0a1b2c3d/ingress/tcp/22/ipv4:10.8.0.0/16"
            )]
        );
        assert_eq!(e[0].address, "aws_security_group_rule.ssh_vpn");
        assert_eq!(
            e[0].fields,
            vec![("description".to_string(), Value::from("VPN"))]
        );
        let many = change(
            "aws_security_group_rule",
            PlanAction::Create,
            Value::Null,
            serde_json::json!({"type": "egress", "protocol": "-1", "from_port": 0, "to_port": 0,
                "security_group_id": "sg-1", "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": ["::/0"], "self": true}),
            serde_json::json!({}),
        );
        assert_eq!(
            ids(&expected(&many).expect("mapped")),
            vec![
                (Action::Create, "sg-1/egress/all/all/ipv4:0.0.0.0/0"),
                (Action::Create, "sg-1/egress/all/all/ipv6:::/0"),
                (Action::Create, "sg-1/egress/all/all/group:sg-1"),
            ]
        );
    }

    #[test]
    fn vpc_rules_replaces_and_deletes() {
        let rule = |port: i64, cidr: &str| {
            serde_json::json!({"security_group_id": "sg-1", "ip_protocol": "tcp", "from_port": port,
                "to_port": port, "cidr_ipv4": cidr, "description": null})
        };
        let replace = change(
            "aws_vpc_security_group_ingress_rule",
            PlanAction::Replace,
            rule(80, "0.0.0.0/0"),
            rule(443, "0.0.0.0/0"),
            serde_json::json!({"arn": true, "id": true}),
        );
        assert_eq!(
            ids(&expected(&replace).expect("mapped")),
            vec![
                (Action::Delete, "sg-1/ingress/tcp/80/ipv4:0.0.0.0/0"),
                (Action::Create, "sg-1/ingress/tcp/443/ipv4:0.0.0.0/0"),
            ]
        );
        let gone = change(
            "aws_vpc_security_group_egress_rule",
            PlanAction::Delete,
            rule(53, "10.0.0.0/8"),
            Value::Null,
            Value::Null,
        );
        let e = expected(&gone).expect("mapped");
        assert_eq!(
            ids(&e),
            vec![(Action::Delete, "sg-1/egress/tcp/53/ipv4:10.0.0.0/8")]
        );
        assert!(e[0].fields.is_empty());
    }

    /// (what, change, the error it must name)
    #[test]
    fn what_cannot_be_mapped_says_why() {
        let new_group = change(
            "aws_security_group_rule",
            PlanAction::Create,
            Value::Null,
            serde_json::json!({"type": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["10.0.0.0/8"]}),
            serde_json::json!({"security_group_id": true}),
        );
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
        let role = change(
            "aws_iam_role",
            PlanAction::Create,
            Value::Null,
            serde_json::json!({}),
            serde_json::json!({}),
        );
        let cases = [
            (
                "a rule of a group the plan creates",
                new_group,
                "`security_group_id` is unknown until apply",
            ),
            (
                "no type",
                no_type,
                "`type`: None is neither ingress nor egress",
            ),
            ("no peer", no_peer, "`cidr_ipv4`: no peer"),
            (
                "a type not mapped yet",
                role,
                "mapping aws_iam_role is not built yet",
            ),
        ];
        for (what, c, want) in cases {
            let err = expected(&c).expect_err(what).to_string();
            assert!(err.contains(want), "{what}: `{err}` lacks `{want}`");
        }
    }
}

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

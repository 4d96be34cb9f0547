//! Terraform/OpenTofu plans as change records, against moto's server: a record approves a
//! plan (hand-written to the `terraform show -json` schema, as CI would save it); what is
//! applied as planned matches naming the plan's address, what is applied otherwise is a
//! violation (beyond plan) naming the field, what is never applied is in the report as
//! approved, not applied.

mod common;

use std::time::Duration;

use aws_sdk_ec2::types::{IpPermission, IpRange};
use common::*;
use serde_json::Value;

const TRUST_GLUE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"glue.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// `terraform show -json` of a plan for a group's rules and a new role.
fn plan(group: &str) -> String {
    let rule = |address: &str, port: u16, cidr: &str, description: &str| {
        serde_json::json!({
            "address": address, "mode": "managed", "type": "aws_security_group_rule",
            "name": address.rsplit('.').next(),
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {
                "actions": ["create"], "before": null,
                "after": {"type": "ingress", "protocol": "tcp", "from_port": port, "to_port": port,
                          "cidr_blocks": [cidr], "security_group_id": group, "description": description,
                          "self": false, "ipv6_cidr_blocks": null, "prefix_list_ids": null},
                "after_unknown": {"id": true, "security_group_rule_id": true, "source_security_group_id": true}
            }
        })
    };
    serde_json::json!({
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "resource_changes": [
            rule("aws_security_group_rule.https_vpc", 443, "10.0.0.0/8", "https from the VPC"),
            rule("aws_security_group_rule.ssh_vpn", 22, "10.8.0.0/16", "VPN"),
            rule("aws_security_group_rule.node_exporter", 9100, "10.9.0.0/16", "metrics"),
            {
                "address": "aws_iam_role.etl", "mode": "managed", "type": "aws_iam_role", "name": "etl",
                "change": {
                    "actions": ["create"], "before": null,
                    "after": {"name": "etl", "path": "/", "assume_role_policy": TRUST_GLUE,
                              "permissions_boundary": null, "max_session_duration": 3600,
                              "tags": null, "tags_all": {}},
                    "after_unknown": {"arn": true, "id": true, "unique_id": true, "create_date": true}
                }
            },
            {
                "address": "aws_s3_bucket.logs", "mode": "managed", "type": "aws_s3_bucket", "name": "logs",
                "change": {"actions": ["create"], "before": null, "after": {"bucket": "logs"}, "after_unknown": {}}
            }
        ]
    })
    .to_string()
}

async fn authorize_described(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    port: i32,
    cidr: &str,
    d: &str,
) {
    ec2.authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(port)
                .to_port(port)
                .ip_ranges(IpRange::builder().cidr_ip(cidr).description(d).build())
                .build(),
        )
        .send()
        .await
        .expect("authorize ingress");
}

/// Every change of a `scan --format json`, across its scopes.
fn changes(v: &Value) -> Vec<&Value> {
    v["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["changes"].as_array().into_iter().flatten())
        .collect()
}

#[tokio::test]
async fn applied_changes_match_exceed_or_skip_their_plan() {
    let moto = Moto::start();
    let hook = Receiver::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        services: "\"ec2\", \"iam\"",
        ..Default::default()
    });
    let ec2 = moto.ec2().await;
    let iam = iam_client(&moto.url);
    let web = create_group(&ec2, "web-tier").await;

    // The approved PR: its plan saved beside the record, the window closing shortly.
    let now = jiff::Timestamp::now();
    let end = now + jiff::SignedDuration::from_secs(20);
    let changes_dir = env.dir.path().join("changes");
    std::fs::create_dir_all(changes_dir.join("plans")).expect("mkdir");
    std::fs::write(changes_dir.join("plans/pr-42.json"), plan(&web)).expect("plan");
    env.record(
        "pr-42.yaml",
        &format!(
            "id: CHG-42\ntitle: PR 42, web tier ingress and the ETL role\ntype: normal\npurpose: p\nimpact: i\nresources: r\nrequested_by: alice@example.com\napproved_by: [{{ name: bob@example.com, at: {} }}]\nwindow: {{ start: {}, end: {} }}\nplan: {{ path: plans/pr-42.json, account: \"123456789012\" }}\n",
            now - jiff::SignedDuration::from_hours(1),
            now - jiff::SignedDuration::from_hours(1),
            jiff::Timestamp::from_second(end.as_second()).expect("end"),
        ),
    );
    let out = env.run(&["records", "check", changes_dir.to_str().expect("utf-8")]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains(
            "plan plans/pr-42.json: aws_s3_bucket.logs: aws_s3_bucket is not a type driftwatch reconciles"
        ),
        "{out}"
    );
    assert_eq!(env.run(&["scan"]).code, 0, "baseline");

    // Applied: https as planned, ssh with another description, the role as planned; the
    // node exporter rule never.
    authorize_described(&ec2, &web, 443, "10.0.0.0/8", "https from the VPC").await;
    authorize_described(&ec2, &web, 22, "10.8.0.0/16", "temporary").await;
    iam.create_role()
        .role_name("etl")
        .assume_role_policy_document(TRUST_GLUE)
        .send()
        .await
        .expect("create role");
    let out = env.run(&["scan", "--format", "json"]);
    assert_eq!(out.code, 1, "the change beyond plan needs attention: {out}");
    let v: Value = serde_json::from_str(&out.stdout).expect("scan json");
    let find = |name: &str| -> &Value {
        changes(&v)
            .into_iter()
            .find(|c| c["resource"] == name)
            .unwrap_or_else(|| panic!("no change of {name} in {v:#}"))
    };
    let https = &find("web-tier ingress tcp/443 from 10.0.0.0/8")["decision"];
    assert_eq!(https["decision"], "matched", "{https}");
    let reason = https["reason"].as_str().expect("reason");
    assert!(
        reason.contains("CHG-42 scope[0] (plan aws_security_group_rule.https_vpc) covers create")
            && reason.contains("as planned (all 6 planned values observed)"),
        "{reason}"
    );
    let ssh = &find("web-tier ingress tcp/22 from 10.8.0.0/16")["decision"];
    assert_eq!(ssh["decision"], "violation", "{ssh}");
    assert_eq!(ssh["violation"], "beyond_plan");
    let reason = ssh["reason"].as_str().expect("reason");
    assert!(
        reason.contains(
            r#"it was applied beyond plan aws_security_group_rule.ssh_vpn: description planned "VPN", observed "temporary""#
        ),
        "{reason}"
    );
    let role = changes(&v)
        .into_iter()
        .find(|c| c["kind"] == "aws.iam.role")
        .unwrap_or_else(|| panic!("no role change in {v:#}"));
    assert_eq!(role["decision"]["decision"], "matched", "{role}");
    assert!(
        role["decision"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("(plan aws_iam_role.etl)")),
        "{role}"
    );

    // Only the change beyond plan is paged, and the alert says why.
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let a = reqs[0].json();
    assert_eq!(a["event"], "violation");
    assert!(
        a["reason"]
            .as_str()
            .is_some_and(|r| r.contains("applied beyond plan")),
        "{a}"
    );

    // After the window: the rule never applied is approved, not applied.
    while jiff::Timestamp::now() <= end + jiff::SignedDuration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let out = env.run(&["report", "--since", "1d", "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let r: Value = serde_json::from_str(&out.stdout).expect("report json");
    let not_applied = r["not_applied"].as_array().expect("not_applied");
    assert_eq!(not_applied.len(), 1, "{not_applied:#?}");
    assert_eq!(
        not_applied[0]["address"],
        "aws_security_group_rule.node_exporter"
    );
    assert_eq!(not_applied[0]["record_id"], "CHG-42");
    assert_eq!(
        not_applied[0]["resource"],
        format!("{web}/ingress/tcp/9100/ipv4:10.9.0.0/16")
    );
    let planned: Vec<&str> = r["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["plan"]["address"].as_str())
        .collect();
    assert_eq!(
        planned.len(),
        3,
        "each decided change names its planned resource: {planned:?}"
    );
    let out = env.run(&["report", "--since", "1d", "--format", "markdown"]);
    assert!(
        out.stdout.contains("## Approved, not applied")
            && out
                .stdout
                .contains("aws_security_group_rule.node_exporter: create"),
        "{}",
        out.stdout
    );
}

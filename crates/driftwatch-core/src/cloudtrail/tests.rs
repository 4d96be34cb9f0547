//! Events in the shapes AWS documents (CloudTrail record contents, EventBridge's "AWS API Call
//! via CloudTrail" envelope), one per identity type and target family.

use super::*;

/// An EventBridge envelope around a CloudTrail record.
fn envelope(detail: &str) -> String {
    format!(
        r#"{{"version":"0","id":"6f2c7e5a-0000-4000-8000-000000000001","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","account":"123456789012","time":"2026-12-03T10:00:01Z","region":"eu-west-1","resources":[],"detail":{detail}}}"#
    )
}

const AUTHORIZE_BY_SSO: &str = r#"{
  "eventVersion": "1.09",
  "userIdentity": {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEID:alice@example.com",
    "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com",
    "accountId": "123456789012",
    "accessKeyId": "ASIAEXAMPLE",
    "sessionContext": {
      "sessionIssuer": {
        "type": "Role",
        "principalId": "AROAEXAMPLEID",
        "arn": "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_AdministratorAccess_0123456789abcdef",
        "accountId": "123456789012",
        "userName": "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
      },
      "attributes": { "creationDate": "2026-12-03T09:00:00Z", "mfaAuthenticated": "false" }
    }
  },
  "eventTime": "2026-12-03T10:00:00Z",
  "eventSource": "ec2.amazonaws.com",
  "eventName": "AuthorizeSecurityGroupIngress",
  "awsRegion": "eu-west-1",
  "sourceIPAddress": "203.0.113.7",
  "userAgent": "AWS Internal",
  "requestParameters": {
    "groupId": "sg-0a1b2c3d",
    "ipPermissions": { "items": [{ "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
      "ipRanges": { "items": [{ "cidrIp": "0.0.0.0/0" }] } }] }
  },
  "responseElements": { "_return": true },
  "requestID": "f3c2-0000",
  "eventID": "a1b2c3d4-0000-4000-8000-000000000002",
  "readOnly": false,
  "eventType": "AwsApiCall",
  "managementEvent": true,
  "recipientAccountId": "123456789012"
}"#;

#[test]
fn an_identity_center_user_opening_a_port_from_the_console() {
    let e = parse(&envelope(AUTHORIZE_BY_SSO)).expect("event");
    assert_eq!(e.event_name, "AuthorizeSecurityGroupIngress");
    assert_eq!(e.event_id, "a1b2c3d4-0000-4000-8000-000000000002");
    assert_eq!(e.account, "123456789012");
    assert_eq!(e.region, "eu-west-1");
    assert_eq!(
        e.event_time,
        "2026-12-03T10:00:00Z".parse::<Timestamp>().expect("ts")
    );
    assert_eq!(
        e.target,
        Some(Target::SecurityGroup {
            group_id: "sg-0a1b2c3d".into()
        })
    );
    assert_eq!(e.actor.kind, ActorKind::IdentityCenter);
    assert_eq!(e.actor.person.as_deref(), Some("alice@example.com"));
    assert_eq!(e.actor.via.as_deref(), Some("AdministratorAccess"));
    assert_eq!(
        e.actor.label(),
        "alice@example.com (SSO, permission set AdministratorAccess)"
    );
    assert_eq!(e.client, Client::Console);
    assert_eq!(e.source_ip.as_deref(), Some("203.0.113.7"));
    // The record alone (LookupEvents' CloudTrailEvent) parses the same.
    assert_eq!(parse(AUTHORIZE_BY_SSO).expect("record"), e);
}

/// (identity JSON, kind, person, via, label)
#[test]
fn identities() {
    let cases = [
        (
            r#"{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/bob","accountId":"123456789012","userName":"bob"}"#,
            ActorKind::IamUser,
            Some("bob"),
            None,
            "bob",
        ),
        (
            r#"{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/deploy/ci-run-4711","sessionContext":{"sessionIssuer":{"type":"Role","userName":"deploy"}}}"#,
            ActorKind::AssumedRole,
            Some("ci-run-4711"),
            Some("deploy"),
            "ci-run-4711 via role deploy",
        ),
        (
            r#"{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/admin/session-1","sessionContext":{"sourceIdentity":"carol@example.com","sessionIssuer":{"type":"Role","userName":"admin"}}}"#,
            ActorKind::AssumedRole,
            Some("carol@example.com"),
            Some("admin"),
            "carol@example.com via role admin",
        ),
        (
            r#"{"type":"FederatedUser","arn":"arn:aws:sts::123456789012:federated-user/dave"}"#,
            ActorKind::FederatedUser,
            Some("dave"),
            None,
            "dave",
        ),
        (
            r#"{"type":"Root","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012"}"#,
            ActorKind::Root,
            None,
            None,
            "root",
        ),
        (
            r#"{"type":"AWSService","invokedBy":"cloudformation.amazonaws.com"}"#,
            ActorKind::AwsService,
            Some("cloudformation.amazonaws.com"),
            None,
            "service cloudformation.amazonaws.com",
        ),
        (r#"{}"#, ActorKind::Unknown, None, None, "unknown"),
    ];
    for (json, kind, person, via, label) in cases {
        let a = actor(&serde_json::from_str(json).expect("json"));
        assert_eq!(
            (
                a.kind,
                a.person.as_deref(),
                a.via.as_deref(),
                a.label().as_str()
            ),
            (kind, person, via, label),
            "{json}"
        );
    }
}

#[test]
fn user_agents() {
    let cases = [
        (
            "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.196.0",
            Client::Terraform,
        ),
        (
            "aws-cli/2.22.10 md/awscrt#0.23.4 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe sid/58cbb5e57ad3 md/prompt#off md/command#ec2.authorize-security-group-ingress",
            Client::AwsCli,
        ),
        ("console.ec2.amazonaws.com", Client::Console),
        ("AWS Internal", Client::Console),
        (
            "Boto3/1.35.76 md/Botocore#1.35.76 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7",
            Client::Sdk,
        ),
        ("aws-sdk-rust/1.3.9 os/linux lang/rust/1.95.0", Client::Sdk),
        ("cloudformation.amazonaws.com", Client::Other),
    ];
    for (ua, want) in cases {
        assert_eq!(Client::classify(Some(ua)), want, "{ua}");
    }
    assert_eq!(Client::classify(None), Client::Other);
}

fn record(event: &str, source: &str, request: &str, response: &str, identity: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","userIdentity":{identity},"eventTime":"2026-12-03T10:00:00Z","eventSource":"{source}","eventName":"{event}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","userAgent":"aws-cli/2.22.10","requestParameters":{request},"responseElements":{response},"eventID":"e-{event}","readOnly":false,"recipientAccountId":"123456789012"}}"#
    )
}

const BOB: &str =
    r#"{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/bob","userName":"bob"}"#;

/// (event, source, requestParameters, responseElements, target)
#[test]
fn targets() {
    let sg = |g: &str| Some(Target::SecurityGroup { group_id: g.into() });
    let user = |n: &str| Some(Target::IamUser { name: n.into() });
    let cases: Vec<(&str, &str, &str, &str, Option<Target>)> = vec![
        (
            "RevokeSecurityGroupEgress",
            "ec2",
            r#"{"groupId":"sg-1"}"#,
            "null",
            sg("sg-1"),
        ),
        (
            "ModifySecurityGroupRules",
            "ec2",
            r#"{"ModifySecurityGroupRulesRequest":{"GroupId":"sg-2","SecurityGroupRule":{"tag":1}}}"#,
            "null",
            sg("sg-2"),
        ),
        (
            "CreateSecurityGroup",
            "ec2",
            r#"{"groupName":"web"}"#,
            r#"{"_return":true,"groupId":"sg-3"}"#,
            sg("sg-3"),
        ),
        (
            "DeleteSecurityGroup",
            "ec2",
            r#"{"groupId":"sg-4"}"#,
            "null",
            sg("sg-4"),
        ),
        (
            "AttachUserPolicy",
            "iam",
            r#"{"userName":"alice","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}"#,
            "null",
            user("alice"),
        ),
        (
            "CreateAccessKey",
            "iam",
            r#"{"userName":"svc-etl"}"#,
            "null",
            user("svc-etl"),
        ),
        ("CreateAccessKey", "iam", "{}", "null", user("bob")),
        (
            "CreateLoginProfile",
            "iam",
            r#"{"userName":"erin","passwordResetRequired":true}"#,
            "null",
            user("erin"),
        ),
        (
            "UpdateAssumeRolePolicy",
            "iam",
            r#"{"roleName":"ml-training","policyDocument":"{}"}"#,
            "null",
            Some(Target::IamRole {
                name: "ml-training".into(),
            }),
        ),
        (
            "PutGroupPolicy",
            "iam",
            r#"{"groupName":"ops","policyName":"p"}"#,
            "null",
            Some(Target::IamGroup { name: "ops".into() }),
        ),
        (
            "CreatePolicyVersion",
            "iam",
            r#"{"policyArn":"arn:aws:iam::123456789012:policy/data-read","setAsDefault":true}"#,
            "null",
            Some(Target::IamPolicy {
                arn: "arn:aws:iam::123456789012:policy/data-read".into(),
            }),
        ),
        ("DescribeSecurityGroups", "ec2", "{}", "null", None),
        ("RunInstances", "ec2", r#"{"groupId":"sg-1"}"#, "null", None),
    ];
    for (event, svc, req, resp, want) in cases {
        let text = record(event, &format!("{svc}.amazonaws.com"), req, resp, BOB);
        let e = parse(&text).unwrap_or_else(|err| panic!("{event}: {err}"));
        assert_eq!(e.target, want, "{event} {req}");
    }
}

#[test]
fn failed_and_read_only_calls_change_nothing() {
    let denied = record(
        "AuthorizeSecurityGroupIngress",
        "ec2.amazonaws.com",
        r#"{"groupId":"sg-1"}"#,
        "null",
        BOB,
    )
    .replacen(
        r#""readOnly":false"#,
        r#""readOnly":false,"errorCode":"Client.UnauthorizedOperation""#,
        1,
    );
    let e = parse(&denied).expect("event");
    assert_eq!(e.target, None);
    assert_eq!(
        e.error_code.as_deref(),
        Some("Client.UnauthorizedOperation")
    );
    let read = record(
        "AuthorizeSecurityGroupIngress",
        "ec2.amazonaws.com",
        r#"{"groupId":"sg-1"}"#,
        "null",
        BOB,
    )
    .replacen(r#""readOnly":false"#, r#""readOnly":true"#, 1);
    assert_eq!(parse(&read).expect("event").target, None);
}

#[test]
fn bad_events_name_the_field() {
    assert!(matches!(parse("not json"), Err(TrailError::Json(_))));
    let no_name = envelope(&AUTHORIZE_BY_SSO.replacen(
        r#""eventName": "AuthorizeSecurityGroupIngress","#,
        "",
        1,
    ));
    assert_eq!(
        parse(&no_name).map(|_| ()).map_err(|e| e.to_string()),
        Err("detail.eventName: missing".to_string())
    );
    let bad_time = AUTHORIZE_BY_SSO.replacen("2026-12-03T10:00:00Z", "yesterday", 1);
    assert_eq!(
        parse(&bad_time).map(|_| ()).map_err(|e| e.to_string()),
        Err("eventTime: `yesterday` is not a time".to_string())
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("type".to_string()),
                        Just("arn".to_string()),
                        Just("userName".to_string()),
                        Just("sessionContext".to_string()),
                        Just("sessionIssuer".to_string()),
                        Just("groupId".to_string()),
                        ".{0,6}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any text is an event or an error, never a panic.
        #[test]
        fn any_text(s in ".{0,200}") {
            let _ = parse(&s);
        }

        /// A real event with its identity, parameters or answer replaced by any JSON still
        /// parses (those parts are optional) and names a target only from what is there.
        #[test]
        fn any_identity_and_parameters(identity in json(), request in json(), response in json()) {
            let mut v: Value = serde_json::from_str(AUTHORIZE_BY_SSO).expect("json");
            v["userIdentity"] = identity;
            v["requestParameters"] = request.clone();
            v["responseElements"] = response;
            let e = parse(&v.to_string()).expect("the required fields are still there");
            if let Some(Target::SecurityGroup { group_id }) = &e.target {
                prop_assert_eq!(request.get("groupId").and_then(Value::as_str), Some(group_id.as_str()));
            }
        }
    }
}

/// Access-key calls name the key (in the request, or the new key in the response), and IAM
/// targets live in the account's `global` scope while groups keep the event's region.
#[test]
fn access_keys_and_scopes() {
    let delete = record(
        "DeleteAccessKey",
        "iam.amazonaws.com",
        r#"{"userName":"svc-etl","accessKeyId":"AKIAOLD"}"#,
        "null",
        BOB,
    );
    let e = parse(&delete).expect("event");
    assert_eq!(e.access_key_id.as_deref(), Some("AKIAOLD"));
    assert_eq!(
        e.scope().map(|s| s.to_string()).as_deref(),
        Some("aws:123456789012:global")
    );
    let create = record(
        "CreateAccessKey",
        "iam.amazonaws.com",
        r#"{"userName":"svc-etl"}"#,
        r#"{"accessKey":{"userName":"svc-etl","accessKeyId":"AKIANEW","status":"Active"}}"#,
        BOB,
    );
    assert_eq!(
        parse(&create).expect("event").access_key_id.as_deref(),
        Some("AKIANEW")
    );
    let sg = parse(&envelope(AUTHORIZE_BY_SSO)).expect("event");
    assert_eq!(
        sg.scope().map(|s| s.to_string()).as_deref(),
        Some("aws:123456789012:eu-west-1")
    );
    let a = sg.attribution("event");
    assert_eq!(
        a.actor,
        "alice@example.com (SSO, permission set AdministratorAccess)"
    );
    assert_eq!(a.identity_type, "identity_center");
    assert_eq!(a.client, "console");
    assert_eq!(a.source_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(a.event_id, "a1b2c3d4-0000-4000-8000-000000000002");
    assert_eq!(a.event_time, "2026-12-03T10:00:00Z");
}

mod explaining {
    use super::*;
    use crate::model::aws::fixtures::{res, rule};
    use crate::model::{Action, Change, Kind, Resource, ResourceKey, Scope};

    fn created(r: Resource) -> Change {
        Change::new(
            r.key.clone(),
            Action::Create,
            None,
            Some(r),
            Vec::new(),
            "2026-12-03T10:00:05Z".parse().expect("ts"),
        )
    }

    fn deleted(r: Resource) -> Change {
        Change::new(
            r.key.clone(),
            Action::Delete,
            Some(r),
            None,
            Vec::new(),
            "2026-12-03T10:00:05Z".parse().expect("ts"),
        )
    }

    fn iam(kind: Kind, id: &str) -> Resource {
        Resource::new(
            ResourceKey {
                scope: Scope::Aws {
                    account: "123456789012".into(),
                    region: "global".into(),
                },
                kind,
                id: id.into(),
            },
            id.into(),
            Vec::new(),
            Default::default(),
            serde_json::json!({}),
        )
    }

    /// (what, change, explained by alice's AuthorizeSecurityGroupIngress of tcp/22 from
    /// 0.0.0.0/0 on sg-0a1b2c3d in eu-west-1)
    #[test]
    fn a_rule_is_explained_only_by_the_call_that_names_it() {
        let e = parse(&envelope(AUTHORIZE_BY_SSO)).expect("event");
        let mut egress = rule("sg-0a1b2c3d", "tcp", 22, 22, "0.0.0.0/0");
        egress.direction = crate::model::aws::Direction::Egress;
        let mut elsewhere = res(rule("sg-0a1b2c3d", "tcp", 22, 22, "0.0.0.0/0"));
        elsewhere.key.scope = Scope::Aws {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        };
        let cases = [
            (
                "the rule it names",
                created(res(rule("sg-0a1b2c3d", "tcp", 22, 22, "0.0.0.0/0"))),
                true,
            ),
            (
                "another port (bob's)",
                created(res(rule("sg-0a1b2c3d", "tcp", 443, 443, "0.0.0.0/0"))),
                false,
            ),
            (
                "another peer",
                created(res(rule("sg-0a1b2c3d", "tcp", 22, 22, "10.0.0.0/8"))),
                false,
            ),
            (
                "another group",
                created(res(rule("sg-99", "tcp", 22, 22, "0.0.0.0/0"))),
                false,
            ),
            (
                "egress",
                created(egress.into_resource(&crate::model::aws::fixtures::scope())),
                false,
            ),
            (
                "a delete",
                deleted(res(rule("sg-0a1b2c3d", "tcp", 22, 22, "0.0.0.0/0"))),
                false,
            ),
            ("another region", created(elsewhere), false),
        ];
        for (what, change, want) in cases {
            assert_eq!(explains(&e, &change), want, "{what}");
        }
    }

    #[test]
    fn iam_calls_explain_their_own_resource_and_action() {
        let attach = parse(&record(
            "AttachUserPolicy",
            "iam.amazonaws.com",
            r#"{"userName":"alice","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}"#,
            "null",
            BOB,
        ))
        .expect("event");
        let admin = "user/alice/arn:aws:iam::aws:policy/AdministratorAccess";
        assert!(explains(
            &attach,
            &created(iam(Kind::IamPolicyAttachment, admin))
        ));
        assert!(!explains(
            &attach,
            &deleted(iam(Kind::IamPolicyAttachment, admin))
        ));
        assert!(!explains(
            &attach,
            &created(iam(
                Kind::IamPolicyAttachment,
                "user/bob/arn:aws:iam::aws:policy/AdministratorAccess"
            ))
        ));
        assert!(!explains(
            &attach,
            &created(iam(Kind::IamInlinePolicy, "user/alice/AdministratorAccess"))
        ));
        let key = parse(&record(
            "CreateAccessKey",
            "iam.amazonaws.com",
            r#"{"userName":"svc-etl"}"#,
            r#"{"accessKey":{"accessKeyId":"AKIANEW","status":"Active"}}"#,
            BOB,
        ))
        .expect("event");
        assert!(explains(&key, &created(iam(Kind::IamAccessKey, "AKIANEW"))));
        assert!(!explains(
            &key,
            &created(iam(Kind::IamAccessKey, "AKIAOTHER"))
        ));
        let join = parse(&record(
            "AddUserToGroup",
            "iam.amazonaws.com",
            r#"{"userName":"alice","groupName":"admins"}"#,
            "null",
            BOB,
        ))
        .expect("event");
        assert!(explains(
            &join,
            &created(iam(Kind::IamGroupMembership, "admins/alice"))
        ));
        assert!(!explains(
            &join,
            &created(iam(Kind::IamGroupMembership, "ops/alice"))
        ));
        let trust = parse(&record(
            "UpdateAssumeRolePolicy",
            "iam.amazonaws.com",
            r#"{"roleName":"ml-training","policyDocument":"{}"}"#,
            "null",
            BOB,
        ))
        .expect("event");
        let mut modified = created(iam(Kind::IamRole, "ml-training"));
        modified.action = Action::Modify;
        assert!(explains(&trust, &modified));
    }

    /// Of several events that explain one change (a rule revoked and authorized again), the
    /// latest names the actor.
    #[test]
    fn the_latest_explaining_event_wins() {
        let first = parse(&envelope(AUTHORIZE_BY_SSO)).expect("event");
        let later = parse(
            &envelope(AUTHORIZE_BY_SSO)
                .replace("2026-12-03T10:00:00Z", "2026-12-03T10:00:03Z")
                .replace("a1b2c3d4-0000-4000-8000-000000000002", "later"),
        )
        .expect("event");
        let c = created(res(rule("sg-0a1b2c3d", "tcp", 22, 22, "0.0.0.0/0")));
        let events = [later.clone(), first];
        assert_eq!(
            best(&events, &c).map(|e| e.event_id.as_str()),
            Some("later")
        );
        assert_eq!(best(&events[..0], &c), None);
    }
}

/// Every listed call names a target (with the parameters it carries), and no other call
/// does: the list the EventBridge rule is built from and the parser agree.
#[test]
fn event_names_are_exactly_the_calls_with_targets() {
    let request = r#"{"groupId":"sg-1","userName":"u","roleName":"r","groupName":"g","policyArn":"arn:aws:iam::123456789012:policy/p"}"#;
    let response = r#"{"groupId":"sg-1","policy":{"arn":"arn:aws:iam::123456789012:policy/p"}}"#;
    for name in EVENT_NAMES {
        let e = parse(&record(name, "x.amazonaws.com", request, response, BOB)).expect("event");
        assert!(e.target.is_some(), "{name} names no target");
    }
    for other in ["RunInstances", "CreateTags", "PutBucketPolicy", "TagRole"] {
        let e = parse(&record(other, "x.amazonaws.com", request, response, BOB)).expect("event");
        assert_eq!(e.target, None, "{other}");
    }
}

//! Data-driven: tickets in, the record or the exact error lines out.

use super::*;
use crate::model::record::Approval;

fn vote(rule: RejectionRule, reason: &str) -> NotCounted {
    NotCounted {
        rule,
        reason: reason.into(),
    }
}

const BLOCK: &str = "Open SSH for the GPU nodes.\n\n```driftwatch\ntype: normal\npurpose: debug NCCL\nimpact: 10.8.0.0/16 gets 22\nresources: 2 engineers\nwindow: { start: 2026-11-21T09:00:00Z, end: 2026-11-21T18:00:00Z }\nscope:\n  - { provider: aws, kind: aws.ec2.security_group_rule, target: training-* }\n```\n";

fn approval(name: &str) -> Approval {
    Approval {
        name: name.into(),
        at: "2026-11-20T10:00:00Z".parse().expect("ts"),
    }
}

fn base() -> Ticket {
    Ticket {
        source: "github".into(),
        key: "acme/infra#42".into(),
        url: "https://github.com/acme/infra/pull/42".into(),
        title: "Open SSH for GPU maintenance".into(),
        author: "alice".into(),
        body: BLOCK.into(),
        approvals: vec![approval("bob")],
        not_counted: Vec::new(),
        approval_source: "an APPROVED pull request review by a person".into(),
        fields: Vec::new(),
        default_window: None,
        field_errors: Vec::new(),
        plan: None,
    }
}

fn errors(t: &Ticket) -> Vec<String> {
    match to_record(t, &ValidationSettings::default()) {
        Ok(r) => vec![format!("<valid record {}>", r.id)],
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn a_valid_ticket_is_a_record_with_its_link() {
    let r = to_record(&base(), &ValidationSettings::default()).expect("valid");
    assert_eq!(r.id, "acme/infra#42");
    assert_eq!(r.title, "Open SSH for GPU maintenance");
    assert_eq!(r.requested_by, "alice");
    assert_eq!(r.approved_by, vec![approval("bob")]);
    assert_eq!(r.origin.file, "github acme/infra#42");
    assert_eq!(
        r.origin.line, 4,
        "the block's first line in the ticket's text"
    );
    assert_eq!(
        r.origin.url.as_deref(),
        Some("https://github.com/acme/infra/pull/42")
    );
    assert_eq!(r.scope[0].target.as_deref(), Some("training-*"));
}

#[test]
fn rejected_tickets_name_source_key_line_and_field() {
    let bot_only = Ticket {
        approvals: vec![],
        not_counted: vec![vote(
            RejectionRule::BotApprover,
            "dependabot[bot] is a bot account (user.type Bot)",
        )],
        ..base()
    };
    let self_approved = Ticket {
        approvals: vec![],
        not_counted: vec![vote(
            RejectionRule::SelfApproval,
            "alice is the ticket's author and cannot approve their own change",
        )],
        ..base()
    };
    let typed_approval = Ticket {
        body: BLOCK.replace(
            "type: normal\n",
            "type: normal\napproved_by: [{ name: bob, at: 2026-11-20T10:00:00Z }]\n",
        ),
        ..base()
    };
    let bad_window = Ticket {
        body: BLOCK.replace("end: 2026-11-21T18", "end: 2026-11-21T08"),
        ..base()
    };
    let bad_field = Ticket {
        source: "jira".into(),
        key: "CHG-7".into(),
        field_errors: vec![(
            "window.start".into(),
            "field customfield_10040: `\"soon\"` is not a date-time".into(),
        )],
        ..base()
    };
    let cases: Vec<(&str, Ticket, Vec<&str>)> = vec![
        (
            "bot approval only",
            bot_only,
            vec![
                "github acme/infra#42: approved_by: a normal record needs at least one approval (pillar 4: authority) (not counted: dependabot[bot] is a bot account (user.type Bot)); approval comes from an APPROVED pull request review by a person",
            ],
        ),
        (
            "self approval",
            self_approved,
            vec![
                "github acme/infra#42: approved_by: a normal record needs at least one approval (pillar 4: authority) (not counted: alice is the ticket's author and cannot approve their own change); approval comes from an APPROVED pull request review by a person",
            ],
        ),
        (
            "approval typed into the block",
            typed_approval,
            vec![
                "github acme/infra#42:5: approved_by: comes from an APPROVED pull request review by a person; remove it from the block",
            ],
        ),
        (
            "window in the block, line in the ticket",
            bad_window,
            vec![
                "github acme/infra#42:8: window.end: 2026-11-21T08:00:00Z is not after window.start 2026-11-21T09:00:00Z",
            ],
        ),
        (
            "no block",
            Ticket {
                body: "please open ssh".into(),
                ..base()
            },
            vec![
                "github acme/infra#42: no record block: put the record's fields in YAML front matter (--- … ---) or in a ```driftwatch fenced block",
            ],
        ),
        (
            "unknown field in the block",
            Ticket {
                body: BLOCK.replace("type: normal\n", "type: normal\nowner: x\n"),
                ..base()
            },
            vec!["<unknown field>"],
        ),
        (
            "a mapped field that cannot be read",
            bad_field,
            vec![
                "jira CHG-7: window.start: field customfield_10040: `\"soon\"` is not a date-time",
            ],
        ),
    ];
    for (name, t, want) in cases {
        let got = errors(&t);
        if want == ["<unknown field>"] {
            assert_eq!(got.len(), 1, "{name}: {got:?}");
            assert!(
                got[0].starts_with("github acme/infra#42:5: ") && got[0].contains("owner"),
                "{name}: {got:?}"
            );
        } else {
            assert_eq!(got, want, "{name}");
        }
    }
}

#[test]
fn a_merged_pull_request_opens_the_window_when_the_block_has_none() {
    let start: jiff::Timestamp = "2026-11-21T09:30:00Z".parse().expect("ts");
    let end: jiff::Timestamp = "2026-11-22T09:30:00Z".parse().expect("ts");
    let t = Ticket {
        body: BLOCK.replace(
            "window: { start: 2026-11-21T09:00:00Z, end: 2026-11-21T18:00:00Z }\n",
            "",
        ),
        default_window: Some(Window { start, end }),
        ..base()
    };
    let r = to_record(&t, &ValidationSettings::default()).expect("valid");
    assert_eq!(r.window, Some(Window { start, end }));
    // A window in the block wins over the merge time.
    let t = Ticket {
        default_window: Some(Window { start, end }),
        ..base()
    };
    let r = to_record(&t, &ValidationSettings::default()).expect("valid");
    assert_eq!(
        r.window.map(|w| w.start.to_string()).as_deref(),
        Some("2026-11-21T09:00:00Z")
    );
}

#[test]
fn drift_references_make_a_retrospective() {
    let t = Ticket {
        title: "Retrospective for drift:d-7f3a9c2e".into(),
        body: format!("{BLOCK}\nAlso covers drift: d-00c0ffee and drift:d-NOTHEX00."),
        ..base()
    };
    let r = to_record(&t, &ValidationSettings::default()).expect("valid");
    assert_eq!(r.retrospective_for, vec!["d-7f3a9c2e", "d-00c0ffee"]);
    assert_eq!(drift_refs("no refs"), Vec::<String>::new());
}

#[test]
fn mapped_fields_fill_the_record_and_may_not_be_repeated() {
    let without_scope = BLOCK
        .split("scope:")
        .next()
        .expect("block head")
        .to_string()
        + "```\n";
    let t = Ticket {
        source: "jira".into(),
        key: "CHG-7".into(),
        body: without_scope,
        fields: vec![MappedField {
            key: "scope".into(),
            yaml: "- provider: aws\n  target: \"sg-0abc*\"".into(),
            from: "customfield_10042".into(),
        }],
        ..base()
    };
    let r = to_record(&t, &ValidationSettings::default()).expect("valid");
    assert_eq!(r.scope[0].target.as_deref(), Some("sg-0abc*"));
    let twice = Ticket {
        body: BLOCK.into(),
        ..t
    };
    assert_eq!(
        errors(&twice),
        vec![
            "jira CHG-7:9: scope: comes from the ticket's field customfield_10042; remove it from the block"
        ]
    );
}

#[test]
fn rejections_carry_their_rule() {
    use RejectionRule::*;
    let no_votes = Ticket {
        approvals: vec![],
        ..base()
    };
    let cases: Vec<(&str, Ticket, Vec<RejectionRule>)> = vec![
        (
            "bot approval only",
            Ticket {
                not_counted: vec![vote(BotApprover, "ci is a bot account (user.type Bot)")],
                ..no_votes.clone()
            },
            vec![BotApprover],
        ),
        (
            "the author's own vote wins over a bot's",
            Ticket {
                not_counted: vec![
                    vote(BotApprover, "ci is a bot account (user.type Bot)"),
                    vote(SelfApproval, "alice is the ticket's author"),
                ],
                ..no_votes.clone()
            },
            vec![SelfApproval],
        ),
        ("no vote at all", no_votes.clone(), vec![MissingApproval]),
        (
            "an issue, which has no reviews",
            Ticket {
                not_counted: vec![vote(MissingApproval, "an issue has no reviews")],
                ..no_votes
            },
            vec![MissingApproval],
        ),
        (
            "a discounted vote beside a counted approval is no error",
            Ticket {
                not_counted: vec![vote(SelfApproval, "alice is the ticket's author")],
                ..base()
            },
            vec![],
        ),
        (
            "approval typed into the block",
            Ticket {
                body: BLOCK.replace(
                    "type: normal\n",
                    "type: normal\napproved_by: [{ name: bob, at: 2026-11-20T10:00:00Z }]\n",
                ),
                ..base()
            },
            vec![ApprovedInTicketText],
        ),
        (
            "title typed into the block",
            Ticket {
                body: BLOCK.replace("type: normal\n", "type: normal\ntitle: x\n"),
                ..base()
            },
            vec![FieldFromTicket],
        ),
        (
            "window order",
            Ticket {
                body: BLOCK.replace("end: 2026-11-21T18", "end: 2026-11-21T08"),
                ..base()
            },
            vec![WindowOrder],
        ),
        (
            "no block",
            Ticket {
                body: "please open ssh".into(),
                ..base()
            },
            vec![TicketBlock],
        ),
        (
            "unknown field",
            Ticket {
                body: BLOCK.replace("type: normal\n", "type: normal\nowner: x\n"),
                ..base()
            },
            vec![UnknownField],
        ),
        (
            "unreadable mapped field",
            Ticket {
                field_errors: vec![("window.start".into(), "not a date-time".into())],
                ..base()
            },
            vec![MappedField],
        ),
    ];
    for (name, t, want) in cases {
        let got: Vec<RejectionRule> = match to_record(&t, &ValidationSettings::default()) {
            Ok(_) => vec![],
            Err(e) => e.iter().map(|e| e.rule).collect(),
        };
        assert_eq!(got, want, "{name}");
    }
}

/// Regression: the block's own keys were found by scanning its lines, so YAML that spells a
/// key another way (an explicit `? key`, an escape in a quoted key, an alias, a merge key)
/// slipped `approved_by` past the check, and a ticket nobody approved carried the approval
/// its author typed.
#[test]
fn approval_typed_into_the_block_is_refused_however_the_key_is_spelled() {
    let typed = [
        "? approved_by\n: [{ name: mallory, at: 2026-11-20T10:00:00Z }]\n",
        "\"approved\\u005fby\": [{ name: mallory, at: 2026-11-20T10:00:00Z }]\n",
        "evidence: [&k approved_by]\n*k : [{ name: mallory, at: 2026-11-20T10:00:00Z }]\n",
        "<<: { approved_by: [{ name: mallory, at: 2026-11-20T10:00:00Z }] }\n",
    ];
    for spelled in typed {
        let t = Ticket {
            approvals: vec![],
            body: BLOCK.replace("type: normal\n", &format!("type: normal\n{spelled}")),
            ..base()
        };
        let got = to_record(&t, &ValidationSettings::default());
        let rules: Vec<RejectionRule> = match &got {
            Ok(r) => panic!("{spelled:?}: accepted with approvals {:?}", r.approved_by),
            Err(e) => e.iter().map(|e| e.rule).collect(),
        };
        assert!(
            rules.contains(&RejectionRule::ApprovedInTicketText),
            "{spelled:?}: {got:?}"
        );
    }
}

/// Regression: an error in the lines the system appends (a mapped Jira field, the title) had
/// line 0 and no field, so it named no place at all.
#[test]
fn an_error_in_a_mapped_field_names_the_field_it_came_from() {
    let without_scope = BLOCK
        .split("scope:")
        .next()
        .expect("block head")
        .to_string()
        + "```\n";
    let t = Ticket {
        source: "jira".into(),
        key: "CHG-7".into(),
        body: without_scope,
        fields: vec![MappedField {
            key: "scope".into(),
            yaml: "Open SSH to the GPU nodes".into(),
            from: "customfield_10042".into(),
        }],
        ..base()
    };
    let errs = to_record(&t, &ValidationSettings::default()).expect_err("scope is not a list");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, "scope");
    assert_eq!(errs[0].line, 0, "not a line of the ticket's text");
    assert!(
        errs[0]
            .message
            .ends_with("(from the ticket's field customfield_10042)"),
        "{}",
        errs[0]
    );
}

/// Regression: a block that is not a mapping (a scalar, a list) was reported by the YAML
/// error it caused in the appended lines, without a line.
#[test]
fn a_block_that_is_not_a_mapping_is_refused_at_its_line() {
    for block in ["~~~", "- type: normal", "just words"] {
        let t = Ticket {
            body: format!("Why.\n```driftwatch\n{block}\n```\n"),
            ..base()
        };
        let errs = to_record(&t, &ValidationSettings::default()).expect_err("not a mapping");
        assert_eq!(errs.len(), 1, "{block}: {errs:?}");
        assert_eq!(errs[0].rule, RejectionRule::TicketBlock, "{block}");
        assert_eq!(errs[0].line, 3, "{block}");
        assert!(errs[0].message.contains("must be a mapping"), "{}", errs[0]);
    }
    // A syntax error inside the block is at its line in the ticket.
    let t = Ticket {
        body: BLOCK.replace("impact: 10.8.0.0/16 gets 22", "impact: [10.8.0.0/16"),
        ..base()
    };
    let errs = to_record(&t, &ValidationSettings::default()).expect_err("unclosed");
    assert_eq!(errs[0].rule, RejectionRule::Syntax);
    assert!((6..=11).contains(&errs[0].line), "{}", errs[0]);
}

/// Regression: the system's strings were quoted as JSON, which YAML refuses for a raw DEL
/// or C1 control, so a pull request titled with one could never become a record.
#[test]
fn titles_and_names_with_control_characters_are_kept_as_they_are() {
    let t = Ticket {
        title: "Open SSH\u{7f} \u{85}now\u{9b}".into(),
        author: "al\u{7f}ice".into(),
        ..base()
    };
    let r = to_record(&t, &ValidationSettings::default()).expect("valid");
    assert_eq!(r.title, "Open SSH\u{7f} \u{85}now\u{9b}");
    assert_eq!(r.requested_by, "al\u{7f}ice");
}

mod plans {
    //! A plan in the ticket (a ```driftwatch-plan block in its text, or a trusted comment's
    //! block handed over as `Ticket::plan`) is the record's scope.
    use super::*;

    const PLAN: &str = r#"{"format_version":"1.2","resource_changes":[{"address":"aws_iam_group.ops","mode":"managed","type":"aws_iam_group","name":"ops","change":{"actions":["create"],"before":null,"after":{"name":"ops","path":"/"},"after_unknown":{}}},{"address":"aws_s3_bucket.logs","mode":"managed","type":"aws_s3_bucket","name":"logs","change":{"actions":["create"],"before":null,"after":{},"after_unknown":{}}}]}"#;

    fn with_body(body: String) -> Ticket {
        Ticket { body, ..base() }
    }

    const NO_SCOPE: &str = "```driftwatch\ntype: normal\npurpose: p\nimpact: i\nresources: r\nwindow: { start: 2026-11-21T09:00:00Z, end: 2026-11-21T18:00:00Z }\n```\n";

    #[test]
    fn a_plan_block_in_the_text_is_the_scope() {
        let t = with_body(format!(
            "{NO_SCOPE}\n```driftwatch-plan account=123456789012\n{PLAN}\n```\n"
        ));
        let (r, warnings) = to_record_checked(&t, &ValidationSettings::default()).expect("valid");
        assert_eq!(r.scope.len(), 1);
        let p = r.scope[0].planned.as_ref().expect("planned");
        assert_eq!(p.address, "aws_iam_group.ops");
        assert_eq!(r.scope[0].account.as_deref(), Some("123456789012"));
        let plan = r.plan.as_ref().expect("plan ref");
        assert_eq!(plan.path, "the ticket's driftwatch-plan block");
        assert_eq!(plan.line, 9, "the fence's line in the ticket's text");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].address, "aws_s3_bucket.logs");
    }

    #[test]
    fn a_comment_plan_is_named_by_the_comment() {
        let t = Ticket {
            plan: Some(TicketPlan {
                block: block::find_plan(&format!("```driftwatch-plan\n{PLAN}\n```"))
                    .expect("ok")
                    .expect("block"),
                from: "comment 901 by github-actions[bot]".into(),
            }),
            ..with_body(NO_SCOPE.into())
        };
        let r = to_record(&t, &ValidationSettings::default()).expect("valid");
        assert_eq!(
            r.plan.as_ref().map(|p| (p.path.as_str(), p.line)),
            Some(("comment 901 by github-actions[bot]", 0))
        );
        assert_eq!(r.scope.len(), 1);
    }

    #[test]
    fn what_is_wrong_with_a_ticket_plan_is_named() {
        let plan_key =
            with_body(NO_SCOPE.replace("resources: r\n", "resources: r\nplan: x.json\n"));
        let bad_json = with_body(format!(
            "{NO_SCOPE}\n```driftwatch-plan\n{{\"format_version\": \n```\n"
        ));
        let late = Ticket {
            field_errors: vec![(
                "plan".into(),
                "the plan in comment 903 by ci was posted after the approval".into(),
            )],
            ..with_body(NO_SCOPE.into())
        };
        let cases = [
            (
                plan_key,
                "github acme/infra#42:6: plan: comes from a ```driftwatch-plan block in the ticket; remove it from the block",
            ),
            (
                bad_json,
                "github acme/infra#42:9: plan: the ticket's driftwatch-plan block: not JSON",
            ),
            (
                late,
                "github acme/infra#42: plan: the plan in comment 903 by ci was posted after the approval",
            ),
        ];
        for (t, want) in cases {
            let got = errors(&t);
            assert!(
                got.iter().any(|e| e.starts_with(want)),
                "want `{want}` in {got:#?}"
            );
        }
        let rule = to_record(
            &with_body(format!("{NO_SCOPE}\n```driftwatch-plan\n{{}}\n```\n")),
            &ValidationSettings::default(),
        )
        .expect_err("no format version")[0]
            .rule;
        assert_eq!(rule, RejectionRule::InvalidPlan);
    }
}

/// Which pull request comment's plan counts: the latest by the author or a trusted account
/// posted (and edited) before the approval; only later ones: the record says why it has none.
#[test]
fn github_plan_comments_count_when_trusted_and_reviewed() {
    use super::github::{Comment, Issue, Review, ticket_with_comments};
    let issue: Issue = serde_json::from_value(serde_json::json!({
        "number": 7, "title": "t", "html_url": "https://github.com/a/b/pull/7", "state": "open",
        "updated_at": "2026-11-20T12:00:00Z", "user": {"login": "alice", "type": "User"},
        "body": "```driftwatch\ntype: standard\n```\n", "pull_request": {"merged_at": null}
    }))
    .expect("issue");
    let reviews: Vec<Review> = serde_json::from_value(serde_json::json!([
        {"user": {"login": "bob", "type": "User"}, "state": "APPROVED", "submitted_at": "2026-11-20T10:00:00Z"}
    ]))
    .expect("reviews");
    let comment = |id: u64, login: &str, at: &str| -> Comment {
        serde_json::from_value(serde_json::json!({
            "id": id, "user": {"login": login, "type": "Bot"}, "created_at": at, "updated_at": at,
            "body": format!("```driftwatch-plan\n{{\"format_version\": \"1.{id}\"}}\n```")
        }))
        .expect("comment")
    };
    let trusted = vec!["ci[bot]".to_string()];
    let pick = |comments: &[Comment]| {
        ticket_with_comments(
            "github",
            "a/b",
            &issue,
            &reviews,
            comments,
            &trusted,
            jiff::SignedDuration::ZERO,
        )
    };
    let t = pick(&[
        comment(1, "ci[bot]", "2026-11-20T08:00:00Z"),
        comment(2, "alice", "2026-11-20T09:00:00Z"),
        comment(3, "mallory", "2026-11-20T09:30:00Z"),
        comment(4, "ci[bot]", "2026-11-20T11:00:00Z"),
    ]);
    let p = t.plan.expect("a plan");
    assert_eq!(p.from, "comment 2 by alice");
    assert!(t.field_errors.is_empty(), "{:?}", t.field_errors);
    let late = pick(&[comment(4, "ci[bot]", "2026-11-20T11:00:00Z")]);
    assert!(late.plan.is_none());
    assert!(
        late.field_errors[0]
            .1
            .contains("after the approval at 2026-11-20T10:00:00Z"),
        "{:?}",
        late.field_errors
    );
    assert!(
        pick(&[comment(3, "mallory", "2026-11-20T09:30:00Z")])
            .plan
            .is_none()
    );
}

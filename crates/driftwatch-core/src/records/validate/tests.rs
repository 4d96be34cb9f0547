//! Data-driven: every file in tests/fixtures/records/bad starts with `# expect:` lines giving
//! the exact errors (file name relative to that folder); every file in good/ must load.

use super::*;
use crate::model::Kind;
use crate::model::record::AttributeMatch;

fn fixtures(kind: &str) -> Vec<(String, String)> {
    let dir = crate::workspace_root()
        .join("tests/fixtures/records")
        .join(kind);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().to_string();
            (name, std::fs::read_to_string(&p).expect("read fixture"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn good_fixtures_load() {
    let settings = ValidationSettings::default();
    for (name, text) in fixtures("good") {
        if let Err(errs) = parse_file(&name, &text, &settings) {
            let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            panic!("{name} should be valid, got:\n{}", msgs.join("\n"));
        }
    }
}

#[test]
fn bad_fixtures_fail_with_exact_messages() {
    let settings = ValidationSettings::default();
    let mut failures = Vec::new();
    for (name, text) in fixtures("bad") {
        let want: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|s| s.trim_end().to_string())
            .collect();
        assert!(!want.is_empty(), "{name} has no `# expect:` line");
        let got: Vec<String> = match parse_file(&name, &text, &settings) {
            Ok(_) => vec!["<no error>".into()],
            Err(errs) => errs
                .iter()
                .map(|e| e.to_string().trim_end().to_string())
                .collect(),
        };
        if got != want {
            failures.push(format!("{name}\n  want: {want:?}\n  got:  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn good_record_fields() {
    let text = std::fs::read_to_string(
        crate::workspace_root().join("tests/fixtures/records/good/chg-2041.yaml"),
    )
    .expect("fixture");
    let recs = parse_file("chg-2041.yaml", &text, &ValidationSettings::default()).expect("valid");
    let r = &recs[0];
    assert_eq!(r.id, "CHG-2041");
    assert_eq!(r.origin.line, 1);
    assert_eq!(r.approved_by[0].name, "bob@example.com");
    let s = &r.scope[0];
    assert_eq!(s.kind, Some(Kind::Ec2SecurityGroupRule));
    assert_eq!(s.target.as_deref(), Some("sg-0abc*"));
    assert_eq!(
        s.matches,
        vec![
            AttributeMatch::Peer("10.8.0.0/16".into()),
            AttributeMatch::Port(22)
        ]
    );
}

#[test]
fn unquoted_account_ids_are_accepted() {
    let text = std::fs::read_to_string(
        crate::workspace_root().join("tests/fixtures/records/good/standard-list.yaml"),
    )
    .expect("fixture");
    let recs = parse_file("x.yaml", &text, &ValidationSettings::default()).expect("valid");
    assert_eq!(recs[1].scope[0].account.as_deref(), Some("123456789012"));
}

#[test]
fn every_error_is_collected() {
    let text = "id: X\ntitle: t\ntype: normal\nrequested_by: a\nscope: []\n";
    let errs = parse_file("f.yaml", text, &ValidationSettings::default()).expect_err("invalid");
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "purpose",
            "impact",
            "resources",
            "approved_by",
            "window",
            "scope"
        ]
    );
}

#[test]
fn every_error_names_its_rule() {
    use RejectionRule::*;
    let good = "id: CHG-1\ntitle: t\ntype: normal\npurpose: p\nimpact: i\nresources: r\nrequested_by: alice\napproved_by: [{ name: bob, at: 2026-11-20T10:00:00Z }]\nwindow: { start: 2026-11-21T09:00:00Z, end: 2026-11-21T18:00:00Z }\nscope: [{ provider: aws }]\n";
    assert!(parse_file("f.yaml", good, &ValidationSettings::default()).is_ok());
    let cases: Vec<(&str, String, Vec<RejectionRule>)> = vec![
        ("syntax", "id: [unclosed\n".into(), vec![Syntax]),
        ("empty file", "".into(), vec![NotARecord]),
        ("a scalar", "just text\n".into(), vec![NotARecord]),
        (
            "unknown field",
            good.replace("title: t\n", "title: t\nowner: x\n"),
            vec![UnknownField],
        ),
        (
            "missing required key",
            good.replace("requested_by: alice\n", ""),
            vec![MissingField],
        ),
        (
            "empty title",
            good.replace("title: t\n", "title: ''\n"),
            vec![MissingField],
        ),
        (
            "pillar",
            good.replace("purpose: p\n", ""),
            vec![MissingPillar],
        ),
        (
            "no approval",
            good.replace(
                "approved_by: [{ name: bob, at: 2026-11-20T10:00:00Z }]\n",
                "",
            ),
            vec![MissingApproval],
        ),
        (
            "self approval",
            good.replace("name: bob", "name: Alice"),
            vec![SelfApproval],
        ),
        (
            "bot approval",
            good.replace("name: bob", "name: deploy-bot"),
            vec![BotApprover],
        ),
        (
            "window order",
            good.replace("end: 2026-11-21T18", "end: 2026-11-21T08"),
            vec![WindowOrder],
        ),
        (
            "revert_by",
            format!("{good}revert_by: 2026-11-20T00:00:00Z\n"),
            vec![RevertBounds],
        ),
        (
            "scope",
            good.replace("{ provider: aws }", "{ provider: aws, cluster: c }"),
            vec![InvalidScope],
        ),
        (
            "retrospective_for",
            format!("{good}retrospective_for: [nope]\n"),
            vec![RetrospectiveRef],
        ),
        (
            "closed_at",
            format!("{good}closed_at: 2026-11-21T10:00:00Z\n"),
            vec![ClosedAt],
        ),
        (
            "duplicate id",
            format!(
                "- {}\n- {}\n",
                good.replace('\n', "\n  ").trim_end(),
                good.replace('\n', "\n  ").trim_end()
            ),
            vec![DuplicateId],
        ),
    ];
    for (name, text, want) in cases {
        let got: Vec<RejectionRule> =
            match parse_file("f.yaml", &text, &ValidationSettings::default()) {
                Ok(_) => vec![],
                Err(e) => e.iter().map(|e| e.rule).collect(),
            };
        assert_eq!(got, want, "{name}: {text}");
    }
}

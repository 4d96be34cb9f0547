//! Render a change record as YAML in the file format (used by `break-glass open/close`).
//! Every string is emitted double-quoted, with what YAML cannot hold raw escaped
//! (`yaml::quote`).

use crate::model::ChangeRecord;
use crate::model::record::AttributeMatch;

use super::yaml::quote as q;

pub fn render(r: &ChangeRecord) -> String {
    let mut o = String::new();
    o.push_str(&format!("id: {}\n", q(&r.id)));
    o.push_str(&format!("title: {}\n", q(&r.title)));
    o.push_str(&format!("type: {}\n", r.record_type.as_str()));
    for (k, v) in [
        ("purpose", &r.purpose),
        ("impact", &r.impact),
        ("resources", &r.resources),
    ] {
        if let Some(v) = v {
            o.push_str(&format!("{k}: {}\n", q(v)));
        }
    }
    o.push_str(&format!("requested_by: {}\n", q(&r.requested_by)));
    if !r.approved_by.is_empty() {
        o.push_str("approved_by:\n");
        for a in &r.approved_by {
            o.push_str(&format!("  - {{ name: {}, at: {} }}\n", q(&a.name), a.at));
        }
    }
    if let Some(w) = r.window {
        o.push_str(&format!(
            "window: {{ start: {}, end: {} }}\n",
            w.start, w.end
        ));
    }
    if let Some(t) = r.revert_by {
        o.push_str(&format!("revert_by: {t}\n"));
    }
    if let Some(t) = r.closed_at {
        o.push_str(&format!("closed_at: {t}\n"));
    }
    if let Some(p) = &r.plan {
        o.push_str(&format!("plan: {{ path: {}", q(&p.path)));
        for (k, v) in [
            ("account", &p.account),
            ("region", &p.region),
            ("cluster", &p.cluster),
        ] {
            if let Some(v) = v {
                o.push_str(&format!(", {k}: {}", q(v)));
            }
        }
        o.push_str(" }\n");
    }
    // Entries made from the plan are the plan's: the file names the plan, not them.
    let written: Vec<_> = r.scope.iter().filter(|s| s.planned.is_none()).collect();
    if !written.is_empty() {
        o.push_str("scope:\n");
    }
    for s in written {
        o.push_str(&format!("  - provider: {}\n", s.provider));
        for (k, v) in [
            ("account", &s.account),
            ("region", &s.region),
            ("cluster", &s.cluster),
            ("target", &s.target),
        ] {
            if let Some(v) = v {
                o.push_str(&format!("    {k}: {}\n", q(v)));
            }
        }
        if let Some(k) = &s.kind {
            o.push_str(&format!("    kind: {}\n", q(&k.to_string())));
        }
        if !s.actions.is_empty() {
            let a: Vec<&str> = s.actions.iter().map(|a| a.as_str()).collect();
            o.push_str(&format!("    actions: [{}]\n", a.join(", ")));
        }
        if !s.matches.is_empty() {
            let m: Vec<String> = s
                .matches
                .iter()
                .map(|m| match m {
                    AttributeMatch::Port(p) => format!("port: {p}"),
                    AttributeMatch::Protocol(p) => format!("protocol: {}", q(p)),
                    AttributeMatch::Direction(d) => format!("direction: {}", d.as_str()),
                    AttributeMatch::Peer(p) => format!("peer: {}", q(p)),
                })
                .collect();
            o.push_str(&format!("    match: {{ {} }}\n", m.join(", ")));
        }
    }
    if !r.evidence.is_empty() {
        let e: Vec<String> = r.evidence.iter().map(|e| q(e)).collect();
        o.push_str(&format!("evidence: [{}]\n", e.join(", ")));
    }
    if !r.retrospective_for.is_empty() {
        let e: Vec<String> = r.retrospective_for.iter().map(|e| q(e)).collect();
        o.push_str(&format!("retrospective_for: [{}]\n", e.join(", ")));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ValidationSettings, parse_file};

    #[test]
    fn render_then_parse_is_the_same_record() {
        let dir = crate::workspace_root().join("tests/fixtures/records/good");
        for f in ["chg-2041.yaml", "standard-list.yaml"] {
            let text = std::fs::read_to_string(dir.join(f)).expect("fixture");
            for r in parse_file("f.yaml", &text, &ValidationSettings::default()).expect("valid") {
                let again = parse_file("f.yaml", &render(&r), &ValidationSettings::default())
                    .unwrap_or_else(|e| panic!("{f}: {e:?}\n{}", render(&r)));
                let mut back = again[0].clone();
                back.origin = r.origin.clone();
                assert_eq!(back, r, "{f}");
            }
        }
    }

    /// Regression: strings were quoted as JSON, which leaves DEL and C1 controls raw; YAML
    /// refuses those inside quotes, so such a record rendered to a file that did not parse.
    #[test]
    fn render_escapes_what_yaml_cannot_hold_raw() {
        let text = "id: CHG-1\ntitle: \"t\\x7f \\x85 \\u009b \\ufeff\"\ntype: emergency\npurpose: p\nimpact: i\nresources: r\nrequested_by: a\nwindow: { start: 2026-11-21T09:00:00Z, end: 2026-11-21T18:00:00Z }\nscope: [{ provider: aws, account: \"\\x7f\" }]\n";
        let r =
            parse_file("f.yaml", text, &ValidationSettings::default()).expect("valid")[0].clone();
        assert_eq!(r.title, "t\u{7f} \u{85} \u{9b} \u{feff}");
        let mut back = parse_file("f.yaml", &render(&r), &ValidationSettings::default())
            .unwrap_or_else(|e| panic!("{e:?}\n{}", render(&r)))[0]
            .clone();
        back.origin = r.origin.clone();
        assert_eq!(back, r);
    }
}

//! The one way untrusted YAML is parsed (record files, ticket blocks, Jira's scope field: all
//! of it goes through `parse_file`): serde-saphyr with explicit limits, so an alias bomb
//! ("billion laughs") or a deeply nested document is refused in milliseconds with an error
//! naming the limit, instead of expanding in memory. The numbers leave a wide margin over what
//! a change record needs (six levels of nesting, a few dozen nodes per record) while keeping
//! the worst case of one document to a fraction of a second in a debug build.

use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::granit_parser::ErrorKind;
use serde_saphyr::options::AliasLimits;
use serde_saphyr::{Budget, Error, ExternalMessageSource, Options};

/// Deepest nesting of sequences and mappings. A record list nests six levels (list, record,
/// scope, entry, `match`, value); 32 is generous and keeps recursion shallow.
pub const MAX_DEPTH: usize = 32;

/// Most nodes (scalars, sequences, mappings) in one document, alias expansions counted. A
/// record is 20 to 60 nodes, so this holds a few thousand records: more than a 1 MiB file
/// (the directory loader's cap) of hand-written records.
pub const MAX_NODES: usize = 200_000;

/// Most alias uses (`*name`) in one document. Anchors are a convenience for a repeated scope
/// entry; a thousand uses is far beyond that, and an alias bomb needs only a few dozen, so the
/// expansion limit below is what stops it.
pub const MAX_ALIASES: usize = 1_000;

/// Most parser events injected by replaying aliases in one document. A bomb's expansion is
/// exponential; this caps it at a size parsed in milliseconds.
pub const MAX_REPLAYED_EVENTS: usize = 20_000;

/// Most bytes of scalar text in one document (aliases replay them; 4 × the file cap).
pub const MAX_SCALAR_BYTES: usize = 4 * 1024 * 1024;

/// The parser options every untrusted YAML document is read with.
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_events = 2 * MAX_NODES;
    budget.max_aliases = MAX_ALIASES;
    budget.max_anchors = MAX_ALIASES;
    budget.max_total_scalar_bytes = MAX_SCALAR_BYTES;
    budget.max_recorded_anchor_events = MAX_REPLAYED_EVENTS;
    budget.max_recorded_anchor_bytes = MAX_SCALAR_BYTES;
    budget.max_documents = 1;
    budget.max_inclusion_depth = 0;
    let mut alias_limits = AliasLimits::default();
    alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    alias_limits.max_replay_stack_depth = MAX_DEPTH;
    let mut o = Options::default();
    o.budget = Some(budget);
    o.alias_limits = alias_limits;
    o
}

/// Parse one document with the limits.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// The error under serde-saphyr's wrappers (a snippet, the alias an error came through).
pub fn original(mut e: &Error) -> &Error {
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = e {
        e = error;
    }
    e
}

/// When `e` is one of these limits, what was exceeded, in words.
pub fn limit_exceeded(e: &Error) -> Option<String> {
    let what = match original(e) {
        Error::Budget { breach, .. } => match breach {
            BudgetBreach::Depth { .. } => format!("nests deeper than {MAX_DEPTH} levels"),
            BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => {
                format!("has more than {MAX_NODES} nodes, aliases expanded")
            }
            BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } => {
                format!("uses more than {MAX_ALIASES} aliases or anchors")
            }
            BudgetBreach::AliasAnchorRatio { aliases, anchors } => {
                format!("uses {aliases} aliases of only {anchors} anchors")
            }
            BudgetBreach::RecordedAnchorEvents { .. }
            | BudgetBreach::RecordedAnchorBytes { .. } => {
                format!("expands aliases to more than {MAX_REPLAYED_EVENTS} nodes")
            }
            BudgetBreach::ScalarBytes { .. } => {
                format!("holds more than {} MiB of text", MAX_SCALAR_BYTES >> 20)
            }
            BudgetBreach::Documents { .. } => "holds more than one document".to_string(),
            other => format!("exceeds a parser limit ({other:?})"),
        },
        Error::AliasReplayLimitExceeded { .. } | Error::AliasExpansionLimitExceeded { .. } => {
            format!("expands aliases to more than {MAX_REPLAYED_EVENTS} nodes")
        }
        Error::AliasReplayStackDepthExceeded { .. } => {
            format!("nests aliases deeper than {MAX_DEPTH} levels")
        }
        Error::ExternalMessage { source, .. }
            if matches!(&**source, ExternalMessageSource::Parser(p)
                if matches!(p.kind(), ErrorKind::RecursionLimitExceeded)) =>
        {
            format!("nests deeper than {MAX_DEPTH} levels")
        }
        _ => return None,
    };
    Some(format!(
        "the YAML {what}: refused (a limit against alias bombs and generated files)"
    ))
}

/// `s` as a YAML double-quoted scalar that reads back as exactly `s`: quotes, backslashes
/// and every character YAML does not allow unescaped (C0 and C1 controls, DEL, a byte-order
/// mark, U+FFFE and U+FFFF) are escaped. JSON's quoting is not enough: YAML refuses a raw DEL
/// or C1 control inside quotes.
pub fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{10000}'.. => o.push(c),
            '\u{e000}'..='\u{fffd}' if c != '\u{feff}' => o.push(c),
            // Everything left is in the basic plane.
            c => o.push_str(&format!("\\u{:04x}", c as u32)),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_read_back_as_themselves() {
        for s in [
            "plain",
            "",
            "a \"b\" \\c",
            "line\nbreak\ttab\rcr",
            "\u{7f}",
            "\u{85}\u{9f}\u{80}",
            "\u{0}\u{1b}",
            "\u{feff}bom",
            "\u{fffe}\u{ffff}",
            "e\u{301} \u{1d54f} \u{2028}",
            "\u{e000}\u{fffd}",
        ] {
            let back: String = from_str(&quote(s)).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(back, s);
        }
    }
}

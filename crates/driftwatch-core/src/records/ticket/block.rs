//! Find the record block in a ticket's text: YAML front matter (`---` … `---` at the very
//! start) or a fenced code block whose info string is `driftwatch`.

/// The YAML of a record block and where it starts in the ticket's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The YAML lines, fences removed, `\n`-separated.
    pub yaml: String,
    /// 1-based line of the block's first YAML line in the ticket's text.
    pub first_line: usize,
}

/// The one record block in `text`, `Ok(None)` when there is none, or why the text is ambiguous
/// or malformed.
pub fn find(text: &str) -> Result<Option<Block>, String> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    if lines.first().is_some_and(|l| l.trim_end() == "---") {
        let end = lines
            .iter()
            .skip(1)
            .position(|l| matches!(l.trim_end(), "---" | "..."))
            .ok_or("the front matter that starts on line 1 has no closing `---`")?;
        return Ok(Some(Block {
            yaml: lines[1..=end].join("\n"),
            first_line: 2,
        }));
    }
    let Some((open, close)) = the_one_fence(&lines, "driftwatch", "a ticket holds one record")?
    else {
        return Ok(None);
    };
    Ok(Some(Block {
        yaml: lines[open + 1..close].join("\n"),
        first_line: open + 2,
    }))
}

/// The one fenced block of `lines` whose info string starts with `info`: the 0-based lines of
/// its opening and closing fences. Fences inside other fenced blocks are content.
fn the_one_fence(
    lines: &[&str],
    info: &str,
    why_one: &str,
) -> Result<Option<(usize, usize)>, String> {
    let mut found: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < lines.len() {
        let Some((fence, word)) = fence_open(lines[i]) else {
            i += 1;
            continue;
        };
        let close = lines[i + 1..]
            .iter()
            .position(|l| is_fence_close(l, &fence))
            .map(|p| p + i + 1);
        if word == info {
            let Some(close) = close else {
                return Err(format!(
                    "the ```{info} block on line {} is not closed",
                    i + 1
                ));
            };
            if let Some((first, _)) = found {
                return Err(format!(
                    "two {info} blocks (lines {} and {}); {why_one}",
                    first + 1,
                    i + 1
                ));
            }
            found = Some((i, close));
        }
        i = close.map_or(lines.len(), |c| c + 1);
    }
    Ok(found)
}

/// A Terraform/OpenTofu plan in a ticket: a fenced block whose info string is
/// `driftwatch-plan`, optionally followed by where it applies
/// (```` ```driftwatch-plan account=123456789012 region=eu-west-1 ````).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanBlock {
    /// The plan JSON (`terraform show -json` output).
    pub json: String,
    /// 1-based line of the opening fence.
    pub line: usize,
    pub account: Option<String>,
    pub region: Option<String>,
    pub cluster: Option<String>,
}

/// The one `driftwatch-plan` block in `text`, `Ok(None)` when there is none, or why it is
/// unusable (not closed, two of them, an unknown attribute).
pub fn find_plan(text: &str) -> Result<Option<PlanBlock>, String> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let Some((open, close)) =
        the_one_fence(&lines, "driftwatch-plan", "a record approves one plan")?
    else {
        return Ok(None);
    };
    let mut b = PlanBlock {
        json: lines[open + 1..close].join("\n"),
        line: open + 1,
        account: None,
        region: None,
        cluster: None,
    };
    let words = lines[open].trim_start().trim_start_matches(['`', '~']);
    for word in words.split_whitespace().skip(1) {
        match word.split_once('=') {
            Some(("account", v)) => b.account = Some(v.to_string()),
            Some(("region", v)) => b.region = Some(v.to_string()),
            Some(("cluster", v)) => b.cluster = Some(v.to_string()),
            _ => {
                return Err(format!(
                    "the ```driftwatch-plan block on line {}: `{word}` is not account=, region= or cluster=",
                    open + 1
                ));
            }
        }
    }
    Ok(Some(b))
}

/// A fence opening (``` or ~~~, three or more) and the first word of its info string.
fn fence_open(line: &str) -> Option<(String, String)> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|c| *c == ch).count();
    if n < 3 {
        return None;
    }
    let info = t[n..].split_whitespace().next().unwrap_or("").to_string();
    Some((ch.to_string().repeat(n), info))
}

fn is_fence_close(line: &str, fence: &str) -> bool {
    let t = line.trim();
    let ch = fence.chars().next().unwrap_or('`');
    t.len() >= fence.len() && t.chars().all(|c| c == ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_blocks() {
        let text = "Plan:\n\n```driftwatch-plan account=123456789012 region=eu-west-1\n{\"format_version\": \"1.2\"}\n```\n";
        let b = find_plan(text).expect("ok").expect("a block");
        assert_eq!(b.json, "{\"format_version\": \"1.2\"}");
        assert_eq!(b.line, 3);
        assert_eq!(b.account.as_deref(), Some("123456789012"));
        assert_eq!(b.region.as_deref(), Some("eu-west-1"));
        assert_eq!(find_plan("```driftwatch\na: 1\n```\n"), Ok(None));
        for (text, want) in [
            ("```driftwatch-plan\n{}\n", "is not closed"),
            (
                "```driftwatch-plan\n{}\n```\n~~~driftwatch-plan\n{}\n~~~\n",
                "two driftwatch-plan blocks (lines 1 and 4)",
            ),
            (
                "```driftwatch-plan acct=1\n{}\n```\n",
                "`acct=1` is not account=",
            ),
        ] {
            let e = find_plan(text).expect_err(text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn blocks_table() {
        // (ticket text, Ok(Some((yaml, first_line))) | Ok(None) | Err(substring))
        type Want = Result<Option<(&'static str, usize)>, &'static str>;
        let cases: &[(&str, Want)] = &[
            (
                "---\ntype: normal\n---\nprose",
                Ok(Some(("type: normal", 2))),
            ),
            (
                "---\r\ntype: normal\r\n...\r\n",
                Ok(Some(("type: normal", 2))),
            ),
            (
                "Why:\n\n```driftwatch\ntype: normal\nscope: []\n```\nthanks",
                Ok(Some(("type: normal\nscope: []", 4))),
            ),
            ("~~~~ driftwatch\na: 1\n~~~~\n", Ok(Some(("a: 1", 2)))),
            ("```yaml\na: 1\n```\n", Ok(None)),
            (
                "```\n```driftwatch\n```\n",
                Ok(None), // the inner line is content of an unlabelled block
            ),
            ("just prose", Ok(None)),
            ("---\na: 1\n", Err("no closing `---`")),
            ("```driftwatch\na: 1\n", Err("is not closed")),
            (
                "```driftwatch\na: 1\n```\n```driftwatch\nb: 2\n```\n",
                Err("two driftwatch blocks (lines 1 and 4)"),
            ),
        ];
        for (text, want) in cases {
            let got = find(text);
            match (want, &got) {
                (Ok(None), Ok(None)) => {}
                (Ok(Some((yaml, line))), Ok(Some(b))) => {
                    assert_eq!((b.yaml.as_str(), b.first_line), (*yaml, *line), "{text:?}")
                }
                (Err(sub), Err(e)) => assert!(e.contains(sub), "{text:?}: {e}"),
                _ => panic!("{text:?}: want {want:?}, got {got:?}"),
            }
        }
    }
}

//! The approval rule every ticket system shares: an approval counts when a person (not a bot
//! account) other than the ticket's author gave it. The seed's "proof that a person (not a
//! bot) authorised", applied to what each system records (GitHub reviews, Jira transitions or
//! approver fields, Linear state changes).

use std::fmt;

use jiff::Timestamp;

use crate::model::record::Approval;
use crate::records::RejectionRule;

/// Who acted on a ticket in a way the system treats as approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// The name written to the record (email when the system gives one, else login or name).
    pub name: String,
    /// The system's stable account id, compared with the author's.
    pub account: String,
    /// `Some(why)` when the account is a bot or app (`user.type Bot`, `accountType app`).
    pub bot: Option<String>,
    pub at: Timestamp,
}

/// A vote that did not count as an approval: the rule it broke and the sentence saying why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotCounted {
    pub rule: RejectionRule,
    pub reason: String,
}

impl fmt::Display for NotCounted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// The approvals that count (one per person, their earliest), and each vote that does not,
/// saying why.
pub fn approvals(author_account: &str, votes: &[Vote]) -> (Vec<Approval>, Vec<NotCounted>) {
    let mut counted: Vec<(String, Approval)> = Vec::new();
    let mut not_counted = Vec::new();
    for v in votes {
        if let Some(why) = &v.bot {
            not_counted.push(NotCounted {
                rule: RejectionRule::BotApprover,
                reason: format!("{} is a bot account ({why})", v.name),
            });
        } else if v.account.eq_ignore_ascii_case(author_account) {
            not_counted.push(NotCounted {
                rule: RejectionRule::SelfApproval,
                reason: format!(
                    "{} is the ticket's author and cannot approve their own change",
                    v.name
                ),
            });
        } else if let Some((_, a)) = counted
            .iter_mut()
            .find(|(acc, _)| acc.eq_ignore_ascii_case(&v.account))
        {
            a.at = a.at.min(v.at);
        } else {
            counted.push((
                v.account.clone(),
                Approval {
                    name: v.name.clone(),
                    at: v.at,
                },
            ));
        }
    }
    not_counted.dedup();
    (counted.into_iter().map(|(_, a)| a).collect(), not_counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(name: &str, bot: bool, at: &str) -> Vote {
        Vote {
            name: name.into(),
            account: name.to_ascii_lowercase(),
            bot: bot.then(|| "user.type Bot".to_string()),
            at: at.parse().expect("ts"),
        }
    }

    #[test]
    fn the_rule_as_a_table() {
        let t1 = "2026-11-20T10:00:00Z";
        let t2 = "2026-11-20T11:00:00Z";
        // (author, votes, counted names with times, reasons not counted)
        type Case<'a> = (&'a str, Vec<Vote>, Vec<(&'a str, &'a str)>, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "alice",
                vec![vote("bob", false, t1)],
                vec![("bob", t1)],
                vec![],
            ),
            (
                "alice",
                vec![vote("dependabot[bot]", true, t1)],
                vec![],
                vec!["dependabot[bot] is a bot account (user.type Bot)"],
            ),
            (
                "alice",
                vec![vote("Alice", false, t1)],
                vec![],
                vec!["Alice is the ticket's author and cannot approve their own change"],
            ),
            (
                "alice",
                vec![
                    vote("bob", false, t2),
                    vote("bob", false, t1),
                    vote("carol", false, t2),
                ],
                vec![("bob", t1), ("carol", t2)],
                vec![],
            ),
            (
                "alice",
                vec![
                    vote("alice", false, t1),
                    vote("ci", true, t1),
                    vote("bob", false, t2),
                ],
                vec![("bob", t2)],
                vec![
                    "alice is the ticket's author and cannot approve their own change",
                    "ci is a bot account (user.type Bot)",
                ],
            ),
            ("alice", vec![], vec![], vec![]),
        ];
        for (author, votes, want, want_not) in cases {
            let (got, not) = approvals(author, &votes);
            for n in &not {
                let want = if n.reason.contains("bot account") {
                    RejectionRule::BotApprover
                } else {
                    RejectionRule::SelfApproval
                };
                assert_eq!(n.rule, want, "{n}");
            }
            let not: Vec<String> = not.iter().map(|n| n.to_string()).collect();
            let got: Vec<(String, String)> = got
                .iter()
                .map(|a| (a.name.clone(), a.at.to_string()))
                .collect();
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect();
            assert_eq!(got, want, "{votes:?}");
            assert_eq!(not, want_not, "{votes:?}");
        }
    }
}

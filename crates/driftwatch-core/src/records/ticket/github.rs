//! GitHub issues and pull requests (REST API, `application/vnd.github+json`): the payload
//! shapes driftwatch reads and their mapping to a `Ticket`. Approval is an APPROVED pull
//! request review by a human account (`user.type == "User"`), not the author, each reviewer's
//! latest decisive review counting (a later "changes requested" or a dismissal withdraws it).

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::Ticket;
use super::approval::{NotCounted, Vote, approvals};
use crate::model::record::Window;
use crate::records::RejectionRule;

/// An item of `GET /repos/{owner}/{repo}/issues` (pull requests included).
#[derive(Clone, Debug, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Option<User>,
    pub html_url: String,
    /// `open` or `closed`.
    pub state: String,
    pub updated_at: Timestamp,
    /// Present when the issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<PullRequestRef>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PullRequestRef {
    #[serde(default)]
    pub merged_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct User {
    pub login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// An item of `GET /repos/{owner}/{repo}/pulls/{n}/reviews` (chronological).
#[derive(Clone, Debug, Deserialize)]
pub struct Review {
    /// Null for a deleted account.
    pub user: Option<User>,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, `PENDING`.
    pub state: String,
    #[serde(default)]
    pub submitted_at: Option<Timestamp>,
}

/// An item of `GET /repos/{owner}/{repo}/issues/{n}/comments` (chronological).
#[derive(Clone, Debug, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub user: Option<User>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub body: Option<String>,
}

impl Issue {
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }

    /// A pull request closed without merging is an abandoned change, not a record.
    pub fn abandoned(&self) -> bool {
        self.state == "closed"
            && self
                .pull_request
                .as_ref()
                .is_some_and(|p| p.merged_at.is_none())
    }
}

/// Each reviewer's latest decisive review (approve, request changes, dismissal), as votes
/// when it is an approval.
pub fn review_votes(reviews: &[Review]) -> Vec<Vote> {
    let mut latest: Vec<(&User, &Review)> = Vec::new();
    for r in reviews {
        let (Some(u), true) = (
            &r.user,
            matches!(
                r.state.as_str(),
                "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
            ),
        ) else {
            continue;
        };
        match latest
            .iter_mut()
            .find(|(x, _)| x.login.eq_ignore_ascii_case(&u.login))
        {
            Some(slot) => slot.1 = r,
            None => latest.push((u, r)),
        }
    }
    latest
        .into_iter()
        .filter(|(_, r)| r.state == "APPROVED")
        .filter_map(|(u, r)| {
            Some(Vote {
                name: u.login.clone(),
                account: u.login.clone(),
                bot: (u.kind != "User").then(|| format!("user.type {}", u.kind)),
                at: r.submitted_at?,
            })
        })
        .collect()
}

/// The ticket for an issue of `repo` (`owner/name`); `reviews` for a pull request.
/// `merge_window`: how long after the merge the window stays open when the block has none.
pub fn ticket(
    source: &str,
    repo: &str,
    issue: &Issue,
    reviews: &[Review],
    merge_window: SignedDuration,
) -> Ticket {
    ticket_with_comments(source, repo, issue, reviews, &[], &[], merge_window)
}

/// `ticket`, with the pull request's comments and the accounts whose comments may carry the
/// plan (`plan_commenters`, a CI bot; the author's own count too). A plan comment counts only
/// when it was posted and last edited before the latest approval, so the reviewers saw the
/// plan they approved; the latest such comment is the plan. A ```driftwatch-plan block in
/// the description wins over comments.
pub fn ticket_with_comments(
    source: &str,
    repo: &str,
    issue: &Issue,
    reviews: &[Review],
    comments: &[Comment],
    plan_commenters: &[String],
    merge_window: SignedDuration,
) -> Ticket {
    let author = issue
        .user
        .as_ref()
        .map(|u| u.login.clone())
        .unwrap_or_else(|| "ghost".into());
    let (approved, mut not_counted) = approvals(&author, &review_votes(reviews));
    if !issue.is_pull_request() {
        not_counted.push(NotCounted {
            rule: RejectionRule::MissingApproval,
            reason:
                "an issue has no reviews, so it can hold only an emergency (retrospective) record"
                    .into(),
        });
    }
    let default_window = issue
        .pull_request
        .as_ref()
        .and_then(|p| p.merged_at)
        .and_then(|start| {
            Some(Window {
                start,
                end: start.checked_add(merge_window).ok()?,
            })
        });
    let body = issue.body.clone().unwrap_or_default();
    let mut field_errors = Vec::new();
    let plan = match super::block::find_plan(&body) {
        Ok(Some(_)) | Err(_) => None,
        Ok(None) => plan_comment(
            comments,
            &author,
            plan_commenters,
            approved.iter().map(|a| a.at).max(),
            &mut field_errors,
        ),
    };
    Ticket {
        source: source.to_string(),
        key: format!("{repo}#{}", issue.number),
        url: issue.html_url.clone(),
        title: issue.title.clone(),
        author,
        body,
        approvals: approved,
        not_counted,
        approval_source: "an APPROVED pull request review by a person".into(),
        fields: Vec::new(),
        default_window,
        field_errors,
        plan,
    }
}

/// The latest plan comment by the author or a trusted account, posted and last edited no
/// later than `approved_at`. When only later ones exist, says so (the record is rejected:
/// nobody approved that plan).
fn plan_comment(
    comments: &[Comment],
    author: &str,
    trusted: &[String],
    approved_at: Option<Timestamp>,
    field_errors: &mut Vec<(String, String)>,
) -> Option<super::TicketPlan> {
    let mut late: Option<String> = None;
    let mut found: Option<super::TicketPlan> = None;
    for c in comments {
        let Some(login) = c.user.as_ref().map(|u| u.login.as_str()) else {
            continue;
        };
        if login != author && !trusted.iter().any(|t| t == login) {
            continue;
        }
        let Ok(Some(block)) = super::block::find_plan(c.body.as_deref().unwrap_or("")) else {
            continue;
        };
        if let Some(at) = approved_at
            && c.updated_at.max(c.created_at) > at
        {
            late = Some(format!(
                "the plan in comment {} by {login} was posted or edited at {}, after the approval at {at}: approve again to approve that plan",
                c.id, c.updated_at
            ));
            continue;
        }
        found = Some(super::TicketPlan {
            block,
            from: format!("comment {} by {login}", c.id),
        });
    }
    if let (None, Some(m)) = (&found, late) {
        field_errors.push(("plan".into(), m));
    }
    found
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(login: &str, kind: &str, state: &str, at: &str) -> Review {
        Review {
            user: Some(User {
                login: login.into(),
                kind: kind.into(),
            }),
            state: state.into(),
            submitted_at: Some(at.parse().expect("ts")),
        }
    }

    #[test]
    fn latest_decisive_review_counts() {
        let a = "2026-11-20T10:00:00Z";
        let b = "2026-11-20T11:00:00Z";
        // (reviews, approving logins with their time)
        type Case<'a> = (Vec<Review>, Vec<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            (vec![review("bob", "User", "APPROVED", a)], vec![("bob", a)]),
            (
                vec![
                    review("bob", "User", "APPROVED", a),
                    review("bob", "User", "COMMENTED", b),
                ],
                vec![("bob", a)],
            ),
            (
                vec![
                    review("bob", "User", "APPROVED", a),
                    review("bob", "User", "CHANGES_REQUESTED", b),
                ],
                vec![],
            ),
            (
                vec![
                    review("bob", "User", "CHANGES_REQUESTED", a),
                    review("bob", "User", "APPROVED", b),
                ],
                vec![("bob", b)],
            ),
            (
                vec![
                    review("bob", "User", "APPROVED", a),
                    review("bob", "User", "DISMISSED", b),
                ],
                vec![],
            ),
            (vec![review("bob", "User", "PENDING", a)], vec![]),
        ];
        for (reviews, want) in cases {
            let got: Vec<(String, String)> = review_votes(&reviews)
                .into_iter()
                .map(|v| (v.name, v.at.to_string()))
                .collect();
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect();
            assert_eq!(got, want);
        }
        let bot = review_votes(&[review("renovate[bot]", "Bot", "APPROVED", a)]);
        assert_eq!(bot[0].bot.as_deref(), Some("user.type Bot"));
    }

    #[test]
    fn link_header_next() {
        let h = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=2")
        );
        let last =
            r#"<https://x/issues?page=1>; rel="prev", <https://x/issues?page=1>; rel="first""#;
        assert_eq!(next_link(last), None);
    }
}

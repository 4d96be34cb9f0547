//! Linear issues (GraphQL API, `issues` connection with `pageInfo { hasNextPage endCursor }`):
//! the payload shapes driftwatch reads and the mapping to a `Ticket`. The record block is in
//! the description (Markdown). Approval is a move into an approved workflow state by a person
//! (`actor`, no `botActor`) other than the issue's creator, from the issue's history.

use jiff::Timestamp;
use serde::Deserialize;

use super::Ticket;
use super::approval::{Vote, approvals};

/// The GraphQL query driftwatch sends (variables: `label`, `after`, `first`).
pub const QUERY: &str = "query DriftwatchRecords($label: String!, $after: String, $first: Int!) {
  issues(first: $first, after: $after, filter: { labels: { name: { eq: $label } } }) {
    nodes {
      identifier
      title
      description
      url
      updatedAt
      creator { id name email }
      history(first: 100) {
        nodes { createdAt actor { id name email } botActor { name } toState { name } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}";

/// The whole GraphQL answer: data, or errors (GraphQL reports them with status 200).
#[derive(Clone, Debug, Deserialize)]
pub struct Response {
    #[serde(default)]
    pub data: Option<Data>,
    #[serde(default)]
    pub errors: Vec<GraphqlError>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct GraphqlError {
    pub message: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Data {
    pub issues: Connection,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub nodes: Vec<Issue>,
    pub page_info: PageInfo,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub has_next_page: bool,
    #[serde(default)]
    pub end_cursor: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub identifier: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub url: String,
    #[serde(default)]
    pub creator: Option<LinearUser>,
    #[serde(default)]
    pub history: Option<HistoryConnection>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LinearUser {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct HistoryConnection {
    pub nodes: Vec<History>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub created_at: Timestamp,
    #[serde(default)]
    pub actor: Option<LinearUser>,
    #[serde(default)]
    pub bot_actor: Option<Named>,
    #[serde(default)]
    pub to_state: Option<Named>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Named {
    pub name: String,
}

impl LinearUser {
    fn label(&self) -> String {
        self.email.clone().unwrap_or_else(|| self.name.clone())
    }
}

/// The ticket for a Linear issue; `approved_states` are the workflow states whose entry is
/// an approval.
pub fn ticket(source: &str, issue: &Issue, approved_states: &[String]) -> Ticket {
    let author = issue.creator.as_ref();
    let votes: Vec<Vote> = issue
        .history
        .iter()
        .flat_map(|h| &h.nodes)
        .filter(|h| {
            h.to_state.as_ref().is_some_and(|s| {
                approved_states
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&s.name))
            })
        })
        .filter_map(|h| match (&h.actor, &h.bot_actor) {
            (_, Some(bot)) => Some(Vote {
                name: bot.name.clone(),
                account: format!("bot:{}", bot.name),
                bot: Some("botActor".into()),
                at: h.created_at,
            }),
            (Some(u), None) => Some(Vote {
                name: u.label(),
                account: u.id.clone(),
                bot: None,
                at: h.created_at,
            }),
            (None, None) => None,
        })
        .collect();
    let (approved, not_counted) = approvals(author.map(|a| a.id.as_str()).unwrap_or(""), &votes);
    Ticket {
        source: source.to_string(),
        key: issue.identifier.clone(),
        url: issue.url.clone(),
        title: issue.title.clone(),
        author: author.map(LinearUser::label).unwrap_or_default(),
        body: issue.description.clone().unwrap_or_default(),
        approvals: approved,
        not_counted,
        approval_source: format!(
            "a move to {} by a person other than the creator (issue history)",
            approved_states.join(" or ")
        ),
        fields: Vec::new(),
        default_window: None,
        field_errors: Vec::new(),
        plan: None,
    }
}

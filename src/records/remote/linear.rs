//! Linear: the GraphQL `issues` connection filtered by label, paged by `pageInfo.endCursor`
//! while `hasNextPage`. GraphQL errors (answered with HTTP 200) are failures.

use jiff::Timestamp;
use serde_json::json;

use super::http;
use super::{BuildError, Client, FailureKind, Loader, RemoteError, System};
use crate::config::{LinearRecordsConfig, Secret};
use crate::records::ticket::Ticket;
use crate::records::ticket::linear::{self as ln, Response};

pub struct Linear {
    name: String,
    api: String,
    token: Secret,
    label: String,
    approved_states: Vec<String>,
    page_size: u32,
    client: reqwest::Client,
}

const MAX_PAGES: usize = 1000;

impl LinearRecordsConfig {
    /// This source's loader, started at `now`; the token is read now.
    pub fn build(&self, now: Timestamp) -> Result<Loader, BuildError> {
        let linear = Linear {
            name: self.name.clone(),
            api: self.api_url.clone(),
            token: self.token.resolve()?,
            label: self.label.clone(),
            approved_states: self.approved_states.clone(),
            page_size: self.page_size,
            client: http::client(self.timeout())?,
        };
        Ok(Loader::new(
            &self.name,
            System::Linear,
            self.interval(),
            self.stale_after(),
            Client::Linear(linear),
            now,
        ))
    }
}

impl Linear {
    pub async fn fetch(&mut self) -> Result<(Vec<Ticket>, u64), RemoteError> {
        let mut after: Option<String> = None;
        let mut tickets = Vec::new();
        for _ in 0..MAX_PAGES {
            let body = json!({
                "query": ln::QUERY,
                "variables": {"label": self.label, "after": after, "first": self.page_size},
            });
            // A personal API key goes in the header as is (OAuth tokens carry `Bearer `).
            let req = self
                .client
                .post(&self.api)
                .header("authorization", self.token.expose());
            let resp: Response = http::post_json("Linear issues", req, &body).await?;
            if let Some(e) = resp.errors.first() {
                return Err(RemoteError::new(
                    FailureKind::InvalidResponse,
                    format!("Linear answered a GraphQL error: {}", e.message),
                ));
            }
            let Some(data) = resp.data else {
                return Err(RemoteError::new(
                    FailureKind::InvalidResponse,
                    "Linear answered no data".into(),
                ));
            };
            for issue in &data.issues.nodes {
                tickets.push(ln::ticket(&self.name, issue, &self.approved_states));
            }
            let info = data.issues.page_info;
            match (info.has_next_page, info.end_cursor) {
                (true, Some(c)) if after.as_ref() != Some(&c) => after = Some(c),
                (true, _) => {
                    return Err(RemoteError::new(
                        FailureKind::InvalidResponse,
                        "Linear: hasNextPage without a new endCursor".into(),
                    ));
                }
                (false, _) => return Ok((tickets, 0)),
            }
        }
        Err(RemoteError::new(
            FailureKind::InvalidResponse,
            format!("Linear: more than {MAX_PAGES} pages"),
        ))
    }
}

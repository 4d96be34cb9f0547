//! Jira Cloud: `POST /rest/api/3/search/jql` with the configured JQL, the fields the mapping
//! needs and `expand: changelog`, paged by `nextPageToken` until `isLast` (or no token).

use jiff::Timestamp;
use serde_json::json;

use super::http;
use super::{BuildError, Client, FailureKind, Loader, RemoteError, System};
use crate::config::{JiraRecordsConfig, Secret};
use crate::records::ticket::Ticket;
use crate::records::ticket::jira::{self as jr, FieldMap, SearchPage};

pub struct Jira {
    name: String,
    base: String,
    email: String,
    token: Secret,
    jql: String,
    map: FieldMap,
    page_size: u32,
    client: reqwest::Client,
}

/// Pages beyond this are a runaway answer, not a change calendar.
const MAX_PAGES: usize = 1000;

impl JiraRecordsConfig {
    /// This source's loader, started at `now`; the token is read now.
    pub fn build(&self, now: Timestamp) -> Result<Loader, BuildError> {
        let jira = Jira {
            name: self.name.clone(),
            base: self.url.trim_end_matches('/').to_string(),
            email: self.email.clone(),
            token: self.token.resolve()?,
            jql: self.jql.clone(),
            map: FieldMap {
                window_start: self.fields.window_start.clone(),
                window_end: self.fields.window_end.clone(),
                scope: self.fields.scope.clone(),
                approver: self.fields.approver.clone(),
                approved_statuses: self.fields.approved_statuses.clone(),
            },
            page_size: self.page_size,
            client: http::client(self.timeout())?,
        };
        Ok(Loader::new(
            &self.name,
            System::Jira,
            self.interval(),
            self.stale_after(),
            Client::Jira(jira),
            now,
        ))
    }
}

impl Jira {
    pub async fn fetch(&mut self) -> Result<(Vec<Ticket>, u64), RemoteError> {
        let url = format!("{}/rest/api/3/search/jql", self.base);
        let mut token: Option<String> = None;
        let mut seen_tokens = Vec::new();
        let mut tickets = Vec::new();
        for _ in 0..MAX_PAGES {
            let mut body = json!({
                "jql": self.jql,
                "fields": self.map.wanted(),
                "expand": "changelog",
                "maxResults": self.page_size,
            });
            if let Some(t) = &token {
                body["nextPageToken"] = json!(t);
            }
            let req = self
                .client
                .post(&url)
                .basic_auth(&self.email, Some(self.token.expose()));
            let page: SearchPage = http::post_json("Jira search", req, &body).await?;
            for issue in &page.issues {
                tickets.push(jr::ticket(&self.name, &self.base, issue, &self.map));
            }
            match page.next_page_token {
                Some(next) if page.is_last != Some(true) => {
                    if seen_tokens.contains(&next) {
                        return Err(RemoteError::new(
                            FailureKind::InvalidResponse,
                            "Jira search: nextPageToken repeats an earlier one".into(),
                        ));
                    }
                    seen_tokens.push(next.clone());
                    token = Some(next);
                }
                _ => return Ok((tickets, 0)),
            }
        }
        Err(RemoteError::new(
            FailureKind::InvalidResponse,
            format!("Jira search: more than {MAX_PAGES} pages"),
        ))
    }
}

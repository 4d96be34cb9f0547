//! GitHub: `GET /repos/{owner}/{repo}/issues?labels=…&state=all` paged by its `Link` header to
//! the end, then `GET /repos/{owner}/{repo}/pulls/{n}/reviews` (paged) for each pull request,
//! and with `plan_commenters` set its comments (`GET /repos/{owner}/{repo}/issues/{n}/comments`,
//! paged), where a CI bot posts the plan.
//! Every GET is conditional (ETag), so an unchanged repository costs 304s.

use jiff::{SignedDuration, Timestamp};

use super::http::{self, ConditionalGet};
use super::{BuildError, Client, Loader, RemoteError, System};
use crate::config::{GithubRecordsConfig, Secret};
use crate::records::ticket::Ticket;
use crate::records::ticket::github::{self as gh, Comment, Issue, Review};

/// Everything but RFC 3986's unreserved characters is escaped in a query value.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub struct Github {
    name: String,
    api: String,
    repositories: Vec<String>,
    label: String,
    token: Option<Secret>,
    merge_window: SignedDuration,
    page_size: u32,
    plan_commenters: Vec<String>,
    client: reqwest::Client,
    get: ConditionalGet,
}

impl GithubRecordsConfig {
    /// This source's loader, started at `now`; the token, if any, is read now.
    pub fn build(&self, now: Timestamp) -> Result<Loader, BuildError> {
        let github = Github {
            name: self.name.clone(),
            api: self.api_url.trim_end_matches('/').to_string(),
            repositories: self.repositories.clone(),
            label: self.label.clone(),
            token: self.token.as_ref().map(|t| t.resolve()).transpose()?,
            merge_window: self.merge_window(),
            page_size: self.page_size,
            plan_commenters: self.plan_commenters.clone(),
            client: http::client(self.timeout())?,
            get: ConditionalGet::default(),
        };
        Ok(Loader::new(
            &self.name,
            System::Github,
            self.interval(),
            self.stale_after(),
            Client::Github(github),
            now,
        ))
    }
}

impl Github {
    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("accept", "application/vnd.github+json".to_string()),
            ("x-github-api-version", "2022-11-28".to_string()),
        ];
        if let Some(t) = &self.token {
            h.push(("authorization", format!("Bearer {}", t.expose())));
        }
        h
    }

    /// Every page of a list, following `rel="next"`; a repeated URL is an invalid answer.
    async fn all<T: serde::de::DeserializeOwned>(
        &mut self,
        first: String,
        what: &str,
        used: &mut Vec<String>,
    ) -> Result<Vec<T>, RemoteError> {
        let headers = self.headers();
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            if used.contains(&url) {
                return Err(RemoteError::new(
                    super::FailureKind::InvalidResponse,
                    format!("{what}: the next page repeats an earlier one"),
                ));
            }
            let page = self.get.get(&self.client, what, &url, &headers).await?;
            used.push(url);
            let mut items: Vec<T> = http::decode(what, &page.body)?;
            out.append(&mut items);
            next = page.link.as_deref().and_then(gh::next_link);
            if next.as_deref().is_some_and(|n| !on_api(&self.api, n)) {
                // The token goes with every request: never follow a page off api_url.
                return Err(RemoteError::new(
                    super::FailureKind::InvalidResponse,
                    format!("{what}: the next page's Link points outside api_url; not followed"),
                ));
            }
        }
        Ok(out)
    }

    /// The tickets of every repository, and how many answers were unchanged (304).
    pub async fn fetch(&mut self) -> Result<(Vec<Ticket>, u64), RemoteError> {
        let mut used = Vec::new();
        let mut tickets = Vec::new();
        for repo in self.repositories.clone() {
            let label = percent_encoding::utf8_percent_encode(&self.label, QUERY_VALUE);
            let url = format!(
                "{}/repos/{repo}/issues?labels={label}&state=all&sort=updated&direction=desc&per_page={}",
                self.api, self.page_size
            );
            let issues: Vec<Issue> = self.all(url, &format!("{repo} issues"), &mut used).await?;
            for issue in issues.iter().filter(|i| !i.abandoned()) {
                let reviews: Vec<Review> = if issue.is_pull_request() {
                    let url = format!(
                        "{}/repos/{repo}/pulls/{}/reviews?per_page=100",
                        self.api, issue.number
                    );
                    self.all(url, &format!("{repo}#{} reviews", issue.number), &mut used)
                        .await?
                } else {
                    Vec::new()
                };
                let comments: Vec<Comment> =
                    if issue.is_pull_request() && !self.plan_commenters.is_empty() {
                        let url = format!(
                            "{}/repos/{repo}/issues/{}/comments?per_page=100",
                            self.api, issue.number
                        );
                        self.all(url, &format!("{repo}#{} comments", issue.number), &mut used)
                            .await?
                    } else {
                        Vec::new()
                    };
                tickets.push(gh::ticket_with_comments(
                    &self.name,
                    &repo,
                    issue,
                    &reviews,
                    &comments,
                    &self.plan_commenters,
                    self.merge_window,
                ));
            }
        }
        self.get.retain(&used);
        Ok((tickets, self.get.take_hits()))
    }
}

/// Whether `url` is under the configured API root (same scheme, host, port and path prefix),
/// the only place a `Link` header may send the token.
fn on_api(api: &str, url: &str) -> bool {
    url.strip_prefix(api)
        .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'))
}

#[cfg(test)]
mod tests {
    use super::on_api;

    #[test]
    fn link_pages_stay_on_the_api_origin() {
        let api = "https://api.github.com";
        assert!(on_api(
            api,
            "https://api.github.com/repositories/1/issues?page=2"
        ));
        for other in [
            "https://api.github.com.evil.example/repos/a/b/issues?page=2",
            "https://evil.example/?u=https://api.github.com/",
            "http://api.github.com/repos/a/b/issues?page=2",
            "https://api.github.com:8443/repos/a/b/issues",
            "https://api.github.comx/repos",
        ] {
            assert!(!on_api(api, other), "{other}");
        }
        let ghes = "https://ghe.example.com/api/v3";
        assert!(on_api(
            ghes,
            "https://ghe.example.com/api/v3/repos/a/b/issues?page=3"
        ));
        assert!(!on_api(ghes, "https://ghe.example.com/other/repos"));
    }
}

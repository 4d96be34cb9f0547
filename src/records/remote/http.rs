//! The HTTP every ticket source shares, on top of the client layer (`crate::http_client`):
//! a GET that remembers each URL's ETag and answer (a 304 reuses the stored answer), a JSON
//! POST, and the classification of failures as `FailureKind`s. Every answer is read up to
//! `MAX_ANSWER_BYTES`; a larger one fails the poll. Errors never contain a URL or a token.

use std::collections::HashMap;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{FailureKind, RemoteError};
use crate::http_client::{self, HttpError};

/// The most one answer of a ticket system may hold. Pages are normally tens of KiB; the worst
/// legitimate one is a page of 100 GitHub issues whose bodies are all at GitHub's limit of
/// 65,536 characters: about 7 MB of ASCII, two to three times that in non-Latin scripts. 32 MiB
/// is past that and still bounds what a broken or hostile peer can make the daemon hold
/// (sources are polled one at a time, one answer at a time).
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

pub fn client(timeout: Duration) -> Result<reqwest::Client, RemoteError> {
    Ok(http_client::client(timeout)?)
}

impl From<HttpError> for RemoteError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Client(_) => RemoteError::new(FailureKind::Unreachable, e.to_string()),
            HttpError::Transport { timeout, .. } => {
                let kind = if timeout {
                    FailureKind::Timeout
                } else {
                    FailureKind::Unreachable
                };
                RemoteError::new(kind, e.to_string())
            }
            // GitHub's rate limit is a 403 or 429 with `x-ratelimit-remaining: 0`.
            HttpError::Refused(r) => {
                let kind = match r.status.as_u16() {
                    429 => FailureKind::RateLimited,
                    403 if r.rate_limit_exhausted => FailureKind::RateLimited,
                    401 | 403 => FailureKind::Denied,
                    500..=599 => FailureKind::Server,
                    _ => FailureKind::InvalidResponse,
                };
                RemoteError::new(kind, format!("HTTP {}: {}", r.status.as_u16(), r.excerpt))
            }
            HttpError::BodyTooLarge { .. } => {
                RemoteError::new(FailureKind::InvalidResponse, e.to_string())
            }
        }
    }
}

/// The answer's body, up to `MAX_ANSWER_BYTES`; a larger answer names `what` and the limit.
async fn read_body(what: &str, resp: reqwest::Response) -> Result<String, RemoteError> {
    http_client::text(resp, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| match e {
            HttpError::BodyTooLarge { .. } => RemoteError::new(
                FailureKind::InvalidResponse,
                format!("{what}: {e} (a smaller page_size keeps pages under it)"),
            ),
            e => e.into(),
        })
}

pub fn decode<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, RemoteError> {
    serde_json::from_str(text).map_err(|e| {
        RemoteError::new(
            FailureKind::InvalidResponse,
            format!("{what}: unexpected answer: {e}"),
        )
    })
}

/// A remembered answer for a URL.
#[derive(Clone, Debug)]
struct Cached {
    etag: String,
    body: String,
    link: Option<String>,
}

/// GET with `If-None-Match`: each URL's last ETag and answer are kept, and a 304 (which GitHub
/// does not count against the rate limit) reuses the answer.
#[derive(Default)]
pub struct ConditionalGet {
    cache: HashMap<String, Cached>,
    /// Answers served from the cache (304) since the last `take_hits`.
    hits: u64,
}

/// A fetched body and its `Link` header.
pub struct Page {
    pub body: String,
    pub link: Option<String>,
}

impl ConditionalGet {
    pub async fn get(
        &mut self,
        client: &reqwest::Client,
        what: &str,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Page, RemoteError> {
        let mut req = client.get(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(c) = self.cache.get(url) {
            req = req.header("if-none-match", &c.etag);
        }
        let resp = http_client::send(req).await?;
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED
            && let Some(c) = self.cache.get(url)
        {
            self.hits += 1;
            return Ok(Page {
                body: c.body.clone(),
                link: c.link.clone(),
            });
        }
        let resp = http_client::success(resp).await?;
        let resp_headers = resp.headers().clone();
        let text = read_body(what, resp).await?;
        let header = |name: &str| http_client::header(&resp_headers, name).map(str::to_string);
        let link = header("link");
        if let Some(etag) = header("etag") {
            self.cache.insert(
                url.to_string(),
                Cached {
                    etag,
                    body: text.clone(),
                    link: link.clone(),
                },
            );
        }
        Ok(Page { body: text, link })
    }

    /// Forget answers for URLs not used in the last poll.
    pub fn retain(&mut self, used: &[String]) {
        self.cache.retain(|k, _| used.contains(k));
    }

    pub fn take_hits(&mut self) -> u64 {
        std::mem::take(&mut self.hits)
    }
}

/// POST a JSON body and decode the JSON answer.
pub async fn post_json<T: DeserializeOwned>(
    what: &str,
    req: reqwest::RequestBuilder,
    body: &serde_json::Value,
) -> Result<T, RemoteError> {
    let req = req
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body.to_string());
    let resp = http_client::success(http_client::send(req).await?).await?;
    let text = read_body(what, resp).await?;
    decode(what, &text)
}

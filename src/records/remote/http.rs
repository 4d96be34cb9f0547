//! The HTTP every ticket source shares: one client per source, a GET that remembers each
//! URL's ETag and answer (a 304 reuses the stored answer), a JSON POST, and the
//! classification of failures. Errors never contain a URL or a token.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use super::{FailureKind, RemoteError};

pub fn client(timeout: Duration) -> Result<reqwest::Client, RemoteError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            RemoteError::new(
                FailureKind::Unreachable,
                format!("cannot build an HTTP client: {}", e.without_url()),
            )
        })
}

fn send_error(e: reqwest::Error) -> RemoteError {
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Unreachable
    };
    RemoteError::new(kind, format!("request failed: {}", e.without_url()))
}

/// A non-2xx answer as a typed failure (GitHub's rate limit is a 403 or 429 with
/// `x-ratelimit-remaining: 0`).
fn status_error(status: reqwest::StatusCode, headers: &HeaderMap, text: &str) -> RemoteError {
    let code = status.as_u16();
    let exhausted = headers
        .get("x-ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "0");
    let kind = match code {
        429 => FailureKind::RateLimited,
        403 if exhausted => FailureKind::RateLimited,
        401 | 403 => FailureKind::Denied,
        500..=599 => FailureKind::Server,
        _ => FailureKind::InvalidResponse,
    };
    let excerpt: String = text.chars().take(200).collect();
    RemoteError::new(kind, format!("HTTP {code}: {}", excerpt.trim()))
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
        let resp = req.send().await.map_err(send_error)?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED
            && let Some(c) = self.cache.get(url)
        {
            self.hits += 1;
            return Ok(Page {
                body: c.body.clone(),
                link: c.link.clone(),
            });
        }
        let resp_headers = resp.headers().clone();
        let text = resp.text().await.map_err(send_error)?;
        if !status.is_success() {
            return Err(status_error(status, &resp_headers, &text));
        }
        let header = |name: &str| {
            resp_headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
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
    let resp = req
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(send_error)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.map_err(send_error)?;
    if !status.is_success() {
        return Err(status_error(status, &headers, &text));
    }
    decode(what, &text)
}

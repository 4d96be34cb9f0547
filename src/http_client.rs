//! The HTTP client layer of the sinks and the ticket-system loaders: one way to build a
//! client (timeout, user agent), to send (a transport failure is typed and carries no URL,
//! which is often a secret), to classify an answer (2xx, or a refusal with its status,
//! Retry-After, rate-limit hint and a short excerpt of the body) and to read a body. Each side
//! maps `HttpError` into its own error (`sinks::DeliveryError`, `records::remote::RemoteError`).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};

/// Sent with every request.
pub const USER_AGENT: &str = concat!("driftwatch/", env!("CARGO_PKG_VERSION"));

/// Characters of a refusal's body kept in messages: enough for Slack's `invalid_payload` or
/// PagerDuty's error list; receivers do not echo secrets back.
const EXCERPT_CHARS: usize = 200;

/// A request that did not end in a 2xx answer. Never holds a URL.
#[derive(Clone, Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot build an HTTP client: {0}")]
    Client(String),
    /// No complete answer: refused, unresolvable, TLS, timed out, or a body cut off.
    #[error("request failed: {message}")]
    Transport { timeout: bool, message: String },
    /// The server answered with a non-2xx status.
    #[error("HTTP {}: {}", .0.status.as_u16(), .0.excerpt)]
    Refused(Refusal),
}

/// A non-2xx answer, classified.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub status: StatusCode,
    /// The server asked to wait this long (Retry-After in seconds).
    pub retry_after: Option<Duration>,
    /// `x-ratelimit-remaining: 0`: a 403 that is GitHub's rate limit, not a denial.
    pub rate_limit_exhausted: bool,
    /// The start of the body, trimmed.
    pub excerpt: String,
}

impl Refusal {
    /// Worth trying again later: 408, 429 and 5xx.
    pub fn retryable(&self) -> bool {
        is_retryable(self.status)
    }
}

/// A client with a whole-request timeout and driftwatch's user agent.
pub fn client(timeout: Duration) -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| HttpError::Client(e.without_url().to_string()))
}

fn transport(e: reqwest::Error) -> HttpError {
    HttpError::Transport {
        timeout: e.is_timeout(),
        message: e.without_url().to_string(),
    }
}

/// Send a request; any answer, whatever its status, is `Ok`.
pub async fn send(req: RequestBuilder) -> Result<Response, HttpError> {
    req.send().await.map_err(transport)
}

/// A 2xx answer as is; any other as `HttpError::Refused` (its body read for the excerpt).
pub async fn success(resp: Response) -> Result<Response, HttpError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let headers = resp.headers().clone();
    // The excerpt only illustrates the status: a body that cannot be read leaves it empty.
    let body = resp.text().await.unwrap_or_default();
    Err(HttpError::Refused(Refusal {
        status,
        retry_after: retry_after(&headers),
        rate_limit_exhausted: header(&headers, "x-ratelimit-remaining")
            .is_some_and(|v| v.trim() == "0"),
        excerpt: excerpt(&body),
    }))
}

/// The body as text.
pub async fn text(resp: Response) -> Result<String, HttpError> {
    resp.text().await.map_err(transport)
}

/// A header's value, when it is text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Retry-After given in seconds (the form receivers use for rate limits).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header(headers, "retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// 408 (timeout), 429 (rate limited) and 5xx are worth retrying; other refusals are not.
pub fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// The first `EXCERPT_CHARS` characters, trimmed.
pub fn excerpt(text: &str) -> String {
    let start: String = text.chars().take(EXCERPT_CHARS).collect();
    start.trim().to_string()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn classification_retry_after_and_excerpt() {
        let retryable: Vec<u16> = [200, 301, 400, 401, 403, 404, 408, 429, 500, 503]
            .into_iter()
            .filter(|c| StatusCode::from_u16(*c).is_ok_and(is_retryable))
            .collect();
        assert_eq!(retryable, [408, 429, 500, 503]);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None, "dates are not waited for");
        assert_eq!(excerpt(&format!("  {}", "x".repeat(300))).len(), 198);
        assert_eq!(excerpt(" invalid_payload \n"), "invalid_payload");
    }
}

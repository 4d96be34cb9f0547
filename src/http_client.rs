//! The HTTP client layer of the sinks and the ticket-system loaders: one way to build a
//! client (timeout, user agent), to send (a transport failure is typed and carries no URL,
//! which is often a secret), to classify an answer (2xx, or a refusal with its status,
//! Retry-After, rate-limit hint and a short excerpt of the body) and to read a body. Bodies
//! are never read whole on trust: `read_bounded` stops past the caller's cap
//! (`HttpError::BodyTooLarge`) and a refusal's excerpt reads at most `REFUSAL_READ_BYTES`. Each
//! side maps `HttpError` into its own error (`sinks::DeliveryError`,
//! `records::remote::RemoteError`).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};

/// Sent with every request.
pub const USER_AGENT: &str = concat!("driftwatch/", env!("CARGO_PKG_VERSION"));

/// Characters of a refusal's body kept in messages: enough for Slack's `invalid_payload` or
/// PagerDuty's error list; receivers do not echo secrets back.
const EXCERPT_CHARS: usize = 200;

/// Bytes of a refusal's body read for its excerpt; the rest is never read (the connection is
/// dropped). 200 characters are at most 800 bytes of UTF-8, and 4 KiB also covers some leading
/// whitespace or an HTML preamble, while a receiver answering an error with megabytes costs
/// nothing.
pub const REFUSAL_READ_BYTES: usize = 4 * 1024;

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
    /// A 2xx answer whose body is larger than the caller's cap; reading stopped there.
    #[error("the answer is larger than {}; not read further", size(*.limit))]
    BodyTooLarge { limit: usize },
}

/// A byte count as people write limits: `8 MiB`, `4 KiB`, else `N bytes`.
fn size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    match bytes {
        0 => "0 bytes".to_string(),
        b if b.is_multiple_of(MIB) => format!("{} MiB", b / MIB),
        b if b.is_multiple_of(KIB) => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
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
    // The excerpt only illustrates the status: what cannot be read is left out.
    let start = read_prefix(resp, REFUSAL_READ_BYTES).await;
    Err(HttpError::Refused(Refusal {
        status,
        retry_after: retry_after(&headers),
        rate_limit_exhausted: header(&headers, "x-ratelimit-remaining")
            .is_some_and(|v| v.trim() == "0"),
        excerpt: excerpt(&String::from_utf8_lossy(&start)),
    }))
}

/// At most the first `limit` bytes of the body; a read error ends it early. The rest is not
/// read: dropping the response closes the connection.
async fn read_prefix(mut resp: Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - out.len());
                out.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// The whole body, if it is at most `limit` bytes: a declared Content-Length past the limit
/// fails before reading, and a body without one is read chunk by chunk and fails as soon as
/// it passes the limit (the rest is not read; dropping the response closes the connection).
pub async fn read_bounded(mut resp: Response, limit: usize) -> Result<Vec<u8>, HttpError> {
    let declared = resp.content_length().and_then(|n| usize::try_from(n).ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(HttpError::BodyTooLarge { limit });
    }
    // Preallocate what the server declared (already checked against the limit).
    let mut out = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if chunk.len() > limit - out.len() {
            return Err(HttpError::BodyTooLarge { limit });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The body as text, if it is at most `limit` bytes (`read_bounded`); invalid UTF-8 is
/// replaced (JSON is UTF-8, RFC 8259).
pub async fn text(resp: Response, limit: usize) -> Result<String, HttpError> {
    let bytes = read_bounded(resp, limit).await?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
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
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use reqwest::header::HeaderValue;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// What a one-connection peer on 127.0.0.1:0 sends after the request's head: `head`, then
    /// `body`, then (when `endless`) `x`s until the client goes away.
    struct Peer {
        url: String,
        /// Body bytes written so far.
        sent: Arc<AtomicUsize>,
        done: tokio::task::JoinHandle<()>,
    }

    async fn peer(head: &str, body: Vec<u8>, endless: bool) -> Peer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let sent = Arc::new(AtomicUsize::new(0));
        let (head, counter) = (head.to_string(), sent.clone());
        let done = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).await.expect("read request");
                assert!(n > 0, "the client closed before sending its request");
                request.extend_from_slice(&buf[..n]);
            }
            conn.write_all(head.as_bytes()).await.expect("head");
            if conn.write_all(&body).await.is_err() {
                return;
            }
            counter.fetch_add(body.len(), Ordering::SeqCst);
            let chunk = vec![b'x'; 16 * 1024];
            while endless && conn.write_all(&chunk).await.is_ok() {
                counter.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        });
        Peer { url, sent, done }
    }

    async fn get(url: &str) -> Response {
        let c = client(Duration::from_secs(30)).expect("client");
        send(c.get(url)).await.expect("an answer")
    }

    /// The peer stopped writing because the client closed the connection.
    async fn hung_up(p: Peer) -> usize {
        tokio::time::timeout(Duration::from_secs(20), p.done)
            .await
            .expect("the client stopped reading and closed the connection")
            .expect("peer task");
        p.sent.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn an_endless_body_stops_at_the_cap() {
        let p = peer(
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n",
            Vec::new(),
            true,
        )
        .await;
        let e = read_bounded(get(&p.url).await, 64 * 1024)
            .await
            .expect_err("over the cap");
        assert!(
            matches!(e, HttpError::BodyTooLarge { limit } if limit == 64 * 1024),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "the answer is larger than 64 KiB; not read further"
        );
        let sent = hung_up(p).await;
        // What the peer got out before the close: the cap plus the loopback socket buffers.
        assert!(sent < 32 * 1024 * 1024, "{sent} bytes sent");
    }

    #[tokio::test]
    async fn a_declared_length_past_the_cap_fails_before_reading() {
        // Only the head is sent: reading any of the body would end in a cut-off transfer.
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n";
        let p = peer(head, Vec::new(), false).await;
        let e = read_bounded(get(&p.url).await, 1024 * 1024)
            .await
            .expect_err("declared over the cap");
        assert!(
            matches!(e, HttpError::BodyTooLarge { limit } if limit == 1024 * 1024),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_chunked_body_at_the_cap_is_read_and_one_byte_more_is_not() {
        let chunked = |n: usize| {
            let mut b = format!("{n:x}\r\n").into_bytes();
            b.extend(std::iter::repeat_n(b'a', n));
            b.extend_from_slice(b"\r\n0\r\n\r\n");
            b
        };
        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        let p = peer(head, chunked(1000), false).await;
        let body = text(get(&p.url).await, 1000).await.expect("at the cap");
        assert_eq!(body.len(), 1000);
        let p = peer(head, chunked(1001), false).await;
        let e = text(get(&p.url).await, 1000)
            .await
            .expect_err("one byte over");
        assert!(
            matches!(e, HttpError::BodyTooLarge { limit: 1000 }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "the answer is larger than 1000 bytes; not read further"
        );
    }

    #[tokio::test]
    async fn a_refusal_reads_only_the_start_of_a_huge_body() {
        let head = "HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\n\r\n";
        let p = peer(head, b"  upstream exploded: ".to_vec(), true).await;
        let Err(HttpError::Refused(r)) = success(get(&p.url).await).await else {
            panic!("a 500 is a refusal");
        };
        assert!(r.retryable());
        assert_eq!(
            r.excerpt.chars().count(),
            EXCERPT_CHARS - 2,
            "{}",
            r.excerpt
        );
        assert!(
            r.excerpt.starts_with("upstream exploded: xxx"),
            "{}",
            r.excerpt
        );
        let sent = hung_up(p).await;
        assert!(sent < 32 * 1024 * 1024, "{sent} bytes sent");
    }

    #[test]
    fn sizes_read_as_limits_are_written() {
        assert_eq!(size(8 * 1024 * 1024), "8 MiB");
        assert_eq!(size(4096), "4 KiB");
        assert_eq!(size(1500), "1500 bytes");
        assert_eq!(size(0), "0 bytes");
    }

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

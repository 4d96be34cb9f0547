//! The HTTP delivery every network sink shares: POST a JSON body, classify the answer.
//! 2xx delivered; 408, 429 and 5xx retried (Retry-After honoured); other answers permanent.
//! Errors never contain the URL (it is often a secret).

use std::time::Duration;

use super::DeliveryError;

pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
        .build()
}

pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<(), DeliveryError> {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.map_err(|e| DeliveryError {
        retryable: true,
        retry_after: None,
        message: format!("request failed: {}", e.without_url()),
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let code = status.as_u16();
    // A short excerpt of the answer helps (Slack says `invalid_payload`, PagerDuty lists
    // errors); receivers do not echo secrets back.
    let text = resp.text().await.unwrap_or_default();
    let excerpt: String = text.chars().take(200).collect();
    Err(DeliveryError {
        retryable: status.is_server_error() || code == 429 || code == 408,
        retry_after,
        message: format!("receiver answered HTTP {code}: {}", excerpt.trim()),
    })
}

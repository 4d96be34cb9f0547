//! Generic JSON webhook: POSTs the alert payload with an `Idempotency-Key` header.
//! 2xx is delivered; 408, 429 and 5xx are retried (honouring Retry-After); other 4xx are
//! permanent. The URL is a secret and never appears in errors or logs.

use std::time::Duration;

use super::{DeliveryError, DeliveryFuture, Sink};
use crate::config::Secret;

pub struct WebhookSink {
    name: String,
    url: Secret,
    client: reqwest::Client,
    max_attempts: u32,
}

impl WebhookSink {
    pub fn new(
        name: String,
        url: Secret,
        timeout: Duration,
        max_attempts: u32,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(WebhookSink {
            name,
            url,
            client,
            max_attempts,
        })
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, idempotency_key: &'a str, payload: &'a str) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let resp = self
                .client
                .post(self.url.expose())
                .header("content-type", "application/json")
                .header("idempotency-key", idempotency_key)
                .body(payload.to_string())
                .send()
                .await
                .map_err(|e| DeliveryError {
                    retryable: true,
                    retry_after: None,
                    // Without the URL: reqwest errors embed it.
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
            let retryable =
                status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408;
            Err(DeliveryError {
                retryable,
                retry_after,
                message: format!("receiver answered HTTP {}", status.as_u16()),
            })
        })
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
}

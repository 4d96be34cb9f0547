//! How every network sink delivers: POST a JSON body through the shared client layer
//! (`crate::http_client`) and turn its answer into a delivery result. 2xx delivered; 408,
//! 429 and 5xx retried (Retry-After honoured); other answers permanent. A 2xx body is not
//! read, and of a refusal's only the start (`http_client::REFUSAL_READ_BYTES`) for its
//! excerpt. Errors never contain the URL (it is often a secret).

use std::time::Duration;

use super::DeliveryError;
use crate::http_client::{self, HttpError};

/// A client for a sink's deliveries.
pub fn client(timeout: Duration) -> Result<reqwest::Client, HttpError> {
    http_client::client(timeout)
}

impl From<HttpError> for DeliveryError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Refused(r) => DeliveryError {
                retryable: r.retryable(),
                retry_after: r.retry_after,
                message: format!(
                    "receiver answered HTTP {}: {}",
                    r.status.as_u16(),
                    r.excerpt
                ),
            },
            // No sink reads a 2xx body today; were one cut off, delivery is unproven: retry
            // (the idempotency key makes a repeat harmless).
            HttpError::Transport { .. } | HttpError::Client(_) | HttpError::BodyTooLarge { .. } => {
                DeliveryError {
                    retryable: true,
                    retry_after: None,
                    message: e.to_string(),
                }
            }
        }
    }
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
    http_client::success(http_client::send(req).await?).await?;
    Ok(())
}

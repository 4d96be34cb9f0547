//! Generic JSON webhook: POSTs the alert (docs/webhook.md) with an `Idempotency-Key` header
//! and, when a key is configured, `X-Driftwatch-Signature: sha256=<hex HMAC-SHA256 of the
//! body>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Alert, BuildError, DeliveryError, DeliveryFuture, Sink, http};
use crate::config::{Secret, WebhookSinkConfig};

pub struct WebhookSink {
    name: String,
    url: Secret,
    hmac_key: Option<Secret>,
    client: reqwest::Client,
    max_attempts: u32,
}

impl WebhookSinkConfig {
    /// The sink this section describes; its URL and key are read now.
    pub fn build(&self) -> Result<WebhookSink, BuildError> {
        Ok(WebhookSink {
            name: self.name.clone(),
            url: self.url()?,
            hmac_key: self.hmac_key()?,
            client: http::client(self.timeout())?,
            max_attempts: self.max_attempts,
        })
    }
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `body` under `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for Hmac<Sha256>.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, key: &'a str, alert: &'a Alert) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(alert).map_err(|e| DeliveryError {
                retryable: false,
                retry_after: None,
                message: format!("cannot encode the alert: {e}"),
            })?;
            let mut headers = vec![("idempotency-key", key.to_string())];
            if let Some(k) = &self.hmac_key {
                headers.push((
                    "x-driftwatch-signature",
                    signature(k.expose().as_bytes(), &body),
                ));
            }
            http::post_json(&self.client, self.url.expose(), &headers, body).await
        })
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            super::signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

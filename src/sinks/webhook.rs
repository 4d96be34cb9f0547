//! Generic JSON webhook: POSTs the alert (docs/webhook.md) with an `Idempotency-Key` header
//! and, when a key is configured, `X-Driftwatch-Timestamp: <unix seconds>` and
//! `X-Driftwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The
//! timestamp is the attempt's (each retry is signed anew), so a receiver can refuse a
//! replayed request outside its window.

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

/// The lowercase hex HMAC-SHA256 of the concatenated `parts` under `key`.
fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for Hmac<Sha256>.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The `X-Driftwatch-Signature` value for `body` sent at `timestamp` (unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>" under key>`.
pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let v1 = hmac_hex(key, &[t.as_bytes(), b".", body]);
    format!("t={t},v1={v1}")
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
                let t = crate::clock::now().as_second();
                headers.push(("x-driftwatch-timestamp", t.to_string()));
                headers.push((
                    "x-driftwatch-signature",
                    signature(k.expose().as_bytes(), t, &body),
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
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?", here in parts.
        assert_eq!(
            super::hmac_hex(b"Jefe", &[b"what do ya ", b"want for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signature_covers_the_timestamp_and_the_body() {
        // The same HMAC as RFC 4231 case 2 when "<t>.<body>" is that case's data.
        assert_eq!(
            super::signature(b"Jefe", 17, b"what do ya want for nothing?"),
            format!(
                "t=17,v1={}",
                super::hmac_hex(b"Jefe", &[b"17.what do ya want for nothing?"])
            )
        );
        // Fixed vector, checked with Python's hmac module:
        // hmac.new(b"s3cret", b"1767225600.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            super::signature(b"s3cret", 1_767_225_600, b"{}"),
            "t=1767225600,v1=29ee05578fef21788e25d00ee3270df92a9e454a1fb82bc2c22d2269c729892b"
        );
        assert_ne!(
            super::signature(b"s3cret", 1_767_225_601, b"{}"),
            super::signature(b"s3cret", 1_767_225_600, b"{}"),
            "another time is another signature"
        );
    }
}

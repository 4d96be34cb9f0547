//! A token bucket per (account, service), so the watcher cannot exhaust an account's API
//! quota, and the per-operation request counter (`driftwatch_aws_requests_total`).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::metrics::{AwsCallLabels, Metrics};

pub struct Throttle {
    account: String,
    service: &'static str,
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
    metrics: Metrics,
}

impl Throttle {
    /// `rate` requests per second on average, at most `burst` at once.
    pub fn new(
        account: String,
        service: &'static str,
        rate: f64,
        burst: u32,
        metrics: Metrics,
    ) -> Self {
        let burst = f64::from(burst.max(1));
        Throttle {
            account,
            service,
            rate: rate.max(0.01),
            burst,
            state: Mutex::new((burst, Instant::now())),
            metrics,
        }
    }

    /// Wait for a token, then count the call.
    pub async fn acquire(&self, operation: &str) {
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
                s.0 = (s.0 + refill).min(self.burst);
                s.1 = now;
                if s.0 >= 1.0 {
                    s.0 -= 1.0;
                    None
                } else {
                    Some(Duration::from_secs_f64((1.0 - s.0) / self.rate))
                }
            };
            match wait {
                None => break,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
        self.metrics
            .aws_requests
            .get_or_create(&AwsCallLabels {
                account: self.account.clone(),
                service: self.service.to_string(),
                operation: operation.to_string(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_bucket_limits_the_rate() {
        // 20 per second with a burst of 2: six calls cannot take less than 4 / 20 s. Only the
        // lower bound is checked: a slow machine makes it longer, never shorter.
        let t = Throttle::new("1".into(), "aws.iam", 20.0, 2, Metrics::new());
        let start = Instant::now();
        for _ in 0..6 {
            t.acquire("ListAccessKeys").await;
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(195), "{took:?}");
        assert!(
            t.metrics
                .encode()
                .contains("operation=\"ListAccessKeys\"} 6")
        );
    }
}

//! `[aws.events]`: CloudTrail management events that EventBridge delivers to an SQS queue
//! (the standard AWS pattern; IAM's events arrive in us-east-1). A task long-polls the queue
//! and hands each batch to the daemon, which re-reads what the events name and decides it;
//! a message is deleted only once its re-read is committed, so a crash, a failed re-read or
//! a stop in between gets it delivered again. Re-reading the current state (rather than
//! applying the event) makes duplicates and out-of-order delivery harmless.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cloudtrail::{TrailError, TrailEvent};
use crate::config::{AwsConfig, AwsEventsConfig};
use crate::metrics::{AwsEventLabels, Metrics, QueueErrorLabels};
use crate::model::FailureKind;

/// One message from the queue.
#[derive(Debug)]
pub struct Delivered {
    pub message_id: String,
    /// What deletes it (valid until its visibility timeout passes).
    pub receipt: String,
    pub event: Result<TrailEvent, TrailError>,
    /// When it came off the queue (the daemon's clock).
    pub received_at: jiff::Timestamp,
    pub received: std::time::Instant,
}

/// A failed call to the queue.
#[derive(Debug, thiserror::Error)]
#[error("{call} {queue}: {message}")]
pub struct QueueError {
    pub call: &'static str,
    pub queue: String,
    pub kind: FailureKind,
    pub message: String,
}

pub struct EventQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    wait_secs: i32,
    max_messages: i32,
    visibility_secs: i32,
    metrics: Metrics,
}

impl AwsEventsConfig {
    /// The queue reader, with the base credential chain and `aws.endpoint_url` (moto).
    pub async fn build(&self, aws: &AwsConfig, metrics: &Metrics) -> EventQueue {
        let shared = aws.sdk_config(&self.region()).await;
        let conf = aws_sdk_sqs::config::Builder::from(&shared).build();
        EventQueue {
            client: aws_sdk_sqs::Client::from_conf(conf),
            url: self.queue_url.clone(),
            wait_secs: i32::try_from(self.wait_secs).unwrap_or(20),
            max_messages: i32::try_from(self.max_messages).unwrap_or(10),
            visibility_secs: i32::try_from(self.visibility_timeout_secs).unwrap_or(120),
            metrics: metrics.clone(),
        }
    }
}

impl EventQueue {
    fn error<E, R>(&self, call: &'static str, e: &aws_sdk_sqs::error::SdkError<E, R>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let (kind, message) = super::classify(e);
        self.metrics
            .aws_event_queue_errors
            .get_or_create(&QueueErrorLabels {
                call: call.into(),
                kind: kind.as_str().into(),
            })
            .inc();
        QueueError {
            call,
            queue: self.url.clone(),
            kind,
            message,
        }
    }

    /// One long poll: up to `max_messages`, each parsed (a message that is not a CloudTrail
    /// event keeps its error, naming the field).
    pub async fn receive(&self) -> Result<Vec<Delivered>, QueueError> {
        let resp = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(self.max_messages)
            .wait_time_seconds(self.wait_secs)
            .visibility_timeout(self.visibility_secs)
            .send()
            .await
            .map_err(|e| self.error("ReceiveMessage", &e))?;
        let received_at = crate::clock::now();
        let received = std::time::Instant::now();
        let mut out = Vec::new();
        for m in resp.messages() {
            let (Some(id), Some(receipt)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            self.count("received");
            out.push(Delivered {
                message_id: id.to_string(),
                receipt: receipt.to_string(),
                event: crate::cloudtrail::parse(m.body().unwrap_or("")),
                received_at,
                received,
            });
        }
        Ok(out)
    }

    /// Delete handled messages, ten per call. Returns how many the queue confirmed.
    pub async fn delete(&self, receipts: &[String]) -> Result<usize, QueueError> {
        let mut deleted = 0;
        for chunk in receipts.chunks(10) {
            let mut call = self.client.delete_message_batch().queue_url(&self.url);
            for (i, r) in chunk.iter().enumerate() {
                let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .build()
                    .map_err(|e| QueueError {
                        call: "DeleteMessageBatch",
                        queue: self.url.clone(),
                        kind: FailureKind::Other,
                        message: e.to_string(),
                    })?;
                call = call.entries(entry);
            }
            let resp = call
                .send()
                .await
                .map_err(|e| self.error("DeleteMessageBatch", &e))?;
            deleted += resp.successful().len();
            for f in resp.failed() {
                tracing::warn!(queue = %self.url, code = f.code(), message = f.message().unwrap_or(""), "the queue did not delete a handled event; it will be delivered again (harmless)");
            }
        }
        Ok(deleted)
    }

    pub fn count(&self, outcome: &str) {
        self.metrics
            .aws_events
            .get_or_create(&AwsEventLabels {
                outcome: outcome.into(),
            })
            .inc();
    }
}

/// Receive until `stop`, handing each non-empty batch to the daemon. A failing queue is
/// retried with backoff (1 s doubling to 60 s) and logged once per outage; the poll keeps
/// deciding meanwhile.
pub async fn run(
    queue: Arc<EventQueue>,
    tx: mpsc::Sender<Vec<Delivered>>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_secs(1);
    let mut failing = false;
    loop {
        let got = tokio::select! {
            got = queue.receive() => got,
            _ = stop.cancelled() => return,
        };
        match got {
            Ok(batch) => {
                if failing {
                    tracing::info!(queue = %queue.url, "the event queue answers again");
                    failing = false;
                }
                backoff = Duration::from_secs(1);
                if batch.is_empty() {
                    continue;
                }
                tokio::select! {
                    sent = tx.send(batch) => if sent.is_err() { return },
                    _ = stop.cancelled() => return,
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, kind = e.kind.as_str(), "cannot read the event queue; polls continue, retrying with backoff");
                    failing = true;
                } else {
                    tracing::debug!(error = %e, "event queue still failing");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

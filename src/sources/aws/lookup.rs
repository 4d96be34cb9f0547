//! CloudTrail `LookupEvents` for changes no event attributed: the events of one resource
//! name in a time window, paged (at most `MAX_PAGES`), each `CloudTrailEvent` parsed by
//! `cloudtrail::parse`. Calls wait on a token bucket of their own per account and region
//! (`aws.lookup.requests_per_second`, CloudTrail's quota being 2 per second).

use std::sync::Arc;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use jiff::Timestamp;

use super::classify;
use super::limit::Throttle;
use crate::cloudtrail::TrailEvent;
use crate::model::FailureKind;

/// Pages of 50 events read per lookup: a resource with more calls than that in one poll
/// interval is looked up from its latest events only.
pub const MAX_PAGES: usize = 5;

pub struct TrailLookup {
    client: aws_sdk_cloudtrail::Client,
    throttle: Arc<Throttle>,
}

impl TrailLookup {
    pub fn new(client: aws_sdk_cloudtrail::Client, throttle: Arc<Throttle>) -> Self {
        TrailLookup { client, throttle }
    }

    /// Events naming `resource` between `start` and `end`. Records that do not parse are
    /// skipped (logged): one odd record must not hide the others.
    pub async fn events(
        &self,
        resource: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<TrailEvent>, (FailureKind, String)> {
        let attr = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::ResourceName)
            .attribute_value(resource)
            .build()
            .map_err(|e| (FailureKind::Other, e.to_string()))?;
        let to_time =
            |t: Timestamp| aws_sdk_cloudtrail::primitives::DateTime::from_secs(t.as_second());
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = super::paging::Pages::new();
        for _ in 0..MAX_PAGES {
            self.throttle.acquire("LookupEvents").await;
            let resp = self
                .client
                .lookup_events()
                .lookup_attributes(attr.clone())
                .start_time(to_time(start))
                .end_time(to_time(end))
                .max_results(50)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    let (kind, msg) = classify(&e);
                    (kind, format!("LookupEvents {resource}: {msg}"))
                })?;
            for e in resp.events() {
                let Some(text) = e.cloud_trail_event() else {
                    continue;
                };
                match crate::cloudtrail::parse(text) {
                    Ok(ev) => out.push(ev),
                    Err(err) => {
                        tracing::warn!(resource, event_id = e.event_id().unwrap_or(""), error = %err, "a LookupEvents record is not a CloudTrail event; skipped")
                    }
                }
            }
            token = pages
                .next("LookupEvents", resp.next_token())
                .map_err(|m| (FailureKind::InvalidResponse, m))?;
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }
}

/// `Source::lookup` for a source that may have a CloudTrail lookup (EC2, IAM).
pub fn lookup_future<'a>(
    lookup: Option<&'a Arc<TrailLookup>>,
    resource: &str,
    start: Timestamp,
    end: Timestamp,
) -> Option<crate::sources::LookupFuture<'a>> {
    let l = lookup?;
    let resource = resource.to_string();
    Some(Box::pin(
        async move { l.events(&resource, start, end).await },
    ))
}

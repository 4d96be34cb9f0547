//! AWS sources: SDK clients built from the `[aws]` section (`AwsConfig::build`: standard
//! credential chain, optional endpoint override for emulators), one source per (account,
//! region) and service; every poll first checks that the credentials answer for the
//! configured account (`identity`).

pub mod complete;
pub mod ec2;
pub mod events;
pub mod iam;
pub mod identity;
pub mod limit;
pub mod lookup;
pub mod paging;

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::SharedCredentialsProvider;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use crate::config::{AwsConfig, AwsService};
use crate::metrics::Metrics;
use crate::model::{FailureKind, Scope};
use crate::sources::Source;
use limit::Throttle;

impl AwsConfig {
    /// Every source this section asks for: per account, EC2 in each region and IAM once
    /// (global), each account with its own credentials (the base chain, or an assumed role)
    /// and its own token buckets, which count calls in `metrics`.
    /// The SDK configuration every client starts from: the standard credential chain,
    /// timeouts, retries, the endpoint override, and `region`.
    pub async fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(self.timeout())
                    .connect_timeout(self.timeout().min(Duration::from_secs(5)))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts));
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await
    }

    pub async fn build(&self, metrics: &Metrics) -> Vec<Box<dyn Source>> {
        // A region for STS and the credential providers; each client sets its own below.
        let home = self
            .scopes()
            .first()
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| "us-east-1".into());
        let shared = self.sdk_config(&home).await;
        let mut sources: Vec<Box<dyn Source>> = Vec::new();
        for account in &self.accounts {
            let account_conf = match &account.role_arn {
                None => shared.clone(),
                Some(role) => {
                    let mut b = AssumeRoleProvider::builder(role.clone())
                        .session_name(
                            account
                                .session_name
                                .clone()
                                .unwrap_or_else(|| "driftwatch".into()),
                        )
                        .region(aws_config::Region::new(home.clone()))
                        .configure(&shared);
                    if let Some(x) = &account.external_id {
                        b = b.external_id(x.clone());
                    }
                    let provider = b.build().await;
                    shared
                        .to_builder()
                        .credentials_provider(SharedCredentialsProvider::new(provider))
                        .build()
                }
            };
            let throttle = |service: &'static str| {
                Arc::new(Throttle::new(
                    account.id.clone(),
                    service,
                    self.requests_per_second,
                    self.burst,
                    metrics.clone(),
                ))
            };
            let sts_conf = aws_sdk_sts::config::Builder::from(&account_conf)
                .region(aws_config::Region::new(home.clone()))
                .interceptor(complete::WholeAnswers)
                .build();
            // One CloudTrail client and bucket per region of the account (IAM's events are
            // in us-east-1, shared with EC2's there).
            let mut lookups: std::collections::BTreeMap<String, Arc<lookup::TrailLookup>> =
                std::collections::BTreeMap::new();
            let mut lookup_for = |region: &str| -> Option<Arc<lookup::TrailLookup>> {
                let l = self.lookup.as_ref()?;
                let made = lookups.entry(region.to_string()).or_insert_with(|| {
                    let mut b = aws_sdk_cloudtrail::config::Builder::from(&account_conf)
                        .region(aws_config::Region::new(region.to_string()));
                    if let Some(url) = &l.endpoint_url {
                        b = b.endpoint_url(url);
                    }
                    Arc::new(lookup::TrailLookup::new(
                        aws_sdk_cloudtrail::Client::from_conf(b.build()),
                        Arc::new(Throttle::new(
                            account.id.clone(),
                            "aws.cloudtrail",
                            l.requests_per_second,
                            1,
                            metrics.clone(),
                        )),
                    ))
                });
                Some(made.clone())
            };
            let check = Arc::new(identity::AccountCheck::new(
                account.id.clone(),
                aws_sdk_sts::Client::from_conf(sts_conf),
                throttle("aws.sts"),
            ));
            if self.services.contains(&AwsService::Ec2) {
                let ec2_throttle = throttle("aws.ec2");
                for region in account.regions.as_ref().unwrap_or(&self.regions) {
                    let conf = aws_sdk_ec2::config::Builder::from(&account_conf)
                        .region(aws_config::Region::new(region.clone()))
                        .interceptor(complete::WholeAnswers)
                        .build();
                    sources.push(Box::new(
                        ec2::Ec2Source::new(
                            Scope::Aws {
                                account: account.id.as_str().into(),
                                region: region.as_str().into(),
                            },
                            aws_sdk_ec2::Client::from_conf(conf),
                            self.page_size,
                            ec2_throttle.clone(),
                            check.clone(),
                        )
                        .with_lookup(lookup_for(region)),
                    ));
                }
            }
            if self.services.contains(&AwsService::Iam) {
                let conf = aws_sdk_iam::config::Builder::from(&account_conf)
                    .interceptor(complete::WholeAnswers)
                    .build();
                sources.push(Box::new(
                    iam::IamSource::new(
                        account.id.clone(),
                        aws_sdk_iam::Client::from_conf(conf),
                        throttle("aws.iam"),
                        check.clone(),
                        self.burst as usize,
                    )
                    .with_lookup(lookup_for("us-east-1")),
                ));
            }
        }
        sources
    }
}

/// Map an SDK error to a failure kind (a metric label) and a message without secrets.
pub fn classify<E, R>(err: &SdkError<E, R>) -> (FailureKind, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::TimeoutError(_) => (FailureKind::Timeout, "request timed out".into()),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                FailureKind::Timeout
            } else {
                FailureKind::Unreachable
            };
            let detail = d
                .as_connector_error()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "dispatch failure".into());
            (kind, format!("endpoint unreachable: {detail}"))
        }
        SdkError::ServiceError(_)
        | SdkError::ResponseError(_)
        | SdkError::ConstructionFailure(_) => {
            let code = err.code().unwrap_or("");
            let message = err.message().unwrap_or("");
            let kind = match code {
                "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException" => FailureKind::Throttled,
                "UnauthorizedOperation"
                | "AuthFailure"
                | "AccessDenied"
                | "AccessDeniedException"
                | "InvalidClientTokenId"
                | "ExpiredToken"
                | "OptInRequired" => FailureKind::Denied,
                "InternalError"
                | "InternalFailure"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "ServiceUnavailableException"
                | "Unavailable"
                | "ServiceFailure" => FailureKind::Server,
                "" if matches!(err, SdkError::ResponseError(_)) => FailureKind::InvalidResponse,
                _ => FailureKind::Other,
            };
            let text = if code.is_empty() {
                aws_smithy_error_text(err)
            } else {
                format!("{code}: {message}")
            };
            (kind, text)
        }
        _ => (FailureKind::Other, aws_smithy_error_text(err)),
    }
}

fn aws_smithy_error_text<E: std::error::Error + 'static, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> String {
    // The full source chain, which names the cause without request contents.
    let mut text = err.to_string();
    let mut src = std::error::Error::source(err);
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::error::{ErrorMetadata, SdkError};
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsError;

    use super::*;

    /// (error code AWS answered, failure kind)
    #[test]
    fn service_errors_by_code() {
        let cases = [
            ("RequestLimitExceeded", FailureKind::Throttled),
            ("Throttling", FailureKind::Throttled),
            ("UnauthorizedOperation", FailureKind::Denied),
            ("ExpiredToken", FailureKind::Denied),
            ("InternalError", FailureKind::Server),
            ("ServiceUnavailable", FailureKind::Server),
            ("InvalidGroup.NotFound", FailureKind::Other),
        ];
        for (code, want) in cases {
            let e: SdkError<DescribeSecurityGroupsError, ()> = SdkError::service_error(
                DescribeSecurityGroupsError::generic(
                    ErrorMetadata::builder().code(code).message("m").build(),
                ),
                (),
            );
            let (kind, message) = classify(&e);
            assert_eq!(kind, want, "{code}");
            assert_eq!(message, format!("{code}: m"));
        }
    }
}

//! AWS sources: SDK clients built from the `[aws]` config (standard credential chain, optional
//! endpoint override for emulators), one source per (account, region) and service.

pub mod ec2;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use crate::config::Config;
use crate::model::{FailureKind, Scope};
use crate::sources::Source;

/// Build every AWS source the config asks for.
pub async fn build_sources(cfg: &Config) -> Vec<Box<dyn Source>> {
    let Some(aws) = &cfg.aws else {
        return Vec::new();
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(aws.timeout_secs))
                .connect_timeout(Duration::from_secs(aws.timeout_secs.min(5)))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(aws.max_attempts));
    if let Some(url) = &aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    // Region for credential providers that need one; each client sets its own below.
    if let Some((_, region)) = cfg.aws_scopes().first() {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let shared = loader.load().await;
    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    for (account, region) in cfg.aws_scopes() {
        let conf = aws_sdk_ec2::config::Builder::from(&shared)
            .region(aws_config::Region::new(region.clone()))
            .build();
        sources.push(Box::new(ec2::Ec2Source::new(
            Scope::Aws { account, region },
            aws_sdk_ec2::Client::from_conf(conf),
            aws.page_size,
        )));
    }
    sources
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

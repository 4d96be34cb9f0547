//! The caller-identity check: before a poll of an account's scope counts, STS
//! `GetCallerIdentity` must name that account. Credentials of another account (a wrong
//! profile, a role ARN pointing elsewhere, an emulator's default) would list another account's
//! state as this one's, and the diff would turn it into mass deletes and creates. Asked once
//! per cycle and account: the account's regions and services polled in that cycle share the
//! answer.

use jiff::Timestamp;
use tokio::sync::Mutex;

use super::limit::Throttle;
use crate::model::FailureKind;

type Verdict = Result<(), (FailureKind, String)>;

pub struct AccountCheck {
    expected: String,
    sts: aws_sdk_sts::Client,
    throttle: std::sync::Arc<Throttle>,
    /// The verdict of the cycle at this observation time.
    memo: Mutex<Option<(Timestamp, Verdict)>>,
}

impl AccountCheck {
    pub fn new(
        expected: String,
        sts: aws_sdk_sts::Client,
        throttle: std::sync::Arc<Throttle>,
    ) -> AccountCheck {
        AccountCheck {
            expected,
            sts,
            throttle,
            memo: Mutex::new(None),
        }
    }

    /// Whether the credentials belong to the configured account, asked once per cycle (the
    /// cycle's `observed_at`); the concurrent polls of one cycle wait for the one answer.
    pub async fn verify(&self, observed_at: Timestamp) -> Verdict {
        let mut memo = self.memo.lock().await;
        if let Some((at, verdict)) = memo.as_ref()
            && *at == observed_at
        {
            return verdict.clone();
        }
        let verdict = self.ask().await;
        *memo = Some((observed_at, verdict.clone()));
        verdict
    }

    async fn ask(&self) -> Verdict {
        self.throttle.acquire("GetCallerIdentity").await;
        let answer = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| super::classify(&e))?;
        judge(&self.expected, answer.account())
    }
}

/// The verdict on the account STS named.
fn judge(expected: &str, answered: Option<&str>) -> Verdict {
    match answered {
        Some(a) if a == expected => Ok(()),
        Some(a) => Err((
            FailureKind::WrongAccount,
            format!(
                "the credentials belong to account {a}, not to the configured {expected}: nothing listed with them counts (check the profile, role_arn or endpoint)"
            ),
        )),
        None => Err((
            FailureKind::InvalidResponse,
            "GetCallerIdentity answered without an account".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(judge("123456789012", Some("123456789012")), Ok(()));
        let Err((kind, message)) = judge("111111111111", Some("123456789012")) else {
            panic!("another account must fail");
        };
        assert_eq!(kind, FailureKind::WrongAccount);
        assert!(message.contains("account 123456789012, not to the configured 111111111111"));
        assert!(matches!(
            judge("111111111111", None),
            Err((FailureKind::InvalidResponse, _))
        ));
    }
}

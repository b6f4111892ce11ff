//! STS `AssumeRole`, signed with the instance-profile credentials only.
//!
//! The SDK config is loaded once per run with those credentials set explicitly, so ambient
//! `AWS_ACCESS_KEY_ID`, `AWS_PROFILE` and friends can never sign a call; endpoints still come
//! from the standard variables (`AWS_ENDPOINT_URL_STS`). Each call goes to the regional endpoint
//! of the role's region. Retries follow `retry::Policy::STS` (throttling, 5xx, timeouts); the
//! SDK's own retries are off so that there is one policy. All calls of one `Sts` share a
//! `Pace`, which slows every call down when STS throttles any of them. Nothing here logs a
//! secret: errors carry the STS error code, message and request id only.

use crate::creds::{Secret, TemporaryCredentials};
use crate::retry::Policy;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_sdk_sts::types::Tag;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;

/// Everything one `AssumeRole` call needs, with placeholders already filled.
#[derive(Clone, Debug)]
pub struct Request {
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: i32,
    pub region: String,
    pub external_id: Option<String>,
    pub source_identity: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// A successful `AssumeRole`.
#[derive(Debug)]
pub struct Assumed {
    pub credentials: TemporaryCredentials,
    pub assumed_role_arn: String,
}

/// Why a role could not be assumed. `code` is STS's error code (`AccessDenied`,
/// `Throttling`, ...) or one of ours (`Timeout`, `Network`, `BadResponse`).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}{}", request_id.as_ref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
pub struct Error {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub retryable: bool,
}

/// Error codes STS (and the AWS front door) use for throttling.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "SlowDown",
];

pub struct Sts {
    config: aws_types::SdkConfig,
    pace: Pace,
}

impl Sts {
    /// Loads the SDK config (endpoints, timeouts) with `instance` as the only credentials.
    pub async fn new(http: SharedHttpClient, instance: &TemporaryCredentials, region: &str) -> Sts {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(region.to_owned()))
            .credentials_provider(static_credentials(instance))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            )
            .load()
            .await;
        Sts {
            config,
            pace: Pace::default(),
        }
    }

    /// Assumes one role, retrying transient failures until `policy`'s deadline.
    pub async fn assume(&self, req: &Request, policy: Policy) -> Result<Assumed, Error> {
        let client = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.config)
                .region(Region::new(req.region.clone()))
                .build(),
        );
        policy
            .run(
                || async {
                    self.pace.slot().await;
                    let result = self.assume_once(&client, req).await;
                    match &result {
                        Ok(_) => self.pace.succeeded(),
                        Err(e) if THROTTLING_CODES.contains(&e.code.as_str()) => {
                            self.pace.throttled()
                        }
                        Err(_) => {}
                    }
                    result
                },
                |e| e.retryable,
                |e, attempt, delay| {
                    tracing::info!(
                        role_arn = %req.role_arn,
                        error_code = %e.code,
                        attempt,
                        ?delay,
                        "AssumeRole failed; retrying: {e}"
                    );
                },
            )
            .await
    }

    async fn assume_once(
        &self,
        client: &aws_sdk_sts::Client,
        req: &Request,
    ) -> Result<Assumed, Error> {
        let tags = req
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error {
                code: "InvalidTag".into(),
                message: e.to_string(),
                request_id: None,
                retryable: false,
            })?;
        let out = client
            .assume_role()
            .role_arn(&req.role_arn)
            .role_session_name(&req.role_session_name)
            .duration_seconds(req.duration_seconds)
            .set_external_id(req.external_id.clone())
            .set_source_identity(req.source_identity.clone())
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(classify)?;
        let bad = |message: &str| Error {
            code: "BadResponse".into(),
            message: message.into(),
            request_id: None,
            retryable: false,
        };
        let creds = out
            .credentials()
            .ok_or_else(|| bad("AssumeRole answered without Credentials"))?;
        let expiration = OffsetDateTime::from_unix_timestamp(creds.expiration().secs())
            .map_err(|_| bad("AssumeRole answered with an Expiration out of range"))?;
        if expiration <= OffsetDateTime::now_utc() {
            return Err(bad(&format!(
                "AssumeRole answered with credentials that expired at {expiration} \
                 (is the clock of this instance right?)"
            )));
        }
        Ok(Assumed {
            credentials: TemporaryCredentials {
                access_key_id: creds.access_key_id().to_owned(),
                secret_access_key: Secret::new(creds.secret_access_key()),
                session_token: Secret::new(creds.session_token()),
                expiration,
            },
            assumed_role_arn: out
                .assumed_role_user()
                .map(|u| u.arn().to_owned())
                .unwrap_or_default(),
        })
    }
}

/// Client-side rate limiting shared by every call of one refresh, additive-increase /
/// multiplicative-decrease: no limit until STS throttles a call; then the rate is cut to half
/// of what was sent in the last second, raised by `RAISE_PER_SECOND` every second calls go
/// through, and cut again on the next throttle. Per-call backoff alone would let the other
/// in-flight calls keep hitting the limit; this slows all of them down at once.
///
/// Why not the SDK's `RetryConfig::adaptive()`: its rate limiter only acts within the SDK's own
/// retry loop, which would give two retry policies and two deadlines, and it lives in one
/// client while we build one client per region; `retry::Policy` stays the only policy.
#[derive(Default)]
struct Pace {
    state: Mutex<PaceState>,
}

#[derive(Default)]
struct PaceState {
    /// Calls per second allowed; `None` until the first throttle.
    rate: Option<f64>,
    /// When the next call may start.
    next: Option<Instant>,
    /// Start times of the calls of the last second, to measure the rate that got throttled.
    sent: VecDeque<Instant>,
    /// The last cut: one burst of throttles cuts the rate once, not once per call.
    cut_at: Option<Instant>,
    /// The last raise (or cut), from which the additive increase is measured.
    raised_at: Option<Instant>,
}

/// Additive increase, in calls per second gained per second without throttling.
const RAISE_PER_SECOND: f64 = 20.0;
/// The rate never falls below this, so that a long outage of throttling still makes progress.
const MIN_RATE: f64 = 1.0;
/// Throttles within this time of a cut answer calls sent before it: they do not cut again.
const CUT_COOLDOWN: Duration = Duration::from_millis(500);
const WINDOW: Duration = Duration::from_secs(1);

impl Pace {
    /// Waits until one more call fits the rate.
    async fn slot(&self) {
        let start = {
            let mut s = self.lock();
            let now = Instant::now();
            while s.sent.front().is_some_and(|&t| now - t > WINDOW) {
                s.sent.pop_front();
            }
            let start = match (s.rate, s.next) {
                (Some(_), Some(next)) if next > now => next,
                _ => now,
            };
            if let Some(rate) = s.rate {
                s.next = Some(start + Duration::from_secs_f64(1.0 / rate));
            }
            s.sent.push_back(start);
            start
        };
        tokio::time::sleep_until(start).await;
    }

    fn succeeded(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        if let (Some(rate), Some(at)) = (s.rate, s.raised_at) {
            s.rate = Some(rate + RAISE_PER_SECOND * (now - at).as_secs_f64());
            s.raised_at = Some(now);
        }
    }

    fn throttled(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        if s.cut_at.is_some_and(|at| now - at < CUT_COOLDOWN) {
            return;
        }
        let sent = s.sent.iter().filter(|&&t| now - t <= WINDOW).count() as f64;
        let from = s.rate.map_or(sent, |rate| rate.min(sent));
        let rate = (from / 2.0).max(MIN_RATE);
        tracing::info!(
            calls_per_second = rate,
            "STS is throttling; slowing down to {rate:.0} AssumeRole calls per second"
        );
        s.rate = Some(rate);
        s.cut_at = Some(now);
        s.raised_at = Some(now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PaceState> {
        // The state stays consistent between statements, so a panic elsewhere cannot poison it
        // into something wrong.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn static_credentials(c: &TemporaryCredentials) -> Credentials {
    Credentials::new(
        c.access_key_id.clone(),
        c.secret_access_key.expose(),
        Some(c.session_token.expose().to_owned()),
        Some(c.expiration.into()),
        "ec2-assume-role-instance-profile",
    )
}

fn classify(err: SdkError<AssumeRoleError, HttpResponse>) -> Error {
    let request_id = err.meta().extra("aws_request_id").map(str::to_owned);
    match &err {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("Unknown").to_owned();
            let message = ctx.err().message().unwrap_or_default().to_owned();
            let status = ctx.raw().status().as_u16();
            let retryable = THROTTLING_CODES.contains(&code.as_str()) || status >= 500;
            Error {
                code,
                message,
                request_id,
                retryable,
            }
        }
        SdkError::TimeoutError(_) => Error {
            code: "Timeout".into(),
            message: crate::imds::chain(&err),
            request_id,
            retryable: true,
        },
        SdkError::DispatchFailure(_) => Error {
            code: "Network".into(),
            message: crate::imds::chain(&err),
            request_id,
            retryable: true,
        },
        _ => Error {
            code: "BadResponse".into(),
            message: crate::imds::chain(&err),
            request_id,
            retryable: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pace_is_unlimited_until_a_throttle_then_halves_and_recovers() {
        let pace = Pace::default();
        let start = Instant::now();
        for _ in 0..100 {
            pace.slot().await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "no limit before a throttle"
        );

        // 100 calls in the last second were too many: 50 per second from now on.
        pace.throttled();
        // A burst of throttles answering calls already sent cuts only once.
        pace.throttled();
        let cut = Instant::now();
        for _ in 0..11 {
            pace.slot().await;
        }
        assert_eq!(cut.elapsed(), Duration::from_millis(200));

        // 10.2 s since the cut without a throttle add 10.2 × RAISE_PER_SECOND calls per second.
        tokio::time::advance(Duration::from_secs(10)).await;
        pace.succeeded();
        let rate = pace.lock().rate.unwrap();
        assert!(
            (rate - (50.0 + 10.2 * RAISE_PER_SECOND)).abs() < 1e-6,
            "{rate}"
        );

        // Past the cooldown, the next throttle halves what was really sent, not the allowance.
        pace.throttled();
        assert_eq!(pace.lock().rate, Some(MIN_RATE));
    }
}

//! STS `AssumeRole`, signed with the instance-profile credentials only.
//!
//! The SDK config is loaded once per run with those credentials set explicitly, so ambient
//! `AWS_ACCESS_KEY_ID`, `AWS_PROFILE` and friends can never sign a call; endpoints still come
//! from the standard variables (`AWS_ENDPOINT_URL_STS`). Each call goes to the regional endpoint
//! of the role's region. Retries follow `retry::Policy::STS` (throttling, 5xx, timeouts, and
//! a request refused because this instance's clock is off by no more than `skew` corrects
//! for: the next attempt is signed with the corrected time); the SDK's own retries are off so
//! that there is one policy. All calls of one `Sts`
//! share a `Pace`, which slows every call down when STS throttles any of them.
//!
//! STS's answers are not trusted to be sane: a body over `MAX_ANSWER_BYTES` is cut off
//! unread, and a 200 that is not a complete, unexpired set of credentials is a `BadResponse`.
//! Nothing here logs a secret or echoes an answer: errors carry the STS error code, message
//! and request id, or what was wrong with the answer, only.

use crate::aws::retry::Policy;
use crate::aws::skew;
use crate::base::creds::{Secret, TemporaryCredentials};
use crate::config::Endpoints;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_sdk_sts::operation::RequestId;
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::region::Region;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The session policy (minified JSON) and managed session policies.
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
    /// FIPS and dual-stack endpoints; `None`s leave the SDK's own settings.
    pub endpoints: Endpoints,
}

/// A successful `AssumeRole`.
#[derive(Debug)]
pub struct Assumed {
    pub credentials: TemporaryCredentials,
    pub assumed_role_arn: String,
}

/// Why a role could not be assumed. `code` is STS's error code (`AccessDenied`,
/// `Throttling`, `ExpiredToken`, ...) or one of ours (`Timeout`, `Network`, `BadResponse`).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{code}: {message}{}", request_id.as_ref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
pub struct Error {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub retryable: bool,
}

impl Error {
    /// A chained role that was not tried: its source (`source`, a profile) has no credentials
    /// to sign with, because assuming it failed with `cause` (or, without one, they expired).
    /// As retryable as the cause.
    pub fn source_failed(source: &str, cause: Option<&Error>) -> Error {
        let message = match cause {
            Some(cause) => format!("its source_profile {source} could not be assumed ({cause})"),
            None => format!("its source_profile {source} has no unexpired credentials"),
        };
        Error {
            code: "SourceFailed".into(),
            message,
            request_id: None,
            retryable: cause.is_none_or(|c| c.retryable),
        }
    }

    /// STS refused the instance-profile credentials as expired: they rotated since we read
    /// them, and IMDS has new ones.
    pub fn instance_credentials_expired(&self) -> bool {
        self.code == "ExpiredToken"
    }
}

/// The most of an answer we read. A real AssumeRole answer is a few KB (the session token
/// grows with session tags and policies, to some KB more); the SDK would otherwise buffer any
/// body whole, however large.
const MAX_ANSWER_BYTES: usize = 1 << 20;

pub struct Sts {
    config: aws_types::SdkConfig,
    /// One client per region (and endpoint variant), built at its first call: building one
    /// per call cost as much CPU as the rest of the call, on the path of every permit of
    /// `[sts] max_concurrency`.
    clients: Mutex<HashMap<(String, Endpoints), aws_sdk_sts::Client>>,
    /// Whose credentials sign (a role ARN), for the hint on a refusal (`denied::explain`).
    signer: String,
    pace: Pace,
    /// The warning for a clock skew that is not corrected is logged once per `Sts` (one
    /// refresh), not once per call.
    skew_warned: AtomicBool,
}

impl Sts {
    /// Loads the SDK config (endpoints, timeouts) with `instance` as the only credentials,
    /// which are `signer`'s (its role ARN).
    pub async fn new(
        http: SharedHttpClient,
        instance: &TemporaryCredentials,
        region: &str,
        signer: &str,
    ) -> Sts {
        let config =
            crate::aws::http::instance_profile_config(http, instance, region, Endpoints::default())
                .load()
                .await;
        Sts {
            config,
            clients: Mutex::default(),
            signer: signer.to_owned(),
            pace: Pace::default(),
            skew_warned: AtomicBool::new(false),
        }
    }

    /// The same, with each attempt given up after `attempt` rather than the usual 10 s: for
    /// `doctor`, which must answer within seconds whatever STS does.
    pub fn quick(mut self, attempt: Duration) -> Sts {
        self.config = self
            .config
            .to_builder()
            .timeout_config(crate::aws::http::timeouts(attempt))
            .build();
        self
    }

    /// Assumes one role, retrying transient failures until `policy`'s deadline.
    pub async fn assume(&self, req: &Request, policy: Policy) -> Result<Assumed, Error> {
        let client = self.client(&req.region, req.endpoints);
        policy
            .run(
                || async {
                    self.pace.slot().await;
                    let result = self.assume_once(&client, req).await;
                    match &result {
                        Ok(_) => self.pace.succeeded(),
                        Err(e) if crate::aws::retry::is_throttling(&e.code) => {
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

    /// The client for calls to `region` (a handle: clones share one client).
    fn client(&self, region: &str, endpoints: Endpoints) -> aws_sdk_sts::Client {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let key = (region.to_owned(), endpoints);
        let client = clients.entry(key).or_insert_with(|| {
            let mut config = aws_sdk_sts::config::Builder::from(&self.config);
            config.set_region(Some(Region::new(region.to_owned())));
            if let Some(fips) = endpoints.fips {
                config.set_use_fips(Some(fips));
            }
            if let Some(dual_stack) = endpoints.dual_stack {
                config.set_use_dual_stack(Some(dual_stack));
            }
            let config = config
                .interceptor(BoundedBody)
                .interceptor(skew::Watch("STS"));
            aws_sdk_sts::Client::from_conf(config.build())
        });
        client.clone()
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
        let started = Instant::now();
        let out = client
            .assume_role()
            .role_arn(&req.role_arn)
            .role_session_name(&req.role_session_name)
            .duration_seconds(req.duration_seconds)
            .set_external_id(req.external_id.clone())
            .set_source_identity(req.source_identity.clone())
            .set_tags((!tags.is_empty()).then_some(tags))
            .set_policy(req.policy.clone())
            .set_policy_arns(policy_arns(&req.policy_arns))
            .send()
            .await;
        crate::base::metrics::sts_request(started.elapsed(), out.is_ok());
        let out = out.map_err(|err| self.classify(err, req))?;
        let request_id = out.request_id().map(str::to_owned);
        let bad = |detail: &str| bad_response(detail, request_id.clone());
        let creds = out
            .credentials()
            .ok_or_else(|| bad("it has no Credentials"))?;
        // The SDK fills required fields that are missing with defaults ("" and the epoch),
        // and reads truncated XML up to where it stops.
        for (name, value) in [
            ("AccessKeyId", creds.access_key_id()),
            ("SecretAccessKey", creds.secret_access_key()),
            ("SessionToken", creds.session_token()),
        ] {
            if value.is_empty() {
                return Err(bad(&format!("its {name} is empty")));
            }
        }
        if creds.expiration().secs() == 0 {
            return Err(bad("it has no Expiration"));
        }
        let expiration = OffsetDateTime::from_unix_timestamp(creds.expiration().secs())
            .map_err(|_| bad("its Expiration is out of range"))?;
        if expiration <= skew::now() {
            return Err(bad(&format!(
                "its credentials expired at {}, before they arrived (is the clock of this \
                 instance right?)",
                crate::base::creds::rfc3339(expiration)
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

/// The endpoint `AssumeRole` goes to for `region` with `endpoints`, as the SDK's own rules
/// resolve it, `sdk` (the environment and the AWS config file, as `aws_config` loads them)
/// giving the settings `endpoints` leaves unset; or the URL that overrides them
/// (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`), said as such. For `check`.
pub fn endpoint_of(region: &str, endpoints: Endpoints, sdk: &aws_types::SdkConfig) -> String {
    use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let ignore = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let overridden = std::env::var("AWS_ENDPOINT_URL_STS")
        .ok()
        .filter(|_| !ignore)
        .map(|url| (url, "AWS_ENDPOINT_URL_STS"))
        .or_else(|| {
            sdk.endpoint_url()
                .map(|url| (url.to_owned(), "AWS_ENDPOINT_URL"))
        });
    if let Some((url, by)) = overridden {
        return format!("{url} (set by {by})");
    }
    let params = Params::builder()
        .region(region)
        .use_fips(endpoints.fips.or(sdk.use_fips()).unwrap_or(false))
        .use_dual_stack(
            endpoints
                .dual_stack
                .or(sdk.use_dual_stack())
                .unwrap_or(false),
        )
        .build();
    let resolved = params
        .map_err(|e| e.to_string())
        .and_then(|params| resolved(DefaultResolver::new().resolve_endpoint(&params)));
    resolved.unwrap_or_else(|why| format!("none ({why})"))
}

/// The URL an SDK endpoint resolver's answer names, or why there is none. The endpoint rules
/// are pure (no I/O), so the future is ready when first polled.
pub fn resolved(
    future: aws_smithy_runtime_api::client::endpoint::EndpointFuture<'_>,
) -> Result<String, String> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::future::Future::poll(future.as_mut(), &mut cx) {
        std::task::Poll::Ready(endpoint) => endpoint
            .map(|e| e.url().to_owned())
            .map_err(|e| e.to_string()),
        std::task::Poll::Pending => Err("the SDK's endpoint rules did not answer".into()),
    }
}

/// `PolicyArns` as STS takes them; `None` for none (the parameter is then not sent).
fn policy_arns(arns: &[String]) -> Option<Vec<PolicyDescriptorType>> {
    (!arns.is_empty()).then(|| {
        arns.iter()
            .map(|arn| PolicyDescriptorType::builder().arn(arn).build())
            .collect()
    })
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
        // Unthrottled calls start now: a timer even for `now` would hold each call until the
        // timer's next millisecond tick, on the path of every permit.
        if start > Instant::now() {
            tokio::time::sleep_until(start).await;
        }
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

impl Sts {
    /// Sorts a failed call into an `Error`; a refusal for a clock skew that is not corrected
    /// (beyond the bound, or not measurable) is also logged as a warning, once per `Sts`. An
    /// `AccessDenied` gets the hint of `denied::explain`.
    fn classify(&self, err: SdkError<AssumeRoleError, HttpResponse>, req: &Request) -> Error {
        let mut error = classify(&err);
        if let Some(hint) =
            crate::aws::denied::explain(&error.code, &error.message, &req.role_arn, &self.signer)
        {
            error.message = format!("{}; {hint}", error.message);
        }
        if error.code == "PackedPolicyTooLarge" {
            // STS packs the session policy, the policy ARNs and the session tags into one
            // space whose size only it knows; the parts are ours to shrink.
            let parts = [
                (req.policy.is_some(), "the session policy (policy)"),
                (!req.policy_arns.is_empty(), "policy_arns"),
                (!req.tags.is_empty(), "the session tags (tags)"),
            ];
            let given: Vec<&str> = parts.iter().filter(|p| p.0).map(|p| p.1).collect();
            error.message = format!(
                "{}; STS packs {} into a space of fixed size: shorten them, or move \
                 statements into the role's own policies",
                error.message,
                if given.is_empty() {
                    "the session's policies and tags".to_owned()
                } else {
                    given.join(", ")
                }
            );
        }
        if let SdkError::ServiceError(ctx) = &err {
            let date = ctx.raw().headers().get("date");
            if let Some(refusal) = skew::refusal("STS", &error.code, &error.message, date) {
                // `retry::sdk_failure` has judged the refusal (retried within the bound, where
                // `skew::Watch` has taken the correction from this answer) and added its
                // advice to the message; what is left is the warning.
                let uncorrected = !refusal.retry || date.is_none();
                if uncorrected && !self.skew_warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        message_id = crate::base::logging::message_id::CLOCK_SKEW,
                        role_arn = %req.role_arn,
                        error_code = %error.code,
                        skew_seconds = skew::measured(),
                        "STS refused a request for clock skew ({}); {}",
                        error.code,
                        refusal.advice
                    );
                }
            }
        }
        error
    }
}

fn bad_response(detail: &str, request_id: Option<String>) -> Error {
    Error {
        code: "BadResponse".into(),
        message: format!("STS's answer is not a valid AssumeRole response: {detail}"),
        request_id,
        retryable: false,
    }
}

/// Cuts an answer's body off at `MAX_ANSWER_BYTES`: the read fails there, before the SDK
/// buffers more.
#[derive(Debug)]
struct BoundedBody;

impl Intercept for BoundedBody {
    fn name(&self) -> &'static str {
        "BoundedBody"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.response_mut().take_body();
        *context.response_mut().body_mut() =
            SdkBody::from_body_1_x(http_body_util::Limited::new(body, MAX_ANSWER_BYTES));
        Ok(())
    }
}

fn classify(err: &SdkError<AssumeRoleError, HttpResponse>) -> Error {
    let request_id = err.meta().extra("aws_request_id").map(str::to_owned);
    match err {
        // A 200 the SDK could not read comes back as an unhandled service error. The SDK's
        // message quotes the element it found instead, attributes and all, after " got ":
        // cut that off (an answer is never echoed), and say what kind of document it was.
        SdkError::ServiceError(ctx) if ctx.raw().status().is_success() => {
            let chain = crate::aws::retry::chain(ctx.err());
            let detail = chain.split(" got ").next().unwrap_or_default();
            let kind = ctx.raw().headers().get("content-type").unwrap_or("none");
            bad_response(&format!("{detail} (Content-Type: {kind})"), request_id)
        }
        _ if too_long(err) => bad_response(
            &format!("it is longer than {MAX_ANSWER_BYTES} bytes"),
            request_id,
        ),
        _ => {
            let failure = crate::aws::retry::sdk_failure("STS", err);
            if failure.code == "BadResponse" {
                return bad_response(&failure.message, request_id);
            }
            Error {
                code: failure.code,
                message: failure.message,
                request_id,
                retryable: failure.retryable,
            }
        }
    }
}

/// Whether `BoundedBody` cut the answer off.
fn too_long(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
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

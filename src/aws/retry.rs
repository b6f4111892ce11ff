//! The one retry policy: exponential backoff with full jitter, bounded by a deadline rather
//! than a fixed attempt count, so that a burst of throttling or a slow boot still ends in
//! success. And the one classifier of a failed AWS SDK call (`sdk_failure`), which every API
//! (STS, SSM, Organizations, the shared list) uses, and whose idea of a broken connection
//! (`transport_failed`) IMDS's shares: throttling, a 5xx (whatever its body: an outage page
//! of a load balancer or proxy is HTML, empty or garbage), a connection refused, reset or cut
//! off mid-answer, and a timeout are transient; a refusal, and a 4xx whose body is not an AWS
//! error, are not. It never sleeps past the deadline, and never quotes an answer's body.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;
use tokio::time::Instant;

/// Whether an AWS error code means throttling. The SDK's own list (aws-runtime's retry
/// classifiers, which every AWS SDK for Rust client uses), so that STS's and SSM's codes and
/// any the SDK learns later are all known in one place.
pub fn is_throttling(code: &str) -> bool {
    THROTTLING_ERRORS.contains(&code)
}

/// Whether a service's error answer is worth another try: throttling, a transient code (a
/// request timeout), or any 5xx.
pub fn is_retryable(code: &str, http_status: u16) -> bool {
    is_throttling(code) || TRANSIENT_ERRORS.contains(&code) || http_status >= 500
}

/// A failed SDK call as the retry policy and the user see it: the service's error code (or
/// ours: `Timeout`, `Network`, `HTTP503` and the like for an answer that is not AWS's,
/// `BadResponse`), a message in plain words, and whether another try may get through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// Sorts a failed call to `service` (`"STS"`, `"SSM"`, `"Organizations"`, as the user
/// reads it). An answer with an AWS error code is judged by it (`is_retryable`); one without
/// (the body is HTML, empty or not parsable: a load balancer, a proxy or an outage answered,
/// not AWS) by its HTTP status alone, a 5xx transient and a 4xx not; a timeout, and a
/// connection that failed, was reset or broke off mid-answer, are transient.
pub fn sdk_failure<E>(service: &str, err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = |code: &str, message: String, retryable| Failure {
        code: code.to_owned(),
        message,
        retryable,
    };
    match err {
        SdkError::ServiceError(ctx) if ctx.err().code().is_some() => {
            let code = ctx.err().code().unwrap_or_default();
            let retryable = is_retryable(code, ctx.raw().status().as_u16());
            let message = ctx.err().message().unwrap_or_default().to_owned();
            let date = ctx.raw().headers().get("date");
            match crate::aws::skew::refusal(service, code, &message, date) {
                Some(refusal) => failure(
                    code,
                    format!("{message}; {}", refusal.advice),
                    refusal.retry,
                ),
                None => failure(code, message, retryable),
            }
        }
        SdkError::TimeoutError(_) => {
            let why = format!("{service} did not answer in time ({})", chain(err));
            failure("Timeout", why, true)
        }
        SdkError::DispatchFailure(_) => failure("Network", chain(err), true),
        _ if transport_failed(err) => {
            let why = format!(
                "the connection to {service} broke off mid-answer ({})",
                chain(err)
            );
            failure("Network", why, true)
        }
        _ => match err.raw_response() {
            Some(raw) if !raw.status().is_success() => {
                let kind = raw.headers().get("content-type");
                let body = raw.body().bytes().unwrap_or_default();
                not_aws(service, raw.status().as_u16(), kind, body)
            }
            _ => failure("BadResponse", chain(err), false),
        },
    }
}

/// An error answer without an AWS error in it, judged by its `status`: a 5xx is an outage
/// (retried), a 429 a rate limit in the way (retried, as throttling is), another 4xx something
/// in the way that refused the request (not retried: it would refuse again). The body is
/// described, never quoted.
pub fn not_aws(service: &str, status: u16, content_type: Option<&str>, body: &[u8]) -> Failure {
    let answered = format!(
        "{service} answered {status} with {} (not AWS)",
        body_kind(content_type, body)
    );
    let (message, retryable) = if status >= 500 {
        let why = "an outage, or a load balancer or proxy in the way that could not reach it";
        (format!("{answered}: {why}"), true)
    } else if status == 429 {
        let why = "a rate limit of something in the way, such as a proxy; retried as throttling";
        (format!("{answered}: {why}"), true)
    } else {
        let why = format!(
            "something between this instance and {service}, such as a proxy, refused the \
             request; not retried"
        );
        (format!("{answered}: {why}"), false)
    };
    Failure {
        code: format!("HTTP{status}"),
        message,
        retryable,
    }
}

/// What an answer's body is, in words: empty, an HTML page, or something else that is not an
/// AWS error.
pub fn body_kind(content_type: Option<&str>, body: &[u8]) -> &'static str {
    let head = String::from_utf8_lossy(&body[..body.len().min(64)]).to_ascii_lowercase();
    let head = head.trim_start();
    if body.iter().all(u8::is_ascii_whitespace) {
        "an empty body"
    } else if content_type.is_some_and(|k| k.to_ascii_lowercase().contains("html"))
        || head.starts_with("<html")
        || head.starts_with("<!doctype html")
    {
        "an HTML body"
    } else {
        "a body that is not an AWS error"
    }
}

/// Whether `err` (or a cause of it) is a connection that failed: refused, reset, timed out, or
/// closed before the whole answer arrived. The SDK reports these as a dispatch failure when
/// no answer began, and as a response error when the body broke off.
pub fn transport_failed(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if e.is::<ConnectorError>() || e.is::<std::io::Error>() || e.is::<hyper::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// An error and its causes on one line, the way operators read them in the journal.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Backoff between attempts, and the point after which we give up.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Upper bound of the first delay.
    pub initial: Duration,
    /// Upper bound of any one delay.
    pub max: Duration,
    /// How long from the first attempt we keep trying.
    pub deadline: Duration,
}

impl Policy {
    /// IMDS at boot: the metadata service and the instance-profile credentials can lag the
    /// network by seconds, so poll briskly until the caller's `--wait` deadline.
    pub const fn imds(deadline: Duration) -> Policy {
        Policy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(5),
            deadline,
        }
    }

    /// STS: throttling and 5xx are transient; back off harder so that a fleet booting at once
    /// spreads out, and keep at it for a minute per role.
    pub const STS: Policy = Policy {
        initial: Duration::from_millis(250),
        max: Duration::from_secs(10),
        deadline: Duration::from_secs(60),
    };

    /// One attempt and no retry: for `doctor`, which must answer within seconds and reports
    /// what the first answer was. Any delay (at least a tenth of `initial`) overshoots the
    /// zero deadline.
    pub const ONCE: Policy = Policy {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(1),
        deadline: Duration::ZERO,
    };

    /// The delay before attempt `attempt + 1` (attempt counts from 1): full jitter over an
    /// exponentially growing cap ("Exponential Backoff And Jitter", AWS Architecture Blog).
    pub fn delay(&self, attempt: u32, random_unit: f64) -> Duration {
        let cap = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(16)))
            .min(self.max);
        // Never sleep less than a tenth of the cap: a zero delay would hammer the service.
        cap.mul_f64(0.1 + 0.9 * random_unit.clamp(0.0, 1.0))
    }

    /// Runs `op` until it succeeds, fails with an error `retryable` rejects, or the deadline
    /// passes; the last error is returned then. `on_retry` sees each error that will be retried
    /// and the delay before the next attempt (for logging).
    pub async fn run<T, E, Fut>(
        &self,
        mut op: impl FnMut() -> Fut,
        retryable: impl Fn(&E) -> bool,
        mut on_retry: impl FnMut(&E, u32, Duration),
    ) -> Result<T, E>
    where
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let give_up_at = Instant::now() + self.deadline;
        let mut attempt = 1;
        loop {
            let err = match op().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let delay = self.delay(attempt, fastrand::f64());
            if !retryable(&err) || Instant::now() + delay > give_up_at {
                return Err(err);
            }
            on_retry(&err, attempt, delay);
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_5xx_are_retried_refusals_are_not() {
        // (code, HTTP status, throttling?, retryable?): STS's and SSM's codes as they send them.
        let table = [
            ("Throttling", 400, true, true),
            ("ThrottlingException", 400, true, true),
            ("RequestLimitExceeded", 503, true, true),
            ("InternalServerError", 500, false, true),
            ("ServiceUnavailable", 503, false, true),
            ("RequestTimeout", 408, false, true),
            ("AccessDenied", 403, false, false),
            ("ParameterNotFound", 400, false, false),
            ("ExpiredToken", 400, false, false),
        ];
        for (code, status, throttling, retryable) in table {
            assert_eq!(is_throttling(code), throttling, "{code}");
            assert_eq!(is_retryable(code, status), retryable, "{code} {status}");
        }
    }

    #[test]
    fn answers_that_are_not_aws_are_judged_by_their_status_and_described_not_quoted() {
        use aws_sdk_sts::operation::assume_role::AssumeRoleError;
        use aws_smithy_runtime_api::http::Response;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        type Err = SdkError<AssumeRoleError, HttpResponse>;
        let response = |status: u16, kind: Option<&str>, body: &str| {
            let mut r = Response::new(status.try_into().unwrap(), SdkBody::from(body));
            if let Some(kind) = kind {
                r.headers_mut().insert("content-type", kind.to_owned());
            }
            r
        };
        let unparsable = |status, kind, body| -> Err {
            SdkError::response_error("malformed JSON error body", response(status, kind, body))
        };
        let html = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>";
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let refused = |code: &str, status| -> Err {
            let meta = ErrorMetadata::builder().code(code).message("no").build();
            SdkError::service_error(AssumeRoleError::generic(meta), response(status, None, ""))
        };
        // (error, code, retryable, the message says)
        let table: Vec<(Err, &str, bool, &str)> = vec![
            (
                unparsable(503, Some("text/html"), html),
                "HTTP503",
                true,
                "STS answered 503 with an HTML body (not AWS): an outage",
            ),
            (
                unparsable(502, None, ""),
                "HTTP502",
                true,
                "STS answered 502 with an empty body (not AWS)",
            ),
            (
                unparsable(500, Some("application/json"), "\u{1}{{ not json"),
                "HTTP500",
                true,
                "STS answered 500 with a body that is not an AWS error (not AWS)",
            ),
            (
                unparsable(504, None, "<!DOCTYPE html><html></html>"),
                "HTTP504",
                true,
                "with an HTML body",
            ),
            // A proxy's rate limit: throttling by another name.
            (
                unparsable(429, Some("text/html"), html),
                "HTTP429",
                true,
                "STS answered 429 with an HTML body (not AWS): a rate limit of something in the \
                 way, such as a proxy; retried as throttling",
            ),
            // A proxy that refuses: it would refuse again.
            (
                unparsable(403, Some("text/html; charset=utf-8"), html),
                "HTTP403",
                false,
                "STS answered 403 with an HTML body (not AWS): something between this \
                 instance and STS, such as a proxy, refused the request; not retried",
            ),
            (
                SdkError::response_error(reset, response(200, None, "<Partial")),
                "Network",
                true,
                "the connection to STS broke off mid-answer",
            ),
            (
                SdkError::dispatch_failure(ConnectorError::io("connection reset".into())),
                "Network",
                true,
                "connection reset",
            ),
            (
                SdkError::timeout_error("timed out"),
                "Timeout",
                true,
                "STS did not answer in time",
            ),
            (refused("AccessDenied", 403), "AccessDenied", false, "no"),
            (refused("Throttling", 400), "Throttling", true, "no"),
            (
                refused("ServiceUnavailable", 503),
                "ServiceUnavailable",
                true,
                "no",
            ),
            // A 200 the SDK could not read is not an outage.
            (
                unparsable(200, Some("text/html"), html),
                "BadResponse",
                false,
                "malformed",
            ),
        ];
        for (err, code, retryable, says) in table {
            let f = sdk_failure("STS", &err);
            assert_eq!((f.code.as_str(), f.retryable), (code, retryable), "{f:?}");
            assert!(f.message.contains(says), "{f:?}");
            assert!(!f.message.contains("<h1>"), "a body is never quoted: {f:?}");
        }
    }

    #[test]
    fn delays_grow_exponentially_within_jitter_bounds_and_cap() {
        let p = Policy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
        };
        // (attempt, random, expected)
        let table = [
            (1, 1.0, 100),
            (1, 0.0, 10),
            (2, 1.0, 200),
            (3, 1.0, 400),
            (4, 1.0, 800),
            (5, 1.0, 1000),
            (5, 0.0, 100),
            (60, 1.0, 1000),
            (u32::MAX, 0.5, 550),
        ];
        for (attempt, random, want_ms) in table {
            assert_eq!(
                p.delay(attempt, random),
                Duration::from_millis(want_ms),
                "attempt {attempt}, random {random}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success_past_a_fixed_count() {
        let mut calls = 0;
        let result: Result<u32, &str> = Policy::STS
            .run(
                || {
                    calls += 1;
                    let n = calls;
                    async move {
                        if n < 8 {
                            Err("Throttling")
                        } else {
                            Ok(n)
                        }
                    }
                },
                |_| true,
                |_, _, _| {},
            )
            .await;
        assert_eq!(result, Ok(8));
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_the_deadline_and_on_permanent_errors() {
        let start = Instant::now();
        let result: Result<(), &str> = Policy::imds(Duration::from_secs(30))
            .run(|| async { Err("down") }, |_| true, |_, _, _| {})
            .await;
        assert_eq!(result, Err("down"));
        assert!(start.elapsed() <= Duration::from_secs(30));
        assert!(start.elapsed() >= Duration::from_secs(20));

        let mut calls = 0;
        let result: Result<(), &str> = Policy::STS
            .run(
                || {
                    calls += 1;
                    async { Err("AccessDenied") }
                },
                |e| *e != "AccessDenied",
                |_, _, _| {},
            )
            .await;
        assert_eq!((result, calls), (Err("AccessDenied"), 1));

        let mut calls = 0;
        let result: Result<(), &str> = Policy::ONCE
            .run(
                || {
                    calls += 1;
                    async { Err("Throttling") }
                },
                |_| true,
                |_, _, _| {},
            )
            .await;
        assert_eq!(
            (result, calls),
            (Err("Throttling"), 1),
            "ONCE never retries"
        );
    }
}

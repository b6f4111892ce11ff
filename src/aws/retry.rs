//! The one retry policy: exponential backoff with full jitter, bounded by a deadline rather
//! than a fixed attempt count, so that a burst of throttling or a slow boot still ends in
//! success. Callers decide what is retryable; this module only decides when to try again.
//! It never sleeps past the deadline.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
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

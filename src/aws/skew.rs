//! This instance's clock against AWS's, and the time every signed request carries.
//!
//! SigV4 refuses a request signed more than 5 minutes off the service's clock, and at boot,
//! before time sync has stepped the clock, an instance can be further off than that. Every
//! answer of a signed call (STS, SSM, Organizations) carries the service's `Date`; `Watch`
//! measures this clock against it, and when the two differ by more than `TOLERANCE_SECONDS`
//! the difference becomes the correction that `Corrected`, the time source of every signed
//! client, applies from the next request on. A correction is bounded: a clock more than
//! `MAX_CORRECTED_SECONDS` off is not corrected, and a refusal for it is final (`refusal`).
//! The daemon reads the profiles' expiry (STS's time) on the same corrected clock (`now`).
//!
//! The correction is one per process: it is this instance's clock that is off, whichever
//! service or Region answers. It never changes the system clock (that is time sync's job),
//! and it never touches a credential.

use aws_smithy_async::time::TimeSource;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::date_time::Format;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::SystemTime;
use time::OffsetDateTime;

/// The largest offset, either way, that is corrected for. Past 5 minutes only the correction
/// lets the agent work at all; past 15 the clock is broken beyond a boot that time sync has
/// not caught up with yet (and the shortest STS credentials, 15 minutes, would be read as
/// expired or doubled on it), so it is refused, once, saying so.
pub const MAX_CORRECTED_SECONDS: i64 = 900;

/// A measurement within this of the correction in use changes nothing: the `Date` header
/// counts whole seconds, and SigV4 accepts 5 minutes either way, so this is far inside both.
pub const TOLERANCE_SECONDS: i64 = 60;

/// Error codes for a request whose signing time is too far from the service's clock: query
/// services say `SignatureDoesNotMatch` "Signature expired" (or "not yet current"), JSON
/// services `InvalidSignatureException`, some `RequestExpired` or `RequestTimeTooSkewed`.
const SKEW_CODES: &[&str] = &["RequestExpired", "RequestTimeTooSkewed"];
const SIGNATURE_CODES: &[&str] = &["SignatureDoesNotMatch", "InvalidSignatureException"];
const SKEW_MESSAGES: &[&str] = &["Signature expired", "Signature not yet current"];

/// Seconds this clock is ahead of AWS's (negative: behind) as corrected for; 0: not corrected.
static CORRECTION: AtomicI64 = AtomicI64::new(0);
/// The last measurement, the same way round; `NONE` before the first.
static MEASURED: AtomicI64 = AtomicI64::new(NONE);
const NONE: i64 = i64::MIN;

/// Seconds this clock is ahead of AWS's that the signed requests correct for (0: none).
pub fn correction() -> i64 {
    CORRECTION.load(Ordering::Relaxed)
}

/// Seconds this clock was ahead of AWS's (negative: behind) at the last signed answer that
/// carried a `Date`; `None` before one.
pub fn measured() -> Option<i64> {
    Some(MEASURED.load(Ordering::Relaxed)).filter(|&m| m != NONE)
}

/// AWS's time, as well as this instance knows it: the system clock, corrected.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::seconds(correction())
}

/// The system clock's reading at the corrected time `at` (to sleep until `at`).
pub fn local(at: OffsetDateTime) -> OffsetDateTime {
    at + time::Duration::seconds(correction())
}

/// The time source of every signed client: the system clock, corrected.
#[derive(Debug, Default, Clone, Copy)]
pub struct Corrected;

impl TimeSource for Corrected {
    fn now(&self) -> SystemTime {
        let seconds = correction();
        let by = std::time::Duration::from_secs(seconds.unsigned_abs());
        let now = SystemTime::now();
        if seconds >= 0 {
            now.checked_sub(by).unwrap_or(now)
        } else {
            now.checked_add(by).unwrap_or(now)
        }
    }
}

/// The correction to use after measuring this clock `measured` seconds ahead, when
/// `current` is in use: `None` keeps it. Pure.
fn decide(current: i64, measured: i64) -> Option<i64> {
    if measured.abs() > MAX_CORRECTED_SECONDS || (measured - current).abs() < TOLERANCE_SECONDS {
        return None;
    }
    Some(if measured.abs() < TOLERANCE_SECONDS {
        0
    } else {
        measured
    })
}

/// Takes one measurement (`service` answered with a `Date` `measured` seconds behind this
/// clock), changing the correction if it calls for it, and says so in the journal.
pub fn observe(service: &str, measured: i64) {
    MEASURED.store(measured, Ordering::Relaxed);
    crate::base::metrics::clock_skew(measured);
    let current = correction();
    let Some(next) = decide(current, measured) else {
        return;
    };
    if CORRECTION
        .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        // Another answer changed it first, from as recent a measurement.
        return;
    }
    if next == 0 {
        tracing::info!(
            message_id = crate::base::logging::message_id::CLOCK_SKEW,
            skew_seconds = measured,
            "the clock of this instance {} (measured from {service}'s Date); requests are \
             signed with it again",
            off(measured, service)
        );
    } else {
        tracing::warn!(
            message_id = crate::base::logging::message_id::CLOCK_SKEW,
            skew_seconds = measured,
            "the clock of this instance {} (measured from {service}'s Date); requests are \
             signed with the corrected time, and the profiles' expiry is read on it, until \
             time sync fixes the clock (chrony or NTP; `chronyc tracking` shows the offset)",
            off(measured, service)
        );
    }
}

/// Whether a service refused a request because its signing time is too far from its clock.
pub fn is_clock_skew(code: &str, message: &str) -> bool {
    SKEW_CODES.contains(&code)
        || (SIGNATURE_CODES.contains(&code) && SKEW_MESSAGES.iter().any(|m| message.contains(m)))
}

/// How many seconds the clock reading `local` is ahead of a server whose `Date` header says
/// `server_date` (negative: behind), rounded to the second; `None` if the date is not one.
pub fn skew_seconds(local: OffsetDateTime, server_date: &str) -> Option<i64> {
    let server = aws_smithy_types::DateTime::from_str(server_date, Format::HttpDate).ok()?;
    let server = OffsetDateTime::from_unix_timestamp(server.secs()).ok()?;
    Some((local - server).as_seconds_f64().round() as i64)
}

/// "is 600 s behind STS's", for a clock `ahead` seconds ahead of `service`'s.
fn off(ahead: i64, service: &str) -> String {
    match ahead {
        -1..=1 => format!("matches {service}'s"),
        s if s < 0 => format!("is {} s behind {service}'s", -s),
        s => format!("is {s} s ahead of {service}'s"),
    }
}

/// What a refusal for clock skew means, from the `Date` of the answer that carried it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Worth another try: the next request is signed with the corrected time (or, with no
    /// `Date` to measure by, time sync may step the clock any moment).
    pub retry: bool,
    /// What to add to the service's message: the skew, and what to do.
    pub advice: String,
}

/// What `service`'s refusal `code`/`message` of a request means, if it is one for clock skew;
/// `date` is the answer's `Date` header. The correction was already taken from it by `Watch`.
pub fn refusal(service: &str, code: &str, message: &str, date: Option<&str>) -> Option<Refusal> {
    if !is_clock_skew(code, message) {
        return None;
    }
    let ahead = date.and_then(|d| skew_seconds(OffsetDateTime::now_utc(), d));
    Some(refusal_at(service, ahead))
}

/// `refusal` for a clock measured `ahead` seconds ahead of `service`'s (`None`: no `Date`).
fn refusal_at(service: &str, ahead: Option<i64>) -> Refusal {
    let sync = "fix time sync (chrony or NTP; `chronyc tracking` shows the offset)";
    match ahead {
        Some(s) if s.abs() <= MAX_CORRECTED_SECONDS => Refusal {
            retry: true,
            advice: format!(
                "the clock of this instance {}: signing again with the corrected time; {sync}",
                off(s, service)
            ),
        },
        Some(s) => Refusal {
            retry: false,
            advice: format!(
                "the clock of this instance {}, more than the {MAX_CORRECTED_SECONDS} s \
                 ec2-assume-role corrects for, and {service} refuses requests signed more than \
                 5 minutes off: {sync}",
                off(s, service)
            ),
        },
        None => Refusal {
            retry: true,
            advice: format!(
                "the clock of this instance is off by more than 5 minutes ({service} sent no \
                 Date to measure it by): {sync}"
            ),
        },
    }
}

/// Measures this clock against the `Date` of every answer, refusals included, before the SDK
/// reads the body.
#[derive(Debug, Clone, Copy)]
pub struct Watch(pub &'static str);

impl Intercept for Watch {
    fn name(&self) -> &'static str {
        "ClockWatch"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.response().headers();
        // A cached answer's Date is as old as the cache's copy (RFC 9111).
        if headers.get("age").is_some() {
            return Ok(());
        }
        if let Some(ahead) = headers
            .get("date")
            .and_then(|d| skew_seconds(OffsetDateTime::now_utc(), d))
        {
            observe(self.0, ahead);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_change_past_the_tolerance_and_within_the_bound_is_corrected() {
        // (in use, measured, new correction)
        let table = [
            (0, 0, None),
            (0, 1, None),
            (0, -59, None),
            (0, 60, Some(60)),
            (0, -600, Some(-600)),
            (0, 600, Some(600)),
            (0, 900, Some(900)),
            (0, -900, Some(-900)),
            // Beyond the bound: not corrected, whatever is in use.
            (0, 901, None),
            (-600, -1200, None),
            // Measurements of the corrected clock's own second of noise change nothing.
            (-600, -601, None),
            (-600, -545, None),
            // Time sync stepped the clock: back to none, or to the new offset.
            (-600, 0, Some(0)),
            (-600, 30, Some(0)),
            (-600, -300, Some(-300)),
        ];
        for (current, measured, want) in table {
            assert_eq!(decide(current, measured), want, "{current} {measured}");
        }
    }

    #[test]
    fn a_refusal_is_retried_within_the_bound_and_final_beyond_it() {
        let r = refusal_at("STS", Some(-600));
        assert!(r.retry);
        assert!(r.advice.contains("is 600 s behind STS's"), "{}", r.advice);
        assert!(r.advice.contains("fix time sync"), "{}", r.advice);
        let r = refusal_at("STS", Some(1200));
        assert!(!r.retry);
        assert!(
            r.advice
                .contains("is 1200 s ahead of STS's, more than the 900 s"),
            "{}",
            r.advice
        );
        assert!(r.advice.contains("fix time sync"), "{}", r.advice);
        let r = refusal_at("STS", None);
        assert!(r.retry && r.advice.contains("more than 5 minutes"), "{r:?}");
        assert_eq!(
            refusal("STS", "AccessDenied", "Signature expired", None),
            None
        );
    }

    #[test]
    fn clock_skew_is_told_apart_from_a_wrong_signature() {
        // (code, message, skew?)
        let table = [
            ("SignatureDoesNotMatch", "Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z (20260101T001000Z - 5 min.)", true),
            ("SignatureDoesNotMatch", "Signature not yet current: 20260101T002000Z is still later than 20260101T001500Z (20260101T001000Z + 5 min.)", true),
            ("InvalidSignatureException", "Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z (20260101T001000Z - 5 min.)", true),
            ("RequestExpired", "Request has expired.", true),
            ("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", true),
            // A wrong secret is not a clock problem: retrying cannot help.
            ("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.", false),
            ("AccessDenied", "Signature expired", false),
        ];
        for (code, message, want) in table {
            assert_eq!(is_clock_skew(code, message), want, "{code}: {message}");
        }
    }

    #[test]
    fn skew_is_measured_against_the_date_header_and_told_in_seconds() {
        let local = time::macros::datetime!(2026-01-01 00:00:00.6 UTC);
        // (Date header, seconds ahead of STS)
        let table = [
            ("Thu, 01 Jan 2026 00:10:00 GMT", Some(-599)),
            ("Wed, 31 Dec 2025 23:00:00 GMT", Some(3601)),
            ("Thu, 01 Jan 2026 00:00:00 GMT", Some(1)),
            ("yesterday", None),
        ];
        for (date, want) in table {
            assert_eq!(skew_seconds(local, date), want, "{date}");
        }
        assert_eq!(off(-600, "STS"), "is 600 s behind STS's");
        assert_eq!(off(3601, "SSM"), "is 3601 s ahead of SSM's");
    }
}

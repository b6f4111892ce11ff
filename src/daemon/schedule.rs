//! When to refresh: pure functions from an STS `Expiration` (wall-clock time) to the next
//! refresh, and from a failure to the next retry. No clocks are read here and nothing sleeps;
//! the daemon passes `now` and a random number in, so every rule is a table test.
//!
//! Rules: refresh at a point of the credentials' lifetime (default half-way) with jitter so
//! a fleet booted together spreads its STS calls out, but never later than a safety window
//! before expiry (at least `CLIENT_ADVISORY`, so that what the endpoint, the files and
//! `credential-process` hand out never makes an SDK refresh); credentials too short-lived for
//! the window to leave them a quarter of their use are refreshed after a quarter of their
//! lifetime (three quarters of STS's 15-minute minimum stay out of `CLIENT_MANDATORY`), and
//! never sooner than a floor that prevents a busy loop. After a failure, back off
//! exponentially with jitter, longer for AccessDenied than for throttling, and faster as expiry
//! nears, so that the still-valid credentials get replaced before they run out.

use crate::agent::source::start_wait;
use crate::config;
use std::time::Duration;
use time::OffsetDateTime;

/// The refresh schedule's knobs (the daemon's `[daemon]` settings).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Fraction of the lifetime after which to refresh (0.5 = half-way).
    pub refresh_at: f64,
    /// Spread of that point, as a fraction of the lifetime, either side.
    pub jitter: f64,
    /// Refresh at least this long before expiry.
    pub safety_window: Duration,
}

/// AWS SDK clients ask for new credentials when theirs have less than this left, on every
/// call, without making other calls wait: botocore's `_DEFAULT_ADVISORY_REFRESH_TIMEOUT`
/// (the container and `credential_process` providers alike); the Java v2 and .NET SDKs use
/// 15 minutes too. The safety window is never shorter.
pub const CLIENT_ADVISORY: Duration = Duration::from_secs(15 * 60);

/// Inside this, every call of such a client waits for new credentials (botocore's
/// `_DEFAULT_MANDATORY_REFRESH_TIMEOUT`), and a failure to get them fails the call.
pub const CLIENT_MANDATORY: Duration = Duration::from_secs(10 * 60);

/// Credentials too short-lived for the safety window are refreshed after this share of their
/// lifetime: for STS's shortest (900 s) at 225 s, so that what is served keeps 675 s, clear of
/// `CLIENT_MANDATORY` by more than a refresh takes; sooner would only multiply STS calls.
pub const SHORT_LIFETIME_SHARE: f64 = 0.25;

impl From<&config::Daemon> for Settings {
    fn from(d: &config::Daemon) -> Settings {
        Settings {
            refresh_at: d.refresh_at,
            jitter: d.jitter,
            safety_window: Duration::from_secs(d.safety_window_seconds),
        }
    }
}

/// Never schedule a refresh sooner than this after the credentials were issued: a clock that
/// says the credentials are already half gone must not make us call STS in a loop.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);

/// When to refresh credentials issued at `issued` that expire at `expires`. `random` is
/// uniform in [0, 1].
pub fn next_refresh(
    issued: OffsetDateTime,
    expires: OffsetDateTime,
    s: &Settings,
    random: f64,
) -> OffsetDateTime {
    let lifetime = (expires - issued).max(time::Duration::ZERO);
    let fraction =
        (s.refresh_at + s.jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0)).clamp(0.05, 0.95);
    let target = issued + lifetime * fraction;
    let window = time::Duration::try_from(s.safety_window).unwrap_or(time::Duration::MAX);
    // Too short-lived for the window: keep what is served as far from expiry as a refresh
    // every quarter of the lifetime allows.
    let quarter = issued + lifetime * SHORT_LIFETIME_SHARE;
    let latest = expires
        .checked_sub(window)
        .map_or(quarter, |l| l.max(quarter));
    // The floor wins even over expiry: credentials that look expired on arrival mean a clock
    // problem, and calling STS again at once would only loop.
    let floor = issued + time::Duration::try_from(MIN_INTERVAL).unwrap_or(time::Duration::ZERO);
    target.min(latest).max(floor)
}

/// What kind of failure a retry follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Throttling, 5xx, network: transient; retry briskly.
    Transient,
    /// AccessDenied and other refusals: a person has to change a policy; retry slowly.
    Denied,
}

/// When to retry after the `failures`-th failure in a row (from 1), at `now`, for credentials
/// that expire at `expires` (the old ones, still in the file). `random` is uniform in [0, 1].
pub fn retry_at(
    failures: u32,
    now: OffsetDateTime,
    expires: OffsetDateTime,
    kind: Failure,
    random: f64,
) -> OffsetDateTime {
    let (base, cap) = match kind {
        Failure::Transient => (Duration::from_secs(10), Duration::from_secs(600)),
        Failure::Denied => (Duration::from_secs(120), Duration::from_secs(3600)),
    };
    let mut delay = base
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)))
        .min(cap);
    // As expiry nears, try at least four more times before it.
    let left = expires - now;
    if left > time::Duration::ZERO {
        let quarter = Duration::try_from(left / 4).unwrap_or(Duration::ZERO);
        delay = delay.min(quarter);
    }
    // Jitter between half and all of the delay, never below the busy-loop floor.
    let delay = delay
        .mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
        .max(MIN_INTERVAL);
    now + delay
}

/// The wait before the daemon's next timed reload of the config, for `[daemon]
/// reload_interval_seconds = every`, from `random_unit` (0..1). The first wait after start
/// is anywhere from half to one and a half intervals: a fleet that booted within a minute
/// would otherwise read its parameter together at every reload (the boot burst, again and
/// again), and Parameter Store's default throughput is 40 reads per second per account.
/// Later waits are the interval ±10%, which keeps the spread.
pub fn reload_delay(every: Duration, first: bool, random_unit: f64) -> Duration {
    let r = random_unit.clamp(0.0, 1.0);
    every.mul_f64(if first { 0.5 + r } else { 0.9 + 0.2 * r })
}

/// The shortest spread of a daemon's first read of SSM when it started from the kept copy:
/// nothing waits for that read, so it may be spread wide enough for a fleet of 10,000 booting
/// within a minute to stay under Parameter Store's default 40 reads a second.
pub const KEPT_READ_SPREAD: Duration = Duration::from_secs(600);

/// When a daemon that started from the kept copy reads SSM first: a uniform point of
/// `--start-spread` or `KEPT_READ_SPREAD`, whichever is longer.
pub fn start_read_delay(spread: Duration, random_unit: f64) -> Duration {
    start_wait(spread.max(KEPT_READ_SPREAD), random_unit)
}

/// Between a kept-copy daemon's failed reads of SSM (each one already retried under
/// `ssm::POLICY`): full jitter over 30 s doubling to 5 minutes, until a read succeeds.
pub const KEPT_RETRY: crate::aws::retry::Policy = crate::aws::retry::Policy {
    initial: Duration::from_secs(30),
    max: Duration::from_secs(300),
    deadline: Duration::MAX,
};

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-23 08:00 UTC);

    fn mins(m: i64) -> time::Duration {
        time::Duration::minutes(m)
    }

    #[test]
    fn next_refresh_table() {
        let s = Settings::from(&config::Daemon::default());
        // (lifetime, random, expected offset from issue)
        let table: &[(time::Duration, f64, time::Duration)] = &[
            // one hour: half-way, jitter +-6 min
            (mins(60), 0.5, mins(30)),
            (mins(60), 0.0, mins(24)),
            (mins(60), 1.0, mins(36)),
            // twelve hours: half-way +-72 min
            (mins(720), 0.5, mins(360)),
            (mins(720), 1.0, mins(432)),
            // 40 minutes: 16..24 min by the jitter, 20 min before expiry at the latest
            (mins(40), 0.0, mins(16)),
            (mins(40), 1.0, mins(20)),
            // 30 minutes: the window leaves more than a quarter: 20 min before expiry
            (mins(30), 0.0, mins(10)),
            (mins(30), 1.0, mins(10)),
            // 15 minutes (STS minimum): too short for the window; after a quarter, 11:15 left
            (mins(15), 0.0, time::Duration::seconds(225)),
            (mins(15), 1.0, time::Duration::seconds(225)),
            // 8 minutes: a quarter
            (mins(8), 1.0, mins(2)),
            (mins(8), 0.0, mins(2)),
            // 20 seconds: a quarter, 5 s
            (time::Duration::seconds(20), 1.0, time::Duration::seconds(5)),
            // 40 seconds (the endpoint test's 15 minutes, scaled): 10 s
            (
                time::Duration::seconds(40),
                0.5,
                time::Duration::seconds(10),
            ),
            // 6 seconds: the floor wins over a quarter, still before expiry
            (time::Duration::seconds(6), 0.5, time::Duration::seconds(5)),
            // expired on arrival by our clock: not at once (that would loop), after the floor
            (time::Duration::ZERO, 0.5, time::Duration::seconds(5)),
            (
                time::Duration::seconds(-3600),
                0.5,
                time::Duration::seconds(5),
            ),
        ];
        for &(lifetime, random, want) in table {
            let got = next_refresh(T0, T0 + lifetime, &s, random) - T0;
            assert_eq!(got, want, "lifetime {lifetime}, random {random}");
        }
    }

    #[test]
    fn refresh_is_always_before_expiry_and_after_issue() {
        let s = Settings::from(&config::Daemon::default());
        for secs in [6, 10, 30, 299, 300, 600, 601, 900, 3600, 43200] {
            for random in [0.0, 0.3, 0.999, 1.0] {
                let expires = T0 + time::Duration::seconds(secs);
                let at = next_refresh(T0, expires, &s, random);
                assert!(
                    at < expires && at >= T0 + MIN_INTERVAL,
                    "{secs}s {random}: {at}"
                );
            }
        }
    }

    #[test]
    fn late_refresh_setting_is_capped_by_the_window() {
        let s = Settings {
            refresh_at: 0.95,
            jitter: 0.0,
            safety_window: Duration::from_secs(1200),
        };
        assert_eq!(next_refresh(T0, T0 + mins(60), &s, 0.5) - T0, mins(40));
    }

    /// The promise to clients: at its refresh, what is served has at least the window left
    /// (never less than the SDKs' advisory 15 minutes) when the lifetime leaves a quarter of
    /// it to use, else three quarters of its lifetime (for STS's shortest, 11:15, out of the
    /// SDKs' mandatory 10 minutes), whatever `[daemon]` says within its ranges.
    #[test]
    fn what_is_served_keeps_clients_out_of_their_refresh_windows() {
        let lifetimes = [900, 1000, 1200, 1500, 1600, 1800, 2400, 3600, 7200, 43200];
        for window in [900, 1200, 1800, 3600] {
            for (refresh_at, jitter) in [(0.1, 0.0), (0.5, 0.1), (0.5, 0.4), (0.9, 0.0)] {
                let s = Settings {
                    refresh_at,
                    jitter,
                    safety_window: Duration::from_secs(window),
                };
                for secs in lifetimes {
                    for random in [0.0, 0.5, 1.0] {
                        let lifetime = time::Duration::seconds(secs);
                        let left = T0 + lifetime - next_refresh(T0, T0 + lifetime, &s, random);
                        let window = time::Duration::seconds(window as i64);
                        let least = window.min(lifetime * (1.0 - SHORT_LIFETIME_SHARE));
                        let case = format!("{s:?} lifetime {secs} s, random {random}");
                        assert!(left >= least, "{case}: {left} left");
                        assert!(left > CLIENT_MANDATORY, "{case}: {left} left");
                        if lifetime * (1.0 - SHORT_LIFETIME_SHARE) >= window {
                            assert!(left >= CLIENT_ADVISORY, "{case}: {left} left");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn retry_table() {
        let far = T0 + mins(600);
        // (failures, kind, expires, random, expected delay)
        let table: &[(u32, Failure, OffsetDateTime, f64, time::Duration)] = &[
            (1, Failure::Transient, far, 1.0, time::Duration::seconds(10)),
            (1, Failure::Transient, far, 0.0, time::Duration::seconds(5)),
            (2, Failure::Transient, far, 1.0, time::Duration::seconds(20)),
            (
                7,
                Failure::Transient,
                far,
                1.0,
                time::Duration::seconds(600),
            ),
            (
                40,
                Failure::Transient,
                far,
                1.0,
                time::Duration::seconds(600),
            ),
            (1, Failure::Denied, far, 1.0, mins(2)),
            (3, Failure::Denied, far, 1.0, mins(8)),
            (9, Failure::Denied, far, 1.0, mins(60)),
            // 8 minutes left: at most a quarter of it, so four more tries fit
            (9, Failure::Denied, T0 + mins(8), 1.0, mins(2)),
            (5, Failure::Transient, T0 + mins(8), 1.0, mins(2)),
            // 10 seconds left: the floor still applies, no busy loop
            (
                5,
                Failure::Transient,
                T0 + time::Duration::seconds(10),
                1.0,
                time::Duration::seconds(5),
            ),
            // already expired: keep the normal backoff (the section is gone or going)
            (
                2,
                Failure::Transient,
                T0 - mins(1),
                1.0,
                time::Duration::seconds(20),
            ),
        ];
        for &(failures, kind, expires, random, want) in table {
            let got = retry_at(failures, T0, expires, kind, random) - T0;
            assert_eq!(
                got, want,
                "failures {failures} {kind:?} expires {expires} random {random}"
            );
        }
    }

    #[test]
    fn denied_backs_off_longer_than_throttled() {
        let far = T0 + mins(600);
        for n in 1..10 {
            assert!(
                retry_at(n, T0, far, Failure::Denied, 0.5)
                    > retry_at(n, T0, far, Failure::Transient, 0.5),
                "failure {n}"
            );
        }
    }

    #[test]
    fn reload_delay_table() {
        let every = Duration::from_secs(900);
        for (first, random, want) in [
            (true, 0.0, 450),
            (true, 0.5, 900),
            (true, 1.0, 1350),
            (false, 0.0, 810),
            (false, 0.5, 900),
            (false, 1.0, 990),
            (false, 7.0, 990),
        ] {
            assert_eq!(
                reload_delay(every, first, random),
                Duration::from_secs(want),
                "{first} {random}"
            );
        }
    }

    #[test]
    fn the_first_read_of_ssm_is_spread() {
        let s = Duration::from_secs;
        // (spread, random, wait without a copy, first read from a copy)
        let table = [
            (0, 0.0, 0, 0),
            (0, 0.5, 0, 300),
            (120, 0.5, 60, 300),
            (1200, 0.5, 600, 600),
            (1200, 2.0, 1200, 1200),
        ];
        for (spread, random, wait, read) in table {
            assert_eq!(start_wait(s(spread), random), s(wait), "{spread} {random}");
            assert_eq!(
                start_read_delay(s(spread), random),
                s(read),
                "{spread} {random}"
            );
        }
    }
}

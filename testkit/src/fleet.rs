//! The fleet simulation's arithmetic: how hard does a fleet of ec2-assume-role daemons hit
//! STS (and SSM)? It boots `instances` instances uniformly within `boot_window` seconds, each
//! optionally waiting a further uniform `boot_jitter` seconds, then assuming its `roles` roles
//! (role `r` lives in target account `r mod accounts`), and then refreshing them for `hours` on
//! the schedule passed in (the daemon's, with 1 h credentials), one random draw per role as the
//! daemon makes, and the daemon's batching (a role due within min(60 s, a tenth of its
//! interval) of a wakeup is refreshed in that wakeup). It counts AssumeRole calls per target
//! account in 1 s buckets and reports the peak, the mean and whether the peak stays within
//! `budget`. With `ssm_reload` the config is in SSM Parameter Store: every instance reads it at
//! boot (before the boot jitter, which is in the config) and then on the daemon's reload timer,
//! and the GetParameter calls of the whole fleet (one account: the parameter's) are counted
//! against `ssm_budget`. Pure arithmetic with seeded RNGs: the same parameters give the same
//! numbers. It never touches the network, a clock or a file. examples/fleet_sim.rs is its
//! command line; the integration tests' `fleet_sim` module checks its numbers.

use clap::Parser;
use time::{Duration, OffsetDateTime};

/// STS credentials' lifetime (`duration_seconds` default).
const LIFETIME_SECS: f64 = 3600.0;

/// The daemon's batch window (src/tracking.rs `BATCH_WINDOW`, private there): a wakeup also
/// takes every role due within min(this, a tenth of its interval), at least one second.
const BATCH_WINDOW_SECS: f64 = 60.0;

/// Any fixed instant: the schedule only looks at differences.
const EPOCH: OffsetDateTime = time::macros::datetime!(2026-11-23 08:00 UTC);

#[derive(Clone, Debug, Parser)]
#[command(about = "Simulates a fleet's STS AssumeRole calls per target account")]
pub struct Params {
    /// Instances in the fleet.
    #[arg(long, default_value_t = 10_000)]
    pub instances: u32,
    /// Roles each instance assumes (the same roles on every instance).
    #[arg(long, default_value_t = 20)]
    pub roles: u32,
    /// Target accounts the roles are spread over (role r is in account r mod ACCOUNTS).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub accounts: u32,
    /// Seconds within which all instances boot, uniformly.
    #[arg(long, default_value_t = 60.0)]
    pub boot_window: f64,
    /// Extra uniform delay in seconds before an instance's first AssumeRole (boot jitter).
    #[arg(long, default_value_t = 0.0)]
    pub boot_jitter: f64,
    /// Allowed AssumeRole calls per second per target account.
    #[arg(long, default_value_t = 600)]
    pub budget: u32,
    /// Simulated time after the first boot, in hours.
    #[arg(long, default_value_t = 3.0)]
    pub hours: f64,
    /// Seed for every random draw (boot times, jitter, refresh points).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The config is in SSM, re-read every this many seconds (±10%); 0: a local file.
    #[arg(long, default_value_t = 0.0)]
    pub ssm_reload: f64,
    /// Allowed GetParameter calls per second for the fleet's account (Parameter Store's
    /// default throughput is 40).
    #[arg(long, default_value_t = 40)]
    pub ssm_budget: u32,
}

/// What a simulation found.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Every AssumeRole call made.
    pub total_calls: u64,
    /// Calls at boot (one per role per instance).
    pub boot_calls: u64,
    /// Calls that were refreshes.
    pub refresh_calls: u64,
    /// Calls per target account, by account index.
    pub calls_per_account: Vec<u64>,
    /// Highest calls in one second to one target account, that account and that second.
    pub peak: u64,
    pub peak_account: u32,
    pub peak_second: u64,
    /// Highest calls in one second to one account after every instance's boot calls were made:
    /// the refresh load alone.
    pub peak_after_boot: u64,
    /// Highest calls in one second summed over all target accounts (all of them are made by
    /// the fleet's own instance roles).
    pub peak_all_accounts: u64,
    /// Mean calls per second per target account over the simulated time.
    pub mean: f64,
    pub within_budget: bool,
    /// With `--ssm-reload`: GetParameter calls, their peak per second (and after boot), and
    /// whether the peak stays within `--ssm-budget`.
    pub ssm_calls: u64,
    pub ssm_peak: u64,
    pub ssm_peak_after_boot: u64,
    pub ssm_within_budget: bool,
}

/// Runs the simulation on the daemon's schedule: `next_refresh(issued, expires, draw)` and
/// `reload_delay(every, first, draw)` are `ec2_assume_role::schedule`'s functions of those
/// names (with the daemon's settings), `draw` uniform in [0, 1). Parameters out of range (negative or non-finite times) are clamped to
/// zero rather than trusted.
pub fn simulate(
    p: &Params,
    next_refresh: impl Fn(OffsetDateTime, OffsetDateTime, f64) -> OffsetDateTime,
    reload_delay: impl Fn(std::time::Duration, bool, f64) -> std::time::Duration,
) -> Report {
    let mut rng = fastrand::Rng::with_seed(p.seed);
    let accounts = p.accounts.max(1) as usize;
    let seconds = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
    let (window, jitter) = (seconds(p.boot_window), seconds(p.boot_jitter));
    let horizon = seconds(p.hours) * 3600.0;
    let buckets = horizon.ceil() as usize + 1;
    let mut per_second = vec![0u64; accounts * buckets];
    let mut ssm_per_second = vec![0u64; buckets];
    // Its own RNG, so that modelling SSM leaves the STS numbers of a seed as they were.
    let mut ssm_rng = fastrand::Rng::with_seed(p.seed ^ 0x55d5);
    let ssm_reload = seconds(p.ssm_reload);
    let mut boot_end: f64 = 0.0;
    let (mut boot_calls, mut refresh_calls) = (0u64, 0u64);

    let mut record = |t: f64, role: usize| {
        let second = t as usize;
        per_second[(role % accounts) * buckets + second] += 1;
    };
    // The daemon's next refresh, as seconds after EPOCH, for credentials issued at `t`.
    let refresh_after = |t: f64, rng: &mut fastrand::Rng| {
        let issued = EPOCH + Duration::seconds_f64(t);
        let expires = issued + Duration::seconds_f64(LIFETIME_SECS);
        (next_refresh(issued, expires, rng.f64()) - EPOCH).as_seconds_f64()
    };

    // (last refresh, next refresh) of each role on the current instance.
    let mut schedule: Vec<(f64, f64)> = Vec::with_capacity(p.roles as usize);
    for _ in 0..p.instances {
        let booted = rng.f64() * window;
        let start = booted + rng.f64() * jitter;
        if ssm_reload > 0.0 {
            let every = std::time::Duration::from_secs_f64(ssm_reload);
            let (mut read, mut first) = (booted, true);
            while read <= horizon {
                ssm_per_second[read as usize] += 1;
                read += reload_delay(every, first, ssm_rng.f64()).as_secs_f64();
                first = false;
            }
        }
        if start > horizon {
            continue;
        }
        boot_end = boot_end.max(start);
        schedule.clear();
        for role in 0..p.roles as usize {
            record(start, role);
            boot_calls += 1;
            schedule.push((start, refresh_after(start, &mut rng)));
        }
        loop {
            let wake = schedule
                .iter()
                .map(|&(_, next)| next)
                .fold(f64::INFINITY, f64::min);
            if wake > horizon {
                break;
            }
            for (role, entry) in schedule.iter_mut().enumerate() {
                let (last, next) = *entry;
                let batch = BATCH_WINDOW_SECS.min((next - last) / 10.0).max(1.0);
                if next <= wake + batch {
                    record(wake, role);
                    refresh_calls += 1;
                    *entry = (wake, refresh_after(wake, &mut rng));
                }
            }
        }
    }

    let calls_per_account: Vec<u64> = per_second
        .chunks(buckets)
        .map(|account| account.iter().sum())
        .collect();
    let (mut peak, mut peak_account, mut peak_second, mut peak_after_boot) = (0, 0, 0, 0);
    for (account, counts) in per_second.chunks(buckets).enumerate() {
        for (second, &n) in counts.iter().enumerate() {
            if n > peak {
                (peak, peak_account, peak_second) = (n, account as u32, second as u64);
            }
            if second as f64 > boot_end {
                peak_after_boot = peak_after_boot.max(n);
            }
        }
    }
    let peak_all_accounts = (0..buckets)
        .map(|second| {
            (0..accounts)
                .map(|a| per_second[a * buckets + second])
                .sum()
        })
        .max()
        .unwrap_or(0);
    let total_calls = boot_calls + refresh_calls;
    let ssm_peak = ssm_per_second.iter().copied().max().unwrap_or(0);
    let boot_window_end = window.ceil() as usize;
    let ssm_peak_after_boot = ssm_per_second
        .iter()
        .skip(boot_window_end + 1)
        .copied()
        .max()
        .unwrap_or(0);
    Report {
        total_calls,
        boot_calls,
        refresh_calls,
        calls_per_account,
        peak,
        peak_account,
        peak_second,
        peak_after_boot,
        peak_all_accounts,
        mean: total_calls as f64 / accounts as f64 / horizon.max(1.0),
        within_budget: peak <= u64::from(p.budget),
        ssm_calls: ssm_per_second.iter().sum(),
        ssm_peak,
        ssm_peak_after_boot,
        ssm_within_budget: ssm_peak <= u64::from(p.ssm_budget),
    }
}

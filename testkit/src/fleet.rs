//! The fleet simulation's arithmetic: how hard does a fleet of ec2-assume-role daemons hit
//! STS (and SSM)? It boots `instances` instances uniformly within `boot_window` seconds, each
//! optionally waiting a further uniform `boot_jitter` seconds, then assuming its `roles` roles
//! (role `r` lives in target account `r mod accounts`), and then refreshing them for `hours` on
//! the schedule passed in (the daemon's, with 1 h credentials), one random draw per role as the
//! daemon makes, and the daemon's batching (a role due within min(60 s, a tenth of its
//! interval) of a wakeup is refreshed in that wakeup). It counts AssumeRole calls per target
//! account in 1 s buckets and reports the peak, the mean and whether the peak stays within
//! `budget`. With `ssm_reload` the config is in SSM Parameter Store: every instance reads it
//! (`boot` models how, throttling and the agent's retries included: `--ssm-before` the agent
//! before the kept copy, else today's with `--ssm-kept` of the fleet booting with a kept copy
//! and `--start-spread`), its first AssumeRole calls wait for its config (and then the boot
//! jitter, which is in the config), and it reads again on the daemon's reload timer; the
//! GetParameter calls of the whole fleet (one account: the parameter's) are counted against
//! `ssm_budget`. Pure arithmetic with seeded RNGs: the same parameters give the same
//! numbers. With `discover_accounts` every instance also discovers a role set's accounts in
//! AWS Organizations (see `discover`), and the Organizations calls of the whole organization
//! are counted against `org_budget`. It never touches the network, a clock or a file.
//! examples/fleet_sim.rs is its command line; the integration tests' `benchmarks::fleet_sim`
//! module checks its numbers.

use clap::Parser;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use time::{Duration, OffsetDateTime};

/// STS credentials' lifetime (`duration_seconds` default).
const LIFETIME_SECS: f64 = 3600.0;

/// The daemon's batch window (src/daemon/tracking.rs `BATCH_WINDOW`, private there): a wakeup
/// also takes every role due within min(this, a tenth of its interval), at least one second.
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
    /// Model the agent before the kept copy and --start-spread (a minute's retries at start,
    /// then exit 8 and systemd's restart 30 s later).
    #[arg(long)]
    pub ssm_before: bool,
    /// Share of instances that boot with a kept copy of the config (a reboot, or an image
    /// that has one); 0: a brand-new fleet.
    #[arg(long, default_value_t = 0.0)]
    pub ssm_kept: f64,
    /// The agent's --start-spread, seconds.
    #[arg(long, default_value_t = 0.0)]
    pub start_spread: f64,
    /// Write the calls per second per API over the first `--svg-seconds` as an SVG chart here
    /// (the command line only; `simulate` writes nothing).
    #[arg(long)]
    pub svg: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 1200)]
    pub svg_seconds: usize,
    /// Accounts in the organization a role set discovers (0: no discovery). Each discovery
    /// is a DescribeOrganization and then ListAccounts pages (or the OU walk, `--org-ous`).
    #[arg(long, default_value_t = 0)]
    pub discover_accounts: u32,
    /// OUs the role set names, children included (0: all accounts, with ListAccounts). The
    /// walk is a ListChildren and the ListAccountsForParent pages of each OU, the accounts
    /// spread evenly over them.
    #[arg(long, default_value_t = 0)]
    pub org_ous: u32,
    /// Items per page (AWS serves at most 20).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub org_page_size: u32,
    /// Re-discover about every this many seconds (`schedule::reload_delay`'s jitter).
    #[arg(long, default_value_t = DISCOVERY_INTERVAL_SECS)]
    pub org_reload: f64,
    /// The first discovery of an instance without a cache waits a uniform 0..SECONDS.
    #[arg(long, default_value_t = DISCOVERY_BOOT_SPREAD_SECS)]
    pub org_boot_spread: f64,
    /// Share of instances that boot with the accounts cached on disk (a reboot), younger
    /// than `--org-reload`: their profiles are written at once, and they discover when the
    /// cache is `--org-reload` old.
    #[arg(long, default_value_t = 0.0)]
    pub org_cached: f64,
    /// Organizations calls per second one instance makes at most (its pages in sequence).
    #[arg(long, default_value_t = DISCOVERY_PACE)]
    pub org_pace: f64,
    /// Organizations calls per second the whole organization may make. AWS documents no
    /// figure that we could find: an assumption; measure yours (CloudTrail
    /// `TooManyRequestsException`).
    #[arg(long, default_value_t = ORG_BUDGET)]
    pub org_budget: u32,
    /// The fleet shares one listing (`shared_parameter`): one publisher lists the
    /// organization on the interval and writes the list to SSM; every instance reads its
    /// parts there instead (GetParameters, 10 parts of 300 accounts a call), counted against
    /// `--ssm-budget`.
    #[arg(long)]
    pub org_shared: bool,
}

impl Default for Params {
    /// The command line's defaults.
    fn default() -> Params {
        Params::parse_from(["fleet_sim"])
    }
}

/// The agent's discovery defaults (docs/benchmarks.md has the numbers): rediscovered daily,
/// and the first discovery at start, not spread (`--org-boot-spread` models a spread the
/// agent does not make, to show what one would do).
pub const DISCOVERY_INTERVAL_SECS: f64 = 86_400.0;
pub const DISCOVERY_BOOT_SPREAD_SECS: f64 = 0.0;
pub const DISCOVERY_PACE: f64 = 1.0;
/// Assumed, not documented (see `Params::org_budget`).
pub const ORG_BUDGET: u32 = 5;

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
    /// GetParameter calls throttled (each tried again), seconds in which more calls were made
    /// than `ssm_budget` allows, and processes that gave up (exit 8) and were restarted.
    pub ssm_throttled: u64,
    pub ssm_seconds_over_budget: u64,
    pub ssm_exits: u64,
    /// The longest an instance waited from boot for its config (its first AssumeRole calls
    /// follow, after the boot jitter); `None` when one was still waiting at the end.
    pub ssm_last_config: Option<f64>,
    pub ssm_waiting: u64,
    /// Calls per second: GetParameter made and accepted, and AssumeRole to the busiest
    /// target account (what `chart` draws).
    pub series: Series,
    /// With `--discover-accounts`: the Organizations numbers; with `--org-shared`, the
    /// fleet's reads of the shared list (against `ssm_budget`) instead.
    pub discovery: Option<Discovery>,
    /// With `--org-shared`: the publisher's Organizations numbers.
    pub publisher: Option<Discovery>,
}

/// Calls per second over the simulated time.
#[derive(Clone, Default, PartialEq)]
pub struct Series {
    pub ssm_made: Vec<u64>,
    pub ssm_accepted: Vec<u64>,
    pub sts_peak_account: Vec<u64>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Series({} s)", self.ssm_made.len())
    }
}

/// What the fleet's discoveries did to AWS Organizations.
#[derive(Clone, Debug, PartialEq)]
pub struct Discovery {
    /// Calls one discovery makes when none is throttled.
    pub calls_per_discovery: u64,
    /// Discoveries completed, and every call made (throttled ones included).
    pub discoveries: u64,
    pub calls: u64,
    pub throttled: u64,
    /// Highest calls made in one second (what the organization's quota sees), and that
    /// second; the same after the boot phase (the boot window plus the spread).
    pub peak: u64,
    pub peak_second: u64,
    pub peak_after_boot: u64,
    /// Seconds in which more calls were made than `org_budget` allows, after boot too.
    pub seconds_over_budget: u64,
    pub seconds_over_budget_after_boot: u64,
    /// The longest an instance without a cache waited from boot for its discovered
    /// profiles; `None` when one was still waiting at the end of the simulated time.
    pub last_wait: Option<f64>,
    /// Instances still waiting then.
    pub waiting: u64,
    pub within_budget_after_boot: bool,
}

/// Runs the simulation on the daemon's schedule: `next_refresh(issued, expires, draw)` and
/// `reload_delay(every, first, draw)` are `ec2_assume_role::daemon::schedule`'s functions of those
/// names (with the daemon's settings), `draw` uniform in [0, 1). Parameters out of range (negative or non-finite times) are clamped to
/// zero rather than trusted.
/// `retry_delay(attempt, draw)` is the delay after the `attempt`-th throttled try of one
/// Organizations call (`ec2_assume_role::aws::retry::Policy::delay`).
/// `agent` is the agent's reading of a config in SSM (`boot::Agent`).
pub fn simulate(
    p: &Params,
    next_refresh: impl Fn(OffsetDateTime, OffsetDateTime, f64) -> OffsetDateTime,
    reload_delay: impl Fn(std::time::Duration, bool, f64) -> std::time::Duration,
    retry_delay: impl Fn(u32, f64) -> std::time::Duration,
    agent: &crate::boot::Agent,
) -> Report {
    let mut rng = fastrand::Rng::with_seed(p.seed);
    let accounts = p.accounts.max(1) as usize;
    let seconds = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
    let (window, jitter) = (seconds(p.boot_window), seconds(p.boot_jitter));
    let horizon = seconds(p.hours) * 3600.0;
    let buckets = horizon.ceil() as usize + 1;
    let mut per_second = vec![0u64; accounts * buckets];
    let ssm_reload = seconds(p.ssm_reload);
    // Its own RNG, so that modelling SSM leaves the STS draws of a seed as they were.
    let ssm = (ssm_reload > 0.0).then(|| {
        let fleet = crate::boot::Fleet {
            instances: p.instances as usize,
            boot_window: window,
            spread: seconds(p.start_spread),
            kept: p.ssm_kept.clamp(0.0, 1.0),
            reload: ssm_reload,
            budget: u64::from(p.ssm_budget),
            horizon,
            seed: p.seed ^ 0x55d5,
        };
        crate::boot::simulate(&fleet, agent)
    });
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
    for i in 0..p.instances as usize {
        let booted = rng.f64() * window;
        // With the config in SSM, the first AssumeRole waits for it (an instance of the SSM
        // model, whose boot is as uniform as this one's).
        let booted = match &ssm {
            Some(o) => o.config_at[i].unwrap_or(f64::INFINITY),
            None => booted,
        };
        let start = booted + rng.f64() * jitter;
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
    let per_discovery = calls_per_discovery(p.discover_accounts, p.org_ous, p.org_page_size);
    let (discovery, publisher) = match (p.discover_accounts > 0, p.org_shared) {
        (false, _) => (None, None),
        (true, false) => {
            let who = Discoverers {
                instances: p.instances,
                per_discovery,
                budget: p.org_budget,
                seed: p.seed ^ 0x0e65,
            };
            (Some(discover(p, who, &reload_delay, &retry_delay)), None)
        }
        (true, true) => {
            let fleet = Discoverers {
                instances: p.instances,
                per_discovery: shared_reads(p.discover_accounts),
                budget: p.ssm_budget,
                seed: p.seed ^ 0x0e65,
            };
            let one = Discoverers {
                instances: 1,
                per_discovery,
                budget: p.org_budget,
                seed: p.seed ^ 0x9b11,
            };
            (
                Some(discover(p, fleet, &reload_delay, &retry_delay)),
                Some(discover(p, one, &reload_delay, &retry_delay)),
            )
        }
    };
    let (ssm_made, ssm_accepted) = ssm
        .as_ref()
        .map(|o| (o.made.clone(), o.accepted.clone()))
        .unwrap_or_default();
    let ssm_peak = ssm_made.iter().copied().max().unwrap_or(0);
    let boot_window_end = window.ceil() as usize;
    let ssm_peak_after_boot = ssm_made
        .iter()
        .skip(boot_window_end + 1)
        .copied()
        .max()
        .unwrap_or(0);
    let ssm_budget = u64::from(p.ssm_budget);
    let waits: Vec<Option<f64>> = ssm
        .as_ref()
        .map(|o| {
            o.booted
                .iter()
                .zip(&o.config_at)
                .map(|(b, c)| c.map(|c| c - b))
                .collect()
        })
        .unwrap_or_default();
    let ssm_waiting = waits.iter().filter(|w| w.is_none()).count() as u64;
    let ssm_last_config =
        (ssm_waiting == 0).then(|| waits.iter().flatten().copied().fold(0.0, f64::max));
    let sts_peak_account = per_second
        .chunks(buckets)
        .nth(peak_account as usize)
        .unwrap_or_default()
        .to_vec();
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
        ssm_calls: ssm_made.iter().sum(),
        ssm_peak,
        ssm_peak_after_boot,
        ssm_within_budget: ssm_peak <= ssm_budget,
        ssm_throttled: ssm.as_ref().map_or(0, |o| o.throttled),
        ssm_seconds_over_budget: ssm_made.iter().filter(|&&n| n > ssm_budget).count() as u64,
        ssm_exits: ssm.as_ref().map_or(0, |o| o.exits),
        ssm_last_config,
        ssm_waiting,
        series: Series {
            ssm_made,
            ssm_accepted,
            sts_peak_account,
        },
        discovery,
        publisher,
    }
}

/// GetParameters calls that read a shared list of `accounts` (src/aws/shared.rs: 300 accounts
/// a part, 10 parts a call).
pub fn shared_reads(accounts: u32) -> u64 {
    u64::from(accounts).div_ceil(300).max(1).div_ceil(10)
}

/// Who discovers: how many, the calls each discovery makes, the calls per second allowed.
#[derive(Clone, Copy, Debug)]
struct Discoverers {
    instances: u32,
    per_discovery: u64,
    budget: u32,
    seed: u64,
}

/// Calls in one discovery: DescribeOrganization, then the ListAccounts pages, or per OU a
/// ListChildren and its ListAccountsForParent pages (at least one page each).
pub fn calls_per_discovery(accounts: u32, ous: u32, page_size: u32) -> u64 {
    let pages = |n: u64| n.div_ceil(u64::from(page_size.max(1))).max(1);
    match ous {
        0 => 1 + pages(u64::from(accounts)),
        k => {
            let k = u64::from(k);
            let (each, rest) = (u64::from(accounts) / k, u64::from(accounts) % k);
            // `rest` OUs hold one account more than the others.
            1 + k + rest * pages(each + 1) + (k - rest) * pages(each)
        }
    }
}

/// One instance's discovery in progress.
struct Discovering {
    boot: f64,
    /// Calls still to make, and throttled tries of the current one.
    calls_left: u64,
    attempt: u32,
    /// Its first discovery after a boot without a cache: profiles wait for it.
    awaited: bool,
    /// The next timed discovery is the first (`reload_delay`'s `first`).
    first_timed: bool,
}

/// The fleet's discoveries, second by second: each instance boots within the boot window,
/// then (without a cache) discovers after a uniform 0..`org_boot_spread`, or (with one)
/// when the cache is `org_reload` old; then again on `reload_delay`. A discovery makes its
/// calls one after the other, at most `org_pace` a second. A call beyond `org_budget` in its
/// second is throttled and tried again after `retry_delay`: never dropped, never given up.
/// `who` says how many discover, with how many calls, under which budget (Organizations',
/// or for a shared list's readers SSM's). Its own RNG: the STS and SSM numbers of a seed
/// stay as they were.
fn discover(
    p: &Params,
    who: Discoverers,
    reload_delay: &dyn Fn(std::time::Duration, bool, f64) -> std::time::Duration,
    retry_delay: &dyn Fn(u32, f64) -> std::time::Duration,
) -> Discovery {
    let mut rng = fastrand::Rng::with_seed(who.seed);
    let seconds = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
    let (window, spread) = (seconds(p.boot_window), seconds(p.org_boot_spread));
    let horizon = seconds(p.hours) * 3600.0;
    let every = std::time::Duration::from_secs_f64(seconds(p.org_reload).max(1.0));
    let gap = 1.0 / if p.org_pace > 0.0 { p.org_pace } else { 1.0 };
    let per_discovery = who.per_discovery;
    let budget = u64::from(who.budget);
    let buckets = horizon.ceil() as usize + 1;
    let (mut made, mut accepted) = (vec![0u64; buckets], vec![0u64; buckets]);
    // Microseconds, so that the heap orders plain integers.
    let at = |t: f64| (t * 1e6) as u64;
    let mut queue = BinaryHeap::new();
    let mut fleet = Vec::with_capacity(who.instances as usize);
    for i in 0..who.instances as usize {
        let boot = rng.f64() * window;
        let cached = rng.f64() < p.org_cached;
        let start = if cached {
            boot + rng.f64() * every.as_secs_f64()
        } else {
            boot + rng.f64() * spread
        };
        fleet.push(Discovering {
            boot,
            calls_left: per_discovery,
            attempt: 0,
            awaited: !cached,
            first_timed: true,
        });
        queue.push(Reverse((at(start), i)));
    }
    let (mut discoveries, mut throttled, mut last_wait) = (0u64, 0u64, 0f64);
    while let Some(Reverse((micros, i))) = queue.pop() {
        let t = micros as f64 / 1e6;
        if t > horizon {
            continue;
        }
        let second = t as usize;
        made[second] += 1;
        let d = &mut fleet[i];
        let next = if accepted[second] < budget {
            accepted[second] += 1;
            d.attempt = 0;
            d.calls_left -= 1;
            if d.calls_left > 0 {
                t + gap
            } else {
                discoveries += 1;
                if d.awaited {
                    last_wait = last_wait.max(t - d.boot);
                    d.awaited = false;
                }
                d.calls_left = per_discovery;
                let delay = reload_delay(every, d.first_timed, rng.f64());
                d.first_timed = false;
                t + delay.as_secs_f64()
            }
        } else {
            throttled += 1;
            d.attempt += 1;
            t + retry_delay(d.attempt, rng.f64()).as_secs_f64()
        };
        queue.push(Reverse((at(next), i)));
    }
    let boot_end = (window + spread).ceil() as usize;
    let peak = made.iter().copied().max().unwrap_or(0);
    let peak_second = made.iter().position(|&n| n == peak).unwrap_or(0) as u64;
    let after = made.get(boot_end + 1..).unwrap_or_default();
    let peak_after_boot = after.iter().copied().max().unwrap_or(0);
    let over = |counts: &[u64]| counts.iter().filter(|&&n| n > budget).count() as u64;
    let waiting = fleet.iter().filter(|d| d.awaited).count() as u64;
    Discovery {
        calls_per_discovery: per_discovery,
        discoveries,
        calls: made.iter().sum(),
        throttled,
        peak,
        peak_second,
        peak_after_boot,
        seconds_over_budget: over(&made),
        seconds_over_budget_after_boot: over(after),
        last_wait: (waiting == 0).then_some(last_wait),
        waiting,
        within_budget_after_boot: peak_after_boot <= budget,
    }
}

//! The fleet simulation's model of a config in SSM Parameter Store (`fleet::simulate` with
//! `ssm_reload`): every instance's GetParameter calls, second by second, against the
//! account's throughput. A call beyond `budget` in its second is throttled (and counts
//! against nothing: SSM refuses it) and the instance tries again as the agent does; it is
//! never dropped. Two agents are modelled, with the agent's own constants passed in (`Agent`):
//!
//! - `before` (the agent without a kept copy): each instance reads at boot under the reload
//!   policy (`ssm::POLICY`, a minute); when the minute is up the process exits 8 and systemd
//!   starts it again `restart_secs` later (the unit's `RestartSec=`), to read again.
//! - after: an instance with a kept copy (`kept`, the share that boots with one) has its
//!   config at boot and reads SSM at `kept_read` after it, each failed read (the reload policy
//!   again) followed by `kept_retry`; one without waits `start_wait` (`--start-spread`) and
//!   reads under the start policy (`source::START_POLICY`), exiting and restarting like the
//!   old agent only if that deadline passes.
//!
//! After its first good read an instance reads again on the reload timer (`reload_delay`;
//! a failed reload waits for the next). Seeded RNG, no clock, no network, no file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// A retry policy as the agent's `retry::Policy::run` applies it: after the `attempt`-th
/// failure it waits `delay(attempt, draw)`, unless that would end past `deadline` seconds
/// after the first attempt, when it gives up.
#[derive(Clone, Copy)]
pub struct Retry<'a> {
    pub delay: &'a dyn Fn(u32, f64) -> Duration,
    pub deadline: f64,
}

/// The agent's behaviour, from its own constants and functions.
#[derive(Clone, Copy)]
pub struct Agent<'a> {
    /// The old agent (no kept copy, no spread, a minute's retries at start).
    pub before: bool,
    /// A read on the reload timer, and the old agent's start (`ssm::POLICY`).
    pub read: Retry<'a>,
    /// The first read without a kept copy (`source::START_POLICY`).
    pub start: Retry<'a>,
    /// The wait before the first read without a copy, for `--start-spread` (seconds) and a
    /// draw (`schedule::start_wait`).
    pub start_wait: &'a dyn Fn(f64, f64) -> Duration,
    /// When a daemon started from its kept copy reads SSM (`schedule::start_read_delay`).
    pub kept_read: &'a dyn Fn(f64, f64) -> Duration,
    /// Between that daemon's failed reads (`schedule::KEPT_RETRY`'s delay).
    pub kept_retry: &'a dyn Fn(u32, f64) -> Duration,
    /// `reload_delay(every, first, draw)` (`schedule::reload_delay`).
    pub reload_delay: &'a dyn Fn(Duration, bool, f64) -> Duration,
    /// systemd's `RestartSec=` after an exit.
    pub restart_secs: f64,
}

/// The fleet and its Parameter Store.
#[derive(Clone, Copy, Debug)]
pub struct Fleet {
    /// Instances, booting uniformly within `boot_window` seconds.
    pub instances: usize,
    pub boot_window: f64,
    /// `--start-spread`.
    pub spread: f64,
    /// Share of instances that boot with a kept copy (after only).
    pub kept: f64,
    /// `reload_interval_seconds`.
    pub reload: f64,
    /// GetParameter calls per second the account may make.
    pub budget: u64,
    pub horizon: f64,
    pub seed: u64,
}

/// What the fleet's reads did.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Calls made, and accepted, in each second.
    pub made: Vec<u64>,
    pub accepted: Vec<u64>,
    pub throttled: u64,
    /// Processes that exited 8 (the deadline passed without a read) and were restarted.
    pub exits: u64,
    /// When each instance booted, and had its config (`None`: not within the horizon).
    pub booted: Vec<f64>,
    pub config_at: Vec<Option<f64>>,
}

/// What an instance's current read sequence is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The first read of a process, nothing written yet: an exit ends it.
    Start,
    /// A daemon on its kept copy, reading SSM.
    Kept,
    /// A reload of a daemon that has read SSM.
    Reload,
}

struct Instance {
    phase: Phase,
    /// Failed tries of this sequence, and when its first try was.
    attempt: u32,
    began: f64,
    /// Failed sequences while on the kept copy.
    kept_failures: u32,
    /// The policy of the current sequence is the start one.
    start_policy: bool,
    first_reload: bool,
}

pub fn simulate(f: &Fleet, a: &Agent) -> Outcome {
    let mut rng = fastrand::Rng::with_seed(f.seed);
    let buckets = f.horizon.ceil() as usize + 1;
    let (mut made, mut accepted) = (vec![0u64; buckets], vec![0u64; buckets]);
    let every = Duration::from_secs_f64(f.reload.max(1.0));
    // Microseconds, so that the heap orders plain integers.
    let at = |t: f64| (t * 1e6) as u64;
    let mut queue = BinaryHeap::new();
    let mut fleet = Vec::with_capacity(f.instances);
    let mut booted = Vec::with_capacity(f.instances);
    let mut config_at = vec![None; f.instances];
    for (i, config) in config_at.iter_mut().enumerate() {
        let boot = rng.f64() * f.boot_window;
        let kept = !a.before && rng.f64() < f.kept;
        let (phase, first) = if a.before {
            (Phase::Start, boot)
        } else if kept {
            *config = Some(boot);
            (
                Phase::Kept,
                boot + (a.kept_read)(f.spread, rng.f64()).as_secs_f64(),
            )
        } else {
            (
                Phase::Start,
                boot + (a.start_wait)(f.spread, rng.f64()).as_secs_f64(),
            )
        };
        booted.push(boot);
        fleet.push(Instance {
            phase,
            attempt: 0,
            began: first,
            kept_failures: 0,
            start_policy: phase == Phase::Start && !a.before,
            first_reload: true,
        });
        queue.push(Reverse((at(first), i)));
    }
    let (mut throttled, mut exits) = (0u64, 0u64);
    while let Some(Reverse((micros, i))) = queue.pop() {
        let t = micros as f64 / 1e6;
        if t > f.horizon {
            continue;
        }
        let second = t as usize;
        made[second] += 1;
        let d = &mut fleet[i];
        let next = if accepted[second] < f.budget {
            accepted[second] += 1;
            if config_at[i].is_none() {
                config_at[i] = Some(t);
            }
            // The daemon's next timed reload: a first one after a start that read SSM, an
            // ordinary one after the kept copy's read (it was spread already) or a reload.
            let first = d.phase == Phase::Start && d.first_reload;
            d.first_reload = false;
            d.phase = Phase::Reload;
            d.start_policy = false;
            d.attempt = 0;
            d.began = t + (a.reload_delay)(every, first, rng.f64()).as_secs_f64();
            d.began
        } else {
            throttled += 1;
            d.attempt += 1;
            let policy = if d.start_policy { a.start } else { a.read };
            let delay = (policy.delay)(d.attempt, rng.f64()).as_secs_f64();
            if t + delay <= d.began + policy.deadline {
                t + delay
            } else {
                // The sequence gives up.
                d.attempt = 0;
                let next = match d.phase {
                    Phase::Start => {
                        exits += 1;
                        let restart = t + a.restart_secs;
                        if a.before {
                            restart
                        } else {
                            restart + (a.start_wait)(f.spread, rng.f64()).as_secs_f64()
                        }
                    }
                    Phase::Kept => {
                        d.kept_failures += 1;
                        t + (a.kept_retry)(d.kept_failures, rng.f64()).as_secs_f64()
                    }
                    Phase::Reload => t + (a.reload_delay)(every, false, rng.f64()).as_secs_f64(),
                };
                d.began = next;
                next
            }
        };
        queue.push(Reverse((at(next), i)));
    }
    Outcome {
        made,
        accepted,
        throttled,
        exits,
        booted,
        config_at,
    }
}

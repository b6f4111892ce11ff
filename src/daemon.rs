//! `ec2-assume-role daemon`: what `run` does, then keep every profile fresh until stopped.
//!
//! Each role has its own schedule, computed by `schedule` from the `Expiration` STS returned
//! (wall-clock time), and the daemon sleeps on the wall clock (`clock`) until the earliest one
//! is due: no polling, and a suspend or a clock step wakes it to recompute. A failed refresh
//! leaves the still-valid credentials in the file and is retried with backoff; credentials that
//! expire anyway are removed (unless `[daemon] remove_expired = false`), loudly. SIGHUP reloads
//! the config, and so does a timer (`[daemon] reload_interval_seconds`; every 15 minutes for a
//! config in SSM Parameter Store): a config that cannot be read or is invalid is rejected and
//! the last good one kept. A reload runs in a task like the STS calls. SIGTERM and SIGINT stop
//! between refreshes, never in the middle of a write. systemd's notify protocol reports
//! readiness (after the first complete write), a one-line STATUS and watchdog pings.
//! After every refresh the state file that `status` reads is rewritten.

use crate::cli::Exit;
use crate::clock::{self, Wake};
use crate::config::Role;
use crate::creds::rfc3339;
use crate::logging::message_id;
use crate::retry::Policy;
use crate::run::{Agent, RoleOutcome};
use crate::schedule::{self, Failure};
use crate::source::Source;
use crate::state::{self, LastError, State};
use crate::sts::{self, Assumed};
use sd_notify::NotifyState;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{debug, error, info, warn};

/// A role due within this much of a wakeup is refreshed in it, together with the others, in
/// one IMDS read and one file write: a hundred jittered roles then wake the daemon a few dozen
/// times an hour instead of two hundred. Never more than a tenth of the role's own interval,
/// so short-lived credentials are not refreshed much early.
const BATCH_WINDOW: time::Duration = time::Duration::seconds(60);

/// What the daemon knows of one profile.
#[derive(Clone, Debug, Default)]
struct Tracked {
    expiration: Option<OffsetDateTime>,
    last_refresh: Option<OffsetDateTime>,
    /// `None`: due at once.
    next: Option<OffsetDateTime>,
    failures: u32,
    last_error: Option<LastError>,
}

struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }
}

/// What woke the main loop.
enum Event {
    Due(Wake),
    Assumed(AssumeResult),
    Reload(Trigger),
    Reloaded(Trigger, Result<Box<Agent>, Exit>),
    Stop(&'static str),
    Watchdog,
}

/// What asked for a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    /// SIGHUP (`systemctl reload`): systemd waits for READY=1 after it.
    Signal,
    /// `[daemon] reload_interval_seconds`.
    Timer,
}

/// A reload under way: `Agent::start` (IMDS, SSM, identity check) in its own task, so that a
/// slow SSM or IMDS never holds up refreshes, signals or watchdog pings.
struct Reloading {
    trigger: Trigger,
    task: JoinHandle<Result<Box<Agent>, Exit>>,
    /// Another SIGHUP came meanwhile: the file may have changed after the task read it.
    again: bool,
}

type AssumeResult = Result<Vec<Result<Assumed, sts::Error>>, Exit>;

/// A refresh whose AssumeRole calls are under way in their own task. The loop keeps serving
/// signals and the watchdog meanwhile; the file is written by the loop itself once the task
/// is done, so that stopping can abort the task without ever interrupting a write.
struct Inflight {
    due: Vec<usize>,
    task: JoinHandle<AssumeResult>,
}

pub async fn daemon(source: &Source, wait: Duration) -> Exit {
    // Installed first, so that a SIGTERM during the first run is not fatal mid-write.
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(err) => {
            error!("installing signal handlers: {err}");
            return Exit::Other;
        }
    };
    let mut agent = match Agent::start(source, wait).await {
        Ok(agent) => Arc::new(agent),
        Err(exit) => return exit,
    };
    let mut tracked: BTreeMap<String, Tracked> = BTreeMap::new();
    let mut inflight = start(&agent, &tracked);
    let mut ready = false;
    // Armed at READY=1, as systemd arms its side. An interval, not a sleep per loop turn, so
    // that other events never push the pings back.
    let mut watchdog: Option<Interval> = None;
    let mut reloading: Option<Reloading> = None;
    let mut next_reload = reload_at(&agent, true);

    loop {
        let next = match inflight {
            Some(_) => None,
            None => next_wake(&tracked),
        };
        let event = tokio::select! {
            wake = sleep_until(next) => Event::Due(wake),
            result = join(&mut inflight) => Event::Assumed(result),
            _ = signals.hup.recv() => Event::Reload(Trigger::Signal),
            _ = sleep_until_instant(next_reload), if reloading.is_none() => {
                Event::Reload(Trigger::Timer)
            }
            (trigger, result) = join_reload(&mut reloading) => Event::Reloaded(trigger, result),
            _ = signals.term.recv() => Event::Stop("SIGTERM"),
            _ = signals.int.recv() => Event::Stop("SIGINT"),
            _ = tick(&mut watchdog) => Event::Watchdog,
        };
        match event {
            Event::Due(wake) => {
                if wake == Wake::ClockChanged {
                    // Every planned time was computed on the old clock (a boot-time step can
                    // be hours): refresh everything now and schedule anew on the new one.
                    warn!(
                        "the system clock was set; refreshing every profile and recomputing \
                         the schedule"
                    );
                    for t in tracked.values_mut() {
                        t.next = None;
                    }
                }
                inflight = start(&agent, &tracked);
            }
            Event::Assumed(result) => {
                let Some(done) = inflight.take() else {
                    continue;
                };
                let written = finish(&agent, &mut tracked, done, result);
                if !ready {
                    // The first refresh is `run`: if nothing at all could be done, exit as
                    // `run` would, and let systemd's restart policy take over.
                    if let Err(exit) = written.and_then(|()| agent.write_profiles_config()) {
                        return exit;
                    }
                    ready = true;
                    watchdog = sd_notify::watchdog_enabled().map(|period| {
                        let half = period / 2;
                        let mut ticks = tokio::time::interval_at(Instant::now() + half, half);
                        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
                        ticks
                    });
                    notify(&[
                        NotifyState::Ready,
                        NotifyState::Status(&summary(&agent, &tracked)),
                    ]);
                    continue;
                }
            }
            Event::Reload(trigger) => {
                if trigger == Trigger::Signal {
                    notify_reloading();
                }
                match &mut reloading {
                    Some(running) => {
                        running.again = true;
                        if trigger == Trigger::Signal {
                            running.trigger = Trigger::Signal;
                        }
                    }
                    None => reloading = Some(start_reload(source, wait, trigger)),
                }
                continue;
            }
            Event::Reloaded(trigger, result) => {
                let again = reloading.take().is_some_and(|r| r.again);
                match result {
                    Ok(new) if trigger == Trigger::Timer && same_config(&agent, &new) => {
                        debug!("reloaded {}: unchanged", agent.config.path.display());
                    }
                    Ok(new) => {
                        if let Some(stale) = inflight.take() {
                            // Started under the old config; its roles stay due.
                            stale.task.abort();
                        }
                        reschedule_changed(&agent, &new, &mut tracked);
                        agent = Arc::new(*new);
                        info!(
                            message_id = message_id::CONFIG_LOADED,
                            roles = agent.config.roles.len(),
                            "reloaded {}{}: {} roles",
                            agent.config.path.display(),
                            agent
                                .version
                                .map(|v| format!(" (version {v})"))
                                .unwrap_or_default(),
                            agent.config.roles.len()
                        );
                        // Roles removed from the config lose their sections in both files,
                        // even when no other role is due.
                        let _ = agent.write(&[], Vec::new(), &BTreeSet::new());
                        let _ = agent.write_profiles_config();
                        let roles = &agent.config.roles;
                        tracked.retain(|p, _| roles.iter().any(|r| &r.profile == p));
                        inflight = start(&agent, &tracked);
                    }
                    Err(exit) => error!(
                        message_id = message_id::CONFIG_INVALID,
                        "reload refused: {} (see above); keeping the last good config",
                        match exit {
                            Exit::ConfigUnavailable => "the config could not be read",
                            Exit::ImdsUnavailable => "IMDS did not answer",
                            Exit::IdentityRefused => "the new config names another instance role",
                            _ => "the new config is invalid",
                        }
                    ),
                }
                next_reload = reload_at(&agent, false);
                if again {
                    reloading = Some(start_reload(source, wait, trigger));
                } else if trigger == Trigger::Signal {
                    notify(&[NotifyState::Ready]);
                }
            }
            Event::Stop(signal) => {
                if let Some(running) = inflight.take() {
                    // Only network calls are under way; nothing is half-written.
                    running.task.abort();
                }
                if let Some(running) = reloading.take() {
                    running.task.abort();
                }
                info!("{signal}: stopping");
                notify(&[NotifyState::Stopping]);
                return Exit::Ok;
            }
            Event::Watchdog => {
                notify(&[NotifyState::Watchdog]);
                continue;
            }
        }
        notify(&[NotifyState::Status(&summary(&agent, &tracked))]);
    }
}

fn start_reload(source: &Source, wait: Duration, trigger: Trigger) -> Reloading {
    let source = source.clone();
    Reloading {
        trigger,
        task: tokio::spawn(async move { Agent::start(&source, wait).await.map(Box::new) }),
        again: false,
    }
}

async fn join_reload(reloading: &mut Option<Reloading>) -> (Trigger, Result<Box<Agent>, Exit>) {
    match reloading {
        Some(running) => {
            let result = (&mut running.task).await.unwrap_or_else(|err| {
                error!("a reload task ended abnormally: {err}");
                Err(Exit::Other)
            });
            (running.trigger, result)
        }
        None => std::future::pending().await,
    }
}

/// Whether a reload changed nothing that matters: the same config for the same instance.
fn same_config(old: &Agent, new: &Agent) -> bool {
    old.config == new.config && old.identity == new.identity
}

/// When the timer reloads the config next: `[daemon] reload_interval_seconds`, else every
/// `DEFAULT_SSM_RELOAD_SECONDS` for a parameter in SSM and never for a local file, spread by
/// `schedule::reload_delay` so that a fleet started together does not read it together.
fn reload_at(agent: &Agent, first: bool) -> Option<Instant> {
    let seconds = match (agent.config.daemon.reload_interval_seconds, &agent.source) {
        (Some(0), _) | (None, Source::File(_)) => return None,
        (Some(n), _) => n,
        (None, Source::Ssm(_)) => crate::config::DEFAULT_SSM_RELOAD_SECONDS,
    };
    let wait = schedule::reload_delay(Duration::from_secs(seconds), first, fastrand::f64());
    Some(Instant::now() + wait)
}

async fn sleep_until_instant(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Starts assuming every role that is due now, in a task; `None` when none is due.
fn start(agent: &Arc<Agent>, tracked: &BTreeMap<String, Tracked>) -> Option<Inflight> {
    let now = OffsetDateTime::now_utc();
    let roles = &agent.config.roles;
    let due: Vec<usize> = (0..roles.len())
        .filter(|&i| {
            tracked
                .get(&roles[i].profile)
                .is_none_or(|t| is_due(t, now))
        })
        .collect();
    if due.is_empty() {
        return None;
    }
    let expirations: Vec<Option<OffsetDateTime>> = due
        .iter()
        .map(|&i| tracked.get(&roles[i].profile).and_then(|t| t.expiration))
        .collect();
    let policy = sts_policy(expirations.into_iter().flatten().min(), now);
    let task = {
        let agent = Arc::clone(agent);
        let due = due.clone();
        tokio::spawn(async move { agent.assume(&due, policy).await })
    };
    Some(Inflight { due, task })
}

/// How long one refresh keeps retrying throttling and 5xx before the daemon's own backoff
/// takes over: a quarter of the time the soonest-expiring credentials have left, so that
/// expired credentials are removed promptly, and no more than the one-shot `run` allows.
fn sts_policy(soonest: Option<OffsetDateTime>, now: OffsetDateTime) -> Policy {
    let left = soonest.map_or(Policy::STS.deadline, |e| {
        Duration::try_from((e - now) / 4).unwrap_or(Duration::ZERO)
    });
    Policy {
        deadline: left.clamp(Duration::from_secs(2), Policy::STS.deadline),
        ..Policy::STS
    }
}

/// Writes what a refresh task returned and reschedules each of its roles from the outcome.
/// `Err` only when nothing could be done at all (the state is updated either way).
fn finish(
    agent: &Agent,
    tracked: &mut BTreeMap<String, Tracked>,
    done: Inflight,
    result: AssumeResult,
) -> Result<(), Exit> {
    let Inflight { due, .. } = done;
    let roles = &agent.config.roles;
    let now = OffsetDateTime::now_utc();
    // Expired as of now, not as of the start: a refresh that failed across the expiry must
    // not leave the dead credentials in the file until the next retry.
    let expired: BTreeSet<String> = due
        .iter()
        .map(|&i| &roles[i].profile)
        .filter(|p| {
            agent.config.daemon.remove_expired
                && tracked
                    .get(*p)
                    .and_then(|t| t.expiration)
                    .is_some_and(|e| e <= now)
        })
        .cloned()
        .collect();
    let result = result.and_then(|results| agent.write(&due, results, &expired));
    let settings = settings(agent);
    match &result {
        Ok(outcomes) => {
            for (&i, outcome) in due.iter().zip(outcomes) {
                let role = &roles[i];
                let t = tracked.entry(role.profile.clone()).or_default();
                match outcome {
                    RoleOutcome::Written { expiration, .. } => {
                        *t = Tracked {
                            expiration: Some(*expiration),
                            last_refresh: Some(now),
                            next: Some(schedule::next_refresh(
                                now,
                                *expiration,
                                &settings,
                                fastrand::f64(),
                            )),
                            failures: 0,
                            last_error: None,
                        };
                    }
                    RoleOutcome::Failed(err) => {
                        let kind = if err.retryable {
                            Failure::Transient
                        } else {
                            Failure::Denied
                        };
                        failed(t, role, now, kind, &err.code, &err.message);
                        if expired.contains(&role.profile) {
                            t.expiration = None;
                        }
                    }
                    RoleOutcome::Conflict => failed(
                        t,
                        role,
                        now,
                        Failure::Denied,
                        "ProfileConflict",
                        "an unmanaged section of the same name is in the credentials file",
                    ),
                }
            }
        }
        Err(exit) => {
            let (code, message) = match exit {
                Exit::ImdsUnavailable => (
                    "ImdsUnavailable",
                    "the instance-profile credentials could not be read",
                ),
                Exit::FileNotWritten => (
                    "FileNotWritten",
                    "the credentials file could not be written",
                ),
                _ => ("Internal", "the refresh ended abnormally"),
            };
            for &i in &due {
                let role = &roles[i];
                let t = tracked.entry(role.profile.clone()).or_default();
                failed(t, role, now, Failure::Transient, code, message);
            }
        }
    }
    // Roles no longer configured are no longer tracked.
    tracked.retain(|profile, _| roles.iter().any(|r| &r.profile == profile));
    write_state(agent, tracked, now);
    result.map(|_| ())
}

fn is_due(t: &Tracked, now: OffsetDateTime) -> bool {
    let Some(next) = t.next else {
        return true;
    };
    let interval = t
        .last_refresh
        .map_or(time::Duration::ZERO, |last| next - last);
    next <= now + BATCH_WINDOW.min(interval / 10).max(time::Duration::SECOND)
}

fn failed(
    t: &mut Tracked,
    role: &Role,
    now: OffsetDateTime,
    kind: Failure,
    code: &str,
    message: &str,
) {
    t.failures += 1;
    let next = schedule::retry_at(
        t.failures,
        now,
        t.expiration.unwrap_or(now),
        kind,
        fastrand::f64(),
    );
    t.next = Some(next);
    t.last_error = Some(LastError {
        code: code.to_owned(),
        message: message.to_owned(),
        at: now,
    });
    let left = t.expiration.map(|e| e - now);
    match left {
        Some(left) if left <= time::Duration::ZERO => warn!(
            profile = %role.profile,
            role_arn = %role.role_arn,
            error_code = %code,
            "profile {} has expired credentials and could not be refreshed ({code}); \
             next try at {}",
            role.profile,
            rfc3339(next)
        ),
        _ => info!(
            profile = %role.profile,
            role_arn = %role.role_arn,
            error_code = %code,
            "refresh of profile {} failed {} time(s) in a row ({code}); the current \
             credentials stay; next try at {}",
            role.profile,
            t.failures,
            rfc3339(next)
        ),
    }
}

/// After a reload: roles that are new, or whose AssumeRole request changed, are due now.
fn reschedule_changed(old: &Agent, new: &Agent, tracked: &mut BTreeMap<String, Tracked>) {
    for role in &new.config.roles {
        let unchanged = old
            .config
            .roles
            .iter()
            .any(|o| o.profile == role.profile && same_request(o, role));
        if !unchanged {
            if let Some(t) = tracked.get_mut(&role.profile) {
                t.next = None;
            }
        }
    }
}

/// Whether two roles ask STS for the same thing (the line they are on does not matter).
fn same_request(a: &Role, b: &Role) -> bool {
    (
        &a.role_arn,
        &a.external_id,
        &a.role_session_name,
        a.duration_seconds,
        &a.region,
        &a.source_identity,
        &a.tags,
    ) == (
        &b.role_arn,
        &b.external_id,
        &b.role_session_name,
        b.duration_seconds,
        &b.region,
        &b.source_identity,
        &b.tags,
    )
}

fn settings(agent: &Agent) -> schedule::Settings {
    let d = &agent.config.daemon;
    schedule::Settings {
        refresh_at: d.refresh_at,
        jitter: d.jitter,
        safety_window: Duration::from_secs(d.safety_window_seconds),
    }
}

/// The earliest due time; `None` when nothing is scheduled (no roles).
fn next_wake(tracked: &BTreeMap<String, Tracked>) -> Option<OffsetDateTime> {
    tracked.values().filter_map(|t| t.next).min()
}

async fn sleep_until(at: Option<OffsetDateTime>) -> Wake {
    match at {
        Some(at) => clock::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn tick(watchdog: &mut Option<Interval>) {
    match watchdog {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn join(inflight: &mut Option<Inflight>) -> AssumeResult {
    match inflight {
        Some(running) => match (&mut running.task).await {
            Ok(result) => result,
            // The task panicked or was cancelled: count it as a failed refresh of its roles.
            Err(err) => {
                error!("a refresh task ended abnormally: {err}");
                Err(Exit::Other)
            }
        },
        None => std::future::pending().await,
    }
}

fn write_state(agent: &Agent, tracked: &BTreeMap<String, Tracked>, now: OffsetDateTime) {
    let profiles = agent
        .config
        .roles
        .iter()
        .filter_map(|role| {
            let t = tracked.get(&role.profile)?;
            Some((
                role.profile.clone(),
                state::Profile {
                    role_arn: role.role_arn.clone(),
                    expiration: t.expiration,
                    last_refresh: t.last_refresh,
                    next_refresh: t.next,
                    failures: t.failures,
                    last_error: t.last_error.clone(),
                },
            ))
        })
        .collect();
    let state = State {
        version: state::VERSION,
        pid: std::process::id(),
        updated: Some(now),
        credentials_file: agent.credentials_file().to_path_buf(),
        profiles,
    };
    let path = &agent.config.daemon.state_file;
    if let Err(err) = state.write(path) {
        // `status` falls back to the credentials file; the daemon's job is not affected.
        warn!(file = %path.display(), "writing the state file: {err}");
    }
}

/// The one-line STATUS systemd shows in `systemctl status`.
fn summary(agent: &Agent, tracked: &BTreeMap<String, Tracked>) -> String {
    let total = agent.config.roles.len();
    let failing: Vec<&str> = tracked
        .iter()
        .filter(|(_, t)| t.failures > 0)
        .map(|(p, _)| p.as_str())
        .collect();
    let next = next_wake(tracked)
        .map(|t| format!("; next refresh {}", rfc3339(t)))
        .unwrap_or_default();
    if failing.is_empty() {
        format!("{total} profiles fresh{next}")
    } else {
        format!(
            "{} of {total} profiles fresh; failing: {}{next}",
            total - failing.len(),
            failing.join(", ")
        )
    }
}

fn notify(states: &[NotifyState]) {
    // Not under systemd (no NOTIFY_SOCKET) is fine; a broken socket is worth a debug line.
    if let Err(err) = sd_notify::notify(states) {
        tracing::debug!("sd_notify: {err}");
    }
}

fn notify_reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn due_table() {
        let now = datetime!(2026-11-23 09:00 UTC);
        let secs = time::Duration::seconds;
        // (last refresh, next, due?)
        let table = [
            (None, None, true),
            (Some(now - secs(1800)), Some(now + secs(59)), true), // 1 h creds: 60 s window
            (Some(now - secs(1800)), Some(now + secs(61)), false),
            (Some(now - secs(6)), Some(now + secs(1)), true), // 12 s creds: 1 s floor
            (Some(now - secs(6)), Some(now + secs(2)), false),
            (Some(now - secs(200)), Some(now + secs(15)), true), // a tenth of 215 s
            (Some(now - secs(200)), Some(now + secs(30)), false),
            (None, Some(now - secs(5)), true), // overdue after a failure
            // the clock jumped forward hours past the plan (suspend, stall): due at once
            (Some(now - secs(36_000)), Some(now - secs(34_200)), true),
        ];
        for (last_refresh, next, want) in table {
            let t = Tracked {
                last_refresh,
                next,
                ..Tracked::default()
            };
            assert_eq!(is_due(&t, now), want, "last {last_refresh:?} next {next:?}");
        }
    }
}

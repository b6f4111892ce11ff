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
//! After every refresh the state file that `status` reads is rewritten, and so is
//! `[daemon] metrics_file` (Prometheus metrics, `metrics`), which is also rewritten after every
//! reload and every `METRICS_INTERVAL`, so that its seconds until expiry stay current. The
//! first write of it is at start: a path that cannot be written stops the daemon there.
//!
//! A config from SSM is kept on disk (`lastgood`). A daemon that starts from the kept copy
//! (`Agent::boot`) reads SSM first at a spread point (`schedule::start_read_delay`), then
//! after each failed read again on `schedule::KEPT_RETRY`, and takes the parameter as a
//! reload would as soon as a read succeeds.

use super::{Spread, Wait};
use crate::agent::error::Error;
use crate::agent::files::Destination;
use crate::agent::source::{Keep, Source};
use crate::agent::{Agent, BootJitter};
use crate::aws::retry::Policy;
use crate::aws::skew;
use crate::aws::sts::{self, Assumed};
use crate::base::logging::message_id;
use crate::base::metrics;
use crate::config::METRICS_INTERVAL;
use crate::daemon::clock::{self, Wake};
use crate::daemon::endpoint::{Endpoint, Served, Serving};
use crate::daemon::schedule::{self, Failure, Settings};
use crate::daemon::tracking::Tracked;
use crate::store::fileio::{self, FileError, Readers};
use crate::store::state::State;
use clap::Args;
use sd_notify::NotifyState;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{debug, error, info, warn};

/// Do what `run` does, then keep every profile fresh until stopped (SIGHUP reloads the
/// config; SIGTERM stops). Speaks systemd's notify protocol (Type=notify).
#[derive(Debug, Args)]
pub struct Daemon {
    #[command(flatten)]
    pub wait: Wait,
    #[command(flatten)]
    pub spread: Spread,
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
    Reloaded(Trigger, Result<Box<Agent>, Error>),
    Stop(&'static str),
    Watchdog,
    Metrics,
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
    task: JoinHandle<Result<Box<Agent>, Error>>,
    /// Another SIGHUP came meanwhile: the file may have changed after the task read it.
    again: bool,
}

type AssumeResult = Result<Vec<Result<Assumed, sts::Error>>, Error>;

/// A refresh whose AssumeRole calls are under way in their own task. The loop keeps serving
/// signals and the watchdog meanwhile; the file is written by the loop itself once the task
/// is done, so that stopping can abort the task without ever interrupting a write.
struct Inflight {
    due: Vec<usize>,
    task: JoinHandle<AssumeResult>,
}

impl Daemon {
    pub async fn run(&self, source: &Source) -> Result<(), Error> {
        daemon(source, self.wait.duration(), &self.spread.keep(true)).await
    }
}

async fn daemon(source: &Source, wait: Duration, keep: &Keep) -> Result<(), Error> {
    // Installed first, so that a SIGTERM during the first run is not fatal mid-write.
    let mut signals = Signals::new().map_err(Error::io("installing signal handlers"))?;
    let mut agent = Arc::new(Agent::boot(source, wait, keep).await?);
    let serving = Serving::start(&agent.config, &agent.destinations)
        .await
        .map_err(Error::Endpoint)?;
    let endpoint = serving.as_ref().map(|s| s.endpoint.as_ref());
    let mut metrics_file = MetricsFile::start(&agent)?;
    let mut tracked = Tracked::new();
    // Only the first refresh of the process waits the boot jitter.
    let mut inflight = start(&agent, &tracked, BootJitter::Wait);
    let mut ready = false;
    // Armed at READY=1, as systemd arms its side. An interval, not a sleep per loop turn, so
    // that other events never push the pings back.
    let mut watchdog: Option<Interval> = None;
    let mut reloading: Option<Reloading> = None;
    let mut next_reload = match &agent.kept {
        Some(copy) => {
            let delay = schedule::start_read_delay(keep.spread, fastrand::f64());
            info!(
                "reading ssm:{} in {:.0} s (spread over max(--start-spread, {} s))",
                copy.parameter,
                delay.as_secs_f64(),
                schedule::KEPT_READ_SPREAD.as_secs()
            );
            Some(Instant::now() + delay)
        }
        None => reload_at(&agent, true),
    };
    // Failed reads of SSM in a row while the daemon runs on the kept copy.
    let mut kept_failures = 0;
    // How far the wall clock has been set since the schedule was computed.
    let mut steps = clock::Steps::default();

    loop {
        let next = match inflight {
            Some(_) => None,
            None => tracked.next_wake(),
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
            _ = tick(&mut metrics_file.timer) => Event::Metrics,
        };
        match event {
            Event::Due(wake) => {
                if wake == Wake::ClockChanged {
                    let Some(step) = steps.large_step() else {
                        // A small correction (`clock::STEP_THRESHOLD`): the plan holds.
                        continue;
                    };
                    // Every planned time was computed on the old clock (a boot-time step can
                    // be hours): refresh everything now and schedule anew on the new one.
                    warn!(
                        step_seconds = step.as_secs(),
                        "the system clock was set ({} s off the schedule's clock); refreshing \
                         every profile and recomputing the schedule",
                        step.as_secs()
                    );
                    tracked.all_due();
                }
                inflight = start(&agent, &tracked, BootJitter::No);
            }
            Event::Assumed(result) => {
                let Some(done) = inflight.take() else {
                    continue;
                };
                let written = finish(&agent, &mut tracked, done, result, endpoint);
                metrics_file.write(&agent);
                if !ready {
                    // The first refresh is `run`: if nothing at all could be done, exit as
                    // `run` would, and let systemd's restart policy take over.
                    written.and_then(|()| agent.write_profiles_config().map(drop))?;
                    ready = true;
                    watchdog = sd_notify::watchdog_enabled().map(|period| {
                        let half = period / 2;
                        let mut ticks = tokio::time::interval_at(Instant::now() + half, half);
                        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
                        ticks
                    });
                    notify(&[
                        NotifyState::Ready,
                        NotifyState::Status(&tracked.summary(agent.config.roles.len())),
                    ]);
                    continue;
                }
                if let Err(err) = written {
                    err.report();
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
                    None => reloading = Some(start_reload(source, wait, keep, trigger)),
                }
                continue;
            }
            Event::Reloaded(trigger, result) => {
                let again = reloading.take().is_some_and(|r| r.again);
                match result {
                    // Even an unchanged config replaces a kept copy: SSM has answered.
                    Ok(new)
                        if trigger == Trigger::Timer
                            && agent.kept.is_none()
                            && same_config(&agent, &new) =>
                    {
                        metrics::config_reloaded(true);
                        debug!("reloaded {}: unchanged", agent.config.path.display());
                    }
                    Ok(new) => {
                        metrics::config_reloaded(true);
                        if let Some(stale) = inflight.take() {
                            // Started under the old config; its roles stay due.
                            stale.task.abort();
                        }
                        tracked.reschedule_changed(&agent.config.roles, &new.config.roles);
                        if new.config.endpoint != agent.config.endpoint {
                            warn!(
                                "reload: [endpoint] changed; the change takes effect when the \
                                 daemon restarts"
                            );
                        }
                        if let Some(serving) = &serving {
                            serving.configure(&new.config);
                        }
                        new.keep_sources_of(&agent);
                        if let Some(copy) = &agent.kept {
                            info!(
                                message_id = message_id::CONFIG_KEPT,
                                "ssm:{} answered (version {}); the kept copy (version {}) is \
                                 no longer in use",
                                copy.parameter,
                                new.version.unwrap_or_default(),
                                copy.parameter_version
                            );
                        }
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
                        let pruned = agent.write(&[], Vec::new(), &BTreeSet::new());
                        for written in [pruned.map(drop), agent.write_profiles_config().map(drop)] {
                            if let Err(err) = written {
                                err.report();
                            }
                        }
                        tracked.keep_configured(&agent.config.roles);
                        metrics::retain_profiles(agent.config.roles.iter().map(|r| &*r.profile));
                        metrics_file.reconfigure(&agent);
                        inflight = start(&agent, &tracked, BootJitter::No);
                    }
                    Err(err) => {
                        metrics::config_reloaded(false);
                        err.report();
                        error!(
                            message_id = message_id::CONFIG_INVALID,
                            "reload refused: {} (see above); keeping the last good config",
                            refused_because(&err)
                        );
                    }
                }
                metrics_file.write(&agent);
                next_reload = match &agent.kept {
                    Some(_) => {
                        kept_failures += 1;
                        let delay = schedule::KEPT_RETRY.delay(kept_failures, fastrand::f64());
                        info!("reading SSM again in {:.0} s", delay.as_secs_f64());
                        Some(Instant::now() + delay)
                    }
                    None => reload_at(&agent, false),
                };
                if again {
                    reloading = Some(start_reload(source, wait, keep, trigger));
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
                return Ok(());
            }
            Event::Watchdog => {
                notify(&[NotifyState::Watchdog]);
                continue;
            }
            Event::Metrics => {
                metrics_file.write(&agent);
                continue;
            }
        }
        notify(&[NotifyState::Status(
            &tracked.summary(agent.config.roles.len()),
        )]);
    }
}

/// Why a reload was refused, in words; the error itself was reported just before.
fn refused_because(err: &Error) -> &'static str {
    match err {
        Error::ConfigUnavailable { .. } => "the config could not be read",
        Error::Imds { .. } => "IMDS did not answer",
        Error::IdentityRefused { .. } => "the new config names another instance role",
        _ => "the new config is invalid",
    }
}

fn start_reload(source: &Source, wait: Duration, keep: &Keep, trigger: Trigger) -> Reloading {
    let (source, keep) = (source.clone(), keep.clone());
    Reloading {
        trigger,
        task: tokio::spawn(async move { Agent::reload(&source, wait, &keep).await.map(Box::new) }),
        again: false,
    }
}

async fn join_reload(reloading: &mut Option<Reloading>) -> (Trigger, Result<Box<Agent>, Error>) {
    match reloading {
        Some(running) => {
            let result = (&mut running.task).await.unwrap_or_else(|err| {
                Err(Error::Internal(format!(
                    "a reload task ended abnormally: {err}"
                )))
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
    let discovers = !agent.config.discovered.is_empty();
    let seconds = match (agent.config.daemon.reload_interval_seconds, &agent.source) {
        (Some(0), _) => return None,
        (Some(n), _) => n,
        (None, Source::Ssm(_)) => crate::config::DEFAULT_SSM_RELOAD_SECONDS,
        (None, Source::File(_)) if discovers => crate::config::DEFAULT_DISCOVERY_RELOAD_SECONDS,
        (None, Source::File(_)) => return None,
    };
    // A role set whose accounts could not be discovered (and none were cached), or on the
    // publisher not published, is tried again sooner, spread as a first reload is.
    let (seconds, first) = if agent.undiscovered.is_empty() && agent.unpublished.is_empty() {
        (seconds, first)
    } else {
        (seconds.min(crate::config::DISCOVERY_RETRY_SECONDS), true)
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
fn start(agent: &Arc<Agent>, tracked: &Tracked, jitter: BootJitter) -> Option<Inflight> {
    let now = skew::now();
    let roles = &agent.config.roles;
    let due = tracked.due(roles, now);
    if due.is_empty() {
        return None;
    }
    // With the sources whose credentials would not outlast a dependent's call, first.
    let due = agent.plan(&due, now);
    let soonest = due
        .iter()
        .filter_map(|&i| tracked.expiration(&roles[i].profile))
        .min();
    let policy = sts_policy(soonest, now);
    let task = {
        let agent = Arc::clone(agent);
        let due = due.clone();
        tokio::spawn(async move { agent.assume(&due, policy, jitter).await })
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
    tracked: &mut Tracked,
    done: Inflight,
    result: AssumeResult,
    endpoint: Option<&Endpoint>,
) -> Result<(), Error> {
    let Inflight { due, .. } = done;
    let roles = &agent.config.roles;
    let now = skew::now();
    if let (Some(endpoint), Ok(results)) = (endpoint, &result) {
        for (&i, assumed) in due.iter().zip(results) {
            if let Ok(assumed) = assumed {
                let served = Served {
                    credentials: assumed.credentials.clone(),
                    role_arn: roles[i].role_arn.clone(),
                };
                endpoint.store.put(&roles[i].profile, served);
            }
        }
        endpoint.store.drop_expired(now);
    }
    // Expired as of now, not as of the start: a refresh that failed across the expiry must
    // not leave the dead credentials in the file until the next retry.
    let expired = if agent.config.daemon.remove_expired {
        tracked.expired(due.iter().map(|&i| &roles[i].profile), now)
    } else {
        BTreeSet::new()
    };
    let result = result.and_then(|results| agent.write(&due, results, &expired));
    let settings = Settings::from(&agent.config.daemon);
    match &result {
        Ok(outcomes) => {
            for (&i, outcome) in due.iter().zip(outcomes) {
                let role = &roles[i];
                let gone = expired.contains(&role.profile);
                tracked.record(role, outcome, gone, &settings, now, fastrand::f64());
            }
        }
        Err(err) => {
            let message = err.to_string();
            for &i in &due {
                let (kind, code) = (Failure::Transient, err.code());
                tracked.failed(&roles[i], now, kind, code, &message, fastrand::f64());
            }
        }
    }
    for &i in &due {
        if let Some(profile) = tracked.profile(&roles[i].profile) {
            // A failure counts under its last error's code.
            let failed = (profile.failures > 0)
                .then(|| profile.last_error.as_ref().map_or("Unknown", |e| &*e.code));
            metrics::refreshed(
                &roles[i].profile,
                failed,
                profile.expiration,
                profile.last_refresh,
            );
        }
    }
    // Roles no longer configured are no longer tracked.
    tracked.keep_configured(roles);
    if let Some(endpoint) = endpoint {
        let failing = roles.iter().map(|r| &r.profile);
        let failing = failing.filter(|p| tracked.profile(p).is_some_and(|t| t.failures > 0));
        endpoint.health.set_failing(failing.cloned().collect());
    }
    write_state(agent, tracked, now);
    result.map(drop)
}

/// Sleeps until `at`, a time on the corrected clock (`skew::now`), as the system clock reads it.
async fn sleep_until(at: Option<OffsetDateTime>) -> Wake {
    match at {
        Some(at) => clock::sleep_until(skew::local(at)).await,
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
            Err(err) => Err(Error::Internal(format!(
                "a refresh task ended abnormally: {err}"
            ))),
        },
        None => std::future::pending().await,
    }
}

fn write_state(agent: &Agent, tracked: &Tracked, now: OffsetDateTime) {
    let origin = Destination::origin(&agent.destinations, &agent.source);
    let mut state = tracked.state(&agent.config.roles, origin, now);
    state.clock_skew_seconds = skew::measured();
    state.clock_correction_seconds = skew::correction();
    let path = &agent.config.daemon.state_file;
    // `status` falls back to the credentials file; the daemon's job is not affected.
    if let Err(err) = state.write(path, None) {
        warn!(file = %path.display(), "writing the state file: {err}");
    }
    // Each other owner's profiles, in a file of their own that `status` run as them reads.
    let owners = Destination::by_other_owner(&agent.destinations, nix::unistd::geteuid());
    for (name, (owner, dests)) in owners {
        let roles = agent.config.roles.iter();
        let theirs = roles.filter(|r| dests.iter().any(|d| r.goes_to(&d.name)));
        let profiles = theirs.map(|r| r.profile.as_str()).collect();
        let own = state.of(&profiles, Destination::origin(dests, &agent.source));
        let path = State::owner_path(path, name);
        if let Err(err) = own.write(&path, Some(owner)) {
            warn!(file = %path.display(), "writing {name}'s state file: {err}");
        }
    }
}

/// `[daemon] metrics_file`: rewritten after each refresh and reload, and on a timer. A
/// failure after the start is logged when it begins and when it ends, not every minute.
struct MetricsFile {
    /// Every `METRICS_INTERVAL` while a file is configured.
    timer: Option<Interval>,
    failing: bool,
}

impl MetricsFile {
    /// The first write, before any refresh: a path that cannot be written is a start error
    /// naming the key, as a bad `[endpoint] listen` is.
    fn start(agent: &Agent) -> Result<MetricsFile, Error> {
        let mut file = MetricsFile {
            timer: None,
            failing: false,
        };
        file.reconfigure(agent);
        if let Some(path) = &agent.config.daemon.metrics_file {
            write_metrics(path).map_err(|source| Error::FileNotWritten {
                what: "metrics file ([daemon] metrics_file)",
                path: path.clone(),
                source,
            })?;
        }
        Ok(file)
    }

    /// After a reload: the timer runs only while a file is configured (no idle wakeups
    /// otherwise).
    fn reconfigure(&mut self, agent: &Agent) {
        match (&agent.config.daemon.metrics_file, &self.timer) {
            (Some(_), None) => {
                let mut ticks =
                    tokio::time::interval_at(Instant::now() + METRICS_INTERVAL, METRICS_INTERVAL);
                ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
                self.timer = Some(ticks);
            }
            (None, Some(_)) => self.timer = None,
            _ => {}
        }
    }

    fn write(&mut self, agent: &Agent) {
        let Some(path) = &agent.config.daemon.metrics_file else {
            return;
        };
        match write_metrics(path) {
            Err(err) if !self.failing => {
                self.failing = true;
                warn!(
                    file = %path.display(),
                    "writing the metrics file ([daemon] metrics_file): {err}; retrying after \
                     each refresh and every {} s",
                    METRICS_INTERVAL.as_secs()
                );
            }
            Ok(()) if self.failing => {
                self.failing = false;
                info!(file = %path.display(), "the metrics file is written again");
            }
            _ => {}
        }
    }
}

/// The metrics as of now, written atomically, readable by everyone (node_exporter).
fn write_metrics(path: &Path) -> Result<(), FileError> {
    let text = metrics::render(skew::now()).into_bytes();
    fileio::update_for(path, None, Readers::Everyone, |_| (text.clone(), ()))
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

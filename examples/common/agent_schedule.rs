//! The fleet simulation on the agent's own schedule: `testkit::fleet::simulate` driven by
//! `daemon::schedule` with the default `[daemon]` settings, the agent's reads of a config in
//! SSM (`ssm::POLICY`, `source::START_POLICY`, `KEPT_RETRY`, `start_read_delay`) and
//! discovery's retries. examples/fleet_sim.rs prints what it gives and
//! tests/integration/benchmarks/fleet_sim.rs checks it; both include this one file with
//! `#[path]`, because testkit must not depend on ec2-assume-role.

use ec2_assume_role::agent::source;
use ec2_assume_role::aws::retry::Policy;
use ec2_assume_role::aws::ssm;
use ec2_assume_role::config::Daemon;
use ec2_assume_role::daemon::schedule::{
    next_refresh, reload_delay, start_read_delay, Settings, KEPT_RETRY,
};
use std::time::Duration;
use testkit::boot::{Agent, Retry};
use testkit::fleet::{Params, Report};

/// systemd's `RestartSec=` in packaging/systemd/ec2-assume-role.service.
const RESTART_SECS: f64 = 30.0;

/// Discovery's retries: full jitter over 500 ms doubling to 10 s (the deadline is unused).
const ORG_RETRY: Policy = Policy {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(10),
    deadline: Duration::MAX,
};

/// The simulation of fleet `p` on the daemon's schedule with its default settings, and its
/// reading of a config in SSM.
pub fn simulate(p: &Params) -> Report {
    let settings = Settings::from(&Daemon::default());
    let (read, start) = (ssm::POLICY, source::START_POLICY);
    let seconds = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let agent = Agent {
        before: p.ssm_before,
        read: Retry {
            delay: &|attempt, draw| read.delay(attempt, draw),
            deadline: read.deadline.as_secs_f64(),
        },
        start: Retry {
            delay: &|attempt, draw| start.delay(attempt, draw),
            deadline: start.deadline.as_secs_f64(),
        },
        start_wait: &|spread, draw| source::start_wait(seconds(spread), draw),
        kept_read: &|spread, draw| start_read_delay(seconds(spread), draw),
        kept_retry: &|attempt, draw| KEPT_RETRY.delay(attempt, draw),
        reload_delay: &reload_delay,
        restart_secs: RESTART_SECS,
    };
    testkit::fleet::simulate(
        p,
        |issued, expires, draw| next_refresh(issued, expires, &settings, draw),
        reload_delay,
        |attempt, draw| ORG_RETRY.delay(attempt, draw),
        &agent,
    )
}

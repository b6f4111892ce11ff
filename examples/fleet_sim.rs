//! Fleet simulator, the command line: how hard does a fleet of ec2-assume-role daemons hit
//! STS? It runs `testkit::fleet::simulate` (whose `//!` says what is modelled) on the real
//! schedule, `ec2_assume_role::schedule::next_refresh` with the default `[daemon]` settings and
//! `schedule::reload_delay`, and prints the calls, the peaks per target account and whether
//! they stay within `--budget` (and `--ssm-budget`, and with `--discover-accounts` the
//! Organizations calls within `--org-budget` after boot, throttled calls retried on the
//! `retry::Policy` shape with 500 ms initial and 10 s max delays); exit 1 when one does not. Pure
//! arithmetic with seeded RNGs: the same flags give the same numbers. It never touches the
//! network, a clock or a file.
//!
//! Usage: cargo run --release --example fleet_sim -- [--instances 10000] [--roles 20]
//!        [--accounts 20] [--boot-window 60] [--boot-jitter 0] [--budget 600] [--hours 3]
//!        [--seed 1] [--ssm-reload 0] [--ssm-budget 40] [--discover-accounts 0] [--org-ous 0]
//!        [--org-page-size 20] [--org-reload 86400] [--org-boot-spread 600] [--org-cached 0]
//!        [--org-pace 1] [--org-budget 5] [--org-shared]

use clap::Parser;
use ec2_assume_role::config::Daemon;
use ec2_assume_role::retry::Policy;
use ec2_assume_role::schedule::{next_refresh, reload_delay, Settings};
use std::process::ExitCode;
use std::time::Duration;
use testkit::fleet::{simulate, Discovery, Params};

fn main() -> ExitCode {
    let p = Params::parse();
    let settings = Settings::from(&Daemon::default());
    // Discovery's retries: full jitter over 500 ms doubling to 10 s (the deadline is unused).
    let org_retry = Policy {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(10),
        deadline: Duration::MAX,
    };
    let r = simulate(
        &p,
        |issued, expires, draw| next_refresh(issued, expires, &settings, draw),
        reload_delay,
        |attempt, draw| org_retry.delay(attempt, draw),
    );
    println!(
        "fleet: {} instances booting within {} s (+ up to {} s boot jitter), {} roles each over \
         {} target accounts, 1 h credentials, default schedule, {} h simulated, seed {}",
        p.instances, p.boot_window, p.boot_jitter, p.roles, p.accounts, p.hours, p.seed
    );
    println!(
        "AssumeRole calls          {} ({} at boot, {} refreshes)",
        r.total_calls, r.boot_calls, r.refresh_calls
    );
    println!(
        "peak per target account   {} calls/s (account {}, second {})",
        r.peak, r.peak_account, r.peak_second
    );
    println!(
        "peak after boot           {} calls/s per target account (refreshes only)",
        r.peak_after_boot
    );
    println!("mean per target account   {:.2} calls/s", r.mean);
    println!(
        "peak, all accounts        {} calls/s (what one calling account sees)",
        r.peak_all_accounts
    );
    println!(
        "budget                    {} calls/s per target account: {}",
        p.budget,
        if r.within_budget {
            "within"
        } else {
            "EXCEEDED"
        }
    );
    if p.ssm_reload > 0.0 {
        println!(
            "SSM GetParameter          {} calls; peak {} calls/s at boot, {} calls/s after \
             (config re-read about every {} s)",
            r.ssm_calls, r.ssm_peak, r.ssm_peak_after_boot, p.ssm_reload
        );
        println!(
            "SSM budget                {} calls/s for the fleet's account: {}",
            p.ssm_budget,
            if r.ssm_within_budget {
                "within"
            } else {
                "EXCEEDED (enable Parameter Store's higher throughput, or boot over a longer window)"
            }
        );
    }
    if let Some(d) = &r.discovery {
        let (calls, how) = if p.org_shared {
            (
                testkit::fleet::calls_per_discovery(
                    p.discover_accounts,
                    p.org_ous,
                    p.org_page_size,
                ),
                "its publisher's; the fleet reads the shared list".to_owned(),
            )
        } else if p.org_ous == 0 {
            (
                d.calls_per_discovery,
                "DescribeOrganization + ListAccounts pages".to_owned(),
            )
        } else {
            (
                d.calls_per_discovery,
                format!("DescribeOrganization + the walk of {} OUs", p.org_ous),
            )
        };
        println!(
            "Organizations discovery   {} accounts, {calls} calls each ({how}), re-discovered \
             about every {} s, first discovery spread over {} s, {:.0}% booting with a cache, \
             at most {} calls/s per instance",
            p.discover_accounts,
            p.org_reload,
            p.org_boot_spread,
            p.org_cached * 100.0,
            p.org_pace
        );
        if p.org_shared {
            println!(
                "shared list               every instance reads it with {} GetParameters \
                 call(s) instead",
                d.calls_per_discovery
            );
            show(
                d,
                &p,
                "shared-list reads",
                "SSM",
                p.ssm_budget,
                "for the fleet's account",
            );
        } else {
            show(
                d,
                &p,
                "Organizations calls",
                "Organizations",
                p.org_budget,
                "for the organization (assumed)",
            );
        }
    }
    if let Some(d) = &r.publisher {
        show(
            d,
            &p,
            "publisher's calls",
            "Organizations",
            p.org_budget,
            "for the organization (assumed)",
        );
    }
    let fits = |d: &Discovery| d.within_budget_after_boot && d.last_wait.is_some();
    let org_ok = r.discovery.as_ref().is_none_or(fits) && r.publisher.as_ref().is_none_or(fits);
    if r.within_budget && (p.ssm_reload == 0.0 || r.ssm_within_budget) && org_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// One set of discoverers' lines: calls, peak, seconds over `budget`, the last wait.
fn show(d: &Discovery, p: &Params, calls: &str, service: &str, budget: u32, whose: &str) {
    let line = |label: &str, text: String| println!("{label:<26}{text}");
    line(
        calls,
        format!(
            "{} ({} throttled and retried) in {} discoveries",
            d.calls, d.throttled, d.discoveries
        ),
    );
    line(
        &format!("{service} peak"),
        format!(
            "{} calls/s (second {}); {} calls/s after boot",
            d.peak, d.peak_second, d.peak_after_boot
        ),
    );
    line(
        "seconds over budget",
        format!(
            "{} ({} after boot)",
            d.seconds_over_budget, d.seconds_over_budget_after_boot
        ),
    );
    line(
        "last discovered profiles",
        match d.last_wait {
            Some(wait) => format!("{wait:.0} s after its instance booted"),
            None => format!("{} instances still waiting after {} h", d.waiting, p.hours),
        },
    );
    let verdict = if d.within_budget_after_boot && d.last_wait.is_some() {
        "within after boot"
    } else {
        "EXCEEDED"
    };
    line(
        &format!("{service} budget"),
        format!("{budget} calls/s {whose}: {verdict}"),
    );
}

//! Fleet simulator, the command line: how hard does a fleet of ec2-assume-role daemons hit
//! STS? It runs `testkit::fleet::simulate` (whose `//!` says what is modelled) on the real
//! schedule, `ec2_assume_role::daemon::schedule::next_refresh` with the default `[daemon]` settings and
//! `schedule::reload_delay`, and prints the calls, the peaks per target account and whether
//! they stay within `--budget` (and `--ssm-budget`, and with `--discover-accounts` the
//! Organizations calls within `--org-budget` after boot, throttled calls retried on the
//! `retry::Policy` shape with 500 ms initial and 10 s max delays); exit 1 when one does not.
//! A config in SSM is read as the agent reads it (`testkit::boot`, with the agent's own
//! `ssm::POLICY`, `source::START_POLICY` and `schedule` functions; `--ssm-before` the agent
//! before the kept copy), and the line says how many reads were throttled and when the last
//! instance had its config. Pure arithmetic with seeded RNGs: the same flags give the same
//! numbers. It never touches the network or a clock; `--svg FILE` writes the calls per second
//! per API (each with its quota) as a chart, its only file.
//!
//! Usage: cargo run --release --example fleet_sim -- [--instances 10000] [--roles 20]
//!        [--accounts 20] [--boot-window 60] [--boot-jitter 0] [--budget 600] [--hours 3]
//!        [--seed 1] [--ssm-reload 0] [--ssm-budget 40] [--discover-accounts 0] [--org-ous 0]
//!        [--org-page-size 20] [--org-reload 86400] [--org-boot-spread 600] [--org-cached 0]
//!        [--org-pace 1] [--org-budget 5] [--org-shared] [--ssm-before] [--ssm-kept 0]
//!        [--start-spread 0] [--svg FILE] [--svg-seconds 1200]
//!
//! The charts in docs/ (scripts/ssm-boot-charts.sh makes them):
//!   --ssm-reload 900 --ssm-before --svg docs/ssm-boot-before.svg
//!   --ssm-reload 900 --svg docs/ssm-boot-after.svg

#[path = "common/agent_schedule.rs"]
mod agent_schedule;

use clap::Parser;
use std::process::ExitCode;
use testkit::chart::{self, Line, Panel};
use testkit::fleet::{Discovery, Params, Report};

fn main() -> ExitCode {
    let p = Params::parse();
    let r = agent_schedule::simulate(&p);
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
            "SSM boot                  {}: {} throttled and tried again, {} s over budget, \
             {} exits (8) restarted; the last config {}",
            if p.ssm_before {
                "the agent before the kept copy".to_owned()
            } else {
                format!(
                    "{:.0}% booting with a kept copy, --start-spread {}",
                    p.ssm_kept * 100.0,
                    p.start_spread
                )
            },
            r.ssm_throttled,
            r.ssm_seconds_over_budget,
            r.ssm_exits,
            match r.ssm_last_config {
                Some(wait) => format!("{wait:.0} s after its instance booted"),
                None => format!(
                    "still awaited by {} instances after {} h",
                    r.ssm_waiting, p.hours
                ),
            }
        );
        println!(
            "SSM budget                {} calls/s for the fleet's account: {}",
            p.ssm_budget,
            if r.ssm_within_budget {
                "within"
            } else {
                "EXCEEDED (throttled reads are tried again; a kept copy or --start-spread keeps the boot under)"
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
    if let Some(path) = &p.svg {
        if let Err(err) = std::fs::write(path, draw(&p, &r)) {
            eprintln!("writing {}: {err}", path.display());
            return ExitCode::from(2);
        }
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

/// The chart of the first `--svg-seconds`: GetParameter (made, and accepted) with SSM's
/// quota, AssumeRole to the busiest target account with `--budget`.
fn draw(p: &Params, r: &Report) -> String {
    let agent = if p.ssm_before {
        "the agent before the kept copy".to_owned()
    } else if p.ssm_kept == 0.0 {
        format!(
            "a brand-new fleet (no kept copy), --start-spread {} s",
            p.start_spread
        )
    } else {
        format!(
            "kept copy on {:.0}% of the fleet, --start-spread {} s",
            p.ssm_kept * 100.0,
            p.start_spread
        )
    };
    let title = format!(
        "{} instances booting within {} s, config in SSM: {agent}",
        p.instances, p.boot_window
    );
    let mut panels = Vec::new();
    if p.ssm_reload > 0.0 {
        panels.push(Panel {
            title: format!(
                "SSM GetParameter, the fleet's account ({} throttled, {} s over quota)",
                r.ssm_throttled, r.ssm_seconds_over_budget
            ),
            lines: vec![
                Line {
                    label: "calls made",
                    color: "#1f77b4",
                    values: &r.series.ssm_made,
                },
                Line {
                    label: "calls served (the rest throttled)",
                    color: "#2ca02c",
                    values: &r.series.ssm_accepted,
                },
            ],
            quota: Some((
                format!("quota {} calls/s (default throughput)", p.ssm_budget),
                f64::from(p.ssm_budget),
            )),
        });
    }
    panels.push(Panel {
        title: format!(
            "STS AssumeRole, busiest target account ({} roles each)",
            p.roles
        ),
        lines: vec![Line {
            label: "calls made",
            color: "#9467bd",
            values: &r.series.sts_peak_account,
        }],
        quota: Some((
            format!("budget {} calls/s per account", p.budget),
            f64::from(p.budget),
        )),
    });
    chart::svg(&title, p.svg_seconds, &panels)
}

//! Fleet simulator, the command line: how hard does a fleet of ec2-assume-role daemons hit
//! STS? It runs `testkit::fleet::simulate` (whose `//!` says what is modelled) on the real
//! schedule, `ec2_assume_role::schedule::next_refresh` with the default `[daemon]` settings and
//! `schedule::reload_delay`, and prints the calls, the peaks per target account and whether
//! they stay within `--budget` (and `--ssm-budget`); exit 1 when one does not. Pure
//! arithmetic with seeded RNGs: the same flags give the same numbers. It never touches the
//! network, a clock or a file.
//!
//! Usage: cargo run --release --example fleet_sim -- [--instances 10000] [--roles 20]
//!        [--accounts 20] [--boot-window 60] [--boot-jitter 0] [--budget 600] [--hours 3]
//!        [--seed 1] [--ssm-reload 0] [--ssm-budget 40]

use clap::Parser;
use ec2_assume_role::config::Daemon;
use ec2_assume_role::schedule::{next_refresh, reload_delay, Settings};
use std::process::ExitCode;
use testkit::fleet::{simulate, Params};

fn main() -> ExitCode {
    let p = Params::parse();
    let settings = Settings::from(&Daemon::default());
    let r = simulate(
        &p,
        |issued, expires, draw| next_refresh(issued, expires, &settings, draw),
        reload_delay,
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
    if r.within_budget && (p.ssm_reload == 0.0 || r.ssm_within_budget) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

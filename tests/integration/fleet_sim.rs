//! Runs the fleet simulation (`testkit::fleet`, the same `simulate` examples/fleet_sim.rs
//! prints, on the same schedule) with small fleets and checks that its numbers add up and
//! that boot jitter does what it is for. Pure arithmetic: no network, clock or files.

use ec2_assume_role::config::Daemon;
use ec2_assume_role::schedule::{next_refresh, reload_delay, Settings};
use testkit::fleet::{Params, Report};

/// The simulation on the daemon's schedule with its default settings, as the example runs it.
fn simulate(p: &Params) -> Report {
    let settings = Settings::from(&Daemon::default());
    testkit::fleet::simulate(
        p,
        |issued, expires, draw| next_refresh(issued, expires, &settings, draw),
        reload_delay,
    )
}

fn small() -> Params {
    Params {
        instances: 2_000,
        roles: 6,
        accounts: 3,
        boot_window: 60.0,
        boot_jitter: 0.0,
        budget: 600,
        hours: 3.0,
        seed: 7,
        ssm_reload: 0.0,
        ssm_budget: 40,
    }
}

#[test]
fn calls_add_up() {
    let p = small();
    let r = simulate(&p);
    let role_instances = u64::from(p.instances) * u64::from(p.roles);
    assert_eq!(r.boot_calls, role_instances);
    assert_eq!(r.total_calls, r.boot_calls + r.refresh_calls);
    assert_eq!(r.calls_per_account.len(), 3);
    assert_eq!(r.calls_per_account.iter().sum::<u64>(), r.total_calls);
    // Two roles per account on every instance, so the accounts see the same boot load.
    assert!(r.calls_per_account.iter().all(|&n| n >= 2 * 2_000));
    // 1 h credentials are refreshed 24 to 36 minutes after issue (30 min +- 6), up to 60 s
    // early when batched: over 3 h minus the boot minute each role is refreshed 4 to 7 times.
    assert!(
        (role_instances * 4..=role_instances * 7).contains(&r.refresh_calls),
        "{r:?}"
    );
    // Calls = instances x roles x (1 + refreshes per role), with the mean in range.
    let per_role = r.total_calls as f64 / role_instances as f64 - 1.0;
    assert!((4.0..=7.0).contains(&per_role), "{per_role}");
    let mean = r.total_calls as f64 / 3.0 / (3.0 * 3600.0);
    assert!((r.mean - mean).abs() < 1e-9, "{} vs {mean}", r.mean);
    // The peak is one account's second, so at least the mean and at most that account's total;
    // all accounts together peak at least as high, and at most `accounts` times as high.
    assert!(r.peak as f64 >= r.mean && r.peak <= r.calls_per_account[r.peak_account as usize]);
    assert!(r.peak_all_accounts >= r.peak && r.peak_all_accounts <= 3 * r.peak);
    assert!(r.peak_after_boot <= r.peak);
    assert_eq!(r.within_budget, r.peak <= 600);
}

#[test]
fn no_refresh_before_the_earliest_refresh_point() {
    // 20 minutes: before any 1 h credential is 24 minutes old, so boot calls only.
    let p = Params {
        hours: 20.0 / 60.0,
        ..small()
    };
    let r = simulate(&p);
    assert_eq!(r.refresh_calls, 0, "{r:?}");
    assert_eq!(r.total_calls, u64::from(p.instances) * u64::from(p.roles));
    assert_eq!(r.peak_after_boot, 0);
}

#[test]
fn same_seed_same_numbers_other_seed_other_numbers() {
    assert_eq!(simulate(&small()), simulate(&small()));
    let other = simulate(&Params { seed: 8, ..small() });
    assert_ne!(other, simulate(&small()));
}

#[test]
fn boot_jitter_lowers_the_peak() {
    let burst = simulate(&small());
    let spread = simulate(&Params {
        boot_jitter: 600.0,
        ..small()
    });
    // 2,000 instances x 2 roles per account in 60 s average 67 calls/s per account; spread
    // over 660 s they average 6.
    assert!(burst.peak >= 67, "{burst:?}");
    assert!(
        spread.peak * 3 < burst.peak,
        "{} vs {}",
        spread.peak,
        burst.peak
    );
    assert!(spread.peak_all_accounts < burst.peak_all_accounts);
}

#[test]
fn a_tight_budget_is_reported_exceeded() {
    let r = simulate(&Params {
        budget: 10,
        ..small()
    });
    assert!(r.peak > 10 && !r.within_budget, "{r:?}");
}

#[test]
fn a_config_in_ssm_is_read_at_boot_then_every_reload_interval() {
    let local = simulate(&small());
    assert_eq!((local.ssm_calls, local.ssm_peak), (0, 0));

    let p = Params {
        ssm_reload: 900.0,
        ..small()
    };
    let r = simulate(&p);
    // Modelling SSM draws from its own RNG: the STS numbers are those of the same seed.
    assert_eq!(r.total_calls, local.total_calls);
    assert_eq!(r.peak, local.peak);
    // One read at boot, the next 450 to 1350 s later, then every 810 to 990 s: 11 to 14 in 3 h.
    let per_instance = r.ssm_calls as f64 / 2_000.0;
    assert!((11.0..=14.0).contains(&per_instance), "{per_instance}");
    // 2,000 boot reads within 60 s average 33/s; afterwards they spread over 900 s.
    assert!(r.ssm_peak >= 33, "{r:?}");
    assert!(r.ssm_peak_after_boot < r.ssm_peak, "{r:?}");
    assert_eq!(r.ssm_within_budget, r.ssm_peak <= 40);
}

//! Runs the fleet simulation (examples/common/agent_schedule.rs: `testkit::fleet` on the
//! agent's schedule, the one examples/fleet_sim.rs prints) with small fleets and checks that
//! its numbers add up and that boot jitter does what it is for. Pure arithmetic: no network,
//! clock or files. Backs docs/benchmarks.md (the fleet simulation).

#[path = "../../../examples/common/agent_schedule.rs"]
mod agent_schedule;

use agent_schedule::simulate;
use testkit::fleet::{Discovery, Params, Report};

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
        ..Params::default()
    }
}

#[test]
fn the_boot_and_refresh_calls_add_up_per_account_with_a_consistent_mean_and_peak() {
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
    // Every instance has its config (some throttled a while) and assumes its roles after it.
    assert_eq!(r.ssm_last_config.map(|_| r.ssm_waiting), Some(0), "{r:?}");
    assert_eq!(r.boot_calls, local.boot_calls);
    assert!(r.total_calls.abs_diff(local.total_calls) * 100 < local.total_calls);
    // One read at boot, the next 450 to 1350 s later, then every 810 to 990 s: 11 to 14 in 3 h.
    let per_instance = (r.ssm_calls - r.ssm_throttled) as f64 / 2_000.0;
    assert!((11.0..=14.0).contains(&per_instance), "{per_instance}");
    // 2,000 boot reads within 60 s average 33/s; afterwards they spread over 900 s.
    assert!(r.ssm_peak >= 33, "{r:?}");
    assert!(r.ssm_peak_after_boot < r.ssm_peak, "{r:?}");
    assert_eq!(r.ssm_within_budget, r.ssm_peak <= 40);
}

/// `instances` instances discovering a role set over `accounts` accounts, the rest as
/// `small()` with the discovery defaults.
fn discovering(instances: u32, accounts: u32) -> Params {
    Params {
        instances,
        discover_accounts: accounts,
        ..small()
    }
}

#[test]
fn a_discovery_is_describe_organization_then_the_pages() {
    use testkit::fleet::calls_per_discovery;
    // (accounts, OUs, page size, calls)
    for (accounts, ous, page, calls) in [
        (1_000, 0, 20, 1 + 50),
        (1_001, 0, 20, 1 + 51),
        (20, 0, 20, 1 + 1),
        (0, 0, 20, 1 + 1),
        (1_000, 0, 7, 1 + 143),
        // Per OU a ListChildren and its pages: 45 over 3 OUs is 15 each, one page each.
        (45, 3, 20, 1 + 3 + 3),
        // 41 over 2 OUs: 21 (two pages) and 20 (one page).
        (41, 2, 20, 1 + 2 + 2 + 1),
        (1_000, 10, 20, 1 + 10 + 10 * 5),
    ] {
        assert_eq!(
            calls_per_discovery(accounts, ous, page),
            calls,
            "{accounts} {ous} {page}"
        );
    }
    assert_eq!(simulate(&small()).discovery, None);
}

#[test]
fn unthrottled_every_call_is_a_page_of_a_discovery() {
    let p = Params {
        org_budget: 1_000_000,
        org_reload: 900.0,
        ..discovering(300, 100)
    };
    let d = simulate(&p).discovery.unwrap();
    assert_eq!(d.calls_per_discovery, 6);
    assert_eq!(d.throttled, 0);
    // Discoveries still under way at the end have made some of their calls.
    assert!(
        d.calls >= d.discoveries * 6 && d.calls < (d.discoveries + 300) * 6,
        "{d:?}"
    );
    // One at boot, the next 450 to 1350 s later, then every 810 to 990 s: 11 to 14 in 3 h.
    let per_instance = d.discoveries as f64 / 300.0;
    assert!((11.0..=14.0).contains(&per_instance), "{per_instance}");
    // Six calls a second apart at start (the agent does not spread its first discovery).
    let wait = d.last_wait.unwrap();
    assert!((wait - 5.0).abs() < 1e-3, "{wait}");
    assert!(d.within_budget_after_boot && d.seconds_over_budget == 0);
}

#[test]
fn throttled_calls_are_retried_until_every_instance_has_its_accounts() {
    let p = Params {
        org_budget: 2,
        org_boot_spread: 0.0,
        org_reload: 1e9,
        ..discovering(200, 100)
    };
    let d = simulate(&p).discovery.unwrap();
    // 1,200 calls due within the first minute, 2 a second allowed: throttled, retried with
    // backoff, none dropped: each instance made its 6 calls, plus its refused tries.
    assert_eq!(d.discoveries, 200);
    assert_eq!(d.calls, 200 * 6 + d.throttled);
    assert!(d.throttled > 1_200, "{d:?}");
    assert!(d.peak > 2 && d.seconds_over_budget > 0);
    // At 2 calls a second, the 1,200 take at least 600 s.
    let wait = d.last_wait.unwrap();
    assert!(wait >= 600.0 - 60.0, "{wait}");
}

/// The discovery numbers of `p`.
fn discovery(p: Params) -> Discovery {
    simulate(&p).discovery.expect("a simulation with discovery")
}

#[test]
fn a_boot_spread_and_a_cache_lower_the_peak() {
    let fleet = || discovering(1_000, 40);
    let burst = discovery(Params {
        org_boot_spread: 0.0,
        ..fleet()
    });
    let spread = discovery(Params {
        org_boot_spread: 1_800.0,
        ..fleet()
    });
    let (lower, higher) = (spread.peak, burst.peak);
    assert!(lower * 3 < higher, "{lower} vs {higher}");
    assert!(spread.throttled < burst.throttled);
    // Rebooted instances whose cache is younger than the interval wait for nothing and
    // discover when it is a day old: about an eighth of them within 3 h.
    let cached = discovery(Params {
        org_cached: 1.0,
        ..fleet()
    });
    assert_eq!(cached.last_wait, Some(0.0));
    assert!(cached.calls <= 3 * 1_000 / 4, "{cached:?}");
    assert!(cached.peak < spread.peak, "{cached:?}");
}

#[test]
fn spread_over_ten_minutes_a_fleet_within_the_quota_converges() {
    // 100 instances x 11 calls (200 accounts) over a 600 s spread: under 2 calls/s.
    let p = Params {
        org_boot_spread: 600.0,
        ..discovering(100, 200)
    };
    let r = simulate(&p);
    let d = r.discovery.unwrap();
    assert!(d.within_budget_after_boot, "{d:?}");
    assert_eq!(d.seconds_over_budget_after_boot, 0);
    assert!(d.last_wait.unwrap() < 600.0 + 60.0, "{d:?}");
    // Modelling discovery draws from its own RNG: the STS numbers are those of the seed.
    let without = simulate(&Params {
        discover_accounts: 0,
        ..p
    });
    assert_eq!(r.total_calls, without.total_calls);
}

/// The fleet shares one listing: Organizations sees one publisher whatever the fleet's
/// size, and the fleet's reads go to SSM, one GetParameters call an instance for 1,000
/// accounts (4 parts).
#[test]
fn a_shared_list_keeps_organizations_to_one_publisher() {
    use testkit::fleet::shared_reads;
    assert_eq!(
        [1, 300, 301, 1000, 3000, 3001, 10_000].map(shared_reads),
        [1, 1, 1, 1, 1, 2, 4]
    );
    let p = Params {
        org_shared: true,
        ..discovering(10_000, 1_000)
    };
    let r = simulate(&p);
    let publisher = r.publisher.expect("a publisher");
    assert_eq!(publisher.calls_per_discovery, 51);
    assert_eq!(publisher.throttled, 0, "{publisher:?}");
    assert!(publisher.peak <= 1 && publisher.within_budget_after_boot);
    let fleet = r.discovery.expect("the fleet's reads");
    assert_eq!(fleet.calls_per_discovery, 1);
    // 10,000 reads in the boot minute overrun Parameter Store's default 40/s; retried, every
    // instance still gets its list.
    assert!(fleet.peak > 40 && fleet.throttled > 0, "{fleet:?}");
    assert!(fleet.last_wait.is_some(), "{fleet:?}");
    // With its higher throughput (GetParameters: 3,000/s) nothing is throttled.
    let high = simulate(&Params {
        ssm_budget: 3_000,
        ..p
    })
    .discovery
    .unwrap();
    assert_eq!(high.throttled, 0, "{high:?}");
    assert!(high.last_wait.unwrap() <= 61.0, "{high:?}");
}

/// 4,000 instances booting within 60 s against 16 reads a second: the ratio of 10,000 within
/// 60 s to Parameter Store's default 40, a quarter of the size.
fn ssm_boot(before: bool, kept: f64, spread: f64) -> Report {
    simulate(&Params {
        instances: 4_000,
        roles: 2,
        accounts: 2,
        hours: 1.0,
        ssm_reload: 900.0,
        ssm_budget: 16,
        ssm_before: before,
        ssm_kept: kept,
        start_spread: spread,
        ..small()
    })
}

#[test]
fn the_ssm_boot_burst_converges_without_exits_and_a_kept_copy_stays_under_the_quota() {
    let before = ssm_boot(true, 0.0, 0.0);
    // The old agent: a minute's retries, then exit 8 and a restart; most instances exit.
    assert!(before.ssm_exits > 1_000, "{before:?}");
    assert!(before.ssm_seconds_over_budget > 200, "{before:?}");

    // A new fleet, no copy anywhere: nobody exits, far fewer tries are throttled, and the
    // last config comes about when 16 a second can serve 4,000 (250 s), not much later.
    let new = ssm_boot(false, 0.0, 0.0);
    assert_eq!(new.ssm_exits, 0, "{new:?}");
    assert!(
        new.ssm_throttled * 3 < before.ssm_throttled,
        "{new:?} {before:?}"
    );
    let last = new.ssm_last_config.expect("every instance has its config");
    assert!((250.0..330.0).contains(&last), "{new:?}");

    // A fleet that boots with the copy (a reboot): profiles at once, and its reads spread
    // over the kept read's 600 s stay under the quota, as does a new fleet's --start-spread.
    let kept = ssm_boot(false, 1.0, 0.0);
    assert_eq!(kept.ssm_last_config, Some(0.0), "{kept:?}");
    assert_eq!(
        (kept.ssm_throttled, kept.ssm_seconds_over_budget),
        (0, 0),
        "{kept:?}"
    );
    assert!(kept.ssm_peak <= 16, "{kept:?}");
    let spread = ssm_boot(false, 0.0, 600.0);
    assert_eq!(spread.ssm_seconds_over_budget, 0, "{spread:?}");
    let last = spread
        .ssm_last_config
        .expect("every instance has its config");
    assert!((550.0..=600.0).contains(&last), "{spread:?}");
}

/// The chart the example writes is well-formed SVG (parsed by Python's XML parser), with a
/// panel per API and each quota's line.
#[test]
fn the_chart_is_well_formed_svg_with_each_quota() {
    let r = ssm_boot(false, 0.0, 0.0);
    let panels = [
        testkit::chart::Panel {
            title: "SSM GetParameter".into(),
            lines: vec![testkit::chart::Line {
                label: "calls made",
                color: "#1f77b4",
                values: &r.series.ssm_made,
            }],
            quota: Some(("quota 16 calls/s".into(), 16.0)),
        },
        testkit::chart::Panel {
            title: "STS AssumeRole <busiest> & co".into(),
            lines: vec![testkit::chart::Line {
                label: "calls made",
                color: "#9467bd",
                values: &r.series.sts_peak_account,
            }],
            quota: Some(("budget 600 calls/s".into(), 600.0)),
        },
    ];
    let svg = testkit::chart::svg("4,000 instances", 900, &panels);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chart.svg");
    std::fs::write(&file, &svg).unwrap();
    // The charts in docs/ (scripts/ssm-boot-charts.sh) parse too, each with its quota.
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for name in ["before", "after", "after-kept"] {
        let chart = docs.join(format!("ssm-boot-{name}.svg"));
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])",
            ])
            .arg(&chart)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}: {}",
            chart.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::fs::read_to_string(&chart)
            .unwrap()
            .contains("quota 40 calls/s"));
    }
    let check = "import sys, xml.etree.ElementTree as ET\n\
                 root = ET.parse(sys.argv[1]).getroot()\n\
                 ns = '{http://www.w3.org/2000/svg}'\n\
                 assert root.tag == ns + 'svg', root.tag\n\
                 lines = root.findall(ns + 'polyline')\n\
                 texts = [t.text for t in root.iter(ns + 'text')]\n\
                 print(len(lines), '|'.join(texts))";
    let out = std::process::Command::new("python3")
        .args(["-c", check])
        .arg(&file)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("2 "), "{stdout}");
    for label in [
        "quota 16 calls/s",
        "budget 600 calls/s",
        "STS AssumeRole <busiest> & co",
        "calls per second",
        "seconds after the first instance booted",
    ] {
        assert!(stdout.contains(label), "{label}: {stdout}");
    }
}

//! `ec2-assume-role daemon` (docs/operations.md), the real binary against the fakes: refreshes
//! on the schedule the STS `Expiration` sets, outages (one role's 5xx stalls nothing else),
//! expired-credential removal, SIGHUP reloads, SIGTERM and SIGINT, systemd's notify protocol
//! and watchdog on a real datagram socket, and the state file. The fake STS issues credentials
//! that live seconds, so every story fits in well under a minute; tests poll the files (the
//! daemon must not). No test may leave a daemon running: `Running` kills it on drop.

use crate::util::daemon::{
    config, creds, expiry, key_id, logged, plus, short_lived, sleep_until, start, start_notified,
    state, wait_ready, wait_refreshed, wait_written, BOTH, LIFETIME,
};
use crate::util::notify::Notification;
use crate::util::{section, wait_for, Running, TestDir, PROFILE_1, PROFILE_2, ROLE_1, ROLE_2};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use testkit::sts::{Outage, Script};
use time::OffsetDateTime;

#[test]
fn short_lived_credentials_are_refreshed_before_they_expire() {
    let t = short_lived(LIFETIME, "");
    let (socket, d) = start_notified(&t, &[]);
    wait_written(&t, &d, &BOTH);

    let mut keys: [BTreeSet<String>; 2] = Default::default();
    let mut notifications = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        let text = creds(&t);
        let now = OffsetDateTime::now_utc();
        for (i, (profile, _)) in BOTH.iter().enumerate() {
            let expires =
                expiry(&text, profile).unwrap_or_else(|| panic!("[{profile}] missing:\n{text}"));
            assert!(
                expires > now,
                "[{profile}] expired at {expires}, now {now}:\n{}",
                d.stderr_so_far()
            );
            keys[i].extend(key_id(&text, profile));
        }
        notifications.extend(socket.collect_for(Duration::from_millis(500)));
    }

    for (i, (profile, role)) in BOTH.iter().enumerate() {
        let calls = t.sts.assume_role_calls_for(role);
        // The first run, then one refresh every 4.3-7.2 s (half-way through 11-12 s, +-10%).
        assert!(calls.len() >= 4, "[{profile}] {} calls", calls.len());
        assert!(calls.iter().all(|c| c.status == 200));
        for pair in calls.windows(2) {
            let gap = pair[1].at - pair[0].at;
            // Never a busy loop (MIN_INTERVAL, less the batching second), never past expiry.
            assert!(
                gap >= Duration::from_millis(3500) && gap < Duration::from_secs(11),
                "[{profile}] refreshed {gap:?} after the previous one"
            );
        }
        assert!(keys[i].len() >= 4, "[{profile}] keys seen: {:?}", keys[i]);
    }
    // Without a watchdog, systemd hears only of refreshes: a new STATUS after each.
    let statuses: BTreeSet<&str> = notifications
        .iter()
        .filter_map(|n| n.value("STATUS"))
        .collect();
    assert!(statuses.len() >= 3, "{notifications:?}");
    assert!(
        statuses
            .iter()
            .all(|s| s.starts_with("2 profiles fresh; next refresh ")),
        "{statuses:?}"
    );
}

#[test]
fn an_sts_outage_keeps_the_valid_credentials_until_sts_recovers() {
    let t = short_lived(Duration::from_secs(16), "");
    let d = start(&t, &[]);
    wait_written(&t, &d, &BOTH);
    let before = creds(&t);
    t.sts.break_with(Outage::ServerError);

    // The first refresh due (half-way, 6-10 s in) meets the outage; the file keeps the valid
    // credentials meanwhile, byte for byte.
    let hit = wait_for(Duration::from_secs(12), || {
        assert_eq!(creds(&t), before, "changed during the outage");
        t.sts.assume_role_calls().iter().any(|c| c.status == 500)
    });
    assert!(hit, "no refresh met the outage:\n{}", d.stderr_so_far());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(creds(&t), before, "changed during the outage");

    t.sts.restore();
    wait_refreshed(&t, &d, &before, Duration::from_secs(20));
    let recovered = wait_for(Duration::from_secs(5), || {
        state(&t).is_some_and(|s| {
            BOTH.iter().all(|(p, _)| {
                s.profiles
                    .get(*p)
                    .is_some_and(|p| p.failures == 0 && p.last_error.is_none())
            })
        })
    });
    assert!(recovered, "state after recovery: {:#?}", state(&t));
}

/// Starts an AccessDenied outage right after the first write and waits until the credentials
/// have expired and the daemon has tried again: `(daemon, expiry)`.
fn outage_past_expiry(t: &TestDir) -> (Running, OffsetDateTime) {
    let d = start(t, &[]);
    wait_written(t, &d, &BOTH);
    t.sts.break_with(Outage::AccessDenied);
    let text = creds(t);
    let expires = BOTH
        .iter()
        .filter_map(|(p, _)| expiry(&text, p))
        .max()
        .unwrap_or_else(|| panic!("no expiration in:\n{text}"));
    // Until expiry the sections stay (sampled twice a second).
    while OffsetDateTime::now_utc() + time::Duration::milliseconds(500) < expires {
        let text = creds(t);
        for (p, _) in BOTH {
            assert!(key_id(&text, p).is_some(), "[{p}] gone before expiry");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    (d, expires)
}

#[test]
fn credentials_that_expire_in_an_outage_are_removed_with_a_warning() {
    let t = short_lived(LIFETIME, "");
    t.create(
        "home/.aws/credentials",
        "[mine]\naws_access_key_id = AKIAMINE\n",
    );
    let (d, expires) = outage_past_expiry(&t);

    // The retry after expiry (at most the 5 s floor plus the batching second) removes them.
    let gone = wait_for(Duration::from_secs(10), || {
        let text = creds(&t);
        BOTH.iter().all(|(p, _)| section(&text, p).is_none())
    });
    assert!(
        gone,
        "still there {}s after expiry:\n{}\n{}",
        (OffsetDateTime::now_utc() - expires).whole_seconds(),
        creds(&t),
        d.stderr_so_far()
    );
    assert!(
        OffsetDateTime::now_utc() >= expires,
        "removed before expiry"
    );
    assert!(creds(&t).starts_with("[mine]\naws_access_key_id = AKIAMINE\n"));
    // The warning follows the write: wait for it (the file can change before the line is read).
    let warned = wait_for(Duration::from_secs(5), || {
        let stderr = d.stderr_so_far();
        BOTH.iter()
            .all(|(p, _)| logged(&stderr, "WARN", &format!("removed profile {p}")))
    });
    assert!(warned, "{}", d.stderr_so_far());
}

#[test]
fn with_remove_expired_false_expired_credentials_stay() {
    let t = short_lived(LIFETIME, "remove_expired = false");
    let (d, _) = outage_past_expiry(&t);

    // The retry after expiry is logged loudly for each profile, and removes nothing.
    let warned = wait_for(Duration::from_secs(10), || {
        let stderr = d.stderr_so_far();
        BOTH.iter().all(|(p, _)| {
            logged(
                &stderr,
                "WARN",
                &format!("profile {p} has expired credentials and could not be refreshed"),
            )
        })
    });
    assert!(warned, "{}", d.stderr_so_far());
    let text = creds(&t);
    for (p, role) in BOTH {
        assert_eq!(
            key_id(&text, p),
            t.sts.issued_for(role).map(|i| i.access_key_id),
            "[{p}]"
        );
    }
    assert!(!d.stderr_so_far().contains("removed profile"));
}

#[test]
fn sighup_adds_and_removes_roles_and_refuses_an_invalid_config() {
    let t = TestDir::new();
    t.sts.set_lifetime(LIFETIME);
    t.write_config(&config(&t, &BOTH[..1], ""));
    let mut d = start(&t, &[]);
    wait_written(&t, &d, &BOTH[..1]);
    assert_eq!(section(&creds(&t), PROFILE_2), None);

    // A new role: assumed at once.
    t.write_config(&config(&t, &BOTH, ""));
    d.signal("HUP");
    wait_written(&t, &d, &BOTH);

    // A removed role: its sections go from both files.
    t.write_config(&config(&t, &BOTH[1..], ""));
    d.signal("HUP");
    let removed = wait_for(Duration::from_secs(5), || {
        let aws_config = t.read(t.aws_config_path());
        section(&creds(&t), PROFILE_1).is_none()
            && section(&aws_config, &format!("profile {PROFILE_1}")).is_none()
    });
    assert!(removed, "{}\n{}", creds(&t), d.stderr_so_far());
    let aws_config = t.read(t.aws_config_path());
    assert!(section(&aws_config, &format!("profile {PROFILE_2}")).is_some());

    // An invalid config: refused, and the old one keeps refreshing.
    let key = key_id(&creds(&t), PROFILE_2);
    t.write_config(&format!(
        "{}\n[[role]]\nprofile = \"\"\n",
        config(&t, &BOTH[1..], "")
    ));
    d.signal("HUP");
    let refused = wait_for(Duration::from_secs(5), || {
        logged(&d.stderr_so_far(), "ERROR", "reload refused")
    });
    assert!(refused, "{}", d.stderr_so_far());
    let refreshed = wait_for(Duration::from_secs(12), || {
        key_id(&creds(&t), PROFILE_2) != key
    });
    assert!(refreshed, "{}", d.stderr_so_far());
    assert!(d.is_running());
    assert_eq!(section(&creds(&t), PROFILE_1), None);
}

#[test]
fn sigterm_and_sigint_stop_cleanly() {
    for signal in ["TERM", "INT"] {
        let t = short_lived(LIFETIME, "");
        let (socket, mut d) = start_notified(&t, &[]);
        wait_ready(&socket, &d);

        d.signal(signal);
        let status = d.wait_timeout(Duration::from_secs(3));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "SIG{signal}: {status:?}\n{}",
            d.stderr_so_far()
        );
        let stopping = socket.recv_until(|n| n.has("STOPPING=1"), Duration::from_secs(1));
        assert!(
            stopping.iter().any(|n| n.has("STOPPING=1")),
            "SIG{signal}: {stopping:?}"
        );
        assert!(d
            .stderr_so_far()
            .contains(&format!("SIG{signal}: stopping")));
        // Stopping leaves the credentials in place.
        let text = creds(&t);
        assert!(BOTH.iter().all(|(p, _)| key_id(&text, p).is_some()));
    }
}

fn pings(notifications: &[Notification]) -> Vec<Instant> {
    notifications
        .iter()
        .filter(|n| n.has("WATCHDOG=1"))
        .map(|n| n.at)
        .collect()
}

#[test]
fn systemd_hears_ready_after_the_first_write_then_status_and_watchdog() {
    // Hour-long credentials: nothing but the watchdog happens after READY=1.
    let t = short_lived(Duration::from_secs(3600), "");
    let (socket, d) = start_notified(&t, &[("WATCHDOG_USEC", "2000000")]);
    let before = socket.recv_until(|n| n.has("READY=1"), Duration::from_secs(15));
    // READY=1 comes only once the file holds both profiles, exactly as STS issued them.
    let text = creds(&t);
    let Some(ready) = before.last().filter(|n| n.has("READY=1")) else {
        panic!("no READY=1: {before:?}\n{}", d.stderr_so_far());
    };
    for (p, role) in BOTH {
        assert_eq!(
            key_id(&text, p),
            t.sts.issued_for(role).map(|i| i.access_key_id),
            "[{p}] at READY=1"
        );
    }
    assert!(
        pings(&before).is_empty(),
        "pinged before READY=1: {before:?}"
    );
    let status = ready.value("STATUS").unwrap_or_default();
    assert!(
        status.starts_with("2 profiles fresh; next refresh "),
        "{status}"
    );

    // A ping about every second: half of WATCHDOG_USEC.
    let after = socket.collect_for(Duration::from_secs(5));
    let pings = pings(&after);
    assert!(pings.len() >= 4, "{} pings: {after:?}", pings.len());
    let mut last = ready.at;
    for at in pings {
        let gap = at - last;
        assert!(
            gap > Duration::from_millis(500) && gap < Duration::from_millis(1500),
            "{gap:?} between pings"
        );
        last = at;
    }
}

#[test]
fn status_names_a_failing_profile_and_another_pids_watchdog_is_not_ours() {
    let t = short_lived(LIFETIME, "");
    t.sts.script(ROLE_2, Script::AccessDenied);
    let (socket, d) = start_notified(&t, &[("WATCHDOG_USEC", "1000000"), ("WATCHDOG_PID", "1")]);
    let got = socket.recv_until(|n| n.has("READY=1"), Duration::from_secs(15));
    let status = got
        .last()
        .and_then(|n| n.value("STATUS"))
        .unwrap_or_else(|| panic!("{got:?}\n{}", d.stderr_so_far()));
    assert!(
        status.starts_with(&format!("1 of 2 profiles fresh; failing: {PROFILE_2}")),
        "{status}"
    );
    let after = socket.collect_for(Duration::from_millis(2500));
    assert!(pings(&after).is_empty(), "{after:?}");
}

#[test]
fn the_state_file_tracks_each_profiles_schedule_and_failures() {
    let t = short_lived(LIFETIME, "");
    let d = start(&t, &[]);
    // The state file is written right after the credentials file.
    let both = wait_for(Duration::from_secs(15), || {
        state(&t).is_some_and(|s| s.profiles.len() == 2)
    });
    assert!(both, "no state file:\n{}", d.stderr_so_far());
    let s = state(&t).unwrap_or_default();
    assert_eq!(s.pid, d.pid());
    assert_eq!(s.credentials_file, t.credentials_path());
    let config = t.config_path().display().to_string();
    assert_eq!(
        s.config.as_deref(),
        Some(config.as_str()),
        "what it describes"
    );
    assert_eq!(s.files, [t.credentials_path()]);
    let text = creds(&t);
    for (p, role) in BOTH {
        let entry = &s.profiles[p];
        assert_eq!(entry.role_arn, role);
        assert_eq!(entry.expiration, expiry(&text, p), "[{p}]");
        let (Some(last), Some(next), Some(expires)) =
            (entry.last_refresh, entry.next_refresh, entry.expiration)
        else {
            panic!("[{p}] {entry:#?}");
        };
        // Half-way through 11-12 s, +-10%, never sooner than 5 s after issue.
        assert!(last < next && next < expires, "[{p}] {entry:#?}");
        assert!(
            next - last >= time::Duration::seconds(4),
            "[{p}] {entry:#?}"
        );
        assert_eq!((entry.failures, &entry.last_error), (0, &None), "[{p}]");
    }

    // ROLE_1 is refused from now on: its refresh fails, and the state says so.
    t.sts.script(ROLE_1, Script::AccessDenied);
    let failed = wait_for(Duration::from_secs(12), || {
        state(&t).is_some_and(|s| s.profiles[PROFILE_1].failures > 0)
    });
    assert!(failed, "{}", d.stderr_so_far());
    let s = state(&t).unwrap_or_default();
    let entry = &s.profiles[PROFILE_1];
    let error = entry
        .last_error
        .as_ref()
        .unwrap_or_else(|| panic!("{entry:#?}"));
    assert_eq!(error.code, "AccessDenied");
    assert!(error.message.contains(ROLE_1), "{error:?}");
    // The next try: no sooner than the 5 s floor, and the old credentials still count.
    let next = entry.next_refresh.unwrap_or_else(|| panic!("{entry:#?}"));
    assert!(next >= error.at + time::Duration::seconds(4), "{entry:#?}");
    assert_eq!(entry.expiration, expiry(&creds(&t), PROFILE_1));
    assert_eq!(s.profiles[PROFILE_2].failures, 0);

    // Allowed again: the retry succeeds and the failures are forgotten.
    t.sts.script(ROLE_1, Script::Ok);
    let recovered = wait_for(Duration::from_secs(10), || {
        state(&t).is_some_and(|s| {
            let e = &s.profiles[PROFILE_1];
            e.failures == 0 && e.last_error.is_none()
        })
    });
    assert!(recovered, "{:#?}\n{}", state(&t), d.stderr_so_far());
}

// Known daemon bugs (see the report): the STS call's own retry policy (up to 60 s) and the
// watchdog timer both live in the daemon's one select loop.

#[test]
fn one_roles_5xx_outage_stalls_nothing_else() {
    let t = short_lived(LIFETIME, "");
    let (socket, mut d) = start_notified(&t, &[("WATCHDOG_USEC", "2000000")]);
    wait_ready(&socket, &d);
    t.sts.script(ROLE_1, Script::ServerError(usize::MAX));
    // Reading on as systemd would: a full socket would block the daemon's sends.
    let hit = || {
        t.sts
            .assume_role_calls_for(ROLE_1)
            .iter()
            .any(|c| c.status == 500)
    };
    socket.recv_until(|_| hit(), Duration::from_secs(10));
    assert!(hit(), "{}", d.stderr_so_far());

    // Over one lifetime: ROLE_2 is refreshed (at least once), and pings go on (systemd kills
    // a service whose pings stop for WATCHDOG_USEC).
    let issued = t.sts.all_issued_for(ROLE_2).len();
    let during = socket.collect_for(LIFETIME);
    let refreshed = t.sts.all_issued_for(ROLE_2).len() - issued;
    let pings = pings(&during).len();
    d.signal("TERM");
    let status = d.wait_timeout(Duration::from_secs(3));
    assert!(
        refreshed >= 1 && pings >= 8 && status.and_then(|s| s.code()) == Some(0),
        "in {LIFETIME:?} of a 5xx outage of {ROLE_1}: {refreshed} refreshes of {ROLE_2}, \
         {pings} pings; 3 s after SIGTERM: {status:?}"
    );
}

#[test]
fn watchdog_pings_keep_their_period_whatever_else_happens() {
    let t = short_lived(Duration::from_secs(3600), "");
    let (socket, d) = start_notified(&t, &[("WATCHDOG_USEC", "2000000")]);
    wait_ready(&socket, &d);
    // A reload every 0.6 s for 4 s (an operator's script, say): each is a loop event.
    let mut during = Vec::new();
    for _ in 0..7 {
        d.signal("HUP");
        during.extend(socket.collect_for(Duration::from_millis(600)));
    }
    let pings = pings(&during).len();
    assert!(pings >= 3, "{pings} pings in 4 s of reloads: {during:?}");
}

#[test]
fn credentials_that_expire_in_a_5xx_outage_are_removed_too() {
    let t = short_lived(LIFETIME, "");
    let d = start(&t, &[]);
    wait_written(&t, &d, &BOTH);
    t.sts.break_with(Outage::ServerError);
    let text = creds(&t);
    let expires = BOTH
        .iter()
        .filter_map(|(p, _)| expiry(&text, p))
        .max()
        .unwrap_or_else(|| panic!("no expiration in:\n{text}"));
    sleep_until(plus(expires, Duration::from_secs(10)));
    let text = creds(&t);
    for (p, _) in BOTH {
        assert_eq!(
            section(&text, p),
            None,
            "[{p}] expired 10 s ago and still there:\n{}",
            d.stderr_so_far()
        );
    }
}

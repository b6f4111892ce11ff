//! No secret leaves the credential types (docs/security.md): none in `run`'s logs even at
//! trace, none in the daemon's logs or state file over many refreshes, and none in any
//! process's command line or environment under /proc, where other local users can read them.

use crate::util::daemon::{short_lived, start, start_with, state_path, wait_written, BOTH};
use crate::util::{assert_no_secrets, procfs, story, story_with, wait_for, ROLE_1, ROLE_2};
use std::time::Duration;
use testkit::imds::ImdsConfig;
use testkit::sts::Script;

#[test]
fn no_secret_is_ever_logged_even_at_trace() {
    let t = story();
    t.sts.script(ROLE_1, Script::Throttle(1));
    t.sts.script(ROLE_2, Script::AccessDenied);
    let out = t.cmd(&["-vvv", "run"]).expect_exit(3);
    assert!(out.stderr.contains("AccessDenied"), "{}", out.stderr);
    assert!(!t.sts.issued().is_empty());
    assert_no_secrets(&t, &out.stderr);
    assert_no_secrets(&t, &out.stdout);

    // The error paths of IMDS too.
    let t = story_with(ImdsConfig {
        role_name: "SomeOtherRole".into(),
        ..ImdsConfig::default()
    });
    let out = t.cmd(&["-vvv", "run"]).expect_exit(5);
    assert_no_secrets(&t, &out.stderr);
}

#[test]
fn no_secret_reaches_the_logs_or_the_state_file_over_many_refreshes() {
    let t = short_lived(Duration::from_secs(10), "");
    let mut d = start_with(&t, &["-vvv", "daemon"], &[]);
    wait_written(&t, &d, &BOTH);
    // Some refreshes, a refused role, a reload: every logging path of the daemon.
    let several = wait_for(Duration::from_secs(20), || {
        BOTH.iter()
            .all(|(_, role)| t.sts.all_issued_for(role).len() >= 3)
    });
    assert!(several, "{}", d.stderr_so_far());
    t.sts.script(ROLE_2, Script::AccessDenied);
    d.signal("HUP");
    let refused = wait_for(Duration::from_secs(10), || {
        d.stderr_so_far().contains("AccessDenied")
    });
    assert!(refused, "{}", d.stderr_so_far());
    d.signal("TERM");
    assert!(d.wait_timeout(Duration::from_secs(3)).is_some());

    crate::util::assert_no_secrets(&t, &d.stderr_so_far());
    crate::util::assert_no_secrets(&t, &d.stdout_so_far());
    crate::util::assert_no_secrets(&t, &t.read(state_path(&t)));
}

/// Other local users can read a process's command line (and root its environment) in /proc.
/// While the daemon runs and refreshes, neither its own nor those of any process below it hold
/// a credential; and it starts no process at all (a child could only widen the exposure).
#[test]
fn no_credential_is_ever_in_proc_cmdline_or_environ_and_nothing_is_spawned() {
    let t = short_lived(Duration::from_secs(8), "");
    let d = start(&t, &[]);
    wait_written(&t, &d, &BOTH);
    let mut looks = 0;
    let refreshed = wait_for(Duration::from_secs(25), || {
        let seen = procfs::tree(d.pid());
        assert_eq!(
            seen.first().map(|s| s.pid),
            Some(d.pid()),
            "the daemon exited"
        );
        assert_eq!(seen.len(), 1, "the daemon started a process: {seen:#?}");
        procfs::assert_no_secret(&seen, &crate::util::issued_secrets(&t));
        looks += 1;
        // Two refreshes of each role after the first write.
        BOTH.iter()
            .all(|(_, role)| t.sts.all_issued_for(role).len() >= 3)
    });
    assert!(refreshed, "{}", d.stderr_so_far());
    assert!(looks > 20, "only {looks} looks at /proc");
}

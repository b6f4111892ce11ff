//! STS faults and malformed STS answers (issue 7), the real binary against the fake STS:
//! AccessDenied failing that role only, throttling and server errors retried until success,
//! calls that hang past the attempt timeout, `ExpiredToken` after the instance-profile
//! credentials rotated, requests refused because the instance's clock is off, 200 answers that
//! are not valid AssumeRole responses, and refusals explained (issue 12). Each story says what
//! the user sees (exit code, log line) and what the file holds afterwards. Backs
//! docs/operations.md (exit codes, logs) and docs/troubleshooting.md.

use crate::util::daemon::{
    config, creds, logged, short_lived, start, state, wait_refreshed, wait_written, BOTH, LIFETIME,
};
use crate::util::{
    assert_no_secrets, assert_profile_written, section, story, story_with, user_bytes, wait_for,
    TestDir, PROFILE_1, PROFILE_2, ROLE_1, ROLE_2,
};
use std::time::{Duration, Instant};
use testkit::imds::{self, ImdsConfig};
use testkit::sts::{Bad, Script, STS_CLOCK_AHEAD};

#[test]
fn an_sts_call_that_hangs_times_out_and_is_retried() {
    let t = story();
    t.sts.script(ROLE_1, Script::Hang(1));
    let started = Instant::now();
    let out = t.cmd(&["run"]).expect_exit(0);
    let took = started.elapsed();

    // The 10 s attempt timeout, not the fake's 60 s hang, ended the first call.
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(30),
        "took {took:?}"
    );
    assert_eq!(t.sts.assume_role_calls_for(ROLE_1).len(), 2);
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert_profile_written(&t, PROFILE_2, crate::util::ROLE_2);
    let retry = out.stderr_line("AssumeRole failed; retrying");
    assert!(
        retry.contains("Timeout") && retry.contains("timed out"),
        "{retry}"
    );
    eprintln!("a run with one hung call took {took:?}");
}

/// `(access key id that signed, status)` of each AssumeRole call for `role`, in order.
fn signers(t: &TestDir, role: &str) -> Vec<(String, u16)> {
    t.sts
        .assume_role_calls_for(role)
        .into_iter()
        .map(|c| (c.access_key_id.unwrap_or_default(), c.status))
        .collect()
}

#[test]
fn expired_instance_credentials_are_read_again_and_the_new_key_signs() {
    // IMDS still serves the old key on the first read, the rotated one after; STS already
    // refuses the old one.
    let t = story_with(ImdsConfig {
        rotate_credentials_after_reads: Some(1),
        ..ImdsConfig::default()
    });
    t.sts.expire_key(imds::ACCESS_KEY_ID);
    let out = t.cmd(&["run"]).expect_exit(0);

    for (profile, role) in BOTH {
        assert_eq!(
            signers(&t, role),
            [
                (imds::ACCESS_KEY_ID.to_owned(), 400),
                (imds::ROTATED_ACCESS_KEY_ID.to_owned(), 200)
            ],
            "{role}"
        );
        assert_profile_written(&t, profile, role);
    }
    let credential_reads = t
        .imds
        .requests()
        .iter()
        .filter(|r| {
            r.path
                .ends_with("/security-credentials/EC2_PerformSecurityAudit")
        })
        .count();
    assert_eq!(credential_reads, 2, "one read, one re-read for both roles");
    assert!(out.stderr.contains("instance-profile credentials expired"));
    assert_no_secrets(&t, &out.stderr);
}

#[test]
fn the_daemon_reads_rotated_instance_credentials_again_on_expired_token() {
    let t = TestDir::with_imds(ImdsConfig {
        // The first refresh and the second one's first read get the old key.
        rotate_credentials_after_reads: Some(2),
        ..ImdsConfig::default()
    });
    t.sts.set_lifetime(LIFETIME);
    t.write_config(&config(&t, &BOTH, ""));
    let d = start(&t, &[]);
    wait_written(&t, &d, &BOTH);
    let before = creds(&t);
    t.sts.expire_key(imds::ACCESS_KEY_ID);

    wait_refreshed(&t, &d, &before, Duration::from_secs(15));
    for (_, role) in BOTH {
        let calls = signers(&t, role);
        // The first refresh, then (in whichever batch the role fell) at most one refusal of
        // the old key, then the new key.
        assert_eq!(calls[0], (imds::ACCESS_KEY_ID.to_owned(), 200), "{role}");
        assert_eq!(
            calls.last(),
            Some(&(imds::ROTATED_ACCESS_KEY_ID.to_owned(), 200)),
            "{role}: {calls:?}"
        );
        assert!(calls.len() <= 3, "{role}: {calls:?}");
    }
    let refused = BOTH
        .iter()
        .flat_map(|(_, role)| signers(&t, role))
        .filter(|(_, status)| *status == 400)
        .count();
    assert!(refused >= 1, "STS never refused the old key");
    // Healed within the refresh, not by the daemon's retry (5 s later at the soonest): no role
    // failed, and the new key signed right after the refusal.
    let stderr = d.stderr_so_far();
    assert!(!stderr.contains("could not assume"), "{stderr}");
    let calls = t.sts.assume_role_calls();
    for pair in calls.windows(2) {
        if pair[0].status == 400 {
            assert!(
                pair[1].at - pair[0].at < Duration::from_secs(2),
                "{calls:#?}"
            );
        }
    }
    let s = state(&t).expect("a state file");
    for (p, _) in BOTH {
        assert_eq!(s.profiles[p].failures, 0, "{p}: {:#?}", s.profiles[p]);
    }
    assert_no_secrets(&t, &stderr);
}

/// The skew in seconds the clock-skew warning names (negative: behind STS), if logged.
fn logged_skew(stderr: &str) -> Option<i64> {
    let line = stderr
        .lines()
        .find(|l| l.contains(" WARN ") && l.contains("the clock of this instance is"))?;
    let (before, _) = line.split_once(" s behind STS's")?;
    before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse::<i64>().ok())
        .map(|n| -n)
}

#[test]
fn a_refusal_for_clock_skew_is_corrected_and_named_with_its_skew() {
    let ahead = STS_CLOCK_AHEAD.whole_seconds();
    for code in [
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "RequestExpired",
    ] {
        // One role: the fake's clock is off for its calls only, and another role's answers
        // (with the machine's Date) would measure the clock right again meanwhile.
        let t = story();
        t.write_config(&config(&t, &BOTH[..1], ""));
        t.sts.script(ROLE_1, Script::Skewed(code, 2));
        let out = t.cmd(&["run"]).expect_exit(0);

        // The refusal's Date corrects the clock: the next call is signed with STS's time.
        let calls = t.sts.assume_role_calls_for(ROLE_1);
        let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
        assert_eq!(statuses.len(), 2, "{code}: {statuses:?}\n{}", out.stderr);
        assert_eq!(statuses[1], 200, "{code}");
        assert_profile_written(&t, PROFILE_1, ROLE_1);
        let skew = logged_skew(&out.stderr)
            .unwrap_or_else(|| panic!("{code}: no skew warning:\n{}", out.stderr));
        // The Date header has whole seconds.
        assert!((skew + ahead).abs() <= 1, "{code}: skew {skew}");
        let warnings = out
            .stderr
            .lines()
            .filter(|l| l.contains(" WARN ") && l.contains("the clock of this instance"))
            .collect::<Vec<_>>();
        assert_eq!(warnings.len(), 1, "{code}: once per run: {warnings:#?}");
        assert!(warnings[0].contains("chrony or NTP"), "{}", warnings[0]);
        assert!(warnings[0].contains("corrected time"), "{}", warnings[0]);
    }
}

#[test]
fn the_daemon_keeps_the_old_section_through_a_clock_too_far_off_and_recovers() {
    let t = short_lived(Duration::from_secs(16), "");
    let d = start(&t, &[]);
    wait_written(&t, &d, &BOTH);
    let before = creds(&t);
    // 20 minutes: more than the agent corrects for.
    t.sts.set_clock(time::Duration::minutes(20));

    // The refresh due half-way fails on the skew, names it, and leaves the file as it was.
    let failed = wait_for(Duration::from_secs(15), || {
        assert_eq!(creds(&t), before, "changed while the clock was off");
        let stderr = d.stderr_so_far();
        logged(&stderr, "ERROR", "s behind STS's, more than the 900 s")
    });
    assert!(failed, "no failed refresh:\n{}", d.stderr_so_far());
    let s = state(&t).expect("a state file");
    let failing: Vec<_> = s
        .profiles
        .values()
        .filter_map(|p| p.last_error.as_ref())
        .collect();
    assert!(
        failing
            .iter()
            .all(|e| e.code == "SignatureDoesNotMatch" && e.message.contains("fix time sync")),
        "{failing:#?}"
    );
    assert_eq!(s.clock_correction_seconds, 0, "{s:#?}");

    // The clock is right again (as after chrony's step): the retry writes new credentials.
    t.sts.set_clock(time::Duration::ZERO);
    wait_refreshed(&t, &d, &before, Duration::from_secs(40));
}

#[test]
fn malformed_sts_answers_fail_that_role_only_and_leave_its_old_section() {
    let user = "# mine\n[default]\naws_access_key_id = AKIAUSER\n\n[other]\nregion = x\n";
    let cases = [
        (Bad::Truncated, "SessionToken is empty"),
        (Bad::NoCredentials, "no Credentials"),
        (Bad::NoExpiration, "no Expiration"),
        (Bad::ExpirationNotADate, "expected (timestamp"),
        (
            Bad::Html,
            "expected AssumeRoleResponse (Content-Type: text/html)",
        ),
        (Bad::Huge, "longer than 1048576 bytes"),
        (Bad::AlreadyExpired, "expired at"),
        (Bad::EmptyAccessKeyId, "AccessKeyId is empty"),
    ];
    for (bad, says) in cases {
        let t = story();
        t.create("home/.aws/credentials", user);
        t.cmd(&["run"]).expect_exit(0);
        let before = t.read(t.credentials_path());
        assert!(before.starts_with(user), "{before}");

        t.sts.script(ROLE_1, Script::Malformed(bad));
        let started = Instant::now();
        let out = t.cmd(&["run"]).expect_exit(3);
        let took = started.elapsed();

        let line = out.stderr_line("could not assume");
        assert!(
            line.contains(ROLE_1)
                && line.contains(PROFILE_1)
                && line.contains("not a valid AssumeRole response")
                && line.contains(says),
            "{bad:?}: {line}"
        );
        // A malformed answer is not retried: STS will not answer differently.
        assert_eq!(t.sts.assume_role_calls_for(ROLE_1).len(), 2, "{bad:?}");
        let after = t.read(t.credentials_path());
        assert_eq!(
            section(&after, PROFILE_1),
            section(&before, PROFILE_1),
            "{bad:?}: the old section changed"
        );
        assert_profile_written(&t, PROFILE_2, crate::util::ROLE_2);
        assert_eq!(
            user_bytes(after.as_bytes()),
            user_bytes(before.as_bytes()),
            "{bad:?}: the user's bytes changed"
        );
        assert_no_secrets(&t, &out.stderr);
        assert!(out.stderr.len() < 4096, "{bad:?}: the body was echoed");
        assert!(took < Duration::from_secs(10), "{bad:?}: took {took:?}");
    }
}

#[test]
fn access_denied_names_both_policies_and_the_one_sts_blames() {
    let t = story();
    t.sts.script(
        ROLE_2,
        Script::DeniedBecause(" because no identity-based policy allows the sts:AssumeRole action"),
    );
    let out = t.cmd(&["run"]).expect_exit(3);

    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert!(section(&t.read(t.credentials_path()), PROFILE_2).is_none());
    let failure = out
        .stderr
        .lines()
        .find(|l| l.contains("AccessDenied") && l.contains(PROFILE_2))
        .unwrap_or_else(|| panic!("no AccessDenied line:\n{}", out.stderr));
    for says in [
        // STS's own words first.
        "because no identity-based policy allows the sts:AssumeRole action",
        "the permission policy of role EC2_PerformSecurityAudit (account 000000000000, the \
         signer) must allow it on arn:aws:iam::222222222222:role/PerformSecurityAudit",
        "the trust policy of arn:aws:iam::222222222222:role/PerformSecurityAudit must allow it \
         to role EC2_PerformSecurityAudit or to its account 000000000000",
        "STS's answer points to the permission policy of role EC2_PerformSecurityAudit",
        "`ec2-assume-role policy` prints both",
    ] {
        assert!(failure.contains(says), "{says:?} not in {failure}");
    }
    assert_no_secrets(&t, &out.stderr);
}

#[test]
fn access_denied_fails_that_role_only() {
    let t = story();
    t.sts.script(ROLE_2, Script::AccessDenied);

    let out = t.cmd(&["run"]).expect_exit(3);
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    let creds = t.read(t.credentials_path());
    assert!(section(&creds, PROFILE_2).is_none(), "{creds}");
    let failure = out.stderr_line("AccessDenied");
    assert!(
        failure.contains(PROFILE_2) && failure.contains(ROLE_2),
        "{failure}"
    );
    // AccessDenied is final: no retry.
    let denied = t.sts.assume_role_calls();
    assert_eq!(
        denied
            .iter()
            .filter(|c| c.param("RoleArn") == Some(ROLE_2))
            .count(),
        1
    );
}

#[test]
fn throttling_and_server_errors_are_retried_until_success() {
    // (script, the role it hits, calls STS then sees for that role)
    for (script, arn, profile, calls) in [
        (Script::Throttle(4), ROLE_1, PROFILE_1, 5),
        (Script::ServerError(2), ROLE_2, PROFILE_2, 3),
    ] {
        let t = story();
        t.sts.script(arn, script);
        t.cmd(&["run"]).expect_exit(0);
        let made = t.sts.assume_role_calls();
        let count = |a: &str| {
            made.iter()
                .filter(|c| c.param("RoleArn") == Some(a))
                .count()
        };
        assert_eq!(count(arn), calls, "{script:?}");
        assert_eq!(count(ROLE_1) + count(ROLE_2), calls + 1, "{script:?}");
        assert_profile_written(&t, profile, arn);
    }
}

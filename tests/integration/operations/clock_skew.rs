//! A clock off STS's (docs/operations.md, "A clock off AWS's"; docs/troubleshooting.md): the
//! fake STS keeps its own clock, 10 minutes ahead of or behind the machine's, refuses a
//! request signed more than 5 minutes off it with real STS's 403 `SignatureDoesNotMatch` and
//! its `Date`, and issues expiry times on its clock. `run` corrects and writes both profiles
//! at once; a clock 20 minutes off is refused at once, naming the skew; the daemon keeps the
//! correction across refreshes, without a new refusal, and says so in the journal, the state
//! file, `status` and the metrics.

use crate::util::daemon::{config, creds, start, state, wait_refreshed, wait_written, BOTH};
use crate::util::{assert_profile_written, story, TestDir};
use std::time::{Duration, Instant};

/// The skew the warning names, in seconds this clock is ahead of STS's, if it was logged.
fn warned_skew(stderr: &str) -> Option<i64> {
    let line = stderr
        .lines()
        .find(|l| l.contains(" WARN ") && l.contains("signed with the corrected time"))?;
    let (number, way) = line
        .split_once("the clock of this instance is ")?
        .1
        .split_once(" s ")?;
    let n: i64 = number.parse().ok()?;
    Some(if way.starts_with("behind") { -n } else { n })
}

/// The status of each AssumeRole call for `role`, in order.
fn statuses(t: &TestDir, role: &str) -> Vec<u16> {
    t.sts
        .assume_role_calls_for(role)
        .iter()
        .map(|c| c.status)
        .collect()
}

/// boto3 reads `profile` from the credentials file the binary wrote: its access key id.
fn boto3_key(t: &TestDir, profile: &str) -> String {
    let script = format!(
        "import boto3; print(boto3.Session(profile_name={profile:?}).get_credentials().access_key)"
    );
    t.python(&script).expect_exit(0).stdout.trim().to_owned()
}

#[test]
fn run_with_sts_10_minutes_ahead_or_behind_writes_both_profiles_at_once() {
    for ahead in [600, -600] {
        let t = story();
        t.sts.set_clock(time::Duration::seconds(ahead));
        let started = Instant::now();
        let out = t.cmd(&["run"]).expect_exit(0);
        let took = started.elapsed();

        for (profile, role) in BOTH {
            // At most the first call of each role is refused (both may go out before the
            // first refusal has measured the clock); the next is signed right.
            let got = statuses(&t, role);
            assert!(
                got == [200] || got == [403, 200],
                "{ahead}: {role}: {got:?}"
            );
            // The expiry written is STS's, on its clock.
            assert_profile_written(&t, profile, role);
            let issued = t.sts.issued_for(role).unwrap();
            assert_eq!(boto3_key(&t, profile), issued.access_key_id);
        }
        let refused: usize = BOTH.iter().map(|(_, r)| statuses(&t, r).len() - 1).sum();
        assert!(
            refused >= 1,
            "{ahead}: no call was refused: the fake did not check"
        );
        let skew = warned_skew(&out.stderr)
            .unwrap_or_else(|| panic!("{ahead}: no warning:\n{}", out.stderr));
        // This clock is behind a fake that is ahead; the Date header has whole seconds.
        assert!((skew + ahead).abs() <= 2, "{ahead}: skew {skew}");
        let warnings = (out.stderr.lines())
            .filter(|l| l.contains(" WARN ") && l.contains("the clock of this instance"))
            .count();
        assert_eq!(warnings, 1, "{ahead}: once per run:\n{}", out.stderr);
        assert!(out.stderr.contains("chrony or NTP"), "{}", out.stderr);
        assert!(took < Duration::from_secs(20), "{ahead}: took {took:?}");
        eprintln!(
            "run exited 0 in {:.2} s with STS {ahead} s ahead ({refused} call(s) refused)",
            took.as_secs_f64()
        );
    }
}

#[test]
fn a_clock_20_minutes_off_is_refused_at_once_naming_the_skew() {
    for ahead in [1200, -1200] {
        let t = story();
        let user = "[default]\naws_access_key_id = AKIAUSER\n";
        t.create("home/.aws/credentials", user);
        t.sts.set_clock(time::Duration::seconds(ahead));
        let started = Instant::now();
        let out = t.cmd(&["run"]).expect_exit(3);
        let took = started.elapsed();

        let way = if ahead > 0 { "behind" } else { "ahead of" };
        for (profile, role) in BOTH {
            // One refusal, no retries: past the bound, waiting cannot help.
            assert_eq!(statuses(&t, role), [403], "{ahead}: {role}");
            let line = out
                .stderr
                .lines()
                .find(|l| l.contains("could not assume") && l.contains(profile))
                .unwrap_or_else(|| panic!("no failure line for {profile}:\n{}", out.stderr));
            for needle in [
                role,
                &format!(" s {way} STS's, more than the 900 s"),
                "fix time sync",
            ] {
                assert!(line.contains(needle), "{ahead}: no {needle:?} in {line}");
            }
            // Said once: the classifier explains the refusal, nothing adds it again.
            assert_eq!(line.matches("fix time sync").count(), 1, "{ahead}: {line}");
        }
        assert_eq!(t.read(t.credentials_path()), user);
        // Generous for a loaded machine; the old behaviour retried for a minute.
        assert!(took < Duration::from_secs(20), "{ahead}: took {took:?}");
        eprintln!(
            "run refused a clock {} s off in {:.2} s (exit 3)",
            ahead.abs(),
            took.as_secs_f64()
        );
    }
}

#[test]
fn the_daemon_keeps_the_correction_across_refreshes_and_shows_it() {
    for ahead in [600, -600] {
        // 16 s credentials on STS's clock: read on this clock they would look 10 minutes
        // longer (refreshed minutes late) or expired on arrival.
        let t = TestDir::new();
        t.sts.set_lifetime(Duration::from_secs(16));
        let metrics = t.path().join("metrics.prom");
        let extra = format!("metrics_file = \"{}\"", metrics.display());
        t.write_config(&config(&t, &BOTH, &extra));
        t.sts.set_clock(time::Duration::seconds(ahead));
        let d = start(&t, &[]);
        wait_written(&t, &d, &BOTH);
        let first = creds(&t);
        let refused_at_start = refused(&t);
        wait_refreshed(&t, &d, &first, Duration::from_secs(30));
        let second = creds(&t);
        wait_refreshed(&t, &d, &second, Duration::from_secs(30));

        // Two refreshes later, no refusal beyond those of the first batch.
        assert_eq!(refused(&t), refused_at_start, "{ahead}");
        assert!(refused_at_start >= 1, "{ahead}: the fake did not check");
        let stderr = d.stderr_so_far();
        let warned: Vec<&str> = (stderr.lines())
            .filter(|l| l.contains(" WARN ") && l.contains("the clock of this instance"))
            .collect();
        assert_eq!(warned.len(), 1, "{ahead}: {warned:#?}");
        let skew = warned_skew(&stderr).unwrap();
        assert!((skew + ahead).abs() <= 2, "{ahead}: skew {skew}");

        let s = state(&t).expect("a state file");
        let measured = s.clock_skew_seconds.expect("a measured skew");
        assert!((measured + ahead).abs() <= 2, "{ahead}: {s:#?}");
        assert!(
            (s.clock_correction_seconds + ahead).abs() <= 2,
            "{ahead}: {s:#?}"
        );

        let out = t.cmd(&["status", "--json"]).expect_exit(0);
        let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let shown = json["daemon"]["clock_skew_seconds"].as_i64().unwrap();
        assert!((shown + ahead).abs() <= 2, "{}", out.stdout);
        assert!(json["daemon"]["clock_correction_seconds"].as_i64().unwrap() != 0);
        // Read on the corrected clock, the credentials have under their 16 s left.
        for row in json["profiles"].as_array().unwrap() {
            let left = row["seconds_left"].as_i64().unwrap();
            assert!((-2..=17).contains(&left), "{ahead}: {row}");
        }
        let out = t.cmd(&["status"]).expect_exit(0);
        let way = if ahead > 0 { "behind" } else { "ahead of" };
        let line = out.stdout.lines().last().unwrap_or_default();
        assert!(
            line.starts_with("clock: this instance's clock is ")
                && line.contains(&format!(" s {way} AWS's (the daemon signs")),
            "{}",
            out.stdout
        );

        let text = std::fs::read_to_string(&metrics).unwrap_or_default();
        let gauge = text
            .lines()
            .find_map(|l| l.strip_prefix("ec2_assume_role_clock_skew_seconds "))
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("no gauge in\n{text}"));
        assert!((gauge + ahead).abs() <= 2, "{ahead}: {gauge}");
        eprintln!("daemon with STS {ahead} s ahead: {refused_at_start} refusal(s) at start, none in two refreshes");
    }
}

/// AssumeRole calls the fake refused, for both roles.
fn refused(t: &TestDir) -> usize {
    BOTH.iter()
        .map(|(_, r)| statuses(t, r).iter().filter(|&&s| s == 403).count())
        .sum()
}

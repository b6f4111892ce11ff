//! Fleet scale (issue 6): role sets expand to one profile per account, STS calls stay within
//! `[sts] max_concurrency`, the first call waits the boot jitter, and a thousand roles against
//! an STS that throttles above a rate are all written, slowed down rather than failed.
//! Backs docs/benchmarks.md.

use crate::util::{section, TestDir};
use std::time::{Duration, Instant};
use testkit::sts::FakeSts;

const HEADER: &str = "[instance]\nrole_name = \"EC2_PerformSecurityAudit\"\n\n\
                      [credentials]\nfile = \"CREDENTIALS_FILE\"\n\n\
                      [defaults]\nrole_session_name = \"{instance_id}\"\nregion = \"us-east-1\"\n\n";

/// A config of `HEADER`, `sts` (the `[sts]` table's body, if any) and `n` generated roles.
fn generated(sts: Option<&str>, n: usize) -> String {
    let mut text = HEADER.to_owned();
    if let Some(body) = sts {
        text.push_str(&format!("[sts]\n{body}\n\n"));
    }
    for i in 0..n {
        text.push_str(&format!(
            "[[role]]\nprofile = \"p-{i:04}\"\nrole_arn = \"{}\"\n\n",
            arn(i)
        ));
    }
    text
}

fn arn(i: usize) -> String {
    format!("arn:aws:iam::{:012}:role/R{i}", 100_000_000_000 + i)
}

/// A test dir whose STS answers every call after `latency`, as many at once as are sent.
fn with_pool(latency: Duration) -> TestDir {
    let mut t = TestDir::new();
    t.sts = FakeSts::start_pool(latency);
    t.sts_url = t.sts.url().to_owned();
    t
}

#[test]
fn a_role_set_writes_one_profile_per_account() {
    let t = TestDir::new();
    let accounts = ["111111111111", "222222222222", "333333333333"];
    t.write_config(&format!(
        "{HEADER}[[role_set]]\nrole_name = \"audit/PerformSecurityAudit\"\n\
         accounts = [\"{}\"]\nprofile = \"audit-{{account_id}}\"\nduration_seconds = 900\n",
        accounts.join("\", \"")
    ));
    t.cmd(&["run"]).expect_exit(0);

    let mut called: Vec<String> = t
        .sts
        .assume_role_calls()
        .iter()
        .filter_map(|c| c.param("RoleArn").map(str::to_owned))
        .collect();
    called.sort();
    let want: Vec<String> = accounts
        .iter()
        .map(|a| format!("arn:aws:iam::{a}:role/audit/PerformSecurityAudit"))
        .collect();
    assert_eq!(called, want);
    for (account, role_arn) in accounts.iter().zip(&want) {
        crate::util::assert_profile_written(&t, &format!("audit-{account}"), role_arn);
        let issued = t.sts.issued_for(role_arn).expect("issued credentials");
        assert!(
            issued
                .assumed_role_arn
                .starts_with(&format!("arn:aws:sts::{account}:assumed-role/")),
            "{}",
            issued.assumed_role_arn
        );
    }
    assert!(t
        .sts
        .assume_role_calls()
        .iter()
        .all(|c| c.param("DurationSeconds") == Some("900")));
}

#[test]
fn max_concurrency_bounds_the_calls_in_flight() {
    for (sts, want) in [(None, 16), (Some("max_concurrency = 3"), 3)] {
        // Enough latency that the calls overlap.
        let t = with_pool(Duration::from_millis(250));
        t.write_config(&generated(sts, 24));
        t.cmd(&["run"]).expect_exit(0);
        assert_eq!(t.sts.assume_role_calls().len(), 24);
        assert_eq!(t.sts.max_in_flight(), want, "[sts] {sts:?}");
    }
}

#[test]
fn boot_jitter_waits_before_the_first_sts_call_only() {
    let t = TestDir::new();
    t.write_config(&generated(Some("boot_jitter_seconds = 1"), 2));
    let out = t.cmd(&["run"]).expect_exit(0);
    assert_eq!(
        out.stderr
            .matches("before the first STS call (boot_jitter_seconds = 1)")
            .count(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(t.sts.assume_role_calls().len(), 2);
}

#[test]
fn a_thousand_roles_against_a_throttling_sts_are_all_written() {
    const ROLES: usize = 1000;
    // Below what one instance sends unthrottled even on a loaded test machine.
    const RATE: usize = 100;
    let t = with_pool(Duration::from_millis(2));
    t.sts.limit_rate(RATE);
    t.write_config(&generated(None, ROLES));

    let start = Instant::now();
    t.cmd(&["run"]).expect_exit(0);
    let took = start.elapsed();
    let throttles = t.sts.throttles();
    println!(
        "{ROLES} roles against an STS throttling above {RATE}/s: {:.1} s, {throttles} throttled \
         calls, {} calls in all",
        took.as_secs_f64(),
        t.sts.assume_role_calls().len()
    );

    let text = t.read(t.credentials_path());
    for i in 0..ROLES {
        let issued = t.sts.issued_for(&arn(i)).expect("issued credentials");
        let got = section(&text, &format!("p-{i:04}")).unwrap_or_default();
        assert!(
            got.contains(&("aws_access_key_id".to_owned(), issued.access_key_id.clone())),
            "profile p-{i:04}: {got:?}"
        );
    }
    assert_eq!(t.sts.issued().len(), ROLES);
    // The limit was really hit, and the pacing kept the retries to a fraction of the calls.
    assert!(throttles > 0, "the fake never throttled");
    assert!(throttles < ROLES, "{throttles} throttles for {ROLES} roles");
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

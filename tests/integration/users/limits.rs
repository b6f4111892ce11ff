//! The credential endpoint's per-client limits and its audit trail (docs/users.md, the
//! credential endpoint; docs/operations.md, logs): a client over its rate gets 429 with
//! `Retry-After` while another owner is served; a flood of refusals writes a bounded number of
//! journal lines, each one it did not write is counted in a summary, a refusal after it is
//! still logged, and the README's `journalctl` line says who got a profile.
//! These stories need root (a file owned by nobody, journald in a private mount namespace).

use crate::util::endpoint::{jd_script, two_owners, two_owners_config, two_owners_started};
use crate::util::{assert_no_secrets, free_port, TestDir, PROFILE_1, PROFILE_2};
use ec2_assume_role::base::logging::message_id;
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn a_client_over_its_limit_gets_429_with_retry_after_and_another_owner_is_served() {
    let s = two_owners("rate_per_second = 1\nburst = 3\n");
    // Every client's bucket full again after the start's polling.
    std::thread::sleep(Duration::from_millis(3500));
    let mut a = s.client();
    let answers: Vec<_> = (0..10)
        .map(|_| a.get(PROFILE_2, Some(&s.a_token)))
        .collect();
    let statuses: Vec<u16> = answers.iter().map(|x| x.0).collect();
    assert_eq!(statuses[..3], [200, 200, 200], "{statuses:?}");
    assert_eq!(statuses[9], 429, "{statuses:?}");
    let limited = &answers[9];
    assert_eq!(limited.header("retry-after"), Some("1"), "{:?}", limited.1);
    assert_eq!(limited.2, "refused\n");

    // Owner B, on another connection from the same address, is served meanwhile.
    let mut b = s.client();
    assert_eq!(b.get(PROFILE_1, Some(&s.b_token)).0, 200);
    // Requests without a valid token count against their address, not against B.
    let tokenless: Vec<u16> = (0..10).map(|_| s.client().get(PROFILE_1, None).0).collect();
    assert_eq!(tokenless[..3], [401, 401, 401], "{tokenless:?}");
    assert_eq!(tokenless[9], 429, "{tokenless:?}");
    assert_eq!(b.get(PROFILE_1, Some(&s.b_token)).0, 200);

    // After the wait it was told, A is served again.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(a.get(PROFILE_2, Some(&s.a_token)).0, 200);
    let logs = s.d.stderr_so_far();
    assert!(
        logs.contains("refused over the client's rate limit from 127.0.0.1 of "),
        "{logs}"
    );
    assert!(!logs.contains(&s.a_token) && !logs.contains(&s.b_token));
}

/// The journal, for real (scripts/jd.sh). A flood of tokenless requests with new profile
/// names for 5 s, audit periods of 2 s and 5 lines per kind: the lines written stay within
/// 5 per period, every request of the flood is either a line or counted in a summary, and
/// refusals after it (another reason at once, the same reason in the next period) are logged.
/// `EAR_BENCH_FLOOD_SECONDS=60` makes it the benchmark of docs/benchmarks.md: a flood of that
/// many seconds under the default audit settings (60 s periods, 20 lines), about 4 minutes.
#[test]
fn a_flood_leaves_a_bounded_trace_and_cannot_blind_the_journal() {
    let bench = std::env::var("EAR_BENCH_FLOOD_SECONDS").ok();
    let (flood_seconds, interval, lines_per_period) =
        match bench.as_deref().map(|s| s.parse::<u64>()) {
            Some(Ok(seconds)) => (seconds, 60, 20),
            Some(Err(e)) => panic!("EAR_BENCH_FLOOD_SECONDS: {e}"),
            None => (5, 2, 5),
        };
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test runs systemd-journald in a private mount namespace and needs root"
    );
    let t = TestDir::new();
    let port = free_port();
    let journal = t.path().join("journal");
    std::fs::create_dir(&journal).unwrap();
    let journal_arg = journal.display().to_string();
    two_owners_config(
        &t,
        port,
        &format!(
            "rate_per_second = 100000\nburst = 100000\naudit_interval_seconds = {interval}\n\
             audit_lines = {lines_per_period}\n"
        ),
    );
    let d = t
        .cmd_logging_to("journald", &["daemon"])
        // As `in_private_mounts`, with a bound that fits a benchmark's longer flood.
        .wrapped(&[
            "timeout",
            &(60 + flood_seconds + 4 * interval).to_string(),
            "unshare",
            "-m",
            "--propagation",
            "private",
            jd_script().to_str().unwrap(),
            &journal_arg,
        ])
        .spawn();
    let mut s = two_owners_started(t, port, d);
    let mut b = s.client();
    assert_eq!(b.get(PROFILE_1, Some(&s.b_token)).0, 200);

    let mut flood = s.client();
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(flood_seconds) {
        assert_eq!(flood.get(&format!("made-up-{sent}"), None).0, 401);
        sent += 1;
    }
    let flooded_for = started.elapsed();
    // Right after it: a POST, and a wrong token on a real profile.
    let post =
        format!("POST /v1/credentials/{PROFILE_1} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n");
    assert_eq!(s.client().send(&post).0, 405);
    let wrong = "f".repeat(64);
    assert_eq!(s.client().get(PROFILE_1, Some(&wrong)).0, 401);
    // The flood's own reason, in the next period.
    std::thread::sleep(Duration::from_millis(interval * 1250));
    // On a new connection: the daemon closes one idle for as long as a benchmark waits.
    assert_eq!(s.client().get("after-the-flood", None).0, 401);
    // Two more periods for the summaries, then the daemon (and journald) stop.
    std::thread::sleep(Duration::from_millis(interval * 2250));
    s.d.signal("TERM");
    assert!(s.d.wait_timeout(Duration::from_secs(30)).is_some());

    let read = std::process::Command::new("journalctl")
        .args(["-D", &journal_arg, "-o", "json", "--no-pager"])
        .arg("SYSLOG_IDENTIFIER=ec2-assume-role")
        .output()
        .expect("running journalctl");
    let text = String::from_utf8_lossy(&read.stdout).into_owned();
    assert_no_secrets(&s.t, &text);
    for token in [&s.a_token, &s.b_token, &wrong] {
        assert!(!text.contains(token.as_str()), "a token in the journal");
    }
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("journalctl JSON"))
        .collect();
    let field = |e: &Value, name: &str| e[name].as_str().unwrap_or_default().to_owned();
    let of = |id: &str| -> Vec<&Value> {
        (events.iter())
            .filter(|e| field(e, "MESSAGE_ID") == id)
            .collect()
    };
    let (answers, unlogged) = (
        of(message_id::ENDPOINT_RESPONSE),
        of(message_id::ENDPOINT_UNLOGGED),
    );
    let no_token = "no authorization token";
    let lines = (answers.iter())
        .filter(|e| field(e, "REASON") == no_token)
        .count() as u64;
    let dropped: u64 = (unlogged.iter())
        .filter(|e| field(e, "REASON") == no_token)
        .map(|e| field(e, "DROPPED").parse::<u64>().unwrap())
        .sum();
    let periods = flooded_for.as_secs() / interval + 4;
    println!(
        "flood: {sent} requests in {flooded_for:.1?}; {lines} lines, {} summary lines, \
         {dropped} counted in them",
        unlogged.len()
    );
    assert!(sent > 100, "a flood of {sent}");
    assert_eq!(
        lines + dropped,
        sent + 1,
        "every refusal is a line or counted"
    );
    assert!(
        lines <= lines_per_period * periods,
        "{lines} lines in {periods} periods"
    );
    assert!(!unlogged.is_empty() && unlogged.len() as u64 <= periods);
    let summary = unlogged[0];
    assert_eq!(field(summary, "STATUS"), "401");
    assert!(field(summary, "MESSAGE").contains("not logged one by one"));

    let one = |profile: &str, status: &str| {
        (answers.iter())
            .filter(|e| field(e, "PROFILE") == profile && field(e, "STATUS") == status)
            .map(|e| field(e, "REASON"))
            .collect::<Vec<String>>()
    };
    assert_eq!(one("after-the-flood", "401"), [no_token]);
    assert_eq!(one(PROFILE_1, "405"), ["a method other than GET"]);
    assert!(one(PROFILE_1, "401").contains(&"an unknown authorization token".to_owned()));
    let served: Vec<&&Value> = (answers.iter())
        .filter(|e| field(e, "STATUS") == "200")
        .collect();
    assert!(!served.is_empty());
    for e in served {
        assert_eq!(field(e, "OWNER"), "nobody");
        assert_eq!(field(e, "PROFILE"), PROFILE_1);
        assert_eq!(field(e, "PEER"), "127.0.0.1");
    }

    // The README's line (with -D and SYSLOG_IDENTIFIER for this journal instead of -u).
    let who = std::process::Command::new("journalctl")
        .args([
            "-D",
            &journal_arg,
            "--no-pager",
            "SYSLOG_IDENTIFIER=ec2-assume-role",
        ])
        .args([
            &format!("PROFILE={PROFILE_1}"),
            "STATUS=200",
            "--since",
            "today",
        ])
        .output()
        .expect("running journalctl");
    let who = String::from_utf8_lossy(&who.stdout);
    assert!(
        who.contains(&format!("served {PROFILE_1} to nobody at 127.0.0.1 (200)")),
        "{who}"
    );
    assert!(
        !who.contains(PROFILE_2) && !who.contains("refused"),
        "{who}"
    );
}

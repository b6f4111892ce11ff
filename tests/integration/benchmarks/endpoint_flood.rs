//! One runaway client against the credential endpoint's per-client limits: wrk (Debian's
//! package) floods with owner A's token on 16 keep-alive connections while owner B polls its
//! profile 10 times a second. B gets only 200s and A gets 429s (asserted); B's p50 and p99
//! latency, alone and under the flood, and their ratio are printed (docs/benchmarks.md), not
//! asserted: the machine is shared.

use crate::util::endpoint::{quantile, two_owners, TwoOwners};
use crate::util::{PROFILE_1, PROFILE_2};
use std::process::Command;
use std::time::Duration;

const POLLS: usize = 100;

/// B's latencies over `POLLS` requests at 10 a second, asserting each is a 200.
fn poll_b(s: &TwoOwners) -> Vec<Duration> {
    let mut b = s.client();
    (0..POLLS)
        .map(|i| {
            let answer = b.get(PROFILE_1, Some(&s.b_token));
            assert_eq!(answer.0, 200, "B's request {i} under the flood");
            std::thread::sleep(Duration::from_millis(100));
            answer.3
        })
        .collect()
}

#[test]
fn a_flooding_owner_gets_429s_while_another_is_served() {
    assert!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is missing: scripts/test.sh installs it (Debian's wrk)"
    );
    let s = two_owners("");
    let mut alone = poll_b(&s);
    let url = format!("http://127.0.0.1:{}/v1/credentials/{PROFILE_2}", s.port);
    let auth = format!("Authorization: {}", s.a_token);
    let wrk = Command::new("wrk")
        .args(["-t2", "-c16", "-d14s", "--latency", "-H", &auth, &url])
        .output_async();
    std::thread::sleep(Duration::from_secs(1));
    let mut flooded = poll_b(&s);
    let out = wrk.join().unwrap().expect("running wrk");
    let report = String::from_utf8_lossy(&out.stdout);
    let grab = |label: &str| {
        (report.lines())
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().last().map(str::to_owned))
            .unwrap_or_default()
    };
    let (total, rejected) = (
        report
            .lines()
            .find(|l| l.contains("requests in"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0),
        grab("Non-2xx or 3xx responses:")
            .parse::<u64>()
            .unwrap_or(0),
    );
    assert!(total > 1000, "wrk sent {total}:\n{report}");
    assert!(
        rejected > total / 2,
        "A's 429s: {rejected} of {total}:\n{report}"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (a50, a99) = (
        ms(quantile(&mut alone, 0.5)),
        ms(quantile(&mut alone, 0.99)),
    );
    let (f50, f99) = (
        ms(quantile(&mut flooded, 0.5)),
        ms(quantile(&mut flooded, 0.99)),
    );
    println!(
        "A (wrk, 16 connections): {total} requests, {rejected} answered 429 ({}/s)",
        grab("Requests/sec:")
    );
    println!("B alone:        p50 {a50:.3} ms  p99 {a99:.3} ms ({POLLS} requests, all 200)");
    println!("B under flood:  p50 {f50:.3} ms  p99 {f99:.3} ms ({POLLS} requests, all 200)");
    println!("p99 factor (flood / alone): {:.1}", f99 / a99);
}

/// `Command::output` on a thread, so the test polls meanwhile.
trait OutputAsync {
    fn output_async(&mut self) -> std::thread::JoinHandle<std::io::Result<std::process::Output>>;
}

impl OutputAsync for Command {
    fn output_async(&mut self) -> std::thread::JoinHandle<std::io::Result<std::process::Output>> {
        let child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        std::thread::spawn(move || child?.wait_with_output())
    }
}

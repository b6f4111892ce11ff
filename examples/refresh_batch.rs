//! How long one refresh batch of the daemon takes to write, and how many bytes, at
//! organization size (issue 12): `cargo run --release --example refresh_batch -- [ROLES]`
//! (default 5,000) `[TOKEN_BYTES]` (default 0: the fake's own session tokens, about 50 bytes;
//! real AssumeRole tokens are several hundred bytes, more with session tags, so pass e.g. 1000
//! to see a file of real size: each token is then padded to that length before the write).
//! Prints numbers; asserts nothing.
//!
//! It runs the daemon's own steps on the real code: `Agent::start` against the loopback fake
//! IMDS, `Agent::assume` of every role against the loopback fake STS (no added latency: the
//! STS side is `bench-run.sh`'s business), then what `cmd::daemon`'s `finish` does with a
//! batch: `Agent::write` (one atomic update of the credentials file), `Tracked::record` per
//! role, and the state file. Twice: the first batch writes a new file, the second rewrites a
//! file that already holds every profile, as every later batch does (each batch rewrites the
//! whole file, however few of its profiles are due). Each timing is the best of `RUNS`.
//! Everything lives in a temporary directory; the only endpoints are the fakes on 127.0.0.1.

use ec2_assume_role::agent::files::Destination;
use ec2_assume_role::agent::source::Source;
use ec2_assume_role::agent::{Agent, BootJitter};
use ec2_assume_role::aws::retry::Policy;
use ec2_assume_role::base::creds::Secret;
use ec2_assume_role::daemon::schedule::Settings;
use ec2_assume_role::daemon::tracking::Tracked;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use testkit::imds::{FakeImds, ImdsConfig};
use testkit::sts::FakeSts;
use time::OffsetDateTime;

const RUNS: usize = 3;

#[tokio::main]
async fn main() {
    let roles: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().expect("ROLES is a number"),
        None => 5000,
    };
    let token_bytes: usize = match std::env::args().nth(2) {
        Some(n) => n.parse().expect("TOKEN_BYTES is a number"),
        None => 0,
    };
    let imds = FakeImds::start(ImdsConfig::default());
    let sts = FakeSts::start_pool(Duration::ZERO);
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Loopback endpoints only, and no ambient credentials or profiles.
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_ENDPOINT_URL",
    ] {
        std::env::remove_var(name);
    }
    std::env::set_var("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url());
    std::env::set_var("AWS_ENDPOINT_URL_STS", sts.url());
    std::env::set_var("HOME", dir.path());

    let credentials = dir.path().join(".aws/credentials");
    let state_file = dir.path().join("state.json");
    let mut config = format!(
        "[instance]\nrole_name = \"{}\"\n[credentials]\ncredentials_file = \"{}\"\n[daemon]\nstate_file = \
         \"{}\"\n[defaults]\nregion = \"us-east-1\"\n",
        ImdsConfig::default().role_name,
        credentials.display(),
        state_file.display()
    );
    for i in 1..=roles {
        let _ = write!(
            config,
            "[[role]]\nprofile = \"p{i}\"\nrole_arn = \"arn:aws:iam::{i:012}:role/PerformSecurityAudit\"\n"
        );
    }
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).expect("writing the config");

    let agent = Agent::start(&Source::File(config_path), Duration::from_secs(5))
        .await
        .expect("the agent starts against the fakes");
    let all: Vec<usize> = (0..agent.config.roles.len()).collect();
    let settings = Settings::from(&agent.config.daemon);
    println!("roles                       {roles}");
    for batch in ["first batch (new file)", "later batch (file rewritten)"] {
        let mut best = [Duration::MAX; 3];
        for _ in 0..RUNS {
            if batch.starts_with("first") {
                let _ = std::fs::remove_file(&credentials);
            }
            let t = Instant::now();
            let mut results = agent
                .assume(&all, Policy::STS, BootJitter::No)
                .await
                .expect("assuming every role");
            let assumed = t.elapsed();
            for assumed in results.iter_mut().flatten() {
                let token = &mut assumed.credentials.session_token;
                let mut padded = token.expose().to_owned();
                while padded.len() < token_bytes {
                    padded.push('A');
                }
                *token = Secret::new(padded);
            }
            let t = Instant::now();
            let outcomes = agent
                .write(&all, results, &BTreeSet::new())
                .expect("writing the credentials file");
            let written = t.elapsed();
            let t = Instant::now();
            let mut tracked = Tracked::new();
            let now = OffsetDateTime::now_utc();
            for (&i, outcome) in all.iter().zip(&outcomes) {
                let role = &agent.config.roles[i];
                tracked.record(role, outcome, false, &settings, now, fastrand::f64());
            }
            let origin = Destination::origin(&agent.destinations, &agent.source);
            let state = tracked.state(&agent.config.roles, origin, now);
            state
                .write(&state_file, None)
                .expect("writing the state file");
            let stated = t.elapsed();
            for (b, d) in best.iter_mut().zip([assumed, written, stated]) {
                *b = (*b).min(d);
            }
        }
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        println!("{batch}:");
        println!("  AssumeRole x {roles} (0 ms fake) {:>8.1} ms", ms(best[0]));
        println!("  credentials file write      {:>8.1} ms", ms(best[1]));
        println!("  schedule + state file write {:>8.1} ms", ms(best[2]));
        println!(
            "  bytes written               {} (credentials file) + {} (state file)",
            size(&credentials),
            size(&state_file)
        );
    }
    let per_profile = std::fs::metadata(&credentials).map_or(0, |m| m.len()) / roles as u64;
    let token = match token_bytes {
        0 => "the fake's session tokens".to_owned(),
        n => format!("session tokens padded to {n} bytes"),
    };
    println!("credentials file per profile {per_profile} bytes ({token})");
    println!("best of {RUNS} runs each");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

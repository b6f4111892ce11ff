//! A fake AWS STS on loopback for scripts/bench-run.sh (through scripts/lib.sh's
//! `start_fakes`): the same fake the tests use (`testkit::sts`, `FakeSts::start_pool`), with a
//! fixed latency added to every answer so that a benchmark measures how a client overlaps
//! round trips rather than how fast loopback is. It answers as many requests at once as the
//! client sends and serves until killed, printing its URL (the value for
//! `AWS_ENDPOINT_URL_STS`) on stdout. It listens on 127.0.0.1 only and never contacts
//! anything.
//!
//! Usage: cargo run -p testkit --bin fake-sts [LATENCY_MS]   (default 30 ms; any free port)

use std::process::ExitCode;
use std::time::Duration;
use testkit::sts::FakeSts;

fn main() -> ExitCode {
    let latency_ms = match std::env::args().nth(1).map(|l| l.parse::<u64>()) {
        None => 30,
        Some(Ok(ms)) => ms,
        Some(Err(err)) => {
            eprintln!("fake-sts: the latency must be a whole number of milliseconds: {err}");
            return ExitCode::from(2);
        }
    };
    let fake = FakeSts::start_pool(Duration::from_millis(latency_ms));
    println!("{}", fake.url());
    // Serve until killed; the server thread does the work.
    loop {
        std::thread::park();
    }
}

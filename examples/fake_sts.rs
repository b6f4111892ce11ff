//! A fake AWS STS on loopback for scripts/bench-run.sh: the same fake the tests use
//! (tests/util/sts.rs, `FakeSts::start_pool`), with a fixed latency added to every answer so that
//! a benchmark measures how a client overlaps round trips rather than how fast loopback is. It
//! answers as many requests at once as the client sends and serves until killed, printing its
//! URL (the value for `AWS_ENDPOINT_URL_STS`) on stdout. It listens on 127.0.0.1 only and never
//! contacts anything.
//!
//! Usage: cargo run --example fake_sts [LATENCY_MS]   (default 30 ms; any free port)

#[path = "../tests/util/http.rs"]
mod http;
#[path = "../tests/util/imds.rs"]
mod imds;
#[path = "../tests/util/sts.rs"]
mod sts;

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let latency_ms = match args.next().map(|l| l.parse::<u64>()) {
        None => 30,
        Some(Ok(ms)) => ms,
        Some(Err(err)) => {
            eprintln!("fake_sts: the latency must be a whole number of milliseconds: {err}");
            return ExitCode::from(2);
        }
    };
    let fake = sts::FakeSts::start_pool(Duration::from_millis(latency_ms));
    println!("{}", fake.url());
    // Serve until killed; the connection threads do the work.
    loop {
        std::thread::park();
    }
}

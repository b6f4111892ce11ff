//! A fake EC2 instance metadata service (IMDSv2) on loopback for the scripts (demo.sh,
//! bench-*.sh, test-boot.sh, through scripts/lib.sh's `start_fakes`): the same fake the tests
//! use (`testkit::imds`), serving the reference story's instance until it is killed. It prints
//! its URL, the value for `AWS_EC2_METADATA_SERVICE_ENDPOINT`, on stdout. It listens on
//! 127.0.0.1 only and never contacts anything.
//!
//! Usage: cargo run -p testkit --bin fake-imds [PORT]   (PORT 0 or none: any free port)

use std::process::ExitCode;
use testkit::imds::{FakeImds, ImdsConfig};

fn main() -> ExitCode {
    let port = match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => 0,
        Some(Ok(port)) => port,
        Some(Err(err)) => {
            eprintln!("fake-imds: the port must be a number from 0 to 65535: {err}");
            return ExitCode::from(2);
        }
    };
    let fake = FakeImds::start_on(port, ImdsConfig::default());
    println!("{}", fake.url());
    // Serve until killed; the server thread does the work.
    loop {
        std::thread::park();
    }
}

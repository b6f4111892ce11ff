//! A fake EC2 instance metadata service (IMDSv2) on loopback for scripts/demo.sh: the same
//! fake the tests use (tests/util/imds.rs), serving the reference story's instance until it is
//! killed. It prints its URL, the value for `AWS_EC2_METADATA_SERVICE_ENDPOINT`, on stdout.
//! It listens on 127.0.0.1 only and never contacts anything.
//!
//! Usage: cargo run --example fake_imds [PORT]   (PORT 0 or none: any free port)

#[path = "../tests/util/http.rs"]
mod http;
#[path = "../tests/util/imds.rs"]
mod imds;

use std::process::ExitCode;

fn main() -> ExitCode {
    let port = match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => 0,
        Some(Ok(port)) => port,
        Some(Err(err)) => {
            eprintln!("fake_imds: the port must be a number from 0 to 65535: {err}");
            return ExitCode::from(2);
        }
    };
    let fake = imds::FakeImds::start_on(port, imds::ImdsConfig::default());
    println!("{}", fake.url());
    // Serve until killed; the server thread does the work.
    loop {
        std::thread::park();
    }
}

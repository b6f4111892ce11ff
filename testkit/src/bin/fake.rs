//! The fakes as processes, for the scripts (demo.sh, bench-*.sh, test-boot.sh, through
//! scripts/lib.sh's `start_fakes`): `fake imds` is the fake IMDSv2 the tests use
//! (`testkit::imds`) serving the reference story's instance; `fake sts` is the tests' fake
//! STS (`FakeSts::start_pool`) with a fixed latency added to every answer, so that a
//! benchmark measures how a client overlaps round trips rather than how fast loopback is;
//! `fake orgs` is the tests' fake AWS Organizations with ACCOUNTS accounts besides the
//! management account, in the root. Each serves until killed and prints its URL (the value
//! for `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_ENDPOINT_URL_STS` or
//! `AWS_ENDPOINT_URL_ORGANIZATIONS`) on stdout. It listens on 127.0.0.1 only and never
//! contacts anything.
//!
//! `fake floor` is no fake: the least an HTTP/1.1 server can do, hyper on a tokio runtime of
//! two workers (as the daemon's) answering every request with the same BYTES-byte body, the
//! floor `scripts/bench-endpoint.sh` measures the credential endpoint against.
//!
//! Usage: cargo run -p testkit --bin fake -- imds [PORT]        (PORT 0 or none: any free port)
//!        cargo run -p testkit --bin fake -- floor [BYTES]      (default 1,000; any free port)
//!        cargo run -p testkit --bin fake -- sts [LATENCY_MS]   (default 30 ms; any free port)
//!        cargo run -p testkit --bin fake -- orgs [ACCOUNTS]    (default 3; any free port)

use clap::Parser;
use std::time::Duration;
use testkit::imds::{FakeImds, ImdsConfig};
use testkit::organizations::{FakeOrganizations, ROOT_ID};
use testkit::sts::FakeSts;

#[derive(Parser)]
#[command(about = "Serves one of the loopback fakes until killed, printing its URL")]
enum Fake {
    /// The fake IMDSv2, serving the reference story's instance.
    Imds {
        /// The loopback port; 0: any free port.
        #[arg(default_value_t = 0)]
        port: u16,
    },
    /// The fake STS, answering every call after the latency, as many at once as are sent.
    Sts {
        /// Milliseconds added to every answer.
        #[arg(default_value_t = 30)]
        latency_ms: u64,
    },
    /// The fake AWS Organizations: the management account and ACCOUNTS more, in the root.
    Orgs {
        #[arg(default_value_t = 3)]
        accounts: usize,
    },
    /// A minimal HTTP/1.1 server answering every request with a fixed body of BYTES bytes.
    Floor {
        #[arg(default_value_t = 1000)]
        bytes: usize,
    },
}

/// `fake floor`: serves until killed.
fn floor(bytes: usize) -> ! {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let body = bytes::Bytes::from(vec![b'x'; bytes]);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        println!("http://{}", listener.local_addr().expect("its address"));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(body),
                        ))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

fn main() {
    // Each fake serves from its own thread for as long as it lives.
    let _serving: Box<dyn std::any::Any> = match Fake::parse() {
        Fake::Floor { bytes } => floor(bytes),
        Fake::Imds { port } => {
            let fake = FakeImds::start_on(port, ImdsConfig::default());
            println!("{}", fake.url());
            Box::new(fake)
        }
        Fake::Sts { latency_ms } => {
            let fake = FakeSts::start_pool(Duration::from_millis(latency_ms));
            println!("{}", fake.url());
            Box::new(fake)
        }
        Fake::Orgs { accounts } => {
            let fake = FakeOrganizations::start();
            fake.add_accounts(ROOT_ID, accounts);
            println!("{}", fake.url());
            Box::new(fake)
        }
    };
    loop {
        std::thread::park();
    }
}

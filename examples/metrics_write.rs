//! What the daemon's metrics cost at organization size: `cargo run --release --example
//! metrics_write -- [PROFILES]` (default 5,000). Fills the metrics with that many profiles
//! (names of the shape `audit-111111111111`, each with its expiry, last success, refresh
//! count, and one failure code for every tenth), then times `metrics::encode` (what every
//! write of `[daemon] metrics_file` and every `/metrics` scrape does) and one atomic write of
//! the file through `fileio`, as the daemon does (a new file, then a rewrite of it). Prints
//! the best of `RUNS` and the size; asserts nothing. Everything lives in a temporary directory.

use ec2_assume_role::base::metrics::{encode, ProfileValues, Values};
use ec2_assume_role::store::fileio::{self, Readers};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut fastest = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = f();
        fastest = fastest.min(start.elapsed());
        last = Some(out);
    }
    (fastest, last.expect("RUNS > 0"))
}

fn main() {
    let profiles: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().expect("PROFILES is a number"),
        None => 5000,
    };
    let now = 1_764_650_000;
    let mut values = Values::new();
    for i in 0..profiles {
        let failures = match i % 10 {
            0 => BTreeMap::from([("AccessDenied".to_owned(), 3)]),
            _ => BTreeMap::new(),
        };
        let p = ProfileValues {
            expiration: Some(now + 1800),
            last_success: Some(now - 1800),
            refreshes: 12,
            failures,
        };
        values.profiles.insert(format!("audit-{i:012}"), p);
    }
    for seconds in [0.02, 0.04, 0.3] {
        values.sts_success.observe(seconds);
    }

    let (encoded, text) = best(|| encode(&values, now, "0.0.0"));
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("textfile/ec2-assume-role.prom");
    let bytes = text.into_bytes();
    let write = |bytes: &[u8]| {
        fileio::update_for(&path, None, Readers::Everyone, |_| (bytes.to_vec(), ()))
            .expect("writing the metrics file");
    };
    let start = Instant::now();
    write(&bytes);
    let first = start.elapsed();
    // A rewrite with one changed byte, as every later write has new times in it.
    let mut changed = bytes.clone();
    let (rewrite, ()) = best(|| {
        let last = changed.len() - 2;
        changed[last] = if changed[last] == b'0' { b'1' } else { b'0' };
        write(&changed)
    });
    println!("profiles                {profiles}");
    println!(
        "metrics text            {} bytes ({} per profile)",
        bytes.len(),
        bytes.len() / profiles.max(1)
    );
    println!(
        "encode                  {:.2} ms",
        encoded.as_secs_f64() * 1e3
    );
    println!(
        "write (new file)        {:.2} ms; rewrite {:.2} ms (lock, read, temp, fsync, rename)",
        first.as_secs_f64() * 1e3,
        rewrite.as_secs_f64() * 1e3
    );
}

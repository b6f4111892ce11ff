//! The network pieces a few stories need: a free loopback port, and `ip` for the tests
//! that make network namespaces of their own (never an address on the machine's own
//! interfaces).

/// `ip ARGS...` (iproute2), for the tests that make network namespaces; fails showing its
/// stderr.
pub fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port free on loopback now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().unwrap().port()
}

//! `[endpoint]` in the config: its defaults, the addresses SDKs accept over plain HTTP, and
//! every bad value refused with its line and key.

use super::{errors, INSTANCE};
use crate::config::{
    parse, DEFAULT_AUDIT_INTERVAL_SECONDS, DEFAULT_AUDIT_LINES, DEFAULT_BURST,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_RATE_PER_SECOND, DEFAULT_TOKEN_DIR,
};
use std::path::Path;

const ROLE: &str = "[[role]]\nprofile = \"p\"\nrole_arn = \"arn:aws:iam::111111111111:role/R\"\n\n";

fn with(endpoint: &str) -> String {
    format!("{INSTANCE}{ROLE}[endpoint]\n{endpoint}\n")
}

#[test]
fn off_unless_its_table_is_there_and_then_on_loopback() {
    let config = parse(&format!("{INSTANCE}{ROLE}"), Path::new("c.toml")).unwrap();
    assert_eq!(config.endpoint, None);
    let e = parse(&with(""), Path::new("c.toml"))
        .unwrap()
        .endpoint
        .unwrap();
    assert_eq!(e.listen, ["127.0.0.1:8722".parse().unwrap()]);
    assert_eq!(e.token_dir, Path::new(DEFAULT_TOKEN_DIR));
    assert_eq!(e.max_connections, DEFAULT_MAX_CONNECTIONS);
    // The ECS agent's per-client figures; a minute's audit period.
    assert_eq!((e.rate_per_second, e.burst), (40, 60));
    assert_eq!((DEFAULT_RATE_PER_SECOND, DEFAULT_BURST), (40, 60));
    assert_eq!(e.audit_interval_seconds, DEFAULT_AUDIT_INTERVAL_SECONDS);
    assert_eq!(e.audit_lines, DEFAULT_AUDIT_LINES);
    let limits =
        with("rate_per_second = 5\nburst = 1\naudit_interval_seconds = 2\naudit_lines = 3");
    let e = parse(&limits, Path::new("c.toml"))
        .unwrap()
        .endpoint
        .unwrap();
    assert_eq!(
        (
            e.rate_per_second,
            e.burst,
            e.audit_interval_seconds,
            e.audit_lines
        ),
        (5, 1, 2, 3)
    );
    let text = with(
        "listen = [\"[::1]:9000\", \"169.254.170.2:80\", \"169.254.170.23:80\", \"[fd00:ec2::23]:80\"]\n\
         token_dir = \"/run/ear/tokens\"\nmax_connections = 8",
    );
    let e = parse(&text, Path::new("c.toml")).unwrap().endpoint.unwrap();
    assert_eq!(e.listen.len(), 4);
    assert_eq!(e.max_connections, 8);
}

#[test]
fn a_bad_endpoint_names_line_and_key() {
    // (the line after [endpoint], which is line 8: its key, message part)
    let cases = [
        (
            "listen = [\"0.0.0.0:80\"]",
            "endpoint.listen[1]",
            "only from loopback or the container hosts",
        ),
        (
            "listen = [\"localhost:80\"]",
            "endpoint.listen[1]",
            "is not IP:PORT",
        ),
        ("listen = []", "endpoint.listen", "is empty"),
        (
            "token_dir = \"tokens\"",
            "endpoint.token_dir",
            "is not an absolute path",
        ),
        (
            "max_connections = 0",
            "endpoint.max_connections",
            "from 1 to 4096 connections at once",
        ),
        (
            "rate_per_second = 0",
            "endpoint.rate_per_second",
            "from 1 to 100000 requests a second",
        ),
        ("burst = -1", "endpoint.burst", "from 1 to 100000 requests"),
        (
            "audit_interval_seconds = 3601",
            "endpoint.audit_interval_seconds",
            "from 1 to 3600 seconds",
        ),
        (
            "audit_lines = 0",
            "endpoint.audit_lines",
            "from 1 to 100000 lines per kind and period",
        ),
        ("burst = 1.5", "endpoint.burst", ""),
        ("port = 1", "endpoint.port", "unknown key `port`"),
    ];
    for (lines, key, want) in cases {
        let text = with(lines);
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.line == Some(9)
                && e.key.as_deref() == Some(key)
                && e.message.contains(want)),
            "want {key}: {want}\n{text}\ngot {errs:#?}"
        );
    }
}

//! The daemon's credential endpoint (`[endpoint]`): real clients (boto3, the AWS CLI) take
//! each profile through the container credential provider protocol with the owner's token
//! file, a long-running boto3 session outlives several refreshes, and every way to ask
//! wrongly is refused with a bare status, logged, never with the token.
//! Backs docs/users.md (the credential endpoint).

use crate::util::daemon::{config, start, BOTH, LIFETIME};
use crate::util::endpoint::own_token_once_serving;
use crate::util::{
    assert_assumed_audit_role, free_port, wait_for, Running, TestDir, PROFILE_1, PROFILE_2, ROLE_1,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

struct Served {
    t: TestDir,
    d: Running,
    port: u16,
    token_file: PathBuf,
}

/// The reference roles with an `[endpoint]` on loopback `port`, its tokens in `t`'s
/// `tokens/`, plus `extra` lines of the table.
fn endpoint_config(t: &TestDir, port: u16, extra: &str) -> String {
    config(t, &BOTH, "")
        + &format!(
            "\n[endpoint]\nlisten = [\"127.0.0.1:{port}\"]\ntoken_dir = \"{}\"\n{extra}",
            t.path().join("tokens").display()
        )
}

/// The reference roles with short-lived credentials and the endpoint on a free port, the
/// daemon started and its token file written.
fn serving() -> Served {
    serving_with("")
}

/// `serving` with `extra` lines in `[endpoint]`.
fn serving_with(extra: &str) -> Served {
    let t = TestDir::new();
    t.sts.set_lifetime(LIFETIME);
    let port = free_port();
    let tokens = t.path().join("tokens");
    t.write_config(&endpoint_config(&t, port, extra));
    let d = start(&t, &[]);
    let token_file = own_token_once_serving(&t, &tokens, &d);
    Served {
        t,
        d,
        port,
        token_file,
    }
}

impl Served {
    fn uri(&self, profile: &str) -> String {
        format!("http://127.0.0.1:{}/v1/credentials/{profile}", self.port)
    }

    /// One raw HTTP/1.1 exchange: the status code of the answer to `head` (without the final
    /// blank line).
    fn status(&self, head: &str) -> u16 {
        self.try_status(head).expect("connecting")
    }

    /// The same, or `None` while nothing listens (a restarted daemon may write its token
    /// before it listens).
    fn try_status(&self, head: &str) -> Option<u16> {
        self.exchange(head).map(|(status, _)| status)
    }

    /// One raw exchange: the status and the body of the answer to `head`, or `None` while
    /// nothing listens.
    fn exchange(&self, head: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes())
            .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {answer:?}"));
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Some((status, body.to_owned()))
    }

    fn token(&self) -> String {
        std::fs::read_to_string(&self.token_file).unwrap()
    }
}

#[test]
fn boto3_and_the_aws_cli_take_each_profile_from_the_endpoint() {
    let s = serving();
    // Only its owner may read the token; every owner may reach its file.
    assert_eq!(crate::util::mode(&s.token_file), 0o600);
    assert_eq!(crate::util::mode(s.token_file.parent().unwrap()), 0o755);
    let token = s.token();
    assert_eq!(token.len(), 64);

    let out =
        s.t.python(
            "import boto3\n\
             print(boto3.client('sts', region_name='us-east-1').get_caller_identity()['Arn'])",
        )
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", s.uri(PROFILE_1))
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &s.token_file)
        .expect_exit(0);
    assert_assumed_audit_role(&out.stdout, "111111111111");

    let out =
        s.t.whoami(&[])
            .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", s.uri(PROFILE_2))
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", &token)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .expect_exit(0);
    assert_assumed_audit_role(&out.stdout, "222222222222");
    // Served from memory: the endpoint made no AssumeRole of its own.
    let before = s.t.sts.assume_role_calls().len();
    for _ in 0..5 {
        assert_eq!(
            s.status(&format!(
                "GET /v1/credentials/{PROFILE_1} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}"
            )),
            200
        );
    }
    assert!(
        s.t.sts.assume_role_calls().len() <= before + 2,
        "at most a refresh"
    );
    assert!(
        !s.d.stderr_so_far().contains(&token),
        "the token was logged"
    );
}

/// The AWS SDK for JavaScript v3's default chain finds the endpoint through the same two
/// variables (its `fromContainerMetadata`, which checks the host as botocore does).
#[test]
fn the_javascript_sdk_takes_a_profile_from_the_endpoint() {
    let s = serving();
    let out =
        s.t.node(
            "const { STSClient, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');\n\
             new STSClient({ region: 'us-east-1' }).send(new GetCallerIdentityCommand({}))\n\
             .then(r => console.log(r.Arn), e => { console.error(e); process.exit(1); });",
        )
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", s.uri(PROFILE_2))
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &s.token_file)
        .expect_exit(0);
    assert_assumed_audit_role(&out.stdout, "222222222222");
}

#[test]
fn a_long_running_boto3_session_outlives_the_refreshes() {
    let s = serving();
    // One session for 30 s of 12 s credentials: botocore asks the endpoint again as each
    // set nears its expiry; every call must succeed and the keys must change.
    let out = s
        .t
        .python(
            "import boto3, time\n\
             sts = boto3.Session().client('sts', region_name='us-east-1')\n\
             keys = []\n\
             end = time.time() + 30\n\
             while time.time() < end:\n\
             \x20   sts.get_caller_identity()\n\
             \x20   keys.append(sts._request_signer._credentials.get_frozen_credentials().access_key)\n\
             \x20   time.sleep(1)\n\
             print(len(set(keys)))",
        )
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", s.uri(PROFILE_1))
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &s.token_file)
        .expect_exit(0);
    let distinct: usize = out.stdout.trim().parse().unwrap();
    assert!(distinct >= 3, "keys seen: {distinct}\n{}", out.stderr);
}

#[test]
fn every_wrong_request_gets_a_bare_refusal_each_logged() {
    let s = serving();
    let token = s.token();
    let get = |profile: &str, extra: &str| {
        format!("GET /v1/credentials/{profile} HTTP/1.1\r\nHost: x{extra}")
    };
    let auth = format!("\r\nAuthorization: {token}");
    assert_eq!(s.status(&get(PROFILE_1, "")), 401, "no token");
    assert_eq!(s.status(&get(PROFILE_1, "\r\nAuthorization: 0123")), 401);
    let other = "f".repeat(64);
    assert_eq!(
        s.status(&get(PROFILE_1, &format!("\r\nAuthorization: {other}"))),
        401
    );
    assert_eq!(
        s.status(&get("nobody", &auth)),
        403,
        "not the owner's profile"
    );
    assert_eq!(
        s.status(&format!(
            "POST /v1/credentials/{PROFILE_1} HTTP/1.1\r\nHost: x{auth}\r\nContent-Length: 0"
        )),
        405
    );
    assert_eq!(
        s.status(&get(
            PROFILE_1,
            &format!("{auth}\r\nX-Forwarded-For: 10.0.0.9")
        )),
        400
    );
    let long = "a".repeat(300);
    assert_eq!(s.status(&get(&long, &auth)), 414);
    // Headers over 8 KiB: hyper refuses them.
    let big = format!("{auth}\r\nX-Pad: {}", "p".repeat(9000));
    assert_eq!(s.status(&get(PROFILE_1, &big)), 431);
    // Each answer is logged (the audit trail), the same refusal twice too; the token never.
    assert_eq!(s.status(&get("nobody", &auth)), 403);
    let logs = s.d.stderr_so_far();
    let lines = logs
        .lines()
        .filter(|l| {
            l.contains("refused another owner's profile from 127.0.0.1 of ")
                && l.contains("for profile \"nobody\" (403)")
        })
        .count();
    assert_eq!(lines, 2, "{logs}");
    assert!(!logs.contains(&token) && !logs.contains(&other), "{logs}");
    // And it still serves the right request.
    assert_eq!(s.status(&get(PROFILE_1, &auth)), 200);
}

#[test]
fn an_address_off_the_host_is_a_config_error() {
    let t = TestDir::new();
    let text = config(&t, &BOTH, "") + "\n[endpoint]\nlisten = [\"10.0.0.1:80\"]\n";
    t.write_config(&text);
    t.cmd(&["check"]).expect_saying(
        4,
        &["endpoint.listen[1]: 10.0.0.1:80: AWS SDKs take credentials over plain HTTP only from loopback"],
    );
}

#[test]
fn a_restart_hands_out_a_new_token_and_the_old_one_stops_working() {
    let mut s = serving();
    let old = s.token();
    s.d.signal("TERM");
    assert!(s.d.wait_timeout(Duration::from_secs(10)).is_some());
    s.d = start(&s.t, &[]);
    let rotated = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&s.token_file).is_ok_and(|t| t.len() == 64 && t != old)
    });
    assert!(rotated, "{}", s.d.stderr_so_far());
    let new = s.token();
    let ask = |token: &str| {
        format!("GET /v1/credentials/{PROFILE_1} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}")
    };
    let served = wait_for(Duration::from_secs(20), || {
        s.try_status(&ask(&new)) == Some(200)
    });
    assert!(served, "{}", s.d.stderr_so_far());
    assert_eq!(s.status(&ask(&old)), 401);
}

/// A client that never finishes its request head is cut off, and connections beyond
/// `max_connections` are closed at once, while the others are served.
#[test]
fn slow_and_surplus_connections_are_closed() {
    let s = serving_with("max_connections = 2\n");
    let port = s.port;

    // Two connections that send half a request line hold both places...
    let mut slow: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(b"GET /v1/cred").unwrap();
            c
        })
        .collect();
    // ...so a third is closed without an answer (once the server has accepted both: a probe
    // before that is served, and frees its place at once).
    let probe = || {
        let mut third = TcpStream::connect(("127.0.0.1", port)).unwrap();
        third
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut answer = Vec::new();
        // Closed unread, the connection may also end in a reset rather than an EOF.
        match third.read_to_end(&mut answer) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(_) => usize::MAX,
        }
    };
    let closed = wait_for(Duration::from_secs(3), || probe() == 0);
    assert!(closed, "a connection over the cap was served");
    // The slow ones are cut off after the 5 s header timeout.
    for c in &mut slow {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        assert!(started.elapsed() < Duration::from_secs(9), "not cut off");
    }
    // Then the places are free again.
    let ask = "GET /v1/credentials/x HTTP/1.1\r\nHost: x";
    let served = wait_for(Duration::from_secs(5), || s.status(ask) == 401);
    assert!(served, "{}", s.d.stderr_so_far());
}

/// A token directory another user can write is refused at start (they could swap a token
/// file), naming it; the daemon exits 1 before it listens.
#[test]
fn a_token_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestDir::new();
    let tokens = t.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o777)).unwrap();
    t.write_config(&endpoint_config(&t, free_port(), ""));
    t.cmd(&["daemon"]).expect_saying(
        1,
        &["the token directory must be a directory of uid", "mode 777"],
    );
    assert_eq!(std::fs::read_dir(&tokens).unwrap().count(), 0);
}

/// `/healthz` for probes: no token; 200 `ok` while every profile is held fresh; 503 naming a
/// profile whose refresh fails, and nothing more about it; still loopback's and GET only.
/// Beside it, an HTTP/1.1 request without `Host` is refused (RFC 9112), an HTTP/1.0 one not.
#[test]
fn healthz_says_ok_then_names_a_failing_profile_and_host_is_required() {
    let s = serving();
    let health = || {
        s.exchange("GET /healthz HTTP/1.1\r\nHost: x")
            .expect("connecting")
    };
    let ok = wait_for(Duration::from_secs(10), || health() == (200, "ok\n".into()));
    assert!(ok, "{:?}\n{}", health(), s.d.stderr_so_far());

    s.t.sts.script(ROLE_1, testkit::sts::Script::AccessDenied);
    let failing = wait_for(Duration::from_secs(20), || {
        let (status, body) = health();
        status == 503 && body.contains(&format!("failing: {PROFILE_1}\n"))
    });
    let (status, body) = health();
    assert!(failing, "{status} {body:?}\n{}", s.d.stderr_so_far());
    for secret_or_detail in [PROFILE_2, "arn:", "AccessDenied", "ASIA", &s.token()] {
        assert!(
            !body.contains(secret_or_detail),
            "{body:?} says {secret_or_detail}"
        );
    }
    assert_eq!(
        s.status("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0"),
        405
    );

    let auth = format!("Authorization: {}", s.token());
    let get = |version: &str, host: &str| {
        s.status(&format!(
            "GET /v1/credentials/{PROFILE_2} {version}\r\n{host}{auth}"
        ))
    };
    assert_eq!(get("HTTP/1.1", ""), 400, "HTTP/1.1 without Host");
    assert_eq!(get("HTTP/1.1", "Host: x\r\n"), 200);
    assert_eq!(get("HTTP/1.0", ""), 200, "HTTP/1.0 needs no Host");
}

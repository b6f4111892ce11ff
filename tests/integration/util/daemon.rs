//! The daemon as several stories start it: the reference config with some of its roles and
//! a state file in the test dir, credentials that live seconds, the daemon started (with
//! systemd's notify socket when a story needs it), and the waits for its first write and
//! its refreshes, failing with its stderr. Also the readers of what it leaves: a profile's
//! key and expiry, the state file, a log line at a level.

use std::path::PathBuf;
use std::time::Duration;

use ec2_assume_role::store::state::State;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::notify::NotifySocket;
use super::{
    value, wait_for, Running, TestDir, PROFILE_1, PROFILE_2, REFERENCE_CONFIG, ROLE_1, ROLE_2,
};

/// Long enough for a refresh half-way, short enough for several within a test.
pub const LIFETIME: Duration = Duration::from_secs(12);

pub const BOTH: [(&str, &str); 2] = [(PROFILE_1, ROLE_1), (PROFILE_2, ROLE_2)];

/// The reference config with `roles` only and a `[daemon]` table whose state file is in the
/// test dir (never the default under /run), plus `daemon_extra` lines.
pub fn config(t: &TestDir, roles: &[(&str, &str)], daemon_extra: &str) -> String {
    let head = REFERENCE_CONFIG
        .split("[[role]]")
        .next()
        .unwrap_or(REFERENCE_CONFIG);
    let mut text = head.to_owned();
    for (profile, arn) in roles {
        text.push_str(&format!(
            "[[role]]\nprofile = \"{profile}\"\nrole_arn = \"{arn}\"\n\n"
        ));
    }
    text.push_str(&format!(
        "[daemon]\nstate_file = \"{}\"\n{daemon_extra}\n",
        state_path(t).display()
    ));
    text
}

pub fn state_path(t: &TestDir) -> PathBuf {
    t.path().join("run/state.json")
}

/// Both reference roles, with credentials that live `lifetime`.
pub fn short_lived(lifetime: Duration, daemon_extra: &str) -> TestDir {
    let t = TestDir::new();
    t.sts.set_lifetime(lifetime);
    t.write_config(&config(&t, &BOTH, daemon_extra));
    t
}

pub fn start(t: &TestDir, envs: &[(&str, &str)]) -> Running {
    start_with(t, &["daemon"], envs)
}

/// The daemon with systemd's notify socket in the test dir (`NOTIFY_SOCKET`), plus `envs`.
pub fn start_notified(t: &TestDir, envs: &[(&str, &str)]) -> (NotifySocket, Running) {
    let socket = NotifySocket::bind(t.path().join("notify.sock"));
    let notify = socket.path().display().to_string();
    let mut all = vec![("NOTIFY_SOCKET", notify.as_str())];
    all.extend_from_slice(envs);
    let d = start(t, &all);
    (socket, d)
}

/// Reads the socket up to READY=1; fails, showing the daemon's stderr, when it does not come.
pub fn wait_ready(socket: &NotifySocket, d: &Running) {
    let got = socket.recv_until(|n| n.has("READY=1"), Duration::from_secs(15));
    assert!(
        got.iter().any(|n| n.has("READY=1")),
        "{}",
        d.stderr_so_far()
    );
}

pub fn start_with(t: &TestDir, args: &[&str], envs: &[(&str, &str)]) -> Running {
    let mut cmd = t.cmd(args);
    for (name, val) in envs {
        cmd.env(name, val);
    }
    cmd.spawn()
}

pub fn creds(t: &TestDir) -> String {
    t.read(t.credentials_path())
}

pub fn key_id(text: &str, profile: &str) -> Option<String> {
    value(text, profile, "aws_access_key_id")
}

pub fn expiry(text: &str, profile: &str) -> Option<OffsetDateTime> {
    let v = value(text, profile, "x_security_token_expires")?;
    Some(
        OffsetDateTime::parse(&v, &Rfc3339)
            .unwrap_or_else(|e| panic!("[{profile}] x_security_token_expires = {v}: {e}")),
    )
}

pub fn state(t: &TestDir) -> Option<State> {
    State::read(&state_path(t)).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until the file holds every profile of `roles` (the first write), or fails showing
/// the daemon's stderr.
pub fn wait_written(t: &TestDir, d: &Running, roles: &[(&str, &str)]) {
    let written = wait_for(Duration::from_secs(15), || {
        let text = creds(t);
        roles.iter().all(|(p, _)| key_id(&text, p).is_some())
    });
    assert!(written, "no first write:\n{}", d.stderr_so_far());
}

/// Waits until every profile of `BOTH` holds another key than in `before`, or fails showing
/// the daemon's stderr.
pub fn wait_refreshed(t: &TestDir, d: &Running, before: &str, within: Duration) {
    let refreshed = wait_for(within, || {
        let text = creds(t);
        BOTH.iter()
            .all(|(p, _)| key_id(&text, p).is_some() && key_id(&text, p) != key_id(before, p))
    });
    assert!(refreshed, "not refreshed:\n{}", d.stderr_so_far());
}

/// Sleeps until the wall clock reads `at` (at once when it is past).
pub fn sleep_until(at: OffsetDateTime) {
    if let Ok(left) = Duration::try_from(at - OffsetDateTime::now_utc()) {
        std::thread::sleep(left);
    }
}

/// The stderr lines at `level` (`WARN`) that contain `needle`.
pub fn logged(stderr: &str, level: &str, needle: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.contains(&format!(" {level} ")) && l.contains(needle))
}

/// A wall-clock instant plus a std duration.
pub fn plus(at: OffsetDateTime, d: Duration) -> OffsetDateTime {
    at + time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

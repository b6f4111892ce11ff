//! The last good config from SSM kept on disk, and `--start-spread`: the real binary against
//! the fake IMDS, STS and SSM. A good read leaves a 0600 copy naming the parameter and its
//! version; a daemon started while SSM throttles runs on the copy without calling SSM, then
//! takes the parameter when SSM answers; `run` falls back to it only when SSM throttles; a copy
//! of another parameter, or one that no longer parses, is ignored; a missing or forbidden
//! parameter is never masked by it; the spread is bounded and checked on the command line;
//! and under systemd the daemon asks for the start time a read without a copy may take.
//! Backs docs/configuration.md (config in SSM).

use crate::util::daemon::{config, creds, logged, wait_written};
use crate::util::notify::NotifySocket;
use crate::util::{mode, value, wait_for, TestDir, PROFILE_1, PROFILE_2, ROLE_1, ROLE_2};
use std::time::Duration;

const TEMPLATE: &str = "ssm:/ec2-assume-role/{account_id}/config";
/// `TEMPLATE` for the fake instance (account 000000000000).
const NAME: &str = "/ec2-assume-role/000000000000/config";
const ONE: [(&str, &str); 1] = [(PROFILE_1, ROLE_1)];
const BOTH: [(&str, &str); 2] = [(PROFILE_1, ROLE_1), (PROFILE_2, ROLE_2)];

/// `daemon::config` with `CREDENTIALS_FILE` filled, as `TestDir::write_config` does.
fn text(t: &TestDir, roles: &[(&str, &str)]) -> String {
    config(t, roles, "").replace(
        "CREDENTIALS_FILE",
        &t.credentials_path().display().to_string(),
    )
}

fn kept(t: &TestDir) -> serde_json::Value {
    let text = t.read(t.state_dir().join("ssm-config.json"));
    serde_json::from_str(&text).expect("the kept copy is JSON")
}

/// A good `run` leaves the copy; the second run has SSM throttling throughout.
#[test]
fn run_keeps_the_config_and_falls_back_to_it_only_while_ssm_throttles() {
    let t = TestDir::new();
    let one = text(&t, &ONE);
    t.ssm.put(NAME, &one);
    t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);

    let file = t.state_dir().join("ssm-config.json");
    assert_eq!(mode(&file), 0o600, "it may hold a SecureString");
    let copy = kept(&t);
    assert_eq!(copy["parameter"], NAME);
    assert_eq!(copy["parameter_version"], 1);
    assert_eq!(copy["text"], one.as_str());

    // Every read throttled (ssm::POLICY's minute of retries): the copy writes the profile.
    std::fs::remove_file(t.credentials_path()).unwrap();
    t.ssm.throttle(usize::MAX);
    let out = t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);
    assert!(
        logged(
            &out.stderr,
            "WARN",
            &format!("using the kept copy of ssm:{NAME} (version 1, read ")
        ) && out
            .stderr
            .contains("until SSM answers: SSM could not be read"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ThrottlingException"), "{}", out.stderr);
    assert!(value(&creds(&t), PROFILE_1, "aws_access_key_id").is_some());
    assert!(t.ssm.calls().len() > 3, "SSM was tried first, with retries");

    // A forbidden parameter is the operator's to fix: the copy does not hide it.
    t.ssm.throttle(0);
    t.ssm.deny(NAME);
    t.cmd_config(TEMPLATE, &["run"])
        .expect_saying(8, &["may not read it"]);
}

/// The daemon starts from the copy while SSM throttles, without a single SSM call, and takes
/// the parameter's new version (a second profile) as soon as a read succeeds.
#[test]
fn the_daemon_starts_from_the_kept_copy_then_switches_when_ssm_answers() {
    let t = TestDir::new();
    t.ssm.put(NAME, &text(&t, &ONE));
    t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);
    std::fs::remove_file(t.credentials_path()).unwrap();
    t.ssm.put(NAME, &text(&t, &BOTH));
    t.ssm.throttle(usize::MAX);
    let reads = t.ssm.calls().len();

    let d = t.cmd_config(TEMPLATE, &["daemon"]).spawn();
    wait_written(&t, &d, &ONE);
    let stderr = d.stderr_so_far();
    assert!(
        logged(
            &stderr,
            "WARN",
            &format!("using the kept copy of ssm:{NAME} (version 1, read ")
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("reading ssm:{NAME} in ")),
        "{stderr}"
    );
    assert_eq!(t.ssm.calls().len(), reads, "no SSM call at start");
    assert!(value(&creds(&t), PROFILE_2, "aws_access_key_id").is_none());

    // SSM recovers; a reload (here SIGHUP rather than the spread read's timer) takes it.
    t.ssm.throttle(0);
    d.signal("HUP");
    wait_written(&t, &d, &BOTH);
    let switched = wait_for(Duration::from_secs(10), || {
        d.stderr_so_far()
            .contains("(version 2); the kept copy (version 1) is no longer in use")
    });
    assert!(switched, "{}", d.stderr_so_far());
    assert_eq!(kept(&t)["parameter_version"], 2, "the copy was replaced");
}

#[test]
fn a_copy_of_another_parameter_or_that_no_longer_parses_is_ignored() {
    let t = TestDir::new();
    t.ssm.put(NAME, &text(&t, &ONE));
    t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);

    // Another parameter: its copy is not this one's, and its absence is reported as such.
    let out = t
        .cmd_config("ssm:/other/{account_id}", &["run"])
        .expect_saying(8, &["no such parameter"]);
    assert!(
        out.stderr.contains(&format!(
            "ignoring the kept copy of the config: {}: it was read from {NAME}, not \
             /other/000000000000",
            t.state_dir().join("ssm-config.json").display()
        )),
        "{}",
        out.stderr
    );

    // A copy whose text is no longer a valid config is never used in part.
    let file = t.state_dir().join("ssm-config.json");
    let mut copy = kept(&t);
    copy["text"] = "[instance\n".into();
    std::fs::write(&file, copy.to_string()).unwrap();
    t.ssm.throttle(usize::MAX);
    let d = t.cmd_config(TEMPLATE, &["daemon"]).spawn();
    let ignored = wait_for(Duration::from_secs(10), || {
        d.stderr_so_far()
            .contains("ignoring the kept copy of the config: it is no longer a valid config")
    });
    assert!(ignored, "{}", d.stderr_so_far());
    drop(d);

    // Not JSON at all: ignored, then replaced by the next good read.
    t.ssm.throttle(2);
    std::fs::write(&file, "{\"version\": 1,").unwrap();
    let out = t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);
    assert!(out.stderr.contains("not a kept config"), "{}", out.stderr);
    assert_eq!(kept(&t)["parameter"], NAME);
}

#[test]
fn the_start_spread_is_bounded_and_checked() {
    let t = TestDir::new();
    t.ssm.put(NAME, &text(&t, &ONE));
    let out = t
        .cmd_config(TEMPLATE, &["run", "--start-spread", "2"])
        .expect_exit(0);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("before reading ssm:"))
        .unwrap_or_else(|| panic!("no wait logged:\n{}", out.stderr));
    let waited: f64 = line
        .split("waiting ")
        .nth(1)
        .and_then(|rest| rest.split(" s ").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // Uniform over [0, 2) s, printed to a tenth: 1.95 s and more reads "2.0".
    assert!((0.0..=2.0).contains(&waited), "{line}");
    assert!(
        line.contains("(--start-spread 2 s; no kept copy)"),
        "{line}"
    );

    // With the copy now kept, `run` reads SSM at once.
    let out = t
        .cmd_config(TEMPLATE, &["run", "--start-spread", "1800"])
        .expect_exit(0);
    assert!(
        !out.stderr.contains("before reading ssm:"),
        "{}",
        out.stderr
    );

    t.cmd_config(TEMPLATE, &["daemon", "--start-spread", "1801"])
        .expect_saying(2, &["--start-spread", "1801"]);
    t.cmd_config(TEMPLATE, &["run"])
        .env("EC2_ASSUME_ROLE_START_SPREAD", "soon")
        .expect_saying(2, &["--start-spread", "soon"]);
}

/// Under systemd, the daemon's first read without a kept copy (spread, then up to
/// `START_POLICY`'s ten minutes) asks for more start time before READY=1.
#[test]
fn the_daemon_extends_its_start_timeout_before_a_read_without_a_copy() {
    let t = TestDir::new();
    t.ssm.put(NAME, &text(&t, &ONE));
    let socket = NotifySocket::bind(t.path().join("notify.sock"));
    let d = t
        .cmd_config(TEMPLATE, &["daemon", "--start-spread", "1"])
        .env("NOTIFY_SOCKET", socket.path())
        .spawn();
    let got = socket.recv_until(|n| n.has("READY=1"), Duration::from_secs(15));
    let extend = got
        .iter()
        .position(|n| n.value("EXTEND_TIMEOUT_USEC").is_some())
        .unwrap_or_else(|| panic!("no EXTEND_TIMEOUT_USEC: {got:?}\n{}", d.stderr_so_far()));
    let ready = got.iter().position(|n| n.has("READY=1")).expect("READY=1");
    assert!(extend < ready, "{got:?}");
    // The spread's draw (under 1 s), the ten minutes of retries, and the rest of the start.
    let usec: u64 = got[extend]
        .value("EXTEND_TIMEOUT_USEC")
        .unwrap()
        .parse()
        .unwrap();
    assert!((1_140_000_000..1_141_000_000).contains(&usec), "{usec}");
}

/// A kept copy that names another instance role (an image made on another instance) is set
/// aside: the daemon reads SSM instead and runs on what it reads.
#[test]
fn a_kept_copy_for_another_instance_role_is_set_aside_for_ssm() {
    let t = TestDir::new();
    t.ssm.put(NAME, &text(&t, &ONE));
    t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);
    let file = t.state_dir().join("ssm-config.json");
    let mut copy = kept(&t);
    let other = text(&t, &BOTH).replace("EC2_PerformSecurityAudit", "EC2_SomeoneElse");
    copy["text"] = other.into();
    std::fs::write(&file, copy.to_string()).unwrap();
    std::fs::remove_file(t.credentials_path()).unwrap();
    let reads = t.ssm.calls().len();

    let d = t.cmd_config(TEMPLATE, &["daemon"]).spawn();
    wait_written(&t, &d, &ONE);
    let stderr = d.stderr_so_far();
    assert!(
        stderr.contains("ignoring the kept copy of the config: it does not fit this instance"),
        "{stderr}"
    );
    assert_eq!(t.ssm.calls().len(), reads + 1, "SSM was read instead");
    assert!(value(&creds(&t), PROFILE_2, "aws_access_key_id").is_none());
    assert!(!kept(&t)["text"]
        .as_str()
        .unwrap()
        .contains("EC2_SomeoneElse"));
}

//! `doctor` stories (docs/troubleshooting.md): what a user runs when it does not work. Each test breaks one thing (IMDS,
//! the instance role, the clock, a role's trust, a file's mode, a shadowing variable, the
//! daemon, the endpoint, the metrics file) and reads the check that must say so, with its fix;
//! one test breaks nothing and gets exit 0 with nothing written. Every run must answer within
//! 30 seconds, and no secret may reach either stream.

use crate::util::{assert_no_secrets, Output, TestCommand, TestDir, PROFILE_1, PROFILE_2};
use crate::util::{REFERENCE_CONFIG, ROLE_1, ROLE_2};
use ec2_assume_role::store::state::{self, LastError, Profile, State};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use testkit::imds::ImdsConfig;
use testkit::sts::Script;
use time::OffsetDateTime;

/// Exit code of `doctor` when a check fails.
const PROBLEMS: i32 = 9;

/// What every run must stay under, whatever is wrong.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// A user's own section, which doctor must leave as it is.
const USER_SECTION: &str = "[default]\naws_access_key_id = AKIAUSER\n";

fn state_path(t: &TestDir) -> PathBuf {
    t.path().join("run/state.json")
}

/// The reference story with its state file in the temp dir, `daemon` more lines of
/// `[daemon]` and `extra` more tables; the user's credentials file exists, 0600.
fn story(t: &TestDir, daemon: &str, extra: &str) {
    t.write_config(&format!(
        "{REFERENCE_CONFIG}\n[daemon]\nstate_file = \"{}\"\n{daemon}\n{extra}",
        state_path(t).display()
    ));
    t.create(t.credentials_path(), USER_SECTION);
    std::fs::set_permissions(t.credentials_path(), PermissionsExt::from_mode(0o600)).unwrap();
}

/// A daemon's state file for the story, its pid ours (alive as long as the test runs);
/// `failing` profiles have failed twice in a row.
fn daemon_running(t: &TestDir, failing: &[&str]) {
    let now = OffsetDateTime::now_utc();
    let profiles: BTreeMap<String, Profile> = [(PROFILE_1, ROLE_1), (PROFILE_2, ROLE_2)]
        .into_iter()
        .map(|(profile, role)| {
            let fails = failing.contains(&profile);
            let p = Profile {
                role_arn: role.into(),
                last_refresh: Some(now),
                failures: if fails { 2 } else { 0 },
                last_error: fails.then(|| LastError {
                    code: "AccessDenied".into(),
                    message: "not authorized".into(),
                    at: now,
                }),
                ..Profile::default()
            };
            (profile.to_owned(), p)
        })
        .collect();
    let state = State {
        version: state::VERSION,
        pid: std::process::id(),
        updated: Some(now),
        credentials_file: t.credentials_path(),
        config: Some(t.config_path().display().to_string()),
        files: vec![t.credentials_path()],
        profiles,
        ..State::default()
    };
    std::fs::create_dir_all(state_path(t).parent().unwrap()).unwrap();
    state.write(&state_path(t), None).unwrap();
}

/// `doctor ARGS` as a user runs it in a clean shell: the variables that would shadow the
/// profiles empty, which doctor takes as unset (the helpers set them all, to prove the binary
/// ignores them).
fn doctor(t: &TestDir, args: &[&str]) -> TestCommand {
    let all: Vec<&str> = ["doctor"].iter().chain(args).copied().collect();
    clean(t.cmd(&all))
}

fn clean(mut cmd: TestCommand) -> TestCommand {
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
    ] {
        cmd.env(var, "");
    }
    cmd
}

/// Runs `cmd`, expecting `code`, within `ANSWER_WITHIN`; no secret in the output.
fn answered(t: &TestDir, cmd: &TestCommand, code: i32) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd.expect_exit(code);
    let took = started.elapsed();
    assert!(took < ANSWER_WITHIN, "took {took:?}:\n{}", out.stdout);
    assert_no_secrets(t, &out.stdout);
    assert_no_secrets(t, &out.stderr);
    (out, took)
}

/// The line of check `name` (`✓ name:`, `✗ name:` or `– name:`), and its fix line if any.
fn check(out: &Output, name: &str) -> (String, Option<String>) {
    let mut lines = out.stdout.lines();
    while let Some(line) = lines.next() {
        if line
            .get(2..)
            .is_some_and(|l| l.starts_with(&format!("{name}:")))
            || line
                .get(4..)
                .is_some_and(|l| l.starts_with(&format!("{name}:")))
        {
            let fix = lines
                .next()
                .and_then(|l| l.strip_prefix("    fix: "))
                .map(str::to_owned);
            return (line.to_owned(), fix);
        }
    }
    panic!("no check {name}:\n{}", out.stdout);
}

fn assert_failed(out: &Output, name: &str, says: &[&str], fix_says: &str) {
    let (line, fix) = check(out, name);
    assert!(line.starts_with("✗ "), "{line}\n{}", out.stdout);
    for s in says {
        assert!(line.contains(s), "{s:?} not in {line}");
    }
    let fix = fix.unwrap_or_else(|| panic!("no fix under {line}:\n{}", out.stdout));
    assert!(fix.contains(fix_says), "{fix_says:?} not in the fix {fix}");
}

fn status_of(out: &Output, name: &str) -> char {
    check(out, name).0.chars().next().unwrap()
}

#[test]
fn everything_right_passes_with_exit_0_and_nothing_written() {
    let t = TestDir::new();
    story(&t, "", "");
    daemon_running(&t, &[]);
    let (out, took) = answered(&t, &doctor(&t, &[]), 0);
    for name in ["config", "IMDS", "instance identity", "clock", "daemon"] {
        assert_eq!(status_of(&out, name), '✓', "{name}:\n{}", out.stdout);
    }
    for profile in [PROFILE_1, PROFILE_2] {
        let (line, _) = check(&out, &format!("role {profile}"));
        assert!(
            line.starts_with("✓ ") && line.contains("nothing written"),
            "{line}"
        );
    }
    assert!(!out.stdout.contains('✗'), "{}", out.stdout);
    // Nothing written: the user's file as it was, no AWS config file, one call per role.
    assert_eq!(t.read(t.credentials_path()), USER_SECTION);
    assert!(!t.aws_config_path().exists());
    assert_eq!(t.sts.assume_role_calls().len(), 2);
    assert_eq!(t.sts.assume_role_calls_for(ROLE_1).len(), 1);
    assert_eq!(t.imds.tokenless_gets(), 0);
    eprintln!(
        "doctor with everything right took {took:?}:\n{}",
        out.stdout
    );

    let (out, _) = answered(&t, &doctor(&t, &["--json"]), 0);
    let checks: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", out.stdout));
    let checks = checks.as_array().expect("an array");
    assert!(checks.len() >= 9, "{checks:#?}");
    for c in checks {
        assert!(c["check"].is_string() && c["detail"].is_string(), "{c}");
        assert!(c["status"] == "pass" || c["status"] == "skip", "{c}");
        assert!(c["fix"].is_null(), "{c}");
    }
}

#[test]
fn imds_down_fails_fast_saying_off_ec2_and_skips_what_needs_it() {
    let t = TestDir::new();
    story(&t, "", "");
    daemon_running(&t, &[]);
    // A loopback port where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut cmd = doctor(&t, &[]);
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url);
    let (out, took) = answered(&t, &cmd, PROBLEMS);
    assert_failed(&out, "IMDS", &[&url, "not an EC2"], "off EC2");
    for name in ["instance identity", "clock", "roles"] {
        let (line, _) = check(&out, name);
        assert!(
            line.starts_with("– ") && line.contains("IMDS did not answer"),
            "{line}"
        );
    }
    // The checks of this machine still ran.
    assert_eq!(status_of(&out, "daemon"), '✓', "{}", out.stdout);
    assert!(t.sts.calls().is_empty());
    eprintln!("doctor with IMDS down took {took:?}");
}

#[test]
fn an_unanswered_token_request_suggests_the_hop_limit() {
    let t = TestDir::with_imds(ImdsConfig {
        token_delay: Some(Duration::from_secs(30)),
        ..ImdsConfig::default()
    });
    story(&t, "", "");
    let (out, took) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_failed(
        &out,
        "IMDS",
        &["never answered the IMDSv2 token request"],
        "--http-put-response-hop-limit 2",
    );
    assert!(t.sts.calls().is_empty());
    eprintln!("doctor with the token request unanswered took {took:?}");
}

#[test]
fn a_config_in_ssm_is_read_after_imds_is_checked() {
    let t = TestDir::new();
    let text = format!(
        "{REFERENCE_CONFIG}\n[daemon]\nstate_file = \"{}\"\n",
        state_path(&t).display()
    )
    .replace(
        "CREDENTIALS_FILE",
        &t.credentials_path().display().to_string(),
    );
    let template = "ssm:/ec2-assume-role/{account_id}/config";
    t.ssm.put("/ec2-assume-role/000000000000/config", &text);
    let (out, _) = answered(&t, &clean(t.cmd_config(template, &["doctor"])), PROBLEMS);
    let first: Vec<&str> = out.stdout.lines().take(2).collect();
    assert!(first[0].starts_with("✓ IMDS:"), "{}", out.stdout);
    assert!(first[1].starts_with("✓ config: ssm:"), "{}", out.stdout);
    assert_eq!(status_of(&out, &format!("role {PROFILE_1}")), '✓');

    let (out, _) = answered(
        &t,
        &clean(t.cmd_config("ssm:/missing", &["doctor"])),
        PROBLEMS,
    );
    assert_failed(&out, "config", &["/missing"], "ec2-assume-role check");
    assert_eq!(status_of(&out, "the rest"), '–');
}

#[test]
fn another_instance_role_fails_the_identity_and_calls_no_sts() {
    let t = TestDir::with_imds(ImdsConfig {
        role_name: "SomethingElse".into(),
        ..ImdsConfig::default()
    });
    story(&t, "", "");
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_eq!(status_of(&out, "IMDS"), '✓', "{}", out.stdout);
    assert_failed(
        &out,
        "instance identity",
        &[
            "\"SomethingElse\"",
            "role_name = \"EC2_PerformSecurityAudit\"",
        ],
        "[instance]",
    );
    assert_eq!(status_of(&out, "clock"), '–');
    assert_eq!(status_of(&out, "roles"), '–');
    assert!(t.sts.calls().is_empty(), "{:?}", t.sts.calls());
}

#[test]
fn a_clock_off_fails_with_the_offset_and_roles_are_tried_only_within_the_correction() {
    // 20 minutes: more than the agent corrects for, so the roles are not tried.
    let t = TestDir::new();
    story(&t, "", "");
    t.sts.set_clock(time::Duration::minutes(20));
    let (out, took) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    let (line, _) = check(&out, "clock");
    assert_failed(
        &out,
        "clock",
        &["s behind STS's", "refused", "more than the 900 s"],
        "chrony",
    );
    let seconds: i64 = line
        .split("clock is ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {line}"));
    assert!((1198..=1202).contains(&seconds), "{line}");
    let (roles, _) = check(&out, "roles");
    assert!(roles.starts_with("– "), "{roles}");
    assert!(t.sts.assume_role_calls().is_empty());
    assert!(took < Duration::from_secs(15), "took {took:?}");
    eprintln!("doctor with STS 20 minutes ahead took {took:?}");

    // 10 minutes: still a failure (AWS clients that sign with this clock are refused), but the
    // agent corrects for it, so each role is tried with the corrected time, and passes.
    let t = TestDir::new();
    story(&t, "", "");
    t.sts.set_clock(time::Duration::minutes(10));
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_failed(
        &out,
        "clock",
        // The Date header counts whole seconds: 599 or 600.
        &["s behind STS's", "signs with the corrected time"],
        "chrony",
    );
    assert_eq!(status_of(&out, &format!("role {PROFILE_1}")), '✓');
    assert_eq!(status_of(&out, &format!("role {PROFILE_2}")), '✓');
    let calls = t.sts.assume_role_calls();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(calls.iter().all(|c| c.status == 200), "{calls:#?}");

    // Two minutes off: STS still accepts it, and the offset is said.
    let t = TestDir::new();
    story(&t, "", "");
    t.sts.set_clock(time::Duration::minutes(-2));
    let out = doctor(&t, &[]).run();
    let (line, _) = check(&out, "clock");
    assert!(
        line.starts_with("✓ ") && line.contains("s ahead of STS's"),
        "{line}"
    );
    assert_eq!(t.sts.assume_role_calls().len(), 2);
}

#[test]
fn a_denied_role_fails_by_name_with_the_explanation_and_the_others_pass() {
    let t = TestDir::new();
    story(&t, "", "");
    t.sts.script(
        ROLE_2,
        Script::DeniedBecause(" because no identity-based policy allows the sts:AssumeRole action"),
    );
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_eq!(status_of(&out, &format!("role {PROFILE_1}")), '✓');
    assert_failed(
        &out,
        &format!("role {PROFILE_2}"),
        &[
            ROLE_2,
            "AccessDenied",
            "STS's answer points to the permission policy of role EC2_PerformSecurityAudit",
        ],
        "ec2-assume-role policy",
    );
    // One try: doctor does not wait out a retry deadline.
    assert_eq!(t.sts.assume_role_calls_for(ROLE_2).len(), 1);
}

#[test]
fn a_role_sts_never_answers_fails_within_seconds_not_a_retry_deadline() {
    let t = TestDir::new();
    story(&t, "", "");
    t.sts.script(ROLE_2, Script::Hang(5));
    let (out, took) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_eq!(status_of(&out, &format!("role {PROFILE_1}")), '✓');
    assert_failed(
        &out,
        &format!("role {PROFILE_2}"),
        &["Timeout"],
        "STS endpoint",
    );
    assert_eq!(t.sts.assume_role_calls_for(ROLE_2).len(), 1);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    eprintln!("doctor with a role's STS call hanging took {took:?}");
}

#[test]
fn a_chained_role_is_assumed_with_its_source_and_fails_with_it() {
    let t = TestDir::new();
    let hub = "arn:aws:iam::333333333333:role/Hub";
    story(
        &t,
        "",
        &format!(
            "[[role]]\nprofile = \"hub\"\nrole_arn = \"{hub}\"\n\n\
             [[role]]\nprofile = \"spoke\"\nrole_arn = \"arn:aws:iam::444444444444:role/Spoke\"\n\
             source_profile = \"hub\"\n"
        ),
    );
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    let (spoke, _) = check(&out, "role spoke");
    assert!(
        spoke.starts_with("✓ ") && spoke.contains("via hub"),
        "{spoke}"
    );
    let signer = t.sts.issued_for(hub).unwrap().access_key_id;
    let spoke_call = t
        .sts
        .assume_role_calls_for("arn:aws:iam::444444444444:role/Spoke");
    assert_eq!(
        spoke_call[0].access_key_id.as_deref(),
        Some(signer.as_str())
    );

    t.sts.script(hub, Script::AccessDenied);
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_failed(&out, "role hub", &["AccessDenied"], "policy");
    assert_failed(
        &out,
        "role spoke",
        &["SourceFailed", "hub"],
        "source_profile",
    );
}

#[test]
fn a_readable_or_foreign_credentials_file_fails_the_files_check() {
    let t = TestDir::new();
    story(&t, "", "");
    daemon_running(&t, &[]);
    let creds = t.credentials_path();
    std::fs::set_permissions(&creds, PermissionsExt::from_mode(0o644)).unwrap();
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_failed(
        &out,
        "files ([credentials])",
        &["mode 0644", "0600 expected"],
        &format!("chmod 600 {}", creds.display()),
    );
    assert_eq!(status_of(&out, "daemon"), '✓');

    if nix::unistd::geteuid().is_root() {
        std::fs::set_permissions(&creds, PermissionsExt::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&creds, Some(65534), Some(65534)).unwrap();
        let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
        assert_failed(
            &out,
            "files ([credentials])",
            &["belongs to"],
            "chown root:",
        );
    }
}

#[test]
fn aws_profile_and_a_same_named_role_profile_shadow_the_profiles() {
    let t = TestDir::new();
    story(&t, "", "");
    daemon_running(&t, &[]);
    t.create(
        t.aws_config_path(),
        format!("[profile {PROFILE_1}]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = y\n"),
    );
    let mut cmd = doctor(&t, &[]);
    cmd.env("AWS_PROFILE", "ambient");
    let (out, _) = answered(&t, &cmd, PROBLEMS);
    assert_failed(
        &out,
        "environment",
        &["AWS_PROFILE=ambient"],
        "unset AWS_PROFILE",
    );
    assert_failed(
        &out,
        "AWS config files",
        &[&format!("[profile {PROFILE_1}]"), "role_arn"],
        "remove role_arn",
    );

    // A profile of ours is what AWS_PROFILE is for.
    std::fs::remove_file(t.aws_config_path()).unwrap();
    let mut cmd = doctor(&t, &[]);
    cmd.env("AWS_PROFILE", PROFILE_2);
    answered(&t, &cmd, 0);
}

#[test]
fn static_keys_before_a_credential_process_shadow_it() {
    let t = TestDir::new();
    story(&t, "", "");
    let text = t.read(t.config_path()).replace(
        "[credentials]\n",
        "[credentials]\ncredential_process = true\n",
    );
    std::fs::write(t.config_path(), text).unwrap();
    t.create(
        t.credentials_path(),
        format!("{USER_SECTION}[{PROFILE_2}]\naws_access_key_id = AKIAOLD\n"),
    );
    std::fs::set_permissions(t.credentials_path(), PermissionsExt::from_mode(0o600)).unwrap();
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_failed(
        &out,
        "AWS config files",
        &[
            &format!("[{PROFILE_2}]"),
            "static keys",
            "credential_process",
        ],
        &format!("remove [{PROFILE_2}]"),
    );
    assert!(!out.stdout.contains("AKIAOLD"), "a key was printed");
}

#[test]
fn the_units_environment_is_read_from_systemd() {
    let t = TestDir::new();
    story(&t, "", "");
    // A systemctl that answers as systemd would for a unit with Environment= lines.
    let bin = t.path().join("bin");
    t.create(
        bin.join("systemctl"),
        "#!/bin/sh\necho 'AWS_SHARED_CREDENTIALS_FILE=/srv/creds LANG=C'\n",
    );
    std::fs::set_permissions(bin.join("systemctl"), PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut cmd = doctor(&t, &[]);
    cmd.env("PATH", path);
    let (out, _) = answered(&t, &cmd, PROBLEMS);
    assert_failed(
        &out,
        "systemd environment",
        &["AWS_SHARED_CREDENTIALS_FILE", "ignores"],
        "systemctl edit ec2-assume-role",
    );
}

#[test]
fn a_stopped_daemon_or_failing_profiles_fail_the_daemon_check() {
    let t = TestDir::new();
    story(&t, "", "");
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_failed(
        &out,
        "daemon",
        &["not running", "no state file"],
        "systemctl enable",
    );

    daemon_running(&t, &[PROFILE_2]);
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_failed(
        &out,
        "daemon",
        &["running (pid", PROFILE_2, "2 in a row", "AccessDenied"],
        "status",
    );
}

#[test]
fn an_endpoint_that_does_not_listen_fails_with_its_token() {
    let t = TestDir::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let tokens = t.path().join("tokens");
    story(
        &t,
        "",
        &format!(
            "[endpoint]\nlisten = [\"{addr}\"]\ntoken_dir = \"{}\"\n",
            tokens.display()
        ),
    );
    daemon_running(&t, &[]);
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_failed(
        &out,
        "endpoint",
        &[&format!("nothing listens on {addr}")],
        "systemctl",
    );
    assert_failed(&out, "endpoint token", &["cannot read"], "[[user]]");

    // Listening, and the token readable.
    let listener = std::net::TcpListener::bind(addr).unwrap();
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap();
    t.create(tokens.join(format!("{}.token", user.name)), "0123abcd");
    let (out, _) = answered(&t, &doctor(&t, &[]), 0);
    assert_eq!(status_of(&out, "endpoint"), '✓', "{}", out.stdout);
    assert!(!out.stdout.contains("0123abcd"), "the token was printed");
    drop(listener);
}

#[test]
fn a_stale_metrics_file_fails_the_metrics_check() {
    let t = TestDir::new();
    let metrics = t.path().join("metrics/ec2_assume_role.prom");
    story(&t, &format!("metrics_file = \"{}\"", metrics.display()), "");
    daemon_running(&t, &[]);
    t.create(
        &metrics,
        "# HELP ec2_assume_role_up 1\n# TYPE ec2_assume_role_up gauge\nec2_assume_role_up 1\n",
    );
    let (out, _) = answered(&t, &doctor(&t, &[]), 0);
    assert_eq!(status_of(&out, "metrics file"), '✓', "{}", out.stdout);

    let touched = std::process::Command::new("touch")
        .args(["-d", "10 minutes ago"])
        .arg(&metrics)
        .status()
        .unwrap();
    assert!(touched.success());
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_failed(
        &out,
        "metrics file",
        &["last written", "s ago"],
        "daemon running",
    );

    t.create(&metrics, "ec2_assume_role_up one\n");
    let (out, _) = answered(&t, &doctor(&t, &[]), PROBLEMS);
    assert_failed(
        &out,
        "metrics file",
        &[":1: not a Prometheus sample"],
        "daemon",
    );
}

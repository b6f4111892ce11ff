//! The config in SSM Parameter Store (`--config ssm:NAME`, docs/configuration.md), the real
//! binary against the fake IMDS, STS and SSM: the name's placeholders filled from IMDS, the
//! parameter read with the instance-profile key and decryption, clear errors (and exit 8) for
//! a missing or forbidden parameter, `FILE:LINE: key` errors naming the parameter, and the
//! daemon's reloads on SIGHUP and on its timer that keep the last good config when the
//! parameter breaks; and end to end, a SecureString boto3 put in moto, read by the binary,
//! then the AWS CLI uses the profiles.

use crate::util::daemon::{config, creds, logged, wait_written};
use crate::util::ssm::{put, NAME, TEMPLATE};
use crate::util::{
    credential_process, value, venv, wait_for, TestDir, PROFILE_1, PROFILE_2, REFERENCE_CONFIG,
    ROLE_1, ROLE_2, SESSION,
};
use std::time::Duration;
use testkit::imds::ACCESS_KEY_ID;
use testkit::moto::Moto;

#[test]
fn run_reads_the_config_from_ssm_with_the_instance_key() {
    let t = TestDir::new();
    put(&t, NAME, REFERENCE_CONFIG);

    let out = t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);

    let text = creds(&t);
    for (profile, arn) in [(PROFILE_1, ROLE_1), (PROFILE_2, ROLE_2)] {
        let issued = t.sts.issued_for(arn).expect("assumed");
        assert_eq!(
            value(&text, profile, "aws_access_key_id"),
            Some(issued.access_key_id)
        );
    }
    let calls = t.ssm.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].name, NAME, "placeholders filled from IMDS");
    assert!(calls[0].with_decryption, "SecureString needs decryption");
    assert_eq!(calls[0].access_key_id.as_deref(), Some(ACCESS_KEY_ID));
    assert_eq!(calls[0].signing_region.as_deref(), Some("us-east-1"));
    assert!(
        out.stderr.contains(&format!(
            "read the config from ssm:{NAME} (version 1, 2 roles)"
        )),
        "{}",
        out.stderr
    );
    assert!(!t.config_path().exists(), "no local config was involved");
    assert_eq!(t.imds.tokenless_gets(), 0);
}

#[test]
fn a_missing_or_forbidden_parameter_exits_8_naming_it_and_calls_no_sts() {
    let t = TestDir::new();

    let out = t.cmd_config(TEMPLATE, &["run"]).expect_exit(8);
    assert!(
        out.stderr
            .contains(&format!("ssm:{NAME}: no such parameter in us-east-1")),
        "{}",
        out.stderr
    );

    t.ssm.deny(NAME);
    put(&t, NAME, REFERENCE_CONFIG);
    let out = t.cmd_config(TEMPLATE, &["run"]).expect_exit(8);
    assert!(
        out.stderr.contains(&format!(
            "ssm:{NAME}: the instance role EC2_PerformSecurityAudit may not read it"
        )) && out.stderr.contains("allow ssm:GetParameter"),
        "{}",
        out.stderr
    );

    assert!(t.sts.calls().is_empty(), "STS must not be called");
    assert!(!t.credentials_path().exists());
    // Neither is worth a retry: one call each.
    assert_eq!(t.ssm.calls().len(), 2);
}

#[test]
fn a_throttled_read_is_retried() {
    let t = TestDir::new();
    put(&t, NAME, REFERENCE_CONFIG);
    t.ssm.throttle(2);

    let out = t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);

    assert_eq!(t.ssm.calls().len(), 3);
    assert!(out.stderr.contains("ThrottlingException"), "{}", out.stderr);
}

#[test]
fn an_invalid_config_in_ssm_exits_4_naming_parameter_line_and_key() {
    let t = TestDir::new();
    let bad = REFERENCE_CONFIG.replace(
        "arn:aws:iam::222222222222:role/PerformSecurityAudit",
        "arn:aws:iam::22222222222:role/PerformSecurityAudit",
    );
    put(&t, NAME, &bad);
    let line = bad
        .lines()
        .position(|l| l.contains("22222222222:role"))
        .expect("the bad line")
        + 1;

    let out = t.cmd_config(TEMPLATE, &["run"]).expect_exit(4);

    assert!(
        out.stderr
            .contains(&format!("ssm:{NAME}:{line}: role[2].role_arn: ")),
        "{}",
        out.stderr
    );
    assert!(t.sts.calls().is_empty());
}

#[test]
fn a_bad_parameter_name_is_a_usage_error_before_any_request() {
    let t = TestDir::new();
    for (arg, want) in [
        ("ssm:/ear/{acount_id}", "unknown placeholder {acount_id}"),
        ("ssm:/ear config", "cannot be in an SSM parameter name"),
        ("ssm:", "the parameter name is empty"),
    ] {
        let out = t.cmd_config(arg, &["run"]).expect_exit(2);
        assert!(out.stderr.contains(want), "{arg}: {}", out.stderr);
    }
    assert_eq!(t.imds.gets(), 0);
    assert!(t.ssm.calls().is_empty());
}

/// The daemon reads a changed parameter on its timer (no signal), keeps the last good config
/// when the parameter becomes invalid or disappears, and takes the next good version on SIGHUP.
#[test]
fn the_daemon_reloads_a_changed_parameter_and_keeps_the_last_good_one() {
    let t = TestDir::new();
    let both = [(PROFILE_1, ROLE_1), (PROFILE_2, ROLE_2)];
    let one = [(PROFILE_1, ROLE_1)];
    let timer = "reload_interval_seconds = 5";
    put(&t, NAME, &config(&t, &one, timer));
    let d = t.cmd_config(TEMPLATE, &["daemon"]).spawn();
    wait_written(&t, &d, &one);

    // A new version with a second role: the timer picks it up (5 s ± 10%).
    put(&t, NAME, &config(&t, &both, timer));
    wait_written(&t, &d, &both);
    assert!(
        d.stderr_so_far()
            .contains(&format!("reloaded ssm:{NAME} (version 2): 2 roles")),
        "{}",
        d.stderr_so_far()
    );

    // Broken, then gone: each timed reload is refused and both profiles stay.
    put(&t, NAME, "[instance\n");
    let refused = |d: &crate::util::Running, n: usize| {
        wait_for(Duration::from_secs(15), || {
            d.stderr_so_far()
                .matches("keeping the last good config")
                .count()
                >= n
        })
    };
    assert!(refused(&d, 1), "{}", d.stderr_so_far());
    t.ssm.delete(NAME);
    assert!(refused(&d, 2), "{}", d.stderr_so_far());
    let stderr = d.stderr_so_far();
    assert!(
        logged(&stderr, "ERROR", &format!("ssm:{NAME}:1: ")),
        "{stderr}"
    );
    assert!(
        logged(&stderr, "ERROR", "no such parameter in us-east-1"),
        "{stderr}"
    );
    let text = creds(&t);
    assert!(value(&text, PROFILE_1, "aws_access_key_id").is_some());
    assert!(value(&text, PROFILE_2, "aws_access_key_id").is_some());

    // Fixed without the second role, and SIGHUP: its section goes at once.
    put(&t, NAME, &config(&t, &one, timer));
    d.signal("HUP");
    let removed = wait_for(Duration::from_secs(10), || {
        value(&creds(&t), PROFILE_2, "aws_access_key_id").is_none()
    });
    assert!(removed, "{}", d.stderr_so_far());
    assert!(value(&creds(&t), PROFILE_1, "aws_access_key_id").is_some());
}

/// With `credential_process = true`, AWS clients are served from the daemon's cache: the
/// parameter is not read again for each of their commands.
#[test]
fn credential_process_serves_from_the_cache_without_reading_the_parameter() {
    let t = TestDir::new();
    put(
        &t,
        NAME,
        &REFERENCE_CONFIG.replace(
            "[credentials]\n",
            "[credentials]\ncredential_process = true\n",
        ),
    );
    t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);
    let command = credential_process(&t, PROFILE_1);
    assert!(
        command.contains(&format!("--config '{TEMPLATE}' --cache ")),
        "the template is passed on, quoted for the shell: {command}"
    );

    // The AWS CLI runs with IMDS disabled: it could not read the parameter if it tried.
    for _ in 0..3 {
        assert_eq!(
            t.caller_arn(PROFILE_1),
            "arn:aws:sts::111111111111:assumed-role/PerformSecurityAudit/i-0123456789abcdef0"
        );
    }
    assert_eq!(t.ssm.calls().len(), 1, "only the run read the parameter");
    assert_eq!(t.sts.assume_role_calls().len(), 2);
}

/// `check` and `status` take the same `--config ssm:NAME` (both read it through IMDS).
#[test]
fn check_and_status_read_the_parameter_too() {
    let t = TestDir::new();
    put(&t, NAME, REFERENCE_CONFIG);

    let out = t.cmd_config(TEMPLATE, &["check"]).expect_exit(0);
    assert!(
        out.stderr.contains(&format!("ssm:{NAME}: valid; 2 roles")),
        "{}",
        out.stderr
    );
    assert!(!t.credentials_path().exists(), "check writes nothing");
    assert!(t.sts.calls().is_empty());

    t.cmd_config(TEMPLATE, &["status"]).expect_exit(3);
    t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);
    let out = t.cmd_config(TEMPLATE, &["status", "--json"]).expect_exit(0);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(t.ssm.calls().len(), 4);
}

/// The config as a SecureString in moto's Parameter Store (KMS-encrypted there), put with
/// boto3 as an operator would, then read by the agent with `--config ssm:` and decryption.
#[test]
fn config_from_a_moto_secure_string_then_the_aws_cli() {
    let moto = Moto::start(&venv());
    let mut t = TestDir::new();
    t.sts_url = moto.url().to_owned();
    t.ssm_url = moto.url().to_owned();
    let text = REFERENCE_CONFIG.replace(
        "CREDENTIALS_FILE",
        &t.credentials_path().display().to_string(),
    );
    t.python(&format!(
        "import boto3\n\
         boto3.client('ssm', region_name='us-east-1').put_parameter(\
         Name='/ec2-assume-role/000000000000/config', Type='SecureString', Value={text:?})"
    ))
    .env("AWS_ACCESS_KEY_ID", "testing")
    .env("AWS_SECRET_ACCESS_KEY", "testing")
    .expect_exit(0);

    let out = t
        .cmd_config("ssm:/ec2-assume-role/{account_id}/config", &["run"])
        .expect_exit(0);

    assert!(
        out.stderr
            .contains("read the config from ssm:/ec2-assume-role/000000000000/config (version 1"),
        "{}",
        out.stderr
    );
    assert_eq!(
        t.caller_arn(PROFILE_2),
        format!("arn:aws:sts::222222222222:assumed-role/PerformSecurityAudit/{SESSION}")
    );
}

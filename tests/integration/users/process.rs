//! `credential-process` and `credential_process = true`: AWS clients get the credentials
//! through the `credential_process` protocol instead of static keys in the credentials file.
//! Backs docs/users.md (credential_process).

use crate::util::procfs::{self, Seen};
use crate::util::{
    credential_process, section, story, wait_for, TestDir, MARKER, PROFILE_1, PROFILE_2,
    REFERENCE_CONFIG, ROLE_1, SESSION,
};
use std::time::Duration;

const CACHE: &str = "ec2-assume-role-cache";

/// The reference story with `credential_process = true`.
fn process_story() -> TestDir {
    let t = TestDir::new();
    t.write_config(&REFERENCE_CONFIG.replace(
        "[credentials]\n",
        "[credentials]\ncredential_process = true\n",
    ));
    t
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{stdout}"))
}

#[test]
fn credential_process_mode_serves_the_aws_cli_and_boto3() {
    let t = process_story();
    // Static keys we wrote before the switch, and the user's own profile.
    t.create(
        "home/.aws/credentials",
        format!("[mine]\naws_access_key_id = AKIAMINE\n\n[{PROFILE_1}]\n{MARKER}\naws_access_key_id = OLD\n"),
    );
    t.cmd(&["run"]).expect_exit(0);

    // Our static keys are gone (they would shadow credential_process); the user's stay.
    assert_eq!(
        t.read(t.credentials_path()),
        "[mine]\naws_access_key_id = AKIAMINE\n\n"
    );
    let cache = t.read(t.home().join(".aws").join(CACHE));
    assert!(section(&cache, PROFILE_1).is_some() && section(&cache, PROFILE_2).is_some());
    let command = credential_process(&t, PROFILE_1);
    assert!(
        command.ends_with(&format!(
            "credential-process --config {} --cache {} --profile {PROFILE_1}",
            t.config_path().display(),
            t.home().join(".aws").join(CACHE).display()
        )),
        "{command}"
    );

    assert_eq!(
        t.caller_arn(PROFILE_1),
        "arn:aws:sts::111111111111:assumed-role/PerformSecurityAudit/i-0123456789abcdef0"
    );
    let out = t
        .python(&format!(
            "import boto3; print(boto3.Session(profile_name='{PROFILE_2}').client('sts').get_caller_identity()['Account'])"
        ))
        .expect_exit(0);
    assert_eq!(out.stdout.trim(), "222222222222");
    // Both clients were served from the cache: no AssumeRole beyond the run's two.
    assert_eq!(t.sts.assume_role_calls().len(), 2);
}

#[test]
fn credential_process_prints_only_json_from_fresh_credentials() {
    let t = process_story();
    t.cmd(&["run"]).expect_exit(0);
    let issued = t.sts.issued_for(ROLE_1).expect("issued by the run");
    let imds_before = t.imds.requests().len();

    let out = t
        .cmd(&["credential-process", "--profile", PROFILE_1])
        .expect_exit(0);
    let v = json(&out.stdout);
    assert_eq!(v["Version"], 1);
    assert_eq!(v["AccessKeyId"], issued.access_key_id.as_str());
    assert_eq!(v["SecretAccessKey"], issued.secret_access_key.as_str());
    assert_eq!(v["SessionToken"], issued.session_token.as_str());
    assert_eq!(v["Expiration"], issued.expiration.as_str());
    assert_eq!(t.sts.assume_role_calls().len(), 2, "served from the cache");
    assert_eq!(t.imds.requests().len(), imds_before, "no IMDS call");
    assert!(!out.stderr.contains(&issued.secret_access_key));
}

#[test]
fn credential_process_assumes_the_role_when_nothing_is_fresh() {
    let t = story();
    let out = t
        .cmd(&["credential-process", "--profile", PROFILE_1])
        .expect_exit(0);
    let v = json(&out.stdout);
    let issued = t.sts.issued_for(ROLE_1).expect("assumed now");
    assert_eq!(v["AccessKeyId"], issued.access_key_id.as_str());
    assert_eq!(t.sts.assume_role_calls().len(), 1);
    assert_eq!(t.imds.tokenless_gets(), 0);
    // It never writes: keeping files fresh is the daemon's job.
    assert!(!t.credentials_path().exists());
    assert!(!out.stderr.contains(&issued.session_token));
}

#[test]
fn credential_process_refuses_an_unknown_profile_and_another_instance_role() {
    let t = story();
    let out = t
        .cmd(&["credential-process", "--profile", "nope"])
        .expect_exit(10);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("profile nope is not configured"),
        "{}",
        out.stderr
    );

    t.imds.configure(|c| c.role_name = "SomethingElse".into());
    let out = t
        .cmd(&["credential-process", "--profile", PROFILE_1])
        .expect_exit(5);
    assert!(out.stdout.is_empty());
    assert!(t.sts.assume_role_calls().is_empty());
}

#[test]
fn aws_ec2_metadata_disabled_is_honoured() {
    let t = story();
    let out = t
        .cmd(&["run", "--wait", "2"])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .expect_exit(6);
    assert!(
        out.stderr.contains("AWS_EC2_METADATA_DISABLED"),
        "{}",
        out.stderr
    );
    assert!(t.imds.requests().is_empty());
    assert!(!t.credentials_path().exists());
}

/// The AWS CLI runs `credential-process` as a child; other users can read that child's
/// command line in /proc. It holds the config and cache paths and the profile, nothing else, and neither
/// it, its environment, nor the CLI's holds a credential, though the cache it reads is full of
/// them. strace holds every `execve` for 1.5 s after it completes, so the short-lived child is
/// surely seen in /proc, and records each one's argv and environment as the kernel got them.
#[test]
fn credential_process_as_the_aws_cli_spawns_it_shows_no_credential_in_proc() {
    let t = process_story();
    t.cmd(&["run"]).expect_exit(0);
    let in_cache = crate::util::issued_secrets(&t);
    assert!(in_cache.len() >= 9, "{in_cache:?}");

    let trace = t.path().join("execve.trace").display().to_string();
    let mut cli = t.aws(&["--profile", PROFILE_1, "sts", "get-caller-identity"]);
    cli.wrapped(&[
        "strace",
        "-f",
        "-qq",
        "-v",
        "-s",
        "65536",
        "-o",
        &trace,
        "-e",
        "trace=execve",
        "-e",
        "inject=execve:delay_exit=1500000",
    ]);
    let mut cli = cli.spawn();
    let mut seen: Vec<Seen> = Vec::new();
    let is_child = |s: &Seen| s.cmdline.iter().any(|a| a == "credential-process");
    wait_for(Duration::from_secs(30), || {
        seen.extend(procfs::tree(cli.pid()));
        seen.iter().any(is_child) || !cli.is_running()
    });
    let child = seen.iter().find(|s| is_child(s)).unwrap_or_else(|| {
        panic!(
            "no credential-process child seen:\n{}\n{seen:#?}",
            cli.stderr_so_far()
        )
    });
    let config = t.config_path().display().to_string();
    let cache = t.home().join(".aws").join(CACHE).display().to_string();
    assert!(
        child.cmdline[0].ends_with("ec2-assume-role"),
        "{:?}",
        child.cmdline
    );
    assert_eq!(
        child.cmdline[1..],
        [
            "credential-process",
            "--config",
            &config,
            "--cache",
            &cache,
            "--profile",
            PROFILE_1
        ]
    );
    procfs::assert_no_secret(&seen, &in_cache);

    assert!(cli
        .wait_timeout(Duration::from_secs(60))
        .is_some_and(|s| s.success()));
    assert!(
        cli.stdout_so_far().contains(&format!(
            "arn:aws:sts::111111111111:assumed-role/PerformSecurityAudit/{SESSION}"
        )),
        "{}\n{}",
        cli.stdout_so_far(),
        cli.stderr_so_far()
    );
    let execs = std::fs::read_to_string(&trace).expect("the strace log");
    assert!(execs.contains("\"credential-process\""), "{execs}");
    for secret in crate::util::issued_secrets(&t) {
        assert!(!execs.contains(&secret), "{secret} in an execve:\n{execs}");
    }
}

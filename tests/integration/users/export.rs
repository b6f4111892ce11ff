//! `export`: one profile's credentials as the lines of `aws configure export-credentials`,
//! which a shell evaluates and a real AWS client then uses; from the daemon's fresh
//! credentials without a call, else assumed now; nothing but them on stdout.
//! Backs docs/users.md (export).

use crate::util::{assert_assumed_audit_role, story, PROFILE_1, ROLE_1};

#[test]
fn a_shell_evaluates_the_lines_and_the_aws_cli_uses_them() {
    let t = story();
    t.cmd(&["run"]).expect_exit(0);
    let issued = t.sts.issued_for(ROLE_1).expect("issued by the run");
    let imds_before = t.imds.requests().len();

    let out = t.cmd(&["export", "--profile", PROFILE_1]).expect_exit(0);
    assert_eq!(
        out.stdout,
        format!(
            "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n\
             export AWS_SESSION_TOKEN={}\nexport AWS_CREDENTIAL_EXPIRATION={}\n",
            issued.access_key_id, issued.secret_access_key, issued.session_token, issued.expiration
        )
    );
    assert_eq!(t.sts.assume_role_calls().len(), 2, "served from the file");
    assert_eq!(t.imds.requests().len(), imds_before, "no IMDS call");
    assert!(!out.stderr.contains(&issued.secret_access_key));

    // eval "$(ec2-assume-role export ...)" in bash, then the AWS CLI with no profile: the
    // exported variables are what it signs with (the Region is the shell's, as with
    // `aws configure export-credentials`, which prints none).
    t.create("empty/credentials", "");
    let caller = t
        .whoami(&[])
        .env("EXPORTED", &out.stdout)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            t.path().join("empty/credentials"),
        )
        .wrapped(&["bash", "-c", "eval \"$EXPORTED\"; exec \"$@\"", "bash"])
        .expect_exit(0);
    assert_assumed_audit_role(caller.stdout.trim(), "111111111111");
}

#[test]
fn without_fresh_credentials_the_role_is_assumed_and_nothing_written() {
    let t = story();
    let out = t
        .cmd(&["export", "--profile", PROFILE_1, "--format", "process"])
        .expect_exit(0);
    let issued = t.sts.issued_for(ROLE_1).expect("assumed now");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(doc["Version"], 1);
    assert_eq!(doc["AccessKeyId"], issued.access_key_id.as_str());
    assert_eq!(t.sts.assume_role_calls().len(), 1);
    assert!(!t.credentials_path().exists());

    let out = t
        .cmd(&["export", "--profile", PROFILE_1, "--format", "fish"])
        .expect_exit(0);
    assert_eq!(out.stdout.lines().count(), 4);
    assert!(
        out.stdout.starts_with("set -gx AWS_ACCESS_KEY_ID \""),
        "{}",
        out.stdout
    );
}

#[test]
fn an_unknown_profile_or_format_prints_nothing_on_stdout() {
    let t = story();
    let out = t
        .cmd(&["export", "--profile", "nope"])
        .expect_saying(10, &["error: profile nope is not configured"]);
    assert!(out.stdout.is_empty());
    let out = t
        .cmd(&["export", "--profile", PROFILE_1, "--format", "csh"])
        .expect_exit(2);
    assert!(out.stdout.is_empty());
    assert!(t.sts.assume_role_calls().is_empty());
}

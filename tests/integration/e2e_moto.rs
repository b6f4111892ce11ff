//! End to end: the reference story against moto's STS (and the fake IMDS), then the real AWS
//! CLI and boto3 use the written profiles; and the same story with the config in a moto
//! SecureString parameter put there by boto3. Needs the venv scripts/test.sh installs; without
//! it these tests fail and say so (never a silent skip). Everything stays on loopback.

use crate::util::{
    story_on_moto, venv, TestDir, PROFILE_1, PROFILE_2, REFERENCE_CONFIG, ROLE_1, SESSION,
};
use testkit::moto::Moto;

#[test]
fn reference_story_with_moto_then_the_aws_cli_and_boto3() {
    let moto = Moto::start(&venv());
    let t = story_on_moto(&moto);

    t.cmd(&["run"]).expect_exit(0);

    assert_eq!(
        t.caller_arn(PROFILE_1),
        format!("arn:aws:sts::111111111111:assumed-role/PerformSecurityAudit/{SESSION}")
    );

    let out = t
        .python(&format!(
            "import boto3\n\
             print(boto3.Session(profile_name={PROFILE_2:?}).client('sts')\
             .get_caller_identity()['Arn'])"
        ))
        .expect_exit(0);
    assert_eq!(
        out.stdout.trim(),
        format!("arn:aws:sts::222222222222:assumed-role/PerformSecurityAudit/{SESSION}")
    );
    assert!(
        t.sts.calls().is_empty(),
        "the fake STS was not in this story"
    );
}

/// The fake STS is good enough for a real client too: the CLI signs with the written keys.
#[test]
fn profiles_from_the_fake_sts_work_with_the_aws_cli() {
    let t = TestDir::new();
    t.write_config(REFERENCE_CONFIG);
    t.cmd(&["run"]).expect_exit(0);

    let out = t
        .aws(&["--profile", PROFILE_1, "sts", "get-caller-identity"])
        .expect_exit(0);
    let answer: serde_json::Value = serde_json::from_str(&out.stdout).expect("CLI JSON");
    assert_eq!(answer["Account"], "111111111111");
    let issued = t.sts.issued_for(ROLE_1).expect("issued for role 1");
    assert_eq!(
        answer["Arn"].as_str(),
        Some(issued.assumed_role_arn.as_str())
    );
    let call = t
        .sts
        .calls()
        .into_iter()
        .find(|c| c.action == "GetCallerIdentity")
        .expect("a GetCallerIdentity call");
    assert_eq!(call.access_key_id, Some(issued.access_key_id));
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

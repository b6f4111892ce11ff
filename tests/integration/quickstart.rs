//! README's quick start, the reference story: `run` writes both profiles, each signed for with
//! the instance profile's key, right under our marker, with the AWS config beside them; then
//! the same story against moto's STS (and the fake IMDS), and the real AWS CLI and boto3 use
//! the written profiles. Needs the venv scripts/test.sh installs; without it these tests fail
//! and say so (never a silent skip). Everything stays on loopback.

use crate::util::{
    assert_no_secrets, assert_profile_written, mode, story, story_on_moto, value, venv, PROFILE_1,
    PROFILE_2, ROLE_1, ROLE_2, SESSION,
};
use testkit::imds;
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
    let t = story();
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

#[test]
fn run_writes_both_profiles_signed_with_the_instance_key() {
    let t = story();
    let out = t.cmd(&["run"]).expect_exit(0);

    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert_profile_written(&t, PROFILE_2, ROLE_2);
    let config = t.read(t.aws_config_path());
    for profile in [PROFILE_1, PROFILE_2] {
        let name = format!("profile {profile}");
        assert_eq!(
            value(&config, &name, "region").as_deref(),
            Some("us-east-1")
        );
    }
    assert_eq!(mode(t.credentials_path()), 0o600);
    assert_eq!(mode(t.aws_config_path()), 0o600);
    assert_eq!(mode(t.home().join(".aws")), 0o700);

    let calls = t.sts.assume_role_calls();
    assert_eq!(calls.len(), 2, "STS calls: {calls:#?}");
    let mut arns: Vec<&str> = calls.iter().filter_map(|c| c.param("RoleArn")).collect();
    arns.sort_unstable();
    assert_eq!(arns, [ROLE_1, ROLE_2]);
    for call in &calls {
        assert_eq!(call.access_key_id.as_deref(), Some(imds::ACCESS_KEY_ID));
        assert_eq!(call.param("RoleSessionName"), Some(SESSION));
        assert_eq!(call.param("DurationSeconds"), Some("3600"));
    }
    assert!(t.imds.gets() > 0);
    assert_eq!(t.imds.tokenless_gets(), 0, "{:#?}", t.imds.requests());
    assert!(out.stderr.contains(PROFILE_1) && out.stderr.contains(PROFILE_2));
    assert_no_secrets(&t, &out.stderr);
}

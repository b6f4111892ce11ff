//! The instance's identity, as docs/security.md promises it: IMDSv2 only (a service that
//! refuses the token is an error, and no tokenless request is ever made), and the instance
//! profile's role and account checked before any STS call, in `run` and in `check --imds`.

use crate::util::story_with;
use testkit::imds::ImdsConfig;

#[test]
fn imdsv1_only_service_is_refused_without_a_tokenless_request() {
    for status in [403, 405] {
        let t = story_with(ImdsConfig {
            refuse_token: Some(status),
            ..ImdsConfig::default()
        });
        let out = t.cmd(&["run", "--wait", "3"]).expect_exit(6);
        assert_eq!(t.imds.gets(), 0, "a GET after the token was refused");
        assert!(t.imds.requests().iter().all(|r| r.method == "PUT"));
        assert!(out.stderr.contains("IMDSv2"), "{}", out.stderr);
        assert!(t.sts.calls().is_empty());
        assert!(!t.credentials_path().exists());
    }
}

#[test]
fn another_instance_role_is_refused_before_any_sts_call() {
    let t = story_with(ImdsConfig {
        role_name: "SomeOtherRole".into(),
        instance_profile_arn: "arn:aws:iam::000000000000:instance-profile/SomeOtherRole".into(),
        ..ImdsConfig::default()
    });
    let before = "[default]\naws_access_key_id = AKIAUSER\n# mine\n";
    t.create("home/.aws/credentials", before);

    let out = t.cmd(&["run"]).expect_exit(5);
    assert!(out.stderr.contains("SomeOtherRole"), "{}", out.stderr);
    assert!(
        out.stderr.contains("EC2_PerformSecurityAudit"),
        "{}",
        out.stderr
    );
    assert!(t.sts.calls().is_empty());
    assert_eq!(t.read(t.credentials_path()), before);
    assert!(!t.aws_config_path().exists());
}

#[test]
fn another_account_is_refused() {
    let t = story_with(ImdsConfig {
        instance_profile_arn: "arn:aws:iam::999999999999:instance-profile/EC2_PerformSecurityAudit"
            .into(),
        account_id: "999999999999".into(),
        ..ImdsConfig::default()
    });
    let out = t.cmd(&["run"]).expect_exit(5);
    assert!(out.stderr.contains("999999999999"), "{}", out.stderr);
    assert!(out.stderr.contains("000000000000"), "{}", out.stderr);
    assert!(t.sts.calls().is_empty());
    assert!(!t.credentials_path().exists());
}

#[test]
fn check_imds_refuses_another_instance_role() {
    let t = story_with(ImdsConfig {
        role_name: "SomeOtherRole".into(),
        ..ImdsConfig::default()
    });
    let out = t.cmd(&["check", "--imds"]).expect_exit(5);
    assert!(out.stderr.contains("SomeOtherRole"), "{}", out.stderr);
    assert!(t.sts.calls().is_empty());
    assert!(!t.home().join(".aws").exists());
}

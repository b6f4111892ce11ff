//! IMDS as it fails at boot and while running, the real binary against the fake IMDS: a 503
//! waited out, a slow service that is only slow, a token request that never answers (exit 6
//! naming the hop limit, the container case), a service down until the deadline (exit 6), a
//! token revoked mid-run and replaced, and malformed answers that are clear errors with
//! nothing written. Backs the exit codes and logs of docs/operations.md.

use crate::util::{assert_profile_written, story_with, PROFILE_1, PROFILE_2, ROLE_1, ROLE_2};
use std::time::Duration;
use testkit::imds::ImdsConfig;

#[test]
fn imds_503_at_boot_is_waited_out() {
    let t = story_with(ImdsConfig {
        fail_first: 3,
        ..ImdsConfig::default()
    });
    t.cmd(&["run", "--wait", "30"]).expect_exit(0);
    let statuses = t.imds.requests().len();
    assert!(statuses > 3, "only {statuses} IMDS requests");
    assert_eq!(t.sts.assume_role_calls().len(), 2);
    assert_eq!(t.imds.tokenless_gets(), 0);
}

/// A slow metadata service (every answer 400 ms late, inside the SDK's 1 s read timeout) only
/// makes the run slower.
#[test]
fn a_slow_imds_is_only_slow() {
    let t = story_with(ImdsConfig {
        delay: Duration::from_millis(400),
        ..ImdsConfig::default()
    });
    t.cmd(&["run"]).expect_exit(0);
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert_profile_written(&t, PROFILE_2, ROLE_2);
    assert_eq!(t.imds.tokenless_gets(), 0);
}

/// The token PUT is answered, but the answer never arrives in time: what a process in a
/// container sees when the instance's hop limit is 1. Retried until `--wait`, then exit 6
/// with the hint, and never a GET without the token.
#[test]
fn a_token_request_that_never_answers_exits_6_naming_the_hop_limit() {
    let t = story_with(ImdsConfig {
        token_delay: Some(Duration::from_secs(60)),
        ..ImdsConfig::default()
    });
    let start = std::time::Instant::now();
    let out = t.cmd(&["run", "--wait", "4"]).expect_exit(6);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        out.stderr.contains("HttpPutResponseHopLimit"),
        "{}",
        out.stderr
    );
    assert_eq!(t.imds.gets(), 0, "no GET without a token");
    assert!(t.sts.calls().is_empty());
    assert!(!t.credentials_path().exists());
}

#[test]
fn imds_down_until_the_deadline_exits_6() {
    let t = story_with(ImdsConfig {
        fail_first: usize::MAX,
        ..ImdsConfig::default()
    });
    let started = std::time::Instant::now();
    t.cmd(&["run", "--wait", "2"]).expect_exit(6);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(t.sts.calls().is_empty());
    assert!(!t.credentials_path().exists());
}

#[test]
fn an_imds_token_revoked_mid_run_is_replaced_by_a_new_one() {
    // The token dies after the first GET (iam/info): the next GET gets 401.
    let t = story_with(ImdsConfig {
        revoke_tokens_after_gets: Some(1),
        ..ImdsConfig::default()
    });
    t.cmd(&["run", "--wait", "20"]).expect_exit(0);
    let puts = t
        .imds
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert!(
        puts >= 2,
        "no new token was fetched after the 401 ({puts} PUTs)"
    );
    assert_eq!(
        t.imds.tokenless_gets(),
        0,
        "never a request without a token"
    );
}

#[test]
fn malformed_imds_answers_are_clear_errors_and_nothing_is_written() {
    let creds_path = "/latest/meta-data/iam/security-credentials/EC2_PerformSecurityAudit";
    let cases: [(&str, &str, String); 6] = [
        ("truncated credentials", creds_path, r#"{"Code":"Success","AccessKeyId":"ASIA"#.into()),
        (
            "credentials of the wrong type",
            creds_path,
            r#"{"Code":"Success","AccessKeyId":7,"SecretAccessKey":"s","Token":"t","Expiration":"x"}"#.into(),
        ),
        (
            "credentials that failed",
            creds_path,
            r#"{"Code":"Failure","AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"2026-01-01T00:00:00Z"}"#.into(),
        ),
        ("identity document not JSON", "/latest/dynamic/instance-identity/document", "<html>".into()),
        ("instance profile of the wrong type", "/latest/meta-data/iam/info", r#"{"InstanceProfileArn":[]}"#.into()),
        ("a huge body", "/latest/meta-data/iam/info", "x".repeat(4 << 20)),
    ];
    for (what, path, body) in cases {
        let t = story_with(ImdsConfig {
            bodies: vec![(path.to_owned(), body)],
            ..ImdsConfig::default()
        });
        let out = t.cmd(&["run", "--wait", "5"]).expect_exit(6);
        assert!(
            out.stderr.contains("is not what EC2 sends"),
            "{what}: unclear error:\n{}",
            out.stderr
        );
        assert!(t.sts.calls().is_empty(), "{what}: STS was called");
        assert!(
            !t.credentials_path().exists(),
            "{what}: something was written"
        );
        assert!(out.stderr.len() < 4096, "{what}: the body was echoed");
    }
}

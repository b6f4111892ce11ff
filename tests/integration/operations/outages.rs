//! Every AWS call through an outage, the real binary behind `util::faults`'s proxy: IMDS, STS,
//! SSM (`--config ssm:`), Organizations and the fleet-shared list each get what load balancers
//! and proxies send when the service behind them is down (500/502/503/504 with an HTML, empty
//! or garbage body), a reset, an answer cut off, or no answer at all, and the job succeeds
//! once the proxy forwards again; each retry says in plain words what answered. An outage
//! that outlasts the deadline ends in a clear error, and `doctor` (one attempt) names what
//! answered. Backs docs/operations.md ("Retries and deadlines") and docs/troubleshooting.md.

use crate::util::faults::{Body, Fault, FaultProxy, OUTAGE};
use crate::util::organizations::{org_config, organization, profiles, ALL};
use crate::util::ssm::{put, NAME, TEMPLATE};
use crate::util::{
    assert_no_secrets, assert_profile_written, story, Output, TestDir, PROFILE_1, PROFILE_2,
    REFERENCE_CONFIG, ROLE_1, ROLE_2,
};
use std::time::{Duration, Instant};
use testkit::organizations::ROOT_ID;

/// The lines of `out`'s stderr that log a retry.
fn retries(out: &Output) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| l.contains("retrying"))
        .collect()
}

/// Asserts that a retry line says each of `says`, and that none quotes a body or speaks of
/// JSON parsing (what the SDK says of an answer that is not AWS's).
fn assert_retried_saying(out: &Output, says: &[&str]) {
    let lines = retries(out);
    for want in says {
        assert!(
            lines.iter().any(|l| l.contains(want)),
            "no retry line says {want:?}:\n{}",
            out.stderr
        );
    }
    for l in &lines {
        assert!(
            !l.contains("malformed") && !l.contains("<html") && !l.contains("not json"),
            "{l}"
        );
    }
}

#[test]
fn imds_outage_answers_are_waited_out() {
    let t = story();
    let script = OUTAGE.into_iter().chain([Fault::Stall]);
    let proxy = FaultProxy::start(t.imds.url(), script);
    let mut cmd = t.cmd(&["run", "--wait", "60"]);
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", proxy.url());
    cmd.arg("-v");
    let out = cmd.expect_exit(0);

    assert_eq!(
        proxy.served().len(),
        OUTAGE.len() + 1,
        "every fault answered"
    );
    assert!(proxy.forwarded() >= 1);
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert_profile_written(&t, PROFILE_2, ROLE_2);
    assert_eq!(t.imds.tokenless_gets(), 0, "never a GET without a token");
    assert_eq!(t.sts.assume_role_calls().len(), 2);
    assert!(
        out.stderr.contains("IMDS not ready; retrying"),
        "{}",
        out.stderr
    );
}

#[test]
fn imds_down_past_the_deadline_exits_6_saying_what_answered() {
    let t = story();
    let proxy = FaultProxy::down(t.imds.url(), Fault::Status(503, Body::Html));
    let mut cmd = t.cmd(&["run", "--wait", "5"]);
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", proxy.url());
    let started = Instant::now();
    let out = cmd.expect_exit(6);
    let took = started.elapsed();

    // Retried, not given up at the first answer; and given up by the deadline (the policy
    // stops early rather than sleep past it, so only the upper bound is sure).
    assert!(proxy.served().len() >= 3, "{:?}", proxy.served());
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(
        out.stderr
            .contains("before the 5s deadline: token request: HTTP 503 with an HTML body"),
        "{}",
        out.stderr
    );
    assert!(t.sts.calls().is_empty());
    assert!(!t.credentials_path().exists());
}

#[test]
fn sts_outage_answers_resets_and_stalls_are_retried_until_both_roles_are_written() {
    let mut t = story();
    let script = [
        Fault::Status(503, Body::Html),
        Fault::Status(500, Body::Garbage),
        Fault::Reset,
        Fault::Cut,
        Fault::Stall,
    ];
    let proxy = FaultProxy::start(&t.sts_url, script);
    t.sts_url = proxy.url().to_owned();
    let out = t.cmd(&["run"]).expect_exit(0);

    assert_eq!(proxy.served(), script);
    // Only the calls that got through reached STS: one for each role.
    assert_eq!(t.sts.assume_role_calls().len(), 2);
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert_profile_written(&t, PROFILE_2, ROLE_2);
    assert_retried_saying(
        &out,
        &[
            "AssumeRole failed; retrying: HTTP503: STS answered 503 with an HTML body (not AWS)",
            "STS answered 500 with a body that is not an AWS error (not AWS)",
            "Network",
            "broke off mid-answer",
            "Timeout: STS did not answer in time",
        ],
    );
    // A real client reads what was written, through the proxy that forwards again.
    assert!(t.caller_arn(PROFILE_1).contains("111111111111"));
    assert_no_secrets(&t, &out.stderr);
}

#[test]
fn an_ssm_config_is_read_through_an_outage() {
    let mut t = TestDir::new();
    put(&t, NAME, REFERENCE_CONFIG);
    // A first read keeps a copy; the next one reads SSM under its one-minute policy and
    // would fall back to the copy only after it.
    t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);
    put(&t, NAME, REFERENCE_CONFIG);
    let script = [
        Fault::Status(500, Body::Garbage),
        Fault::Status(502, Body::Empty),
        Fault::Cut,
        Fault::Reset,
    ];
    let proxy = FaultProxy::start(&t.ssm_url, script);
    t.ssm_url = proxy.url().to_owned();
    let out = t.cmd_config(TEMPLATE, &["run"]).expect_exit(0);

    assert_eq!(proxy.served(), script);
    assert!(
        out.stderr
            .contains(&format!("read the config from ssm:{NAME} (version 2")),
        "the config came from SSM, not the kept copy:\n{}",
        out.stderr
    );
    assert_retried_saying(
        &out,
        &[
            "reading the config failed; retrying: ssm:",
            "HTTP500: SSM answered 500 with a body that is not an AWS error (not AWS)",
            "HTTP502: SSM answered 502 with an empty body (not AWS)",
            "the connection to SSM broke off mid-answer",
        ],
    );
    assert_eq!(t.ssm.calls().len(), 2, "one read a run reached SSM");
}

#[test]
fn organizations_outage_answers_are_retried_before_any_fallback() {
    let mut t = TestDir::new();
    organization(&t);
    t.write_config(&org_config(&t, "", ""));
    let script = [
        Fault::Status(503, Body::Html),
        Fault::Status(502, Body::Empty),
        Fault::Status(504, Body::Html),
        Fault::Reset,
    ];
    let proxy = FaultProxy::start(&t.orgs_url, script);
    t.orgs_url = proxy.url().to_owned();
    let out = t.cmd(&["run"]).expect_exit(0);

    assert_eq!(proxy.served(), script);
    // Listed in Organizations once it answered: there was no cache to fall back to.
    assert_eq!(profiles(&t), ALL);
    assert!(!t.orgs.calls_to("ListAccounts").is_empty());
    assert_retried_saying(
        &out,
        &[
            "listing the organization's accounts failed; retrying: DescribeOrganization: \
             HTTP503: Organizations answered 503 with an HTML body (not AWS)",
            "Organizations answered 502 with an empty body (not AWS)",
            "Organizations answered 504 with an HTML body (not AWS)",
            "Network",
        ],
    );
}

#[test]
fn the_shared_list_is_read_through_an_outage() {
    let publisher = TestDir::new();
    let listed = publisher.orgs.add_accounts(ROOT_ID, 3);
    let shared = |t: &TestDir, publish: bool| {
        let text = org_config(t, "shared_parameter = \"/ear/accounts\"", "");
        match publish {
            true => text.replace("[discovery]\n", "[discovery]\npublish = true\n"),
            false => text,
        }
    };
    publisher.write_config(&shared(&publisher, true));
    publisher.cmd(&["run"]).expect_exit(0);

    let mut reader = TestDir::new();
    let script = [
        Fault::Status(503, Body::Html),
        Fault::Status(504, Body::Empty),
        Fault::Reset,
    ];
    let proxy = FaultProxy::start(publisher.ssm.url(), script);
    reader.ssm_url = proxy.url().to_owned();
    reader.write_config(&shared(&reader, false));
    let out = reader.cmd(&["run"]).expect_exit(0);

    assert_eq!(proxy.served(), script);
    let mut want = listed.clone();
    want.sort();
    assert_eq!(profiles(&reader), want);
    assert!(reader.orgs.calls().is_empty(), "the reader never lists");
    assert_retried_saying(
        &out,
        &[
            "reading or writing the shared account list failed; retrying: GetParameters: \
             HTTP503: SSM answered 503 with an HTML body (not AWS)",
            "SSM answered 504 with an empty body (not AWS)",
            "Network",
        ],
    );
}

#[test]
fn doctor_tries_once_and_names_what_answered() {
    let mut t = story();
    let proxy = FaultProxy::down(&t.sts_url, Fault::Status(503, Body::Html));
    t.sts_url = proxy.url().to_owned();
    let out = t.cmd(&["doctor"]).expect_exit(9);

    // One attempt a role (and one for STS's clock), however many roles.
    assert!(proxy.served().len() <= 3, "{:?}", proxy.served());
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("STS answered 503 with an HTML body (not AWS)"),
        "{said}"
    );
    assert!(!said.contains("malformed"), "{said}");
}

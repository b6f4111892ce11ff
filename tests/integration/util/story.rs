//! The reference story (README's quick start) as the tests tell it: its two roles and
//! profiles, the instance's session name, the ambient credentials no request may ever be
//! signed with, the marker line of our sections, and a `TestDir` with the reference config
//! written, ready to `run`.

use testkit::imds::ImdsConfig;

use super::testdir::TestDir;

/// The reference story's roles.
pub const ROLE_1: &str = "arn:aws:iam::111111111111:role/PerformSecurityAudit";
pub const ROLE_2: &str = "arn:aws:iam::222222222222:role/PerformSecurityAudit";
pub const PROFILE_1: &str = "audit-111111111111";
pub const PROFILE_2: &str = "audit-222222222222";
/// The session name the reference config gives (`{instance_id}` of the fake instance).
pub const SESSION: &str = "i-0123456789abcdef0";

/// Ambient credentials a careless binary would pick up; nothing may ever be signed with them.
pub const AMBIENT_KEY_ID: &str = "AKIAAMBIENTBOGUS0001";
pub const AMBIENT_SECRET: &str = "AmbientBogusSecret/MustNotBeUsed+00001";
pub const AMBIENT_PROFILE_KEY_ID: &str = "AKIAAMBIENTPROFILE01";

/// The marker line that makes a section ours.
pub const MARKER: &str =
    "# Managed by ec2-assume-role: rewritten on every refresh; edits here are lost.";

/// The reference story's config (README); `CREDENTIALS_FILE` is replaced by
/// `TestDir::write_config`. scripts/demo.sh uses the same file.
pub const REFERENCE_CONFIG: &str = include_str!("../../../testdata/reference.toml");

/// The reference story, ready to run.
pub fn story() -> TestDir {
    let t = TestDir::new();
    t.write_config(REFERENCE_CONFIG);
    t
}

/// The reference story with moto as STS.
pub fn story_on_moto(moto: &testkit::moto::Moto) -> TestDir {
    let mut t = TestDir::new();
    t.sts_url = moto.url().to_owned();
    t.write_config(REFERENCE_CONFIG);
    t
}

pub fn story_with(imds: ImdsConfig) -> TestDir {
    let t = TestDir::with_imds(imds);
    t.write_config(REFERENCE_CONFIG);
    t
}

/// Asserts that `arn` (a caller identity, as an AWS client printed it) is the reference
/// story's audit role assumed in `account`, whatever the session name.
pub fn assert_assumed_audit_role(arn: &str, account: &str) {
    let prefix = format!("arn:aws:sts::{account}:assumed-role/PerformSecurityAudit/");
    assert!(arn.starts_with(&prefix), "not {prefix}...: {arn}");
}

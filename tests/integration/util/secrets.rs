//! Every credential a test knows of (the ambient ones in the environment, the instance
//! profile's from IMDS, every role's from STS), so a test can prove none reached a log, a
//! state file or stdout.

use super::story::{AMBIENT_KEY_ID, AMBIENT_PROFILE_KEY_ID, AMBIENT_SECRET};
use super::testdir::TestDir;

/// Every credential the fakes and the environment hold; none may ever reach the logs.
pub fn secrets(t: &TestDir) -> Vec<String> {
    let mut all = issued_secrets(t);
    all.extend([
        AMBIENT_KEY_ID.into(),
        AMBIENT_SECRET.into(),
        AMBIENT_PROFILE_KEY_ID.into(),
    ]);
    all
}

/// The credentials the fakes handed out so far: the instance profile's (IMDS) and every
/// assumed role's (STS). Unlike the ambient ones, the tests never put these anywhere.
pub fn issued_secrets(t: &TestDir) -> Vec<String> {
    let mut all: Vec<String> = vec![
        testkit::imds::ACCESS_KEY_ID.into(),
        testkit::imds::SECRET_ACCESS_KEY.into(),
        testkit::imds::SESSION_TOKEN.into(),
        testkit::imds::ROTATED_ACCESS_KEY_ID.into(),
        testkit::imds::ROTATED_SECRET_ACCESS_KEY.into(),
        testkit::imds::ROTATED_SESSION_TOKEN.into(),
    ];
    for i in t.sts.issued() {
        all.extend([i.access_key_id, i.secret_access_key, i.session_token]);
    }
    all
}

pub fn assert_no_secrets(t: &TestDir, output: &str) {
    for secret in secrets(t) {
        assert!(!output.contains(&secret), "{secret} leaked:\n{output}");
    }
}

//! Reading what the binary wrote as a test checks it: the permission bits of a file, the
//! `key = value` entries of an INI section (credentials and AWS config files), and the proof
//! that a profile's section holds exactly what the fake STS issued, under our marker line;
//! and a file without our sections (`user_bytes`), what a write must never change.

use std::collections::BTreeSet;
use std::path::Path;

use ec2_assume_role::store::credfile::{self, FileKind, Plan};

use super::story::MARKER;
use super::testdir::TestDir;

/// The permission bits of `path`.
pub fn mode(path: impl AsRef<Path>) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path.as_ref())
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.as_ref().display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The `key = value` entries of section `[name]` in an INI text (first such section).
pub fn section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let header = format!("[{name}]");
    let mut lines = text.lines().skip_while(|l| l.trim() != header);
    lines.next()?;
    Some(
        lines
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
    )
}

/// The value of `key` in section `[name]`.
pub fn value(text: &str, name: &str, key: &str) -> Option<String> {
    section(text, name)?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Asserts that `[profile]` holds exactly what the fake STS issued last for `role_arn`, right
/// under the marker line.
pub fn assert_profile_written(t: &TestDir, profile: &str, role_arn: &str) {
    let text = t.read(t.credentials_path());
    let issued = t
        .sts
        .issued_for(role_arn)
        .unwrap_or_else(|| panic!("STS issued nothing for {role_arn}"));
    let header = format!("[{profile}]");
    let after_header = text
        .lines()
        .skip_while(|l| *l != header)
        .nth(1)
        .unwrap_or_else(|| panic!("no {header} in:\n{text}"));
    assert_eq!(after_header, MARKER, "marker missing under {header}");
    let got = section(&text, profile).unwrap_or_default();
    let want = [
        ("aws_access_key_id", issued.access_key_id.as_str()),
        ("aws_secret_access_key", issued.secret_access_key.as_str()),
        ("aws_session_token", issued.session_token.as_str()),
        ("x_security_token_expires", issued.expiration.as_str()),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want, "section {header}");
}

/// The file without our sections: what must never change.
pub fn user_bytes(text: &[u8]) -> Vec<u8> {
    credfile::apply(
        text,
        &Plan {
            kind: FileKind::Credentials,
            write: &[],
            configured: &BTreeSet::new(),
            replace_unmanaged: false,
        },
    )
    .text
}

/// The `credential_process` command the binary wrote for `profile` into the AWS config file.
pub fn credential_process(t: &TestDir, profile: &str) -> String {
    let config = t.read(t.aws_config_path());
    value(&config, &format!("profile {profile}"), "credential_process")
        .expect("a credential_process entry")
}

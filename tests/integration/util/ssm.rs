//! A config in SSM Parameter Store as the stories put it: the name template the instances
//! use, that name filled for the fake instance, and `put`, which fills the config's
//! `CREDENTIALS_FILE` as `TestDir::write_config` does.

use super::TestDir;

pub const TEMPLATE: &str = "ssm:/ec2-assume-role/{account_id}/{region}/config";
/// `TEMPLATE` for the fake instance (account 000000000000 in us-east-1).
pub const NAME: &str = "/ec2-assume-role/000000000000/us-east-1/config";

/// Puts `text` (with `CREDENTIALS_FILE` filled, as `TestDir::write_config` does) at `name`.
pub fn put(t: &TestDir, name: &str, text: &str) {
    let text = text.replace(
        "CREDENTIALS_FILE",
        &t.credentials_path().display().to_string(),
    );
    t.ssm.put(name, &text);
}

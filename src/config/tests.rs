//! The config's table tests: every rule with the line and key it must name, whole files
//! accepted as they should be, and the reading of files. The property tests are in
//! `properties`.

mod chains;
mod discovered;
mod endpoint;
mod properties;
mod users;
mod values;

use super::rules::{check_profile, check_region, check_user_name, split_arn};
use super::*;
use std::path::PathBuf;

const ARN: &str = "arn:aws:iam::111111111111:role/R";
/// Lines 1-3.
pub(super) const INSTANCE: &str = "[instance]\nrole_name = \"EC2_Audit\"\n\n";

/// `[[role]]` on line 4, `body` from line 5.
fn role(body: &str) -> String {
    format!("{INSTANCE}[[role]]\n{body}\n")
}

/// A valid role (profile line 5, role_arn line 6) plus `body` from line 7.
fn full(body: &str) -> String {
    role(&format!("profile = \"p\"\nrole_arn = \"{ARN}\"\n{body}"))
}

/// `role_arn` on line 6.
fn arn(value: &str) -> String {
    role(&format!("profile = \"p\"\nrole_arn = {value:?}"))
}

/// `[credentials]` on line 4, `body` from line 5, then a valid role.
fn credentials(body: &str) -> String {
    format!("{INSTANCE}[credentials]\n{body}\n\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n")
}

/// `[defaults]` on line 4, `body` from line 5, then a valid role.
/// `[daemon]` on line 4, `body` from line 5.
fn daemon(body: &str) -> String {
    format!("{INSTANCE}[daemon]\n{body}\n\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n")
}

fn defaults(body: &str) -> String {
    format!("{INSTANCE}[defaults]\n{body}\n\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n")
}

/// `[[role_set]]` on line 4, `body` from line 5.
fn set(body: &str) -> String {
    format!("{INSTANCE}[[role_set]]\n{body}\n")
}

/// A valid role set (role_name line 5, accounts line 6, profile line 7) plus `body` from
/// line 8.
fn full_set(body: &str) -> String {
    set(&format!(
        "role_name = \"R\"\naccounts = [\"111111111111\", \"222222222222\"]\n\
         profile = \"a-{{account_id}}\"\n{body}"
    ))
}

/// `[sts]` on line 4, `body` from line 5, then a valid role.
fn sts(body: &str) -> String {
    format!("{INSTANCE}[sts]\n{body}\n\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n")
}

pub(super) fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text, Path::new("/etc/c.toml")) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors,
    }
}

#[test]
fn every_rule_names_line_and_key() {
    let long = |n: usize| "a".repeat(n);
    let many_tags: String = (0..51).map(|i| format!("k{i} = \"v\", ")).collect();
    let many_tags = format!("tags = {{ {} }}", many_tags.trim_end_matches(", "));
    let cases: Vec<(String, Option<usize>, Option<&str>, String)> = vec![
        // TOML syntax, unknown keys, wrong types.
        (full("bogus = 1"), Some(7), Some("role[1].bogus"), "unknown key `bogus`".into()),
        (full("region = "), Some(7), Some("role[1].region"), "string values must be quoted".into()),
        (full("duration_seconds = \"1h\""), Some(7), Some("role[1].duration_seconds"), "invalid type: string \"1h\", expected an integer".into()),
        (full("duration_seconds = 3600.0"), Some(7), Some("role[1].duration_seconds"), "expected an integer".into()),
        (full("tags = {a = 1}"), Some(7), Some("role[1].tags"), "expected a string".into()),
        (full("profile = \"q\""), Some(7), Some("role[1].profile"), "duplicate key".into()),
        ("instance = 4\n".into(), Some(1), Some("instance"), "invalid type: integer `4`, expected a table".into()),
        (format!("{INSTANCE}[default]\n"), Some(4), Some("default"), "unknown key `default`, expected one of".into()),
        (format!("{INSTANCE}[role]\nprofile = \"p\"\n"), Some(4), Some("role"), "write each as [[role]]".into()),
        (credentials("replace_unmanaged = \"yes\""), Some(5), Some("credentials.replace_unmanaged"), "expected a boolean".into()),
        (credentials("credential_process = \"on\""), Some(5), Some("credentials.credential_process"), "expected a boolean".into()),
        ("".into(), None, None, "the file is empty".into()),
        // [instance]
        (format!("[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n"), None, Some("instance"), "missing; add an [instance] table".into()),
        (format!("[instance]\naccount_id = \"000000000000\"\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n"), Some(1), Some("instance.role_name"), "missing".into()),
        (format!("[instance]\nrole_name = \"EC2 Audit\"\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n"), Some(2), Some("instance.role_name"), "\"EC2 Audit\" is not an IAM role name: ' ' is not allowed".into()),
        (format!("[instance]\nrole_name = \"{}\"\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n", long(65)), Some(2), Some("instance.role_name"), "it is 65 characters; the limit is 64".into()),
        (format!("[instance]\nrole_name = \"\"\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n"), Some(2), Some("instance.role_name"), "it is empty".into()),
        (format!("[instance]\nrole_name = \"R\"\naccount_id = \"12345\"\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n"), Some(3), Some("instance.account_id"), "\"12345\" is not an account id: an account id is 12 digits".into()),
        (INSTANCE.into(), None, Some("role"), "no [[role]] or [[role_set]] table".into()),
        // role_arn
        (arn("arn:aws:iam::11111111111:role/X"), Some(6), Some("role[1].role_arn"), "\"arn:aws:iam::11111111111:role/X\" is not a role ARN: the account must be 12 digits".into()),
        (arn("arn:aws:iam::111111111111:user/X"), Some(6), Some("role[1].role_arn"), "the resource is \"user/X\"; a role ARN's starts with \"role/\"".into()),
        (arn("arn:aws:sts::111111111111:role/X"), Some(6), Some("role[1].role_arn"), "the service is \"sts\"".into()),
        (arn("arn:aws:iam:us-east-1:111111111111:role/X"), Some(6), Some("role[1].role_arn"), "it has region \"us-east-1\"; IAM ARNs have none".into()),
        (arn("arn:aws-mars:iam::111111111111:role/X"), Some(6), Some("role[1].role_arn"), "unknown partition \"aws-mars\"".into()),
        (arn("arn:aws-iso-:iam::111111111111:role/X"), Some(6), Some("role[1].role_arn"), "unknown partition \"aws-iso-\"".into()),
        (arn("111111111111:role/X"), Some(6), Some("role[1].role_arn"), "expected arn:PARTITION:iam::ACCOUNT:role/NAME".into()),
        (arn("aws:aws:iam::111111111111:role/X"), Some(6), Some("role[1].role_arn"), "it must start with \"arn:\"".into()),
        (arn("arn:aws:iam::111111111111:role/a//X"), Some(6), Some("role[1].role_arn"), "the role path has an empty segment".into()),
        (arn("arn:aws:iam::111111111111:role/pé/X"), Some(6), Some("role[1].role_arn"), "'é' is not allowed in a role path".into()),
        (arn(&format!("arn:aws:iam::111111111111:role/{}/X", long(511))), Some(6), Some("role[1].role_arn"), "longer than 512".into()),
        (arn("arn:aws:iam::111111111111:role/"), Some(6), Some("role[1].role_arn"), "the role name \"\" is invalid: it is empty".into()),
        (arn("arn:aws:iam::111111111111:role/path/X!"), Some(6), Some("role[1].role_arn"), "the role name \"X!\" is invalid: '!' is not allowed".into()),
        (role("profile = \"p\""), Some(4), Some("role[1].role_arn"), "missing".into()),
        // profile
        (role(&format!("role_arn = \"{ARN}\"")), Some(4), Some("role[1].profile"), "missing".into()),
        (role(&format!("profile = \"\"\nrole_arn = \"{ARN}\"")), Some(5), Some("role[1].profile"), "\"\" cannot be a profile name: it is empty".into()),
        (role(&format!("profile = \"a b\"\nrole_arn = \"{ARN}\"")), Some(5), Some("role[1].profile"), "' ' is not allowed".into()),
        (role(&format!("profile = \"a]\"\nrole_arn = \"{ARN}\"")), Some(5), Some("role[1].profile"), "']' is not allowed".into()),
        (role(&format!("profile = \"[a\"\nrole_arn = \"{ARN}\"")), Some(5), Some("role[1].profile"), "'[' is not allowed".into()),
        (role(&format!("profile = \"a#b\"\nrole_arn = \"{ARN}\"")), Some(5), Some("role[1].profile"), "'#' is not allowed".into()),
        (role(&format!("profile = \"a;b\"\nrole_arn = \"{ARN}\"")), Some(5), Some("role[1].profile"), "';' is not allowed".into()),
        (role(&format!("profile = \"a\\u0007\"\nrole_arn = \"{ARN}\"")), Some(5), Some("role[1].profile"), "'\\u{7}' is not allowed".into()),
        (full(&format!("\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"")), Some(9), Some("role[2].profile"), "\"p\" is already the profile of role[1] (line 4)".into()),
        // role_session_name
        (full("role_session_name = \"{foo}\""), Some(7), Some("role[1].role_session_name"), "{foo} is not a placeholder; use {instance_id}".into()),
        (full("role_session_name = \"x-{instance_id\""), Some(7), Some("role[1].role_session_name"), "has a \"{\" with no \"}\" after it".into()),
        (full("role_session_name = \"x}\""), Some(7), Some("role[1].role_session_name"), "has a \"}\" with no \"{\" before it".into()),
        (full("role_session_name = \"{{profile}}\""), Some(7), Some("role[1].role_session_name"), "has a \"{\" with no \"}\" after it".into()),
        (full("role_session_name = \"a\""), Some(7), Some("role[1].role_session_name"), "it is 1 characters; the minimum is 2".into()),
        (full("role_session_name = \"x/{instance_id}\""), Some(7), Some("role[1].role_session_name"), "'/' is not allowed".into()),
        (full(&format!("role_session_name = \"{}-{{instance_id}}\"", long(45))), Some(7), Some("role[1].role_session_name"), "with the longest instance id, which is not a valid session name: it is 65 characters; the limit is 64".into()),
        (role(&format!("profile = \"p:q\"\nrole_arn = \"{ARN}\"\nrole_session_name = \"{{profile}}\"")), Some(7), Some("role[1].role_session_name"), "\"{profile}\" gives \"p:q\" for profile \"p:q\", which is not a valid session name: ':' is not allowed".into()),
        (defaults("role_session_name = \"{bad}\""), Some(5), Some("defaults.role_session_name"), "{bad} is not a placeholder".into()),
        // duration_seconds
        (full("duration_seconds = 899"), Some(7), Some("role[1].duration_seconds"), "899 is out of range; STS accepts 900 to 43200".into()),
        (full("duration_seconds = 43201"), Some(7), Some("role[1].duration_seconds"), "43201 is out of range".into()),
        (full("duration_seconds = 9999999999999"), Some(7), Some("role[1].duration_seconds"), "9999999999999 is out of range".into()),
        (defaults("duration_seconds = -1"), Some(5), Some("defaults.duration_seconds"), "-1 is out of range".into()),
        // external_id
        (full("external_id = \"a\""), Some(7), Some("role[1].external_id"), "it is 1 characters; the minimum is 2".into()),
        (full("external_id = \"a b\""), Some(7), Some("role[1].external_id"), "character 2 is not allowed; use only letters, digits and _ + = , . @ : / -".into()),
        (full(&format!("external_id = \"{}\"", long(1225))), Some(7), Some("role[1].external_id"), "it is 1225 characters; the limit is 1224".into()),
        // source_identity
        (full("source_identity = \"aws:me\""), Some(7), Some("role[1].source_identity"), "the \"aws:\" prefix is reserved".into()),
        (full("source_identity = \"AWS:me\""), Some(7), Some("role[1].source_identity"), "the \"aws:\" prefix is reserved".into()),
        (full("source_identity = \"a\""), Some(7), Some("role[1].source_identity"), "the minimum is 2".into()),
        (full("source_identity = \"me:you\""), Some(7), Some("role[1].source_identity"), "':' is not allowed".into()),
        (full(&format!("source_identity = \"{}\"", long(65))), Some(7), Some("role[1].source_identity"), "the limit is 64".into()),
        // tags
        (full("tags = {\"aws:x\" = \"1\"}"), Some(7), Some("role[1].tags.\"aws:x\""), "tag key \"aws:x\": the \"aws:\" prefix is reserved".into()),
        (full(&format!("tags = {{{} = \"1\"}}", long(129))), Some(7), Some(format!("role[1].tags.{}", long(129)).leak()), "the limit is 128".into()),
        (full(&format!("tags = {{k = \"{}\"}}", long(257))), Some(7), Some("role[1].tags.k"), "tag value".into()),
        (full("tags = {k = \"a!\"}"), Some(7), Some("role[1].tags.k"), "tag value \"a!\" is invalid: '!' is not allowed".into()),
        (full("tags = {\"\" = \"v\"}"), Some(7), Some("role[1].tags.\"\""), "tag key \"\" is invalid: it is empty".into()),
        (full("tags = {Env = \"a\", env = \"b\"}"), Some(7), Some("role[1].tags.env"), "\"Env\" and \"env\" differ only in case".into()),
        (full(&many_tags), Some(7), Some("role[1].tags"), "51 tags; STS accepts at most 50".into()),
        // region
        (full("region = \"us-east\""), Some(7), Some("role[1].region"), "\"us-east\" is not a region name".into()),
        (full("region = \"US-EAST-1\""), Some(7), Some("role[1].region"), "is not a region name".into()),
        (full("region = \"useast1\""), Some(7), Some("role[1].region"), "is not a region name".into()),
        (full("region = \"usa-east-1\""), Some(7), Some("role[1].region"), "is not a region name".into()),
        (full("region = \"us--1\""), Some(7), Some("role[1].region"), "is not a region name".into()),
        (full("region = \"us-east-\""), Some(7), Some("role[1].region"), "is not a region name".into()),
        (defaults("region = \"x\""), Some(5), Some("defaults.region"), "\"x\" is not a region name".into()),
        // session policies
        (full("policy = '{'"), Some(7), Some("role[1].policy"), "it is not JSON: EOF while parsing an object (line 1, column 1 of the policy)".into()),
        (full("policy = '[]'"), Some(7), Some("role[1].policy"), "a policy is a JSON object".into()),
        (full("policy = '{\"Version\": \"2012-10-17\"}'"), Some(7), Some("role[1].policy"), "it has no Statement".into()),
        (full("policy = '{\"Version\": \"2019\", \"Statement\": {}}'"), Some(7), Some("role[1].policy"), "Version is \"2019\"".into()),
        (full("policy = '{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"\u{2603}\"}}'"), Some(7), Some("role[1].policy"), "'\u{2603}' (U+2603) is outside the characters STS accepts".into()),
        (full(&format!("policy = '{{\"Statement\": {{\"Sid\": \"{}\"}}}}'", long(2040))), Some(7), Some("role[1].policy"), "it is 2064 characters without its white space; STS accepts at most 2048".into()),
        (full("policy_arns = [\"arn:aws-cn:iam::aws:policy/ReadOnlyAccess\"]"), Some(7), Some("role[1].policy_arns[1]"), "it is in partition \"aws-cn\", but the role is in \"aws\"".into()),
        (full("policy_arns = [\"arn:aws:iam::aws:role/ReadOnlyAccess\"]"), Some(7), Some("role[1].policy_arns[1]"), "a policy ARN's starts with \"policy/\"".into()),
        (full("policy_arns = [\"arn:aws:iam::12:policy/P\"]"), Some(7), Some("role[1].policy_arns[1]"), "the account must be 12 digits, \"aws\"".into()),
        (full("policy_arns = [\"arn:aws:iam::{account}:policy/P\"]"), Some(7), Some("role[1].policy_arns[1]"), "is not a policy ARN".into()),
        (full("policy_arns = [\"arn:aws:iam::aws:policy/P!\"]"), Some(7), Some("role[1].policy_arns[1]"), "the policy name \"P!\" is invalid".into()),
        (full("policy_arns = [\"arn:aws:iam::aws:policy/P\", \"arn:aws:iam::aws:policy/P\"]"), Some(7), Some("role[1].policy_arns[2]"), "\"arn:aws:iam::aws:policy/P\" is listed twice".into()),
        (full(&format!("policy_arns = [{}]", (0..11).map(|i| format!("\"arn:aws:iam::aws:policy/P{i}\"")).collect::<Vec<_>>().join(", "))), Some(7), Some("role[1].policy_arns"), "11 policy ARNs; STS accepts at most 10".into()),
        (full_set("partition = \"aws-us-gov\"\npolicy_arns = [\"arn:aws:iam::{account_id}:policy/P\"]"), Some(9), Some("role_set[1].policy_arns[1]"), "it is in partition \"aws\", but the role is in \"aws-us-gov\"".into()),
        (full("use_fips_endpoint = \"yes\""), Some(7), Some("role[1].use_fips_endpoint"), "expected a boolean".into()),
        (defaults("use_dualstack_endpoint = 1"), Some(5), Some("defaults.use_dualstack_endpoint"), "expected a boolean".into()),
        (full("region = \"aws-global\""), Some(7), Some("role[1].region"), "\"aws-global\" is not a region name in any partition (aws, aws-cn, aws-eusc, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-us-gov)".into()),
        (full("region = \"eusc-fr-east-1\""), Some(7), Some("role[1].region"), "is not a region name".into()),
        (full("region = \"cn-north-1\""), Some(7), Some("role[1].region"), "region \"cn-north-1\" is in partition \"aws-cn\", but the role is in \"aws\"; give a region of aws (e.g. us-east-1)".into()),
        (defaults("region = \"us-gov-west-1\""), Some(7), Some("defaults.region"), "region \"us-gov-west-1\" is in partition \"aws-us-gov\", but the role is in \"aws\"".into()),
        (full_set("partition = \"aws-cn\"\nregion = \"us-east-1\""), Some(9), Some("role_set[1].region"), "is in partition \"aws\", but the role is in \"aws-cn\"; give a region of aws-cn (e.g. cn-northwest-1)".into()),
        // [credentials]
        (credentials("file = \"aws/credentials\""), Some(5), Some("credentials.file"), "\"aws/credentials\" is not an absolute path".into()),
        (credentials("config_file = \"~/.aws/config\""), Some(5), Some("credentials.config_file"), "is not an absolute path".into()),
        (credentials("file = \"/root/.aws/\""), Some(5), Some("credentials.file"), "names a directory".into()),
        (credentials("file = \"/root/.aws/config\""), Some(5), Some("credentials.file"), "would be both the credentials file and the config file".into()),
        // [daemon]
        (daemon("refresh_at = 0.99"), Some(5), Some("daemon.refresh_at"), "0.99 is out of range".into()),
        (daemon("refresh_at = 0.8\njitter = 0.2"), Some(6), Some("daemon.jitter"), "must stay between 0.05 and 0.95".into()),
        (daemon("safety_window_seconds = 5"), Some(5), Some("daemon.safety_window_seconds"), "5 is out of range: from 900 to 3600 seconds".into()),
        (daemon("safety_window_seconds = 300"), Some(5), Some("daemon.safety_window_seconds"), "300 is out of range: from 900 to 3600 seconds".into()),
        (daemon("reload_interval_seconds = 4"), Some(5), Some("daemon.reload_interval_seconds"), "4 is out of range: 0 or from 5 to 86400 seconds (0: on SIGHUP only)".into()),
        (daemon("reload_interval_seconds = -1"), Some(5), Some("daemon.reload_interval_seconds"), "-1 is out of range".into()),
        (daemon("reload_interval_seconds = 86401"), Some(5), Some("daemon.reload_interval_seconds"), "86401 is out of range".into()),
        (daemon("state_file = \"state.json\""), Some(5), Some("daemon.state_file"), "is not an absolute path".into()),
        (daemon("metrics_file = \"ear.prom\""), Some(5), Some("daemon.metrics_file"), "\"ear.prom\" is not an absolute path".into()),
        (daemon("metrics_file = \"/var/lib/node_exporter/\""), Some(5), Some("daemon.metrics_file"), "names a directory".into()),
        (daemon("metrics_file = \"/var/lib/node_exporter/ear.txt\""), Some(5), Some("daemon.metrics_file"), "does not end in .prom; node_exporter's textfile collector reads only *.prom files".into()),
        (daemon("metrics_file = 1"), Some(5), Some("daemon.metrics_file"), "expected a string".into()),
        (daemon("remove_expired = 1"), Some(5), Some("daemon.remove_expired"), "expected a boolean".into()),
        (daemon("refresh = 0.5"), Some(5), Some("daemon.refresh"), "unknown key `refresh`".into()),
        (credentials("file = \"/a/c\"\nconfig_file = \"/a/c\""), Some(6), Some("credentials.config_file"), "would be both".into()),
        (credentials("owner = \"1abc\""), Some(5), Some("credentials.owner"), "\"1abc\" is not a user name".into()),
        (credentials("owner = \"ec2 user\""), Some(5), Some("credentials.owner"), "is not a user name".into()),
        (credentials(&format!("owner = \"{}\"", long(33))), Some(5), Some("credentials.owner"), "longer than 32".into()),
        // [sts]
        (sts("max_concurrency = 0"), Some(5), Some("sts.max_concurrency"), "0 is out of range: from 1 to 64".into()),
        (sts("max_concurrency = 65"), Some(5), Some("sts.max_concurrency"), "65 is out of range".into()),
        (sts("max_concurrency = \"8\""), Some(5), Some("sts.max_concurrency"), "expected an integer".into()),
        (sts("boot_jitter_seconds = -1"), Some(5), Some("sts.boot_jitter_seconds"), "-1 is out of range: from 0 to 300 seconds".into()),
        (sts("boot_jitter_seconds = 301"), Some(5), Some("sts.boot_jitter_seconds"), "301 is out of range".into()),
        (sts("concurrency = 8"), Some(5), Some("sts.concurrency"), "unknown key `concurrency`".into()),
        // [[role_set]]
        (set("accounts = [\"111111111111\"]\nprofile = \"a-{account_id}\""), Some(4), Some("role_set[1].role_name"), "missing".into()),
        (set("role_name = \"R\"\nprofile = \"a-{account_id}\""), Some(4), Some("role_set[1].accounts"), "missing".into()),
        (set("role_name = \"R\"\naccounts = [\"111111111111\"]"), Some(4), Some("role_set[1].profile"), "missing; give a template".into()),
        (set("role_name = \"R\"\naccounts = []\nprofile = \"a-{account_id}\""), Some(6), Some("role_set[1].accounts"), "is empty".into()),
        (set("role_name = \"R\"\naccounts = [\"111111111111\", \"222222222222\", \"123\"]\nprofile = \"a-{account_id}\""), Some(6), Some("role_set[1].accounts[3]"), "\"123\" is not an account id: an account id is 12 digits".into()),
        (set("role_name = \"R\"\naccounts = \"111111111111\"\nprofile = \"a-{account_id}\""), Some(6), Some("role_set[1].accounts"), "expected a sequence".into()),
        (set("role_name = \"R\"\naccounts = [\"111111111111\", \"111111111111\"]\nprofile = \"a-{account_id}\""), Some(6), Some("role_set[1].accounts[2]"), "\"a-111111111111\" is already the profile of role_set[1].accounts[1] (line 4)".into()),
        (set("role_name = \"R\"\naccounts = [\"111111111111\"]\nprofile = \"audit\""), Some(7), Some("role_set[1].profile"), "\"audit\" does not contain {account_id}".into()),
        (set("role_name = \"R\"\naccounts = [\"111111111111\"]\nprofile = \"{profile}-{account_id}\""), Some(7), Some("role_set[1].profile"), "{account_id} (the target account) is the only placeholder".into()),
        (set("role_name = \"R\"\naccounts = [\"111111111111\"]\nprofile = \"a b-{account_id}\""), Some(7), Some("role_set[1].profile"), "' ' is not allowed".into()),
        (set("role_name = \"/audit/R\"\naccounts = [\"111111111111\"]\nprofile = \"a-{account_id}\""), Some(5), Some("role_set[1].role_name"), "without its leading \"/\"".into()),
        (set("role_name = \"audit//R\"\naccounts = [\"111111111111\"]\nprofile = \"a-{account_id}\""), Some(5), Some("role_set[1].role_name"), "the role path has an empty segment".into()),
        (set("role_name = \"R!\"\naccounts = [\"111111111111\"]\nprofile = \"a-{account_id}\""), Some(5), Some("role_set[1].role_name"), "\"R!\" is not a role name: the role name \"R!\" is invalid: '!' is not allowed".into()),
        (full_set("partition = \"aws-mars\""), Some(8), Some("role_set[1].partition"), "unknown partition \"aws-mars\"".into()),
        (full_set("role_arn = \"x\""), Some(8), Some("role_set[1].role_arn"), "unknown key `role_arn`".into()),
        (full_set("duration_seconds = 60"), Some(8), Some("role_set[1].duration_seconds"), "60 is out of range".into()),
        (full_set("external_id = \"a\""), Some(8), Some("role_set[1].external_id"), "the minimum is 2".into()),
        (full_set("region = \"mars\""), Some(8), Some("role_set[1].region"), "\"mars\" is not a region name".into()),
        (full_set("source_identity = \"aws:x\""), Some(8), Some("role_set[1].source_identity"), "reserved".into()),
        (full_set("tags = {k = \"a!\"}"), Some(8), Some("role_set[1].tags.k"), "'!' is not allowed".into()),
        (full_set("role_session_name = \"{foo}\""), Some(8), Some("role_set[1].role_session_name"), "{foo} is not a placeholder".into()),
        (format!("{INSTANCE}[role_set]\nrole_name = \"R\"\n"), Some(4), Some("role_set"), "write each as [[role_set]]".into()),
        (format!("{INSTANCE}[]efault]\n"), Some(4), None, "expected newline".into()),
        // duplicates across roles and sets name both places
        (format!("{INSTANCE}[[role]]\nprofile = \"a-111111111111\"\nrole_arn = \"{ARN}\"\n\n[[role_set]]\nrole_name = \"R\"\naccounts = [\"111111111111\"]\nprofile = \"a-{{account_id}}\"\n"), Some(10), Some("role_set[1].accounts[1]"), "\"a-111111111111\" is already the profile of role[1] (line 4)".into()),
        (format!("{}\n[[role]]\nprofile = \"a-222222222222\"\nrole_arn = \"{ARN}\"\n", full_set("")), Some(11), Some("role[1].profile"), "\"a-222222222222\" is already the profile of role_set[1].accounts[2] (line 4)".into()),
        (format!("{}\n[[role_set]]\nrole_name = \"S\"\naccounts = [\"333333333333\", \"222222222222\"]\nprofile = \"a-{{account_id}}\"\n", full_set("")), Some(12), Some("role_set[2].accounts[2]"), "is already the profile of role_set[1].accounts[2] (line 4)".into()),
    ];
    for (text, line, key, needle) in cases {
        let errs = errors(&text);
        let [err] = errs.as_slice() else {
            panic!("expected one error, got {errs:#?}\nfor:\n{text}");
        };
        assert_eq!(err.line, line, "line of {err}\nfor:\n{text}");
        assert_eq!(err.key.as_deref(), key, "key of {err}\nfor:\n{text}");
        assert!(
            err.message.contains(&needle),
            "{err}\nlacks {needle:?}\nfor:\n{text}"
        );
        assert!(!err.message.contains('\n'), "{err}");
    }
}

#[test]
fn display_names_file_line_key() {
    let err = &errors(&arn("arn:aws:iam::11111111111:role/X"))[0];
    assert_eq!(
        err.to_string(),
        "/etc/c.toml:6: role[1].role_arn: \"arn:aws:iam::11111111111:role/X\" is not a \
         role ARN: the account must be 12 digits"
    );
    let err = &errors("")[0];
    assert_eq!(
        err.to_string(),
        "/etc/c.toml: the file is empty; it needs an [instance] table and at least one \
         [[role]] table"
    );
}

#[test]
fn all_problems_are_reported_in_line_order() {
    let text = "[instance]\nrole_name = \"R\"\naccount_id = \"1\"\n\n[[role]]\n\
                profile = \"a b\"\nrole_arn = \"arn:aws:iam::1:role/R\"\nregion = \"x\"\n";
    let err = parse(text, Path::new("/c")).unwrap_err();
    let lines: Vec<_> = err.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [Some(3), Some(6), Some(7), Some(8)]);
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 4, "{shown}");
    assert!(shown.starts_with("/c:3: instance.account_id: "), "{shown}");

    let comments_only = errors("# nothing yet\n");
    let keys: Vec<_> = comments_only.iter().map(|e| e.key.as_deref()).collect();
    assert_eq!(keys, [Some("instance"), Some("role")]);
}

#[test]
fn external_id_is_never_echoed() {
    for body in [
        "external_id = \"s3cr3t value\"",
        "external_id = \"s3cr3t!\"",
    ] {
        let errs = errors(&full(body));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(!errs[0].to_string().contains("s3cr3t"), "{}", errs[0]);
    }
}

/// Found by `mutated_configs_are_refused_cleanly_or_accepted_consistently`: a table
/// header or a quoted key holding control characters was echoed raw, so a config could
/// print escape sequences to the terminal or a carriage return into the journal line.
#[test]
fn control_characters_from_the_file_are_escaped_in_messages() {
    for (text, shown) in [
        (format!("{INSTANCE}[[ro\x1b[2Jle]]\n"), "\"ro\\u{1b}\"[1]"),
        (format!("{INSTANCE}[\x0erole_set]\n"), "\\u{e}role_set"),
        (full("\"ta\\rg\" = 1"), "unknown key `ta\\rg`"),
    ] {
        let errs = errors(&text);
        let all = ConfigErrors { errors: errs }.to_string();
        assert!(all.contains(shown), "{all:?} lacks {shown:?}");
        assert!(!all.chars().any(char::is_control), "{all:?}");
    }
}

/// What a person at a terminal gets: a suggestion for a misspelt key or table, a table and
/// an array of tables of one name explained, an account ID written as a number, and each
/// drawn as rustc draws an error (file:line:column, the line, a caret under the span).
#[test]
fn misspellings_get_a_suggestion_and_errors_are_drawn_with_a_caret() {
    // (text, line, key, message, help)
    type Case<'a> = (
        String,
        Option<usize>,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (role(&format!("profile = \"p\"\nrol_arn = \"{ARN}\"")), Some(6), Some("role[1].rol_arn"), "unknown key `rol_arn`", Some("did you mean `role_arn`?")),
        (format!("{INSTANCE}[default]\n"), Some(4), Some("default"), "unknown key `default`, expected one of", Some("did you mean `[defaults]`?")),
        (format!("{INSTANCE}[[roles]]\nprofile = \"p\"\n"), Some(4), Some("roles[1]"), "unknown key `roles`", Some("did you mean `[[role]]`?")),
        (full("bogus = 1"), Some(7), Some("role[1].bogus"), "unknown key `bogus`", None),
        (format!("{INSTANCE}[role]\nprofile = \"p\"\n[[role]]\nprofile = \"q\"\n"), Some(6), Some("role"), "`[[role]]` adds to an array of tables, but `[role]` on line 4 made `role` a single table", Some("write each as `[[role]]`")),
        (format!("{INSTANCE}[[role]]\nprofile = \"p\"\n[role]\nprofile = \"q\"\n"), Some(6), Some("role"), "`[role]` is a single table, but `[[role]]` on line 4 made `role` an array of tables", Some("write each as `[[role]]`")),
        ("[instance]\nrole_name = \"R\"\naccount_id = 000000000000\n".into(), Some(3), Some("instance.account_id"), "account IDs are strings: quote 000000000000", Some("write account_id = \"000000000000\"")),
        (set("role_name = \"R\"\naccounts = [\"111111111111\", 022222222222]"), Some(6), Some("role_set[1].accounts"), "account IDs are strings: quote 022222222222", Some("write accounts = [\"022222222222\"]")),
        ("[instance]\nrole_name = \"R\"\naccount_id = 111111111111\n".into(), Some(3), Some("instance.account_id"), "expected a string", Some("account IDs are strings: write \"111111111111\"")),
    ];
    for (text, line, key, message, help) in cases {
        let errs = errors(&text);
        let e = errs.first().unwrap_or_else(|| panic!("accepted: {text}"));
        assert_eq!((e.line, e.key.as_deref()), (line, key), "{text}\n{e}");
        assert!(e.message.contains(message), "{text}\n{e}");
        assert!(!e.message.contains("duplicate key"), "{e}");
        assert!(!e.message.contains("leading zero, expected nothing"), "{e}");
        assert_eq!(e.help.as_deref(), help, "{text}\n{e}");
        if let Some(help) = help {
            assert!(e.to_string().ends_with(&format!("; {help}")), "{e}");
        }
    }

    let text = role(&format!("profile = \"p\"\n  rol_arn = \"{ARN}\""));
    let errs = errors(&text);
    let drawn = errs[0].render(false);
    let expected = [
        "error: unknown key `rol_arn`".to_owned(),
        " --> /etc/c.toml:6:3".to_owned(),
        format!("6 |   rol_arn = \"{ARN}\""),
        "  |   ^^^^^^^ role[1].rol_arn".to_owned(),
        "= help: did you mean `role_arn`?".to_owned(),
    ];
    let mut rest = drawn.as_str();
    for want in &expected {
        let at = rest
            .find(want.as_str())
            .unwrap_or_else(|| panic!("no {want:?} (in this order) in:\n{drawn}"));
        rest = &rest[at + want.len()..];
    }
    assert!(!drawn.contains('\u{1b}'), "{drawn:?}");
    assert!(errs[0].render(true).contains("\u{1b}["), "no colour");
    // A problem with no line (a missing table) still names the file.
    let drawn = errors(INSTANCE)[0].render(false);
    assert!(drawn.starts_with("error: role: no [[role]]"), "{drawn}");
    assert!(drawn.contains("--> /etc/c.toml"), "{drawn}");
    // The file's control characters never reach the terminal.
    for text in [
        format!("{INSTANCE}[[ro\x1b[2Jle]]\n"),
        full("\"ta\\rg\x1b\" = 1"),
    ] {
        let drawn = ConfigErrors {
            errors: errors(&text),
        }
        .render(false);
        assert!(
            !drawn.chars().any(|c| c.is_control() && c != '\n'),
            "{drawn:?}"
        );
    }
}

#[test]
fn inherited_session_name_problem_is_reported_once_or_per_profile() {
    let two_roles = |template: &str, p1: &str, p2: &str| {
        format!(
            "{INSTANCE}[defaults]\nrole_session_name = \"{template}\"\n\n\
             [[role]]\nprofile = \"{p1}\"\nrole_arn = \"{ARN}\"\n\n\
             [[role]]\nprofile = \"{p2}\"\nrole_arn = \"{ARN}\"\n"
        )
    };
    let long = "x".repeat(50);
    let errs = errors(&two_roles(&format!("{long}-{{instance_id}}"), "a", "b"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].line, Some(5));
    assert_eq!(errs[0].key.as_deref(), Some("defaults.role_session_name"));

    let errs = errors(&two_roles("{profile}", "a/1", "a/2"));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].message.contains("for profile \"a/1\""),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].message.contains("for profile \"a/2\""),
        "{}",
        errs[1]
    );

    assert!(errors(&two_roles("{profile}-{instance_id}", "a", "b")).is_empty());
}

#[test]
fn reference_config() {
    let text = r#"[instance]
role_name = "EC2_PerformSecurityAudit"
account_id = "000000000000"

[credentials]
credentials_file = "/home/ec2-user/.aws/credentials"
config_file = "/home/ec2-user/.aws/config"
owner = "ec2-user"
replace_unmanaged = false
credential_process = true

[daemon]
refresh_at = 0.6
jitter = 0.05
safety_window_seconds = 1500
remove_expired = false
state_file = "/var/lib/ec2-assume-role/state.json"
metrics_file = "/var/lib/node_exporter/textfile_collector/ec2-assume-role.prom"
reload_interval_seconds = 600

[defaults]
duration_seconds = 3600
role_session_name = "{instance_id}"
region = "us-east-1"

[[role]]
profile = "audit-111111111111"
role_arn = "arn:aws:iam::111111111111:role/PerformSecurityAudit"
external_id = "vendor-42:x/y"
source_identity = "auditor@example.com"
tags = { Team = "Sécurité", "cost:center" = "", Env = "prod 1" }

[[role]]
profile = "default"
role_arn = "arn:aws-us-gov:iam::222222222222:role/service-role/ops/Reader"
region = "us-gov-west-1"
"#;
    let config = parse(text, Path::new(DEFAULT_PATH)).unwrap();
    assert_eq!(
        config,
        Config {
            path: PathBuf::from(DEFAULT_PATH),
            instance: Instance {
                role_name: "EC2_PerformSecurityAudit".into(),
                account_id: Some("000000000000".into()),
            },
            credentials: Credentials {
                file: Some("/home/ec2-user/.aws/credentials".into()),
                config_file: Some("/home/ec2-user/.aws/config".into()),
                owner: Some("ec2-user".into()),
                replace_unmanaged: false,
                credential_process: true,
            },
            daemon: Daemon {
                refresh_at: 0.6,
                jitter: 0.05,
                safety_window_seconds: 1500,
                remove_expired: false,
                state_file: "/var/lib/ec2-assume-role/state.json".into(),
                metrics_file: Some(
                    "/var/lib/node_exporter/textfile_collector/ec2-assume-role.prom".into(),
                ),
                reload_interval_seconds: Some(600),
            },
            sts: StsOptions::default(),
            roles: vec![
                Role {
                    profile: "audit-111111111111".into(),
                    role_arn: "arn:aws:iam::111111111111:role/PerformSecurityAudit".into(),
                    partition: "aws".into(),
                    account_id: "111111111111".into(),
                    external_id: Some("vendor-42:x/y".into()),
                    role_session_name: "{instance_id}".into(),
                    duration_seconds: 3600,
                    region: Some("us-east-1".into()),
                    source_identity: Some("auditor@example.com".into()),
                    tags: vec![
                        ("Env".into(), "prod 1".into()),
                        ("Team".into(), "Sécurité".into()),
                        ("cost:center".into(), "".into()),
                    ],
                    source_profile: None,
                    users: vec![DEFAULT_USER.into()],
                    policy: None,
                    policy_arns: vec![],
                    endpoints: Endpoints::default(),
                    line: 26,
                },
                Role {
                    profile: "default".into(),
                    role_arn: "arn:aws-us-gov:iam::222222222222:role/service-role/ops/Reader"
                        .into(),
                    partition: "aws-us-gov".into(),
                    account_id: "222222222222".into(),
                    external_id: None,
                    role_session_name: "{instance_id}".into(),
                    duration_seconds: 3600,
                    region: Some("us-gov-west-1".into()),
                    source_identity: None,
                    tags: vec![],
                    source_profile: None,
                    users: vec![DEFAULT_USER.into()],
                    policy: None,
                    policy_arns: vec![],
                    endpoints: Endpoints::default(),
                    line: 33,
                },
            ],
            discovered: vec![],
            discovery: Discovery::default(),
            users: vec![],
            endpoint: None,
            warnings: vec![],
        }
    );
}

#[test]
fn accepted_shapes() {
    for a in [
        "arn:aws:iam::111111111111:role/R",
        "arn:aws-cn:iam::111111111111:role/R",
        "arn:aws-us-gov:iam::111111111111:role/a/b/R",
        "arn:aws-iso:iam::111111111111:role/R",
        "arn:aws-iso-b:iam::111111111111:role/R",
        "arn:aws-iso-e:iam::111111111111:role/R",
        "arn:aws-iso-f:iam::111111111111:role/R",
        "arn:aws-eusc:iam::111111111111:role/R",
        "arn:aws:iam::111111111111:role/service-role/x+=,.@-_9",
    ] {
        assert!(errors(&arn(a)).is_empty(), "{a}: {:?}", errors(&arn(a)));
    }
    for r in [
        "us-east-1",
        "us-gov-west-1",
        "cn-north-1",
        "eu-central-2",
        "us-isob-east-1",
        "eusc-de-east-1",
        "us-isof-south-1",
        "eu-isoe-west-1",
        "ap-southeast-7",
    ] {
        assert_eq!(check_region(r), Ok(()), "{r}");
    }
    for p in ["default", "audit-111111111111", "a.b@c/d:e"] {
        assert_eq!(check_profile(p), Ok(()), "{p}");
    }
    for u in ["ec2-user", "_svc", "machine$", "A.b"] {
        assert_eq!(check_user_name(u), Ok(()), "{u}");
    }
    let tags: String = (0..50).map(|i| format!("k{i} = \"v\", ")).collect();
    let text = full(&format!("tags = {{ {} }}", tags.trim_end_matches(", ")));
    assert!(errors(&text).is_empty());
    assert!(errors(&format!("\u{feff}{}", full(""))).is_empty());
}

#[test]
fn load_names_the_file_for_every_failure() {
    let dir = std::env::temp_dir().join(format!("h2-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let show = |path: &Path| load(path).unwrap_err().to_string();

    let missing = dir.join("missing.toml");
    let shown = show(&missing);
    assert!(
        shown.starts_with(&format!("{}: cannot open", missing.display())),
        "{shown}"
    );
    assert!(shown.contains("No such file"), "{shown}");

    let shown = show(&dir);
    assert_eq!(
        shown,
        format!("{}: is a directory, not a config file", dir.display())
    );

    let latin1 = dir.join("latin1.toml");
    std::fs::write(&latin1, b"[instance]\nrole_name = \"caf\xe9\"\n").unwrap();
    let shown = show(&latin1);
    assert!(
        shown.starts_with(&format!("{}:2: is not UTF-8", latin1.display())),
        "{shown}"
    );

    let huge = dir.join("huge.toml");
    std::fs::write(&huge, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
    assert!(show(&huge).contains("larger than 1 MiB"));

    let good = dir.join("good.toml");
    std::fs::write(&good, full("")).unwrap();
    assert_eq!(load(&good).unwrap().path, good);

    std::fs::remove_dir_all(&dir).unwrap();
}

//! The rules IAM, STS and the AWS config files impose on single values: names, ARNs, account
//! ids, partitions, regions, session names, durations, external ids, source identities, tags,
//! profile names, paths and user names. Each is a pure function from the value to `Ok` or the
//! reason it is wrong, in words a user can act on. They must never know where a value came
//! from (file, line, key: that is `check`'s), and the external id rule must never echo any of
//! the value.

use std::ops::RangeInclusive;
use std::path::PathBuf;

/// The longest instance id EC2 issues ("i-" and 17 hex digits), and an account id (always 12
/// digits): filling templates with these at parse time catches names that will be too long.
pub(super) const WORST_CASE_INSTANCE_ID: &str = "i-0123456789abcdef0";
pub(super) const WORST_CASE_ACCOUNT_ID: &str = "000000000000";

/// `n` as a `T` if one of `ranges` holds it; otherwise the reason, with `accepted` saying what
/// would be right. The one shape of every integer range check but STS's durations.
pub(super) fn in_ranges<T: TryFrom<i64> + PartialOrd>(
    n: i64,
    ranges: &[RangeInclusive<T>],
    accepted: &str,
) -> Result<T, String> {
    T::try_from(n)
        .ok()
        .filter(|t| ranges.iter().any(|r| r.contains(t)))
        .ok_or_else(|| format!("{n} is out of range: {accepted}"))
}

/// `s` itself if `rule` accepts it; otherwise why not, after `s` and what it `is_not`.
pub(super) fn valid(
    s: &String,
    rule: fn(&str) -> Result<(), String>,
    is_not: &str,
) -> Result<String, String> {
    rule(s)
        .map(|()| s.clone())
        .map_err(|why| format!("{s:?} {is_not}: {why}"))
}

/// `[\w+=,.@-]`: IAM's character set for role names, session names and source identities.
pub(super) fn iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

pub(super) const IAM_NAME_CHARS: &str = "letters, digits and _ + = , . @ -";

/// IAM's and STS's lengths, in characters, for what they name.
pub(super) const ROLE_NAME_LENGTH: RangeInclusive<usize> = 1..=64;
pub(super) const SESSION_NAME_LENGTH: RangeInclusive<usize> = 2..=64;
pub(super) const SOURCE_IDENTITY_LENGTH: RangeInclusive<usize> = 2..=64;
pub(super) const EXTERNAL_ID_LENGTH: RangeInclusive<usize> = 2..=1224;
pub(super) const TAG_KEY_LENGTH: RangeInclusive<usize> = 1..=128;
pub(super) const TAG_VALUE_LENGTH: RangeInclusive<usize> = 0..=256;

/// Checks `s` is `length` characters, all `allowed`; the reason if not.
pub(super) fn check_chars(
    s: &str,
    length: RangeInclusive<usize>,
    allowed: impl Fn(char) -> bool,
    described: &str,
) -> Result<(), String> {
    let (min, max) = (*length.start(), *length.end());
    let len = s.chars().count();
    if len == 0 && min > 0 {
        return Err("it is empty".into());
    }
    if len < min {
        return Err(format!("it is {len} characters; the minimum is {min}"));
    }
    if len > max {
        return Err(format!("it is {len} characters; the limit is {max}"));
    }
    if let Some(c) = s.chars().find(|&c| !allowed(c)) {
        return Err(format!("{c:?} is not allowed; use only {described}"));
    }
    Ok(())
}

pub(super) fn check_role_name(s: &str) -> Result<(), String> {
    check_chars(s, ROLE_NAME_LENGTH, iam_name_char, IAM_NAME_CHARS)
}

pub(super) fn check_account_id(s: &str) -> Result<(), String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("an account id is 12 digits".into())
    }
}

pub(super) fn check_partition(partition: &str) -> Result<(), String> {
    match crate::base::partitions::by_id(partition) {
        Some(_) => Ok(()),
        None => Err(format!(
            "unknown partition {partition:?}; the partitions are {}",
            crate::base::partitions::ids()
        )),
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME` → (partition, account).
pub(super) fn parse_role_arn(s: &str) -> Result<(&str, &str), String> {
    let mut parts = s.splitn(6, ':');
    let (Some(arn), Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err("expected arn:PARTITION:iam::ACCOUNT:role/NAME".into());
    };
    if arn != "arn" {
        return Err("it must start with \"arn:\"".into());
    }
    check_partition(partition)?;
    if service != "iam" {
        return Err(format!(
            "the service is {service:?}; a role ARN's is \"iam\""
        ));
    }
    if !region.is_empty() {
        return Err(format!(
            "it has region {region:?}; IAM ARNs have none (arn:{partition}:iam::ACCOUNT:...)"
        ));
    }
    if check_account_id(account).is_err() {
        return Err("the account must be 12 digits".into());
    }
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return Err(format!(
            "the resource is {resource:?}; a role ARN's starts with \"role/\""
        ));
    };
    let (path, name) = path_and_name
        .rsplit_once('/')
        .unwrap_or(("", path_and_name));
    if !path.is_empty() {
        // IAM path: "/" plus segments of printable ASCII other than "/", at most 512 in all.
        if path.len() + 2 > 512 {
            return Err("the role path is longer than 512 characters".into());
        }
        for segment in path.split('/') {
            if segment.is_empty() {
                return Err("the role path has an empty segment (\"//\")".into());
            }
            if let Some(c) = segment.chars().find(|c| !('!'..='~').contains(c)) {
                return Err(format!(
                    "{c:?} is not allowed in a role path; use printable ASCII"
                ));
            }
        }
    }
    check_role_name(name).map_err(|why| format!("the role name {name:?} is invalid: {why}"))?;
    Ok((partition, account))
}

/// The profile becomes an INI section header (`[NAME]`, `[profile NAME]`), so nothing that
/// would end the header, start a comment or split the line is allowed.
pub(super) fn check_profile(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(c) = s
        .chars()
        .find(|&c| c.is_whitespace() || c.is_control() || "[]#;".contains(c))
    {
        return Err(format!(
            "{c:?} is not allowed; it would break the [section] header in the credentials file"
        ));
    }
    Ok(())
}

pub(super) fn check_session_name(s: &str) -> Result<(), String> {
    check_chars(s, SESSION_NAME_LENGTH, iam_name_char, IAM_NAME_CHARS)
}

/// STS's range for `DurationSeconds`: 15 minutes to 12 hours.
pub(super) const MIN_DURATION_SECONDS: i64 = 900;
pub(super) const MAX_DURATION_SECONDS: i64 = 43_200;
/// STS takes at most 50 session tags.
pub(super) const MAX_TAGS: usize = 50;

pub(super) fn check_duration(d: i64) -> Result<i32, String> {
    match i32::try_from(d) {
        Ok(d) if (MIN_DURATION_SECONDS..=MAX_DURATION_SECONDS).contains(&i64::from(d)) => Ok(d),
        _ => Err(format!(
            "{d} is out of range; STS accepts {MIN_DURATION_SECONDS} to {MAX_DURATION_SECONDS} \
             seconds (15 minutes to 12 hours)"
        )),
    }
}

/// Neither the value nor any character of it is echoed: some vendors treat their external id
/// as a shared secret.
pub(super) fn check_external_id(s: &str) -> Result<(), String> {
    check_chars(s, EXTERNAL_ID_LENGTH, |_| true, "")?;
    let allowed = |c: char| iam_name_char(c) || c == ':' || c == '/';
    match s.chars().position(|c| !allowed(c)) {
        Some(i) => Err(format!(
            "character {} is not allowed; use only letters, digits and _ + = , . @ : / -",
            i + 1
        )),
        None => Ok(()),
    }
}

pub(super) fn check_source_identity(s: &str) -> Result<(), String> {
    if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err("the \"aws:\" prefix is reserved".into());
    }
    check_chars(s, SOURCE_IDENTITY_LENGTH, iam_name_char, IAM_NAME_CHARS)
}

/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, approximated with std's Unicode classes.
pub(super) fn tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control())
        || "_.:/=+-@".contains(c)
}

pub(super) const TAG_CHARS: &str = "letters, digits, spaces and _ . : / = + - @";

pub(super) fn check_tag(key: &str, value: &str) -> Result<(), String> {
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(format!("tag key {key:?}: the \"aws:\" prefix is reserved"));
    }
    check_chars(key, TAG_KEY_LENGTH, tag_char, TAG_CHARS)
        .map_err(|why| format!("tag key {key:?} is invalid: {why}"))?;
    check_chars(value, TAG_VALUE_LENGTH, tag_char, TAG_CHARS)
        .map_err(|why| format!("tag value {value:?} is invalid: {why}"))
}

/// A region some partition lists or its pattern matches (the SDK's partition data:
/// `crate::base::partitions`), e.g. us-east-1, us-gov-west-1, us-isob-east-1, eusc-de-east-1.
pub(super) fn check_region(s: &str) -> Result<(), String> {
    match crate::base::partitions::of_region(s) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{s:?} is not a region name in any partition ({}); expected one like us-east-1, \
             us-gov-west-1 or eusc-de-east-1",
            crate::base::partitions::ids()
        )),
    }
}

/// `region` is in `partition`; if not, why (a role can only be assumed in its own partition).
pub(super) fn check_region_in(region: &str, partition: &str) -> Result<(), String> {
    match crate::base::partitions::of_region(region) {
        Some(p) if p.id != partition => Err(format!(
            "region {region:?} is in partition {:?}, but the role is in {partition:?}; give a \
             region of {partition} (e.g. {})",
            p.id,
            crate::base::partitions::by_id(partition)
                .map_or("", |p| p.outputs.implicit_global_region.as_str())
        )),
        _ => Ok(()),
    }
}

pub(super) fn absolute_file(s: &str) -> Result<PathBuf, String> {
    if !s.starts_with('/') {
        return Err(format!(
            "{s:?} is not an absolute path; the agent runs as root from any directory"
        ));
    }
    if s.ends_with('/') {
        return Err(format!("{s:?} names a directory; give the file's path"));
    }
    Ok(PathBuf::from(s))
}

/// `[daemon] metrics_file`: an absolute file path; node_exporter's textfile collector reads
/// only `*.prom` files, so another name would be written and never read.
pub(super) fn metrics_file(s: &str) -> Result<PathBuf, String> {
    let path = absolute_file(s)?;
    if path.extension().is_none_or(|e| e != "prom") {
        return Err(format!(
            "{s:?} does not end in .prom; node_exporter's textfile collector reads only *.prom \
             files (for example /var/lib/node_exporter/textfile_collector/ec2-assume-role.prom)"
        ));
    }
    Ok(path)
}

/// The portable shape of a user name (what useradd accepts by default): a letter or `_`, then
/// letters, digits, `_ . -`, an optional trailing `$`, at most 32 characters.
pub(super) fn check_user_name(s: &str) -> Result<(), String> {
    let body = s.strip_suffix('$').unwrap_or(s);
    let first_ok = body
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = body
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if s.len() > 32 {
        Err("it is longer than 32 characters".into())
    } else if !first_ok || !rest_ok {
        Err("expected a letter or _ then letters, digits, _ . -".into())
    } else {
        Ok(())
    }
}

/// A listen address of the credential endpoint: `IP:PORT` where AWS SDKs accept credentials
/// over plain HTTP: loopback (`127.0.0.0/8`, `::1`), or the ECS (169.254.170.2) and EKS
/// (169.254.170.23, fd00:ec2::23) container hosts (botocore's `ContainerMetadataFetcher`,
/// the JavaScript SDK's `checkUrl`). Anything else would serve credentials off the host.
pub(super) fn check_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = s
        .parse()
        .map_err(|_| format!("{s:?} is not IP:PORT (such as 127.0.0.1:8722 or [::1]:8722)"))?;
    let container_hosts: [std::net::IpAddr; 3] = [
        [169, 254, 170, 2].into(),
        [169, 254, 170, 23].into(),
        "fd00:ec2::23"
            .parse()
            .unwrap_or(std::net::Ipv6Addr::LOCALHOST)
            .into(),
    ];
    if addr.ip().is_loopback() || container_hosts.contains(&addr.ip()) {
        Ok(addr)
    } else {
        Err(format!(
            "{s}: AWS SDKs take credentials over plain HTTP only from loopback or the container \
             hosts 169.254.170.2, 169.254.170.23 and [fd00:ec2::23]; listen on one of those"
        ))
    }
}

/// STS's limit on an inline session policy, in characters as sent (we send it minified).
pub(super) const MAX_SESSION_POLICY_CHARS: usize = 2048;
/// STS takes at most 10 managed session policies (`PolicyArns`).
pub(super) const MAX_POLICY_ARNS: usize = 10;

/// A session policy: a JSON object with a `Statement` (and, if given, a known `Version`),
/// in the characters STS accepts, at most `MAX_SESSION_POLICY_CHARS` once minified. The
/// minified text if so. STS's other limit, the packed size of policy, policy ARNs and tags
/// together, is only known to STS: its `PackedPolicyTooLarge` refusal is reported as such.
pub(super) fn session_policy(text: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "it is not JSON: {} (line {}, column {} of the policy)",
            e.to_string().split(" at line").next().unwrap_or_default(),
            e.line(),
            e.column()
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err("a policy is a JSON object ({\"Version\": ..., \"Statement\": [...]})".into());
    };
    match object.get("Version") {
        None => {}
        Some(serde_json::Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(v) => {
            return Err(format!(
                "Version is {v}; IAM's are \"2012-10-17\" and \"2008-10-17\""
            ))
        }
    }
    match object.get("Statement") {
        Some(serde_json::Value::Array(list)) if !list.is_empty() => {}
        Some(serde_json::Value::Object(_)) => {}
        _ => return Err("it has no Statement (an object, or a list of them)".into()),
    }
    let minified = value.to_string();
    // STS: "\u0009, \u000A, \u000D and \u0020 through \u00FF"; minified JSON has no raw
    // control characters, so only the upper bound is left to check.
    if let Some(c) = minified.chars().find(|&c| c > '\u{ff}') {
        return Err(format!(
            "{c:?} (U+{:04X}) is outside the characters STS accepts in a policy (up to U+00FF)",
            c as u32
        ));
    }
    let len = minified.chars().count();
    if len > MAX_SESSION_POLICY_CHARS {
        return Err(format!(
            "it is {len} characters without its white space; STS accepts at most \
             {MAX_SESSION_POLICY_CHARS}: narrow it, or move statements to a managed policy \
             named in policy_arns"
        ));
    }
    Ok(minified)
}

/// `arn:PARTITION:iam::(ACCOUNT|aws):policy/[PATH/]NAME`, in `partition` (a session is in its
/// role's); `{account_id}` stands for the role's account.
pub(super) fn check_policy_arn(s: &str, partition: &str) -> Result<(), String> {
    let filled = s.replace("{account_id}", WORST_CASE_ACCOUNT_ID);
    let parts: Vec<&str> = filled.splitn(6, ':').collect();
    let [arn, p, service, region, account, resource] = parts[..] else {
        return Err("expected arn:PARTITION:iam::ACCOUNT:policy/NAME".into());
    };
    if arn != "arn" || service != "iam" || !region.is_empty() {
        return Err("expected arn:PARTITION:iam::ACCOUNT:policy/NAME".into());
    }
    check_partition(p)?;
    if !partition.is_empty() && p != partition {
        return Err(format!(
            "it is in partition {p:?}, but the role is in {partition:?}; a session policy must be \
             in the role's partition"
        ));
    }
    if account != "aws" && check_account_id(account).is_err() {
        return Err(
            "the account must be 12 digits, \"aws\" (an AWS managed policy) or {account_id}".into(),
        );
    }
    let Some(path_and_name) = resource.strip_prefix("policy/") else {
        return Err(format!(
            "the resource is {resource:?}; a policy ARN's starts with \"policy/\""
        ));
    };
    let name = path_and_name.rsplit('/').next().unwrap_or_default();
    check_chars(name, 1..=128, iam_name_char, IAM_NAME_CHARS)
        .map_err(|why| format!("the policy name {name:?} is invalid: {why}"))?;
    if filled.len() > 2048 {
        return Err(format!(
            "it is {} characters; STS accepts at most 2048",
            filled.len()
        ));
    }
    if s.matches('{').count() != s.matches("{account_id}").count() {
        return Err("{account_id} (the role's account) is the only placeholder".into());
    }
    Ok(())
}

/// `(name, region)` of a parameter ARN (`arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME`), or
/// `(name, None)` for a plain name. A parameter shared from another account is read by ARN.
pub fn split_arn(name: &str) -> Result<(&str, Option<&str>), String> {
    if !name.starts_with("arn:") {
        return Ok((name, None));
    }
    let fields: Vec<&str> = name.splitn(6, ':').collect();
    match fields[..] {
        [_, _, "ssm", region, _, resource] if !region.is_empty() => {
            match resource.strip_prefix("parameter") {
                Some(rest) if rest.starts_with('/') => Ok((rest, Some(region))),
                _ => Err("an SSM parameter ARN ends in :parameter/NAME".into()),
            }
        }
        _ => Err("not an SSM parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)".into()),
    }
}

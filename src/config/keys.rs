//! Every key of the config, once: the tables it may appear in, its type, its default, what
//! values it takes and what it does. The checks read their ranges and built-in defaults from
//! here (`Checker::integer` takes a `Key`), so the reference that docgen renders from this
//! list (docs/configuration.md, ec2-assume-role.toml(5), the JSON Schema) is the parser's own
//! word; a test proves the list is exactly the keys serde accepts (`raw`). It must never
//! check a value itself (that is `rules`' and the `Checker`'s) nor describe a key twice.

use super::model::*;
use super::rules::*;
use std::ops::RangeInclusive;

/// A table of the config: its TOML path (`role_set.organization`), whether it repeats
/// (`[[role]]`), and what it is for.
pub struct Table {
    pub path: &'static str,
    pub array: bool,
    /// Whether the file must have it.
    pub required: bool,
    pub doc: &'static str,
}

impl Table {
    /// As it is written in a file: `[instance]`, `[[role]]`.
    pub fn header(&self) -> String {
        if self.array {
            format!("[[{}]]", self.path)
        } else {
            format!("[{}]", self.path)
        }
    }
}

/// One key of the config, in the tables it may appear in (the same name in another table
/// with another meaning is another `Key`).
pub struct Key {
    pub tables: &'static [&'static str],
    pub name: &'static str,
    pub value: Value,
    pub default: Unset,
    pub doc: &'static str,
    /// Still accepted, with a warning, in favour of this key.
    pub deprecated_for: Option<&'static str>,
}

/// The type of a key's value and what values of it the parser accepts (at least: a rule a
/// JSON Schema cannot state, such as one between two keys, is only in `doc`).
pub enum Value {
    Bool,
    /// An integer in one of `ranges`, counted in `unit` (seconds, connections).
    Integer {
        ranges: &'static [RangeInclusive<i64>],
        unit: &'static str,
    },
    Number {
        min: f64,
        max: f64,
    },
    Text(Text),
    /// A list; at least `min` and at most `max` items, each once when `unique`.
    List {
        item: Text,
        min: usize,
        max: Option<usize>,
        unique: bool,
    },
    /// A table of strings (`tags`): at most `max` keys of `key_chars` characters.
    Map {
        key_chars: RangeInclusive<usize>,
        value: Text,
        max: usize,
    },
}

/// A string, as the parser accepts it: `what` it is in words, and what a schema can check:
/// a regular expression it always matches, a length in characters, or the only values.
pub struct Text {
    pub what: &'static str,
    pub pattern: Option<&'static str>,
    pub chars: Option<RangeInclusive<usize>>,
    /// The only values it may take; empty: any that the rule accepts.
    pub choices: fn() -> Vec<&'static str>,
}

/// A key's value when the file does not give it.
pub enum Unset {
    Required,
    Bool(bool),
    Integer(i64),
    Number(f64),
    Text(&'static str),
    Texts(&'static [&'static str]),
    /// Described in words: it depends on something else, or there is none.
    Otherwise(&'static str),
}

fn any() -> Vec<&'static str> {
    Vec::new()
}

const fn text(what: &'static str, pattern: Option<&'static str>) -> Text {
    Text {
        what,
        pattern,
        chars: None,
        choices: any,
    }
}

const fn sized(what: &'static str, pattern: &'static str, chars: RangeInclusive<usize>) -> Text {
    Text {
        what,
        pattern: Some(pattern),
        chars: Some(chars),
        choices: any,
    }
}

const FILE: Text = text("absolute path", Some(r"^/[\s\S]*[^/]$"));
const USER_NAME: Text = text("user name", Some(r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$"));
const ACCOUNT_ID: Text = text("12-digit account id", Some("^[0-9]{12}$"));
/// `check_profile`'s rule on the characters that would break an INI section header.
const PROFILE: Text = text("profile name", Some(r"^[^ \t\r\n\[\]#;]+$"));
const IAM_NAME: &str = "^[A-Za-z0-9_+=,.@-]*$";

const fn strings(item: Text, min: usize, max: Option<usize>, unique: bool) -> Value {
    Value::List {
        item,
        min,
        max,
        unique,
    }
}

const fn key(
    tables: &'static [&'static str],
    name: &'static str,
    value: Value,
    default: Unset,
    doc: &'static str,
) -> Key {
    Key {
        tables,
        name,
        value,
        default,
        doc,
        deprecated_for: None,
    }
}

/// Every table, in the order the reference describes them.
#[rustfmt::skip]
pub const TABLES: &[Table] = &[
    Table { path: "instance", array: false, required: true, doc: "The instance role the agent must run under. The agent reads the instance profile through IMDSv2 and refuses to go on (exit 5, before any STS call) unless it matches." },
    Table { path: "credentials", array: false, required: false, doc: "The default destination: the files of one user. A role without `users` goes here (`\"default\"` in a role's `users` names it). These files are written only when some role goes to them." },
    Table { path: "user", array: true, required: false, doc: "A local user with files of their own. A role goes there when its `users` names the user ([Several users](users.md#several-users))." },
    Table { path: "sts", array: false, required: false, doc: "How hard one instance pushes STS. When STS answers `Throttling`, every call of that refresh slows down together to half the rate that was throttled, then speeds back up. Reloads and `credential-process` never wait for the boot jitter." },
    Table { path: "daemon", array: false, required: false, doc: "Only `daemon` reads it: when profiles are refreshed and where the daemon keeps its state ([Operations](operations.md#the-daemon))." },
    Table { path: "defaults", array: false, required: false, doc: "Values every `[[role]]` and `[[role_set]]` takes unless it sets its own." },
    Table { path: "role", array: true, required: false, doc: "One profile, one role. A config needs at least one `[[role]]` or `[[role_set]]`." },
    Table { path: "role_set", array: true, required: false, doc: "One role name in many accounts, one profile per account ([accounts](accounts.md#role-sets-one-role-in-many-accounts)). It takes the options of a `[[role]]` but `profile` and `role_arn`. In its `role_session_name`, `{account_id}` is still the instance's account and `{profile}` the expanded profile. Errors name the set's key, e.g. `role_set[1].accounts[3]`." },
    Table { path: "role_set.organization", array: false, required: false, doc: "Instead of `accounts`: the accounts AWS Organizations lists ([accounts](accounts.md#accounts-from-aws-organizations))." },
    Table { path: "discovery", array: false, required: false, doc: "For role sets with `[role_set.organization]`: where the accounts last discovered are kept." },
    Table { path: "endpoint", array: false, required: false, doc: "The daemon's credential endpoint ([users](users.md#the-credential-endpoint)); without the table it is off. Changes take effect at the next start." },
];

const ROLES: &[&str] = &["role", "role_set"];
const ROLES_AND_DEFAULTS: &[&str] = &["defaults", "role", "role_set"];

#[rustfmt::skip]
pub const MAX_CONCURRENCY_KEY: Key = key(&["sts"], "max_concurrency", Value::Integer { ranges: &[1..=MAX_CONCURRENCY as i64], unit: "AssumeRole calls in flight at once" }, Unset::Integer(DEFAULT_MAX_CONCURRENCY as i64), "AssumeRole calls in flight at once, retries included.");
#[rustfmt::skip]
pub const BOOT_JITTER_KEY: Key = key(&["sts"], "boot_jitter_seconds", Value::Integer { ranges: &[0..=MAX_BOOT_JITTER_SECONDS as i64], unit: "seconds" }, Unset::Integer(DEFAULT_BOOT_JITTER_SECONDS as i64), "`run` and the daemon's first refresh wait a random 0..N seconds before the first STS call, so that a fleet booting at once spreads out. It cannot spread the read of a config in SSM, which comes before it: `--start-spread` does that.");
#[rustfmt::skip]
pub const SAFETY_WINDOW_KEY: Key = key(&["daemon"], "safety_window_seconds", Value::Integer { ranges: &[MIN_SAFETY_WINDOW_SECONDS as i64..=MAX_SAFETY_WINDOW_SECONDS as i64], unit: "seconds" }, Unset::Integer(DEFAULT_SAFETY_WINDOW_SECONDS as i64), "Refresh at least this long before expiry, so that the credentials the files, `credential-process` and the endpoint hand out never have less left: AWS SDKs ask for new ones on every call inside 15 minutes of expiry. Credentials too short-lived to leave a quarter of their lifetime before the window are refreshed after a quarter of it ([Operations](operations.md#the-daemon)).");
#[rustfmt::skip]
pub const RELOAD_INTERVAL_KEY: Key = key(&["daemon"], "reload_interval_seconds", Value::Integer { ranges: &[0..=0, MIN_RELOAD_SECONDS as i64..=MAX_RELOAD_SECONDS as i64], unit: "seconds (0: on SIGHUP only)" }, Unset::Otherwise("900 for a config in SSM; for a file, none (on SIGHUP only), or 86400 when the config has a `[role_set.organization]`"), "Re-read the config about this often (±10%), as SIGHUP does; 0: on SIGHUP only. Also how often Organizations is listed again ([accounts](accounts.md#accounts-from-aws-organizations)).");
#[rustfmt::skip]
pub const MAX_CONNECTIONS_KEY: Key = key(&["endpoint"], "max_connections", Value::Integer { ranges: &[1..=MAX_CONNECTIONS as i64], unit: "connections at once" }, Unset::Integer(DEFAULT_MAX_CONNECTIONS as i64), "Connections served at once; more are closed at accept.");
#[rustfmt::skip]
pub const RATE_PER_SECOND_KEY: Key = key(&["endpoint"], "rate_per_second", Value::Integer { ranges: &[1..=MAX_RATE_PER_SECOND as i64], unit: "requests a second" }, Unset::Integer(DEFAULT_RATE_PER_SECOND as i64), "Requests a second each client may make on average (the ECS agent's figure): each owner, by its token, and each peer address for requests without a valid token (`/metrics` and `/healthz` included). More are answered 429 with `Retry-After`.");
#[rustfmt::skip]
pub const BURST_KEY: Key = key(&["endpoint"], "burst", Value::Integer { ranges: &[1..=MAX_RATE_PER_SECOND as i64], unit: "requests" }, Unset::Integer(DEFAULT_BURST as i64), "Requests a client may make at once, before `rate_per_second` holds it back.");
#[rustfmt::skip]
pub const AUDIT_INTERVAL_KEY: Key = key(&["endpoint"], "audit_interval_seconds", Value::Integer { ranges: &[1..=MAX_AUDIT_INTERVAL_SECONDS as i64], unit: "seconds" }, Unset::Integer(DEFAULT_AUDIT_INTERVAL_SECONDS as i64), "The audit trail's period: each kind of endpoint event (a profile served to an owner, each reason of refusal) is logged at most `audit_lines` times per period, and what was not logged is summarised at its end, one line per kind with the count.");
#[rustfmt::skip]
pub const AUDIT_LINES_KEY: Key = key(&["endpoint"], "audit_lines", Value::Integer { ranges: &[1..=MAX_AUDIT_LINES as i64], unit: "lines per kind and period" }, Unset::Integer(DEFAULT_AUDIT_LINES as i64), "Lines of each kind of endpoint event logged per `audit_interval_seconds` before the rest is only counted.");
#[rustfmt::skip]
pub const DURATION_KEY: Key = key(ROLES_AND_DEFAULTS, "duration_seconds", Value::Integer { ranges: &[MIN_DURATION_SECONDS..=MAX_DURATION_SECONDS], unit: "seconds" }, Unset::Integer(DEFAULT_DURATION_SECONDS as i64), "Credential lifetime asked of STS. The role's `MaxSessionDuration` must allow it, and a chained role (one with `source_profile`) gets at most 3600.");
#[rustfmt::skip]
pub const REFRESH_AT_KEY: Key = key(&["daemon"], "refresh_at", Value::Number { min: MIN_REFRESH_AT, max: MAX_REFRESH_AT }, Unset::Number(DEFAULT_REFRESH_AT), "Fraction of the credentials' lifetime after which a profile is refreshed (0.5: half-way).");
#[rustfmt::skip]
pub const JITTER_KEY: Key = key(&["daemon"], "jitter", Value::Number { min: 0.0, max: MAX_JITTER }, Unset::Number(DEFAULT_JITTER), "Spread of that point either side, as a fraction of the lifetime, so that a fleet spreads out; `refresh_at` ± `jitter` must stay between 0.05 and 0.95.");

/// Every key, by table in the order of `TABLES`.
#[rustfmt::skip]
pub const KEYS: &[Key] = &[
    key(&["instance"], "role_name", Value::Text(sized("IAM role name", IAM_NAME, ROLE_NAME_LENGTH)), Unset::Required, "The role of the instance profile the agent must run under; it refuses any other."),
    key(&["instance"], "account_id", Value::Text(ACCOUNT_ID), Unset::Otherwise("none: any account"), "The account the instance profile must belong to; also the account `policy` names."),
    key(&["credentials"], "credentials_file", Value::Text(FILE), Unset::Otherwise("`~/.aws/credentials` of `owner`, else of the running user"), "The credentials file to write."),
    Key { deprecated_for: Some("credentials_file"), ..key(&["credentials"], "file", Value::Text(FILE), Unset::Otherwise("as `credentials_file`"), "The former name of `credentials_file`, still read; the agent warns, naming the file and line. Give one of the two.") },
    key(&["credentials"], "config_file", Value::Text(FILE), Unset::Otherwise("`config` beside the credentials file"), "The AWS config file that gets each profile's `region` (or its `credential_process` line); never the credentials file."),
    key(&["credentials"], "owner", Value::Text(USER_NAME), Unset::Otherwise("none: the files belong to the running user"), "Who owns both files and their directory (with their primary group)."),
    key(&["credentials"], "replace_unmanaged", Value::Bool, Unset::Bool(false), "Allow replacing a same-named profile that ec2-assume-role did not write (in every user's files)."),
    key(&["credentials"], "credential_process", Value::Bool, Unset::Bool(false), "Write `credential_process` entries in the AWS config file instead of static keys in the credentials file ([Several users and programs](users.md#credential_process-for-programs-that-run-for-days))."),
    key(&["user"], "name", Value::Text(USER_NAME), Unset::Required, "A local user (not `default`, each name once): the owner of its files."),
    key(&["user"], "credentials_file", Value::Text(FILE), Unset::Otherwise("`~NAME/.aws/credentials`"), "That user's credentials file."),
    key(&["user"], "config_file", Value::Text(FILE), Unset::Otherwise("`config` beside `credentials_file`"), "That user's AWS config file."),
    key(&["user"], "credential_process", Value::Bool, Unset::Bool(false), "As in `[credentials]`, for that user's files."),
    MAX_CONCURRENCY_KEY,
    BOOT_JITTER_KEY,
    REFRESH_AT_KEY,
    JITTER_KEY,
    SAFETY_WINDOW_KEY,
    key(&["daemon"], "remove_expired", Value::Bool, Unset::Bool(DEFAULT_REMOVE_EXPIRED), "Remove a profile whose credentials expired and could not be refreshed."),
    key(&["daemon"], "state_file", Value::Text(FILE), Unset::Text(DEFAULT_STATE_FILE), "The daemon's state, read by `status`."),
    key(&["daemon"], "metrics_file", Value::Text(text("absolute path ending in `.prom`", Some(r"^/[\s\S]*\.prom$"))), Unset::Otherwise("none"), "Prometheus metrics for node_exporter's textfile collector ([Operations](operations.md#metrics-for-prometheus))."),
    RELOAD_INTERVAL_KEY,
    DURATION_KEY,
    key(ROLES_AND_DEFAULTS, "role_session_name", Value::Text(text("session-name template", None)), Unset::Text(DEFAULT_SESSION_NAME), "The session name, seen in CloudTrail. Placeholders: `{instance_id}`, `{account_id}` (the instance's account) and `{profile}`; once filled, 2-64 of `[A-Za-z0-9_+=,.@-]`."),
    key(ROLES_AND_DEFAULTS, "region", Value::Text(text("region name", None)), Unset::Otherwise("the instance's region"), "The STS regional endpoint and the profile's `region`; a region of the role's partition. Regions and partitions come from the AWS SDK's partition data; a name no partition has is refused as a typo."),
    key(ROLES_AND_DEFAULTS, "use_fips_endpoint", Value::Bool, Unset::Otherwise("the SDK's own setting, else `false`"), "FIPS endpoints for STS."),
    key(ROLES_AND_DEFAULTS, "use_dualstack_endpoint", Value::Bool, Unset::Otherwise("the SDK's own setting, else `false`"), "Dual-stack (IPv6) endpoints for STS."),
    key(&["role"], "profile", Value::Text(PROFILE), Unset::Required, "The profile name written; no spaces, `[`, `]`, `#` or `;`; each profile once across roles and role sets."),
    key(&["role"], "role_arn", Value::Text(text("role ARN", Some(r"^arn:[^:]+:iam::[0-9]{12}:role/[\s\S]+$"))), Unset::Required, "The role to assume; its partition decides the endpoints and the valid regions."),
    key(ROLES, "external_id", Value::Text(sized("string", "^[A-Za-z0-9_+=,.@:/-]*$", EXTERNAL_ID_LENGTH)), Unset::Otherwise("none"), "Passed to AssumeRole; never printed."),
    key(ROLES, "source_identity", Value::Text(sized("string", IAM_NAME, SOURCE_IDENTITY_LENGTH)), Unset::Otherwise("none"), "Passed to AssumeRole and kept along a chain; not starting with `aws:`."),
    key(ROLES, "tags", Value::Map { key_chars: TAG_KEY_LENGTH, value: Text { chars: Some(TAG_VALUE_LENGTH), ..text("string", None) }, max: MAX_TAGS }, Unset::Otherwise("none"), "Session tags: keys 1-128 and values 0-256 characters, no `aws:` prefix."),
    key(ROLES, "policy", Value::Text(text("JSON string", None)), Unset::Otherwise("none"), "A session policy, sent minified: the session gets only what both it and the role's policies allow. At most 2,048 characters once minified, characters up to U+00FF, with a `Statement` and a known `Version`."),
    key(ROLES, "policy_arns", strings(text("policy ARN", Some("^arn:")), 0, Some(MAX_POLICY_ARNS), true), Unset::Otherwise("none"), "Managed session policies, in the role's partition; `{account_id}` in one stands for the role's account. STS's limit on the packed size of policy, ARNs and tags together is known only to STS: its `PackedPolicyTooLarge` fails that role (exit 3) and says what to shorten."),
    key(ROLES, "source_profile", Value::Text(PROFILE), Unset::Otherwise("none: the instance credentials"), "Role chaining: the configured profile whose credentials assume this role ([accounts](accounts.md#role-chaining-through-a-hub))."),
    key(ROLES, "users", strings(text("user name", None), 1, None, true), Unset::Texts(&[DEFAULT_USER]), "Whose files get the profile: `\"default\"` (`[credentials]`' files) and `[[user]]` names ([users](users.md#several-users))."),
    key(&["role_set"], "role_name", Value::Text(text("role name, with an optional path", Some("^[^/]"))), Unset::Required, "The role to assume in each account; a path without its leading `/`, e.g. `audit/PerformSecurityAudit`."),
    key(&["role_set"], "accounts", strings(ACCOUNT_ID, 1, None, false), Unset::Otherwise("required unless `[role_set.organization]` is given"), "The accounts; give this or `[role_set.organization]`, not both."),
    key(&["role_set"], "profile", Value::Text(text("profile template", Some(r"\{account_id\}"))), Unset::Required, "The profile name of each account, with `{account_id}` (the target account), e.g. `audit-{account_id}`."),
    key(&["role_set"], "partition", Value::Text(Text { choices: partition_ids, ..text("partition name", None) }), Unset::Text("aws"), "The partition of the roles' ARNs."),
    key(&["role_set.organization"], "ous", strings(text("OU or root id", None), 0, None, false), Unset::Otherwise("all accounts"), "Only the accounts under these OUs or roots (`ou-ab12-cdef3456`, `r-ab12`), and their children."),
    key(&["role_set.organization"], "exclude", strings(ACCOUNT_ID, 0, None, false), Unset::Otherwise("none"), "Accounts to leave out."),
    key(&["role_set.organization"], "include_management_account", Value::Bool, Unset::Bool(false), "Include the organization's management account."),
    key(&["role_set.organization"], "source_profile", Value::Text(PROFILE), Unset::Otherwise("none: the instance credentials"), "The configured profile whose credentials call Organizations."),
    key(&["role_set.organization"], "shared_parameter", Value::Text(text("SSM parameter name or ARN", None)), Unset::Otherwise("none: each instance lists for itself"), "The parameter a fleet shares the list through ([the shared list](accounts.md#a-fleet-shares-one-list))."),
    key(&["discovery"], "cache_file", Value::Text(FILE), Unset::Text(DEFAULT_DISCOVERY_CACHE), "The accounts last discovered, for a boot while Organizations cannot be reached."),
    key(&["discovery"], "publish", Value::Bool, Unset::Bool(false), "This host lists the organization and publishes to each `shared_parameter` (it needs at least one)."),
    key(&["endpoint"], "listen", strings(text("IP:PORT", None), 1, None, false), Unset::Texts(&[DEFAULT_ENDPOINT_LISTEN]), "Where to listen: only loopback (`127.0.0.0/8`, `::1`) and the container hosts `169.254.170.2`, `169.254.170.23`, `fd00:ec2::23`, where the SDKs accept plain HTTP."),
    key(&["endpoint"], "token_dir", Value::Text(FILE), Unset::Text(DEFAULT_TOKEN_DIR), "Where each owner's token file goes (`OWNER.token`)."),
    MAX_CONNECTIONS_KEY,
    RATE_PER_SECOND_KEY,
    BURST_KEY,
    AUDIT_INTERVAL_KEY,
    AUDIT_LINES_KEY,
];

fn partition_ids() -> Vec<&'static str> {
    crate::base::partitions::all()
        .iter()
        .map(|p| p.id.as_str())
        .collect()
}

/// The keys of one table: its own first, then those it shares with other tables, each in
/// the order of `KEYS`.
pub fn of_table(path: &str) -> impl Iterator<Item = &'static Key> + '_ {
    let here = move |k: &&Key| k.tables.contains(&path);
    let own = KEYS.iter().filter(here).filter(|k| k.tables.len() == 1);
    own.chain(KEYS.iter().filter(here).filter(|k| k.tables.len() > 1))
}

impl Key {
    /// What an integer key accepts, in words: `from 1 to 64 seconds`, `0 or from 5 to 86400
    /// seconds`; empty for other keys.
    pub fn accepted(&self) -> String {
        let Value::Integer { ranges, unit } = &self.value else {
            return String::new();
        };
        let ranges: Vec<String> = ranges
            .iter()
            .map(|r| match r.start() == r.end() {
                true => r.start().to_string(),
                false => format!("from {} to {}", r.start(), r.end()),
            })
            .collect();
        format!("{} {unit}", ranges.join(" or "))
    }
}

#[cfg(test)]
mod tests {
    use super::super::raw;
    use super::*;
    use std::collections::BTreeSet;

    fn path(table: &str) -> Vec<String> {
        table.split('.').map(str::to_owned).collect()
    }

    /// The list is exactly what serde accepts: every key of a table, no other, and a table's
    /// sub-tables (`organization` in `[[role_set]]`) as keys of it.
    #[test]
    fn the_list_is_every_key_serde_accepts() {
        let tops: BTreeSet<&str> = TABLES
            .iter()
            .filter(|t| !t.path.contains('.'))
            .map(|t| t.path)
            .collect();
        let serde: BTreeSet<&str> = raw::keys_of(&[]).unwrap().iter().copied().collect();
        assert_eq!(serde, tops, "the top-level tables");
        for table in TABLES {
            let serde: BTreeSet<&str> = raw::keys_of(&path(table.path))
                .unwrap_or_else(|| panic!("serde has no table {}", table.path))
                .iter()
                .copied()
                .collect();
            let prefix = format!("{}.", table.path);
            let mut listed: BTreeSet<&str> = of_table(table.path).map(|k| k.name).collect();
            listed.extend(TABLES.iter().filter_map(|t| t.path.strip_prefix(&prefix)));
            assert_eq!(serde, listed, "[{}]", table.path);
        }
        for k in KEYS {
            for t in k.tables {
                assert!(TABLES.iter().any(|x| x.path == *t), "{}: table {t}", k.name);
            }
            let in_table = |t: &&str| of_table(t).filter(|o| o.name == k.name).count();
            assert!(
                k.tables.iter().all(|t| in_table(t) == 1),
                "{} twice",
                k.name
            );
        }
    }

    /// A value of the listed type, in the listed tables, is one serde takes; one of another
    /// type is refused. So the types are the parser's, not a guess.
    #[test]
    fn the_listed_types_are_the_ones_serde_takes() {
        for k in KEYS {
            let (good, bad): (String, &str) = match &k.value {
                Value::Bool => ("true".into(), "\"yes\""),
                Value::Integer { ranges, .. } => (ranges[0].start().to_string(), "1.5"),
                Value::Number { min, .. } => (format!("{min:?}"), "\"half\""),
                Value::Text(_) => ("\"x\"".into(), "1"),
                Value::List { .. } => ("[\"x\"]".into(), "\"x\""),
                Value::Map { .. } => ("{ k = \"v\" }".into(), "[\"x\"]"),
            };
            for table in k.tables {
                let header = |t: &str| match TABLES.iter().find(|x| x.path == t) {
                    Some(x) if x.array => format!("[[{t}]]"),
                    _ => format!("[{t}]"),
                };
                let mut text = String::new();
                if let Some((parent, _)) = table.split_once('.') {
                    text += &format!("{}\n", header(parent));
                }
                let parse = |v: &str| {
                    let file = format!("{text}{}\n{} = {v}\n", header(table), k.name);
                    toml::from_str::<raw::RawFile>(&file).map(|_| ())
                };
                assert!(parse(&good).is_ok(), "[{table}] {} = {good}", k.name);
                assert!(parse(bad).is_err(), "[{table}] {} = {bad}", k.name);
            }
        }
    }

    #[test]
    fn integer_keys_say_what_they_accept() {
        assert_eq!(
            MAX_CONCURRENCY_KEY.accepted(),
            format!("from 1 to {MAX_CONCURRENCY} AssumeRole calls in flight at once")
        );
        assert_eq!(
            RELOAD_INTERVAL_KEY.accepted(),
            "0 or from 5 to 86400 seconds (0: on SIGHUP only)"
        );
        assert_eq!(REFRESH_AT_KEY.accepted(), "");
    }
}

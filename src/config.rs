//! The TOML config: reading it, and validating every value against the rules IAM, STS and the
//! AWS config files impose, so that a mistake is reported with its file, line and key before
//! any network call. Every problem found is reported, not just the first. This module owns the
//! built-in defaults, the `role_session_name` placeholders, and the expansion of each
//! `[[role_set]]` into the roles it stands for (validated exactly like hand-written ones). It
//! must never do I/O beyond
//! reading the config file, never depend on other modules of this crate, and never echo an
//! `external_id` in a message.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

pub const DEFAULT_PATH: &str = "/etc/ec2-assume-role/config.toml";

/// STS's own default, and a common maximum session duration for roles.
pub const DEFAULT_DURATION_SECONDS: i32 = 3600;

/// Names the tool and the instance in CloudTrail, so an auditor can tell who assumed the role.
pub const DEFAULT_SESSION_NAME: &str = "ec2-assume-role-{instance_id}";

/// A config is a few hundred bytes; refusing more keeps `/dev/zero` or a log file given by
/// mistake from being read into memory.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The longest instance id EC2 issues ("i-" and 17 hex digits), and an account id (always 12
/// digits): filling templates with these at parse time catches names that will be too long.
const WORST_CASE_INSTANCE_ID: &str = "i-0123456789abcdef0";
const WORST_CASE_ACCOUNT_ID: &str = "000000000000";

const PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov", "aws-eusc"];

/// The one placeholder of a `[[role_set]]` profile template: the target account, so that each
/// account of the set gets its own profile.
const PROFILE_PLACEHOLDER: &str = "{account_id}";

/// `[sts] max_concurrency` by default: a thousand roles in about two seconds at STS's usual
/// latency, and at most 16 calls in flight from one instance, a small part of an account's
/// STS request rate; when STS throttles anyway, `sts`'s pacing slows every call down.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// More in flight buys nothing: the adaptive pacing in `sts` caps the rate anyway.
const MAX_CONCURRENCY: usize = 64;
/// Five minutes spreads thousands of instances booting at once; more only delays the profiles.
const MAX_BOOT_JITTER_SECONDS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub path: PathBuf,
    pub instance: Instance,
    pub credentials: Credentials,
    pub daemon: Daemon,
    pub sts: StsOptions,
    /// `[[role]]` tables and the expansions of `[[role_set]]` tables, in file order.
    pub roles: Vec<Role>,
}

/// `[sts]`: how hard one instance may push STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsOptions {
    /// AssumeRole calls in flight at once (1..=64).
    pub max_concurrency: usize,
    /// `run` and the daemon's first refresh wait a random 0..N seconds before the first STS
    /// call, so that a fleet booting at once spreads out (0..=300).
    pub boot_jitter_seconds: u64,
}

impl Default for StsOptions {
    fn default() -> Self {
        StsOptions {
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            boot_jitter_seconds: 0,
        }
    }
}

/// `[daemon]`: how the daemon schedules refreshes and where it keeps its state.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    /// Fraction of a credential's lifetime after which it is refreshed.
    pub refresh_at: f64,
    /// Spread of that point either side, as a fraction of the lifetime.
    pub jitter: f64,
    /// Refresh at least this many seconds before expiry.
    pub safety_window_seconds: u64,
    /// Remove a profile whose credentials expired and could not be refreshed.
    pub remove_expired: bool,
    /// The daemon's state, read by `status`.
    pub state_file: PathBuf,
    /// Reload the config this often (jittered), as on SIGHUP; `Some(0)` never. `None` leaves
    /// it to the source: an SSM parameter is re-read every `DEFAULT_SSM_RELOAD_SECONDS`, a
    /// local file only on SIGHUP.
    pub reload_interval_seconds: Option<u64>,
}

/// How often the daemon re-reads a config kept in SSM Parameter Store unless
/// `[daemon] reload_interval_seconds` says otherwise. A fleet of 10,000 instances then reads
/// the parameter about 11 times a second, well within SSM's default throughput of 40
/// GetParameter calls per second per account and Region.
pub const DEFAULT_SSM_RELOAD_SECONDS: u64 = 900;
/// Reloading more often than this only costs API calls (and SSM throughput).
const MIN_RELOAD_SECONDS: u64 = 5;

pub const DEFAULT_STATE_FILE: &str = "/run/ec2-assume-role/state.json";

impl Default for Daemon {
    fn default() -> Self {
        Daemon {
            refresh_at: 0.5,
            jitter: 0.1,
            safety_window_seconds: 300,
            remove_expired: true,
            state_file: PathBuf::from(DEFAULT_STATE_FILE),
            reload_interval_seconds: None,
        }
    }
}

// f64 fields are checked finite at parse time, so equality is an equivalence here.
impl Eq for Daemon {}

/// The instance role the agent must run under; anything else is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub role_name: String,
    pub account_id: Option<String>,
}

/// Where profiles are written. `None` paths are resolved by the caller: `file` to
/// `~/.aws/credentials` of `owner` (else of the running user), `config_file` to `config` beside
/// `file`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub file: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    pub owner: Option<String>,
    pub replace_unmanaged: bool,
    /// Write `credential_process` entries in the AWS config file instead of static keys in
    /// the credentials file; the keys go to a cache file that `credential-process` reads.
    pub credential_process: bool,
}

/// One `[[role]]`, or one account of a `[[role_set]]`, with `[defaults]` and the built-in
/// defaults already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub profile: String,
    pub role_arn: String,
    /// From `role_arn`, e.g. `aws-cn`.
    pub partition: String,
    /// From `role_arn`: the account that owns the role.
    pub account_id: String,
    pub external_id: Option<String>,
    /// A template; `session_name` fills it.
    pub role_session_name: String,
    /// Checked against STS's 900..=43200; the role's own maximum is only known to STS.
    pub duration_seconds: i32,
    /// `None`: the caller uses the instance identity document's region.
    pub region: Option<String>,
    pub source_identity: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Line of this role's `[[role]]` (or `[[role_set]]`) header.
    pub line: usize,
}

/// Values for the `role_session_name` placeholders (`{profile}` comes from the role).
#[derive(Debug, Clone, Copy)]
pub struct Placeholders<'a> {
    pub instance_id: &'a str,
    pub account_id: &'a str,
}

impl Role {
    /// The session name for this instance. Parsing already proved it valid for the longest
    /// instance id, so this fails only if EC2 starts issuing longer ones.
    pub fn session_name(&self, p: &Placeholders) -> Result<String, ConfigError> {
        let fail = |message: String| ConfigError {
            path: PathBuf::new(),
            line: Some(self.line),
            key: Some(format!("role_session_name (profile {:?})", self.profile)),
            message,
        };
        let pieces = parse_template(&self.role_session_name).map_err(&fail)?;
        let name = fill(&pieces, p, &self.profile);
        check_session_name(&name)
            .map_err(|why| fail(format!("{name:?} is not a valid session name: {why}")))?;
        Ok(name)
    }
}

/// One problem: `{path}:{line}: {key}: {message}`, leaving out what is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let has_path = !self.path.as_os_str().is_empty();
        if has_path {
            write!(f, "{}", self.path.display())?;
        }
        match (self.line, has_path) {
            (Some(line), true) => write!(f, ":{line}: ")?,
            (Some(line), false) => write!(f, "line {line}: ")?,
            (None, true) => f.write_str(": ")?,
            (None, false) => {}
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem in a config file, in line order, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
}

impl std::error::Error for ConfigErrors {}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    fn one(path: &Path, line: Option<usize>, message: String) -> Self {
        ConfigErrors {
            errors: vec![ConfigError {
                path: path.to_path_buf(),
                line,
                key: None,
                message,
            }],
        }
    }
}

/// Reads and parses the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let bytes = read(path).map_err(|message| ConfigErrors::one(path, None, message))?;
    parse_bytes(&bytes, path)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open the config file: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the config file: {e}"))?;
    if meta.is_dir() {
        return Err("is a directory, not a config file".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the config file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err("is larger than 1 MiB; is it the right file?".into());
    }
    Ok(bytes)
}

/// Parses the bytes of a config file as `load` read them: UTF-8 first (naming the line of the
/// first invalid byte), then `parse`. Pure, so the fuzz target reaches everything but the read.
pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        ConfigErrors::one(
            path,
            Some(line_of(bytes, at)),
            format!("is not UTF-8 text (invalid byte at offset {at}); save it as UTF-8"),
        )
    })?;
    parse(text, path)
}

/// Parses and validates config text; `path` is only used in messages and `Config::path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
    // An editor's byte-order mark is not a TOML error worth reporting; it holds no newline,
    // so line numbers are unchanged.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut c = Checker {
        text,
        path,
        errors: Vec::new(),
    };
    if text.trim().is_empty() {
        c.fail(
            None,
            None,
            "the file is empty; it needs an [instance] table and at least one [[role]] table",
        );
        return Err(c.finish());
    }
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            // An empty header (`[]`) names no key (found by fuzzing: it showed as `: : `).
            let key = e
                .span()
                .and_then(|s| key_at(text, s.start))
                .filter(|k| !k.is_empty());
            let message = toml_message(e.message(), key.as_deref());
            c.fail(e.span(), key, message);
            return Err(c.finish());
        }
    };
    let config = c.config(raw);
    if c.errors.is_empty() {
        Ok(config)
    } else {
        Err(c.finish())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    instance: Option<Spanned<RawInstance>>,
    credentials: Option<RawCredentials>,
    daemon: Option<RawDaemon>,
    sts: Option<RawSts>,
    defaults: Option<RawDefaults>,
    #[serde(default)]
    role: Vec<Spanned<RawRole>>,
    #[serde(default)]
    role_set: Vec<Spanned<RawRoleSet>>,
}

// Every field is optional here so that a missing one is reported by `Checker`, with its
// table's line and a hint, instead of serde's bare "missing field".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    role_name: Option<Spanned<String>>,
    account_id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    file: Option<Spanned<String>>,
    config_file: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
    #[serde(default)]
    replace_unmanaged: bool,
    #[serde(default)]
    credential_process: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    refresh_at: Option<Spanned<f64>>,
    jitter: Option<Spanned<f64>>,
    safety_window_seconds: Option<Spanned<i64>>,
    remove_expired: Option<bool>,
    state_file: Option<Spanned<String>>,
    reload_interval_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSts {
    max_concurrency: Option<Spanned<i64>>,
    boot_jitter_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    duration_seconds: Option<Spanned<i64>>,
    role_session_name: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    profile: Option<Spanned<String>>,
    role_arn: Option<Spanned<String>>,
    external_id: Option<Spanned<String>>,
    role_session_name: Option<Spanned<String>>,
    duration_seconds: Option<Spanned<i64>>,
    region: Option<Spanned<String>>,
    source_identity: Option<Spanned<String>>,
    tags: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

// The per-role options repeat RawRole's: serde's `flatten` cannot be combined with
// `deny_unknown_fields`, and a typo must stay an error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoleSet {
    role_name: Option<Spanned<String>>,
    accounts: Option<Spanned<Vec<Spanned<String>>>>,
    profile: Option<Spanned<String>>,
    partition: Option<Spanned<String>>,
    external_id: Option<Spanned<String>>,
    role_session_name: Option<Spanned<String>>,
    duration_seconds: Option<Spanned<i64>>,
    region: Option<Spanned<String>>,
    source_identity: Option<Spanned<String>>,
    tags: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

/// The options a `[[role]]` and a `[[role_set]]` share, as written.
struct RawOptions<'r> {
    external_id: Option<&'r Spanned<String>>,
    duration_seconds: Option<&'r Spanned<i64>>,
    region: Option<&'r Spanned<String>>,
    source_identity: Option<&'r Spanned<String>>,
    tags: Option<&'r Spanned<BTreeMap<String, Spanned<String>>>>,
}

macro_rules! raw_options {
    ($($raw:ty),*) => {$(
        impl $raw {
            fn options(&self) -> RawOptions<'_> {
                RawOptions {
                    external_id: self.external_id.as_ref(),
                    duration_seconds: self.duration_seconds.as_ref(),
                    region: self.region.as_ref(),
                    source_identity: self.source_identity.as_ref(),
                    tags: self.tags.as_ref(),
                }
            }
        }
    )*};
}
raw_options!(RawRole, RawRoleSet);

/// Collects problems while turning the raw file into a `Config`. Values that fail a check are
/// replaced by placeholders; the `Config` is only returned when no problem was found.
struct Checker<'a> {
    text: &'a str,
    path: &'a Path,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn fail(
        &mut self,
        span: Option<Range<usize>>,
        key: Option<String>,
        message: impl Into<String>,
    ) {
        let error = ConfigError {
            path: self.path.to_path_buf(),
            line: span.map(|s| line_of(self.text.as_bytes(), s.start)),
            key: key.as_deref().map(printable),
            message: printable(&message.into()),
        };
        // Templates inherited from [defaults] are checked once per role; one report is enough.
        if !self.errors.contains(&error) {
            self.errors.push(error);
        }
    }

    /// Runs `rule` on a present value; on failure records the problem and returns `None`.
    fn check<T, U>(
        &mut self,
        value: &Spanned<T>,
        key: &str,
        rule: impl FnOnce(&T) -> Result<U, String>,
    ) -> Option<U> {
        match rule(value.get_ref()) {
            Ok(u) => Some(u),
            Err(message) => {
                self.fail(Some(value.span()), Some(key.to_owned()), message);
                None
            }
        }
    }

    fn finish(mut self) -> ConfigErrors {
        self.errors.sort_by_key(|e| e.line);
        ConfigErrors {
            errors: self.errors,
        }
    }

    fn config(&mut self, raw: RawFile) -> Config {
        let instance = self.instance(raw.instance);
        let credentials = raw
            .credentials
            .map(|c| self.credentials(c))
            .unwrap_or_default();
        let daemon = raw.daemon.map(|d| self.daemon(d)).unwrap_or_default();
        let sts = raw.sts.map(|s| self.sts(s)).unwrap_or_default();
        let defaults = self.defaults(raw.defaults);
        if raw.role.is_empty() && raw.role_set.is_empty() {
            self.fail(
                None,
                Some("role".into()),
                "no [[role]] or [[role_set]] table; add one for each role to assume",
            );
        }
        let mut checked = Vec::with_capacity(raw.role.len());
        for (i, role) in raw.role.into_iter().enumerate() {
            checked.push(self.role(i + 1, role, &defaults));
        }
        for (i, set) in raw.role_set.into_iter().enumerate() {
            checked.extend(self.role_set(i + 1, set, &defaults));
        }
        // File order (stable: a set's roles keep their accounts' order), so that a duplicate
        // names the place that comes first.
        checked.sort_by_key(|c| c.role.line);
        let mut profiles: HashMap<String, (String, usize)> = HashMap::new();
        let mut roles = Vec::with_capacity(checked.len());
        for c in checked {
            if let Some((other, line)) = profiles.get(&c.role.profile) {
                let message = format!(
                    "{:?} is already the profile of {other} (line {line}); each role needs its \
                     own profile",
                    c.role.profile
                );
                self.fail(c.profile_span, Some(c.profile_key), message);
            } else if !c.role.profile.is_empty() {
                profiles.insert(c.role.profile.clone(), (c.origin, c.role.line));
            }
            roles.push(c.role);
        }
        Config {
            path: self.path.to_path_buf(),
            instance,
            credentials,
            daemon,
            sts,
            roles,
        }
    }

    fn sts(&mut self, raw: RawSts) -> StsOptions {
        let built_in = StsOptions::default();
        let max_concurrency = raw
            .max_concurrency
            .as_ref()
            .and_then(|v| {
                self.check(v, "sts.max_concurrency", |&n| {
                    usize::try_from(n)
                        .ok()
                        .filter(|n| (1..=MAX_CONCURRENCY).contains(n))
                        .ok_or_else(|| {
                            format!(
                                "{n} is out of range: from 1 to {MAX_CONCURRENCY} AssumeRole calls \
                                 in flight at once"
                            )
                        })
                })
            })
            .unwrap_or(built_in.max_concurrency);
        let boot_jitter_seconds = raw
            .boot_jitter_seconds
            .as_ref()
            .and_then(|v| {
                self.check(v, "sts.boot_jitter_seconds", |&n| {
                    u64::try_from(n)
                        .ok()
                        .filter(|n| *n <= MAX_BOOT_JITTER_SECONDS)
                        .ok_or_else(|| {
                            format!(
                                "{n} is out of range: from 0 (no wait) to \
                                 {MAX_BOOT_JITTER_SECONDS} seconds"
                            )
                        })
                })
            })
            .unwrap_or(built_in.boot_jitter_seconds);
        StsOptions {
            max_concurrency,
            boot_jitter_seconds,
        }
    }

    fn daemon(&mut self, raw: RawDaemon) -> Daemon {
        let built_in = Daemon::default();
        let refresh_at = raw
            .refresh_at
            .as_ref()
            .and_then(|v| {
                self.check(v, "daemon.refresh_at", |&f| {
                    if (0.1..=0.9).contains(&f) {
                        Ok(f)
                    } else {
                        Err(format!(
                            "{f} is out of range: give the fraction of the credentials' lifetime \
                             after which to refresh, from 0.1 to 0.9 (0.5 = half-way)"
                        ))
                    }
                })
            })
            .unwrap_or(built_in.refresh_at);
        let jitter = raw
            .jitter
            .as_ref()
            .and_then(|v| {
                self.check(v, "daemon.jitter", |&f| {
                    if (0.0..=0.4).contains(&f)
                        && (refresh_at - f) >= 0.05
                        && refresh_at + f <= 0.95
                    {
                        Ok(f)
                    } else {
                        Err(format!(
                            "{f} is out of range: from 0 to 0.4, and refresh_at \u{b1} jitter must \
                             stay between 0.05 and 0.95 (refresh_at is {refresh_at})"
                        ))
                    }
                })
            })
            .unwrap_or(built_in.jitter);
        let safety_window_seconds = raw
            .safety_window_seconds
            .as_ref()
            .and_then(|v| {
                self.check(v, "daemon.safety_window_seconds", |&n| {
                    u64::try_from(n)
                        .ok()
                        .filter(|n| (30..=3600).contains(n))
                        .ok_or_else(|| format!("{n} is out of range: from 30 to 3600 seconds"))
                })
            })
            .unwrap_or(built_in.safety_window_seconds);
        let state_file = raw
            .state_file
            .as_ref()
            .and_then(|v| self.check(v, "daemon.state_file", |s| absolute_file(s)))
            .unwrap_or(built_in.state_file);
        let reload_interval_seconds = raw.reload_interval_seconds.as_ref().and_then(|v| {
            self.check(v, "daemon.reload_interval_seconds", |&n| {
                u64::try_from(n)
                    .ok()
                    .filter(|n| *n == 0 || (MIN_RELOAD_SECONDS..=86_400).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "{n} is out of range: 0 (reload on SIGHUP only) or from \
                             {MIN_RELOAD_SECONDS} to 86400 seconds"
                        )
                    })
            })
        });
        Daemon {
            refresh_at,
            jitter,
            safety_window_seconds,
            remove_expired: raw.remove_expired.unwrap_or(built_in.remove_expired),
            state_file,
            reload_interval_seconds,
        }
    }

    fn instance(&mut self, raw: Option<Spanned<RawInstance>>) -> Instance {
        let Some(raw) = raw else {
            self.fail(
                None,
                Some("instance".into()),
                "missing; add an [instance] table with role_name = the instance profile's role",
            );
            return Instance {
                role_name: String::new(),
                account_id: None,
            };
        };
        let span = raw.span();
        let raw = raw.into_inner();
        let role_name = match &raw.role_name {
            Some(v) => self.check(v, "instance.role_name", |s| {
                check_role_name(s)
                    .map(|()| s.clone())
                    .map_err(|why| format!("{s:?} is not an IAM role name: {why}"))
            }),
            None => {
                self.fail(
                    Some(span),
                    Some("instance.role_name".into()),
                    "missing; set it to the role of the instance profile this agent must run under",
                );
                None
            }
        };
        let account_id = raw.account_id.as_ref().and_then(|v| {
            self.check(v, "instance.account_id", |s| {
                check_account_id(s)
                    .map(|()| s.clone())
                    .map_err(|why| format!("{s:?} is not an account id: {why}"))
            })
        });
        Instance {
            role_name: role_name.unwrap_or_default(),
            account_id,
        }
    }

    fn credentials(&mut self, raw: RawCredentials) -> Credentials {
        let file = raw
            .file
            .as_ref()
            .and_then(|v| self.check(v, "credentials.file", |s| absolute_file(s)));
        let config_file = raw
            .config_file
            .as_ref()
            .and_then(|v| self.check(v, "credentials.config_file", |s| absolute_file(s)));
        // Writing both kinds of profile into one file would corrupt it for the AWS tools.
        if let (Some(file), Some(file_value)) = (&file, &raw.file) {
            let config = config_file
                .clone()
                .unwrap_or_else(|| file.with_file_name("config"));
            let (key, value) = match &raw.config_file {
                Some(v) => ("credentials.config_file", v),
                None => ("credentials.file", file_value),
            };
            if &config == file {
                self.fail(
                    Some(value.span()),
                    Some(key.into()),
                    format!(
                        "{:?} would be both the credentials file and the config file; set \
                         config_file to another file",
                        file.display()
                    ),
                );
            }
        }
        let owner = raw.owner.as_ref().and_then(|v| {
            self.check(v, "credentials.owner", |s| {
                check_user_name(s)
                    .map(|()| s.clone())
                    .map_err(|why| format!("{s:?} is not a user name: {why}"))
            })
        });
        Credentials {
            file,
            config_file,
            owner,
            replace_unmanaged: raw.replace_unmanaged,
            credential_process: raw.credential_process,
        }
    }

    fn defaults(&mut self, raw: Option<RawDefaults>) -> Defaults {
        let Some(raw) = raw else {
            return Defaults::default();
        };
        let duration_seconds = raw
            .duration_seconds
            .as_ref()
            .and_then(|v| self.check(v, "defaults.duration_seconds", |d| check_duration(*d)));
        let region = raw.region.as_ref().and_then(|v| {
            self.check(v, "defaults.region", |s| {
                check_region(s).map(|()| s.clone())
            })
        });
        // The template's syntax is checked here, once; its filled length per role, since
        // `{profile}` differs.
        let role_session_name = raw.role_session_name.and_then(|v| {
            self.check(&v, "defaults.role_session_name", |s| {
                parse_template(s).map(|_| ())
            })
            .map(|()| v)
        });
        Defaults {
            duration_seconds,
            role_session_name,
            region,
        }
    }

    fn role(&mut self, n: usize, raw: Spanned<RawRole>, defaults: &Defaults) -> CheckedRole {
        let header = raw.span();
        let line = line_of(self.text.as_bytes(), header.start);
        let raw = raw.into_inner();
        let prefix = format!("role[{n}]");
        let key = |name: &str| format!("{prefix}.{name}");

        // There is deliberately no derived default: the profile is always written by the user,
        // so `default` (which AWS tools use when no profile is named) is only ever overwritten
        // when the config says so.
        let profile = match &raw.profile {
            Some(v) => self
                .check(v, &key("profile"), |s| {
                    check_profile(s)
                        .map(|()| s.clone())
                        .map_err(|why| format!("{s:?} cannot be a profile name: {why}"))
                })
                .unwrap_or_default(),
            None => {
                self.fail(
                    Some(header.clone()),
                    Some(key("profile")),
                    "missing; name the profile to write, e.g. profile = \"audit-111111111111\"",
                );
                String::new()
            }
        };
        let (role_arn, partition, account_id) = match &raw.role_arn {
            Some(v) => self
                .check(v, &key("role_arn"), |s| {
                    parse_role_arn(s)
                        .map(|(p, a)| (s.clone(), p.to_owned(), a.to_owned()))
                        .map_err(|why| format!("{s:?} is not a role ARN: {why}"))
                })
                .unwrap_or_default(),
            None => {
                self.fail(
                    Some(header.clone()),
                    Some(key("role_arn")),
                    "missing; e.g. role_arn = \"arn:aws:iam::111111111111:role/NAME\"",
                );
                Default::default()
            }
        };
        let options = self.options(&prefix, &raw.options(), defaults);
        let role_session_name =
            self.role_session_name(&prefix, raw.role_session_name.as_ref(), defaults, &profile);
        CheckedRole {
            role: options.role(
                profile,
                role_arn,
                partition,
                account_id,
                role_session_name,
                line,
            ),
            origin: prefix.clone(),
            profile_key: key("profile"),
            profile_span: raw.profile.map(|p| p.span()),
        }
    }

    /// The roles a `[[role_set]]` stands for: `role_name` in each of `accounts`, one profile
    /// per account. Each is checked like a `[[role]]`; problems name the set's keys.
    fn role_set(
        &mut self,
        n: usize,
        raw: Spanned<RawRoleSet>,
        defaults: &Defaults,
    ) -> Vec<CheckedRole> {
        let header = raw.span();
        let line = line_of(self.text.as_bytes(), header.start);
        let raw = raw.into_inner();
        let prefix = format!("role_set[{n}]");
        let key = |name: &str| format!("{prefix}.{name}");
        let missing = |c: &mut Self, name: &str, hint: &str| {
            c.fail(
                Some(header.clone()),
                Some(key(name)),
                format!("missing; {hint}"),
            );
        };

        let partition = match &raw.partition {
            Some(v) => self.check(v, &key("partition"), |s| {
                check_partition(s).map(|()| s.clone())
            }),
            None => Some("aws".to_owned()),
        };
        let role_name = match &raw.role_name {
            Some(v) => self.check(v, &key("role_name"), |s| {
                check_role_path(s)
                    .map(|()| s.clone())
                    .map_err(|why| format!("{s:?} is not a role name: {why}"))
            }),
            None => {
                missing(
                    self,
                    "role_name",
                    "e.g. role_name = \"PerformSecurityAudit\"",
                );
                None
            }
        };
        let template = match &raw.profile {
            Some(v) => self.check(v, &key("profile"), |s| {
                check_profile_template(s).map(|()| s.clone())
            }),
            None => {
                missing(
                    self,
                    "profile",
                    "give a template such as profile = \"audit-{account_id}\"",
                );
                None
            }
        };
        let mut accounts = Vec::new();
        match &raw.accounts {
            Some(list) if list.get_ref().is_empty() => self.fail(
                Some(list.span()),
                Some(key("accounts")),
                "is empty; list the 12-digit ids of the accounts to assume role_name in",
            ),
            Some(list) => {
                for (i, account) in list.get_ref().iter().enumerate() {
                    let account_key = format!("{prefix}.accounts[{}]", i + 1);
                    let checked = self.check(account, &account_key, |s| {
                        check_account_id(s)
                            .map(|()| s.clone())
                            .map_err(|why| format!("{s:?} is not an account id: {why}"))
                    });
                    if let Some(id) = checked {
                        accounts.push((id, account_key, account.span()));
                    }
                }
            }
            None => missing(
                self,
                "accounts",
                "e.g. accounts = [\"111111111111\", \"222222222222\"]",
            ),
        }
        let options = self.options(&prefix, &raw.options(), defaults);
        let (Some(partition), Some(role_name), Some(template)) = (partition, role_name, template)
        else {
            return Vec::new();
        };
        let mut roles = Vec::with_capacity(accounts.len());
        for (account_id, account_key, span) in accounts {
            let profile = template.replace(PROFILE_PLACEHOLDER, &account_id);
            let role_arn = format!("arn:{partition}:iam::{account_id}:role/{role_name}");
            let role_session_name =
                self.role_session_name(&prefix, raw.role_session_name.as_ref(), defaults, &profile);
            roles.push(CheckedRole {
                role: options.role(
                    profile,
                    role_arn,
                    partition.clone(),
                    account_id,
                    role_session_name,
                    line,
                ),
                origin: account_key.clone(),
                profile_key: account_key,
                profile_span: Some(span),
            });
        }
        roles
    }

    /// Checks the options a `[[role]]` and a `[[role_set]]` share, but for the session name,
    /// which depends on the profile.
    fn options(&mut self, prefix: &str, raw: &RawOptions, defaults: &Defaults) -> Options {
        let key = |name: &str| format!("{prefix}.{name}");
        let external_id = raw.external_id.and_then(|v| {
            self.check(v, &key("external_id"), |s| {
                check_external_id(s).map(|()| s.clone())
            })
        });
        let source_identity = raw.source_identity.and_then(|v| {
            self.check(v, &key("source_identity"), |s| {
                check_source_identity(s)
                    .map(|()| s.clone())
                    .map_err(|why| format!("{s:?} is not a valid source identity: {why}"))
            })
        });
        let duration_seconds = match raw.duration_seconds {
            Some(v) => self.check(v, &key("duration_seconds"), |d| check_duration(*d)),
            None => defaults.duration_seconds,
        }
        .unwrap_or(DEFAULT_DURATION_SECONDS);
        let region = match raw.region {
            Some(v) => self.check(v, &key("region"), |s| check_region(s).map(|()| s.clone())),
            None => defaults.region.clone(),
        };
        let tags = raw.tags.map(|t| self.tags(prefix, t)).unwrap_or_default();
        Options {
            external_id,
            duration_seconds,
            region,
            source_identity,
            tags,
        }
    }

    /// The session-name template for `profile`: the role's own, else `[defaults]`', else the
    /// built-in one; checked filled.
    fn role_session_name(
        &mut self,
        prefix: &str,
        own: Option<&Spanned<String>>,
        defaults: &Defaults,
        profile: &str,
    ) -> String {
        match (own, &defaults.role_session_name) {
            (Some(own), _) => {
                self.session_template(own, &format!("{prefix}.role_session_name"), profile)
            }
            (None, Some(inherited)) => {
                self.session_template(inherited, "defaults.role_session_name", profile)
            }
            (None, None) => DEFAULT_SESSION_NAME.to_owned(),
        }
    }

    /// Checks a template and, filled with worst-case values and `profile`, its result.
    fn session_template(&mut self, template: &Spanned<String>, key: &str, profile: &str) -> String {
        let worst = Placeholders {
            instance_id: WORST_CASE_INSTANCE_ID,
            account_id: WORST_CASE_ACCOUNT_ID,
        };
        self.check(template, key, |s| {
            let pieces = parse_template(s)?;
            let filled = fill(&pieces, &worst, profile);
            check_session_name(&filled).map_err(|why| {
                let mut given = String::new();
                if pieces.contains(&Piece::Profile) {
                    given += &format!(" for profile {profile:?}");
                }
                if pieces.contains(&Piece::InstanceId) {
                    given += " with the longest instance id";
                }
                format!("{s:?} gives {filled:?}{given}, which is not a valid session name: {why}")
            })
        });
        template.get_ref().clone()
    }

    fn tags(
        &mut self,
        prefix: &str,
        tags: &Spanned<BTreeMap<String, Spanned<String>>>,
    ) -> Vec<(String, String)> {
        if tags.get_ref().len() > 50 {
            self.fail(
                Some(tags.span()),
                Some(format!("{prefix}.tags")),
                format!("{} tags; STS accepts at most 50", tags.get_ref().len()),
            );
        }
        let mut seen: HashMap<String, &str> = HashMap::new();
        let mut out = Vec::with_capacity(tags.get_ref().len());
        for (k, v) in tags.get_ref() {
            let key = format!("{prefix}.tags.{}", toml_key(k));
            let checked = self.check(v, &key, |value| check_tag(k, value));
            if let Some(first) = seen.insert(k.to_lowercase(), k) {
                self.fail(
                    Some(v.span()),
                    Some(key),
                    format!(
                        "{first:?} and {k:?} differ only in case; STS treats tag keys \
                         case-insensitively"
                    ),
                );
            }
            if checked.is_some() {
                out.push((k.clone(), v.get_ref().clone()));
            }
        }
        out
    }
}

#[derive(Default)]
struct Defaults {
    duration_seconds: Option<i32>,
    role_session_name: Option<Spanned<String>>,
    region: Option<String>,
}

/// Checked options shared by a `[[role]]` and the roles of a `[[role_set]]`.
#[derive(Clone)]
struct Options {
    external_id: Option<String>,
    duration_seconds: i32,
    region: Option<String>,
    source_identity: Option<String>,
    tags: Vec<(String, String)>,
}

impl Options {
    fn role(
        &self,
        profile: String,
        role_arn: String,
        partition: String,
        account_id: String,
        role_session_name: String,
        line: usize,
    ) -> Role {
        let o = self.clone();
        Role {
            profile,
            role_arn,
            partition,
            account_id,
            external_id: o.external_id,
            role_session_name,
            duration_seconds: o.duration_seconds,
            region: o.region,
            source_identity: o.source_identity,
            tags: o.tags,
            line,
        }
    }
}

struct CheckedRole {
    role: Role,
    /// Where the role was written, for messages: `role[2]`, `role_set[1].accounts[3]`.
    origin: String,
    /// The key a duplicate profile is reported under, and where it is.
    profile_key: String,
    profile_span: Option<Range<usize>>,
}

/// `s` with its control characters escaped (`\u{1b}`, `\r`). Keys and messages quote the
/// file's own bytes (a table header, a TOML key), and a problem must stay one plain line: an
/// escape sequence or a carriage return from the file must not repaint the terminal or forge
/// another line in the journal.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// 1-based line of byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    let end = offset.min(bytes.len());
    bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Rewords the toml crate's serde messages in the config's own terms.
fn toml_message(message: &str, key: Option<&str>) -> String {
    let mut m = message
        .replace('\n', " ")
        .replace("unknown field", "unknown key")
        .replace("invalid type: map", "invalid type: table")
        .replace("expected i64", "expected an integer");
    if let Some(i) = m.find("expected struct ") {
        m.replace_range(i.., "expected a table");
    }
    if let Some(table @ ("role" | "role_set")) = key {
        if m.contains("expected a sequence") {
            m = format!("must be an array of tables: write each as [[{table}]], with two brackets");
        }
    }
    m
}

/// The dotted key a toml error points at, read from the text: the table header in force at
/// `offset` and the key on that line. Only a label (the line number is exact), so it reads
/// headers line by line and ignores multi-line strings.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = (0..=offset.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))?;
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut header = |line: &str| -> Option<String> {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("[[") {
            let name = rest.split("]]").next()?.trim();
            let n = counts.entry(name.to_owned()).or_default();
            *n += 1;
            return Some(format!("{name}[{n}]"));
        }
        let rest = line.strip_prefix('[')?;
        Some(rest.split(']').next()?.trim().to_owned())
    };
    let mut table = None;
    for line in text[..start].lines() {
        if let Some(h) = header(line) {
            table = Some(h);
        }
    }
    let line = text[start..].lines().next().unwrap_or("");
    if let Some(h) = header(line) {
        return Some(h);
    }
    let name = line.split_once('=')?.0.trim();
    let bare = |c: char| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c);
    if name.is_empty() || !name.chars().all(bare) {
        return table;
    }
    Some(match table {
        Some(t) => format!("{t}.{name}"),
        None => name.to_owned(),
    })
}

/// A tag key as it would be written in a dotted TOML key.
fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_owned()
    } else {
        format!("{k:?}")
    }
}

/// `[\w+=,.@-]`: IAM's character set for role names, session names and source identities.
fn iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

const IAM_NAME_CHARS: &str = "letters, digits and _ + = , . @ -";

/// Checks `s` is `min..=max` characters, all `allowed`; the reason if not.
fn check_chars(
    s: &str,
    min: usize,
    max: usize,
    allowed: impl Fn(char) -> bool,
    described: &str,
) -> Result<(), String> {
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

fn check_role_name(s: &str) -> Result<(), String> {
    check_chars(s, 1, 64, iam_name_char, IAM_NAME_CHARS)
}

fn check_account_id(s: &str) -> Result<(), String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("an account id is 12 digits".into())
    }
}

fn check_partition(partition: &str) -> Result<(), String> {
    // aws-iso, aws-iso-b, -e, -f: the isolated partitions share the prefix, and new ones keep
    // appearing.
    let iso = partition == "aws-iso"
        || partition
            .strip_prefix("aws-iso-")
            .is_some_and(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_lowercase()));
    if !iso && !PARTITIONS.contains(&partition) {
        return Err(format!(
            "unknown partition {partition:?}; expected aws, aws-cn, aws-us-gov, aws-eusc or \
             aws-iso(-b, -e, -f)"
        ));
    }
    Ok(())
}

/// A `[[role_set]]` `role_name`: `[PATH/]NAME` as it follows `role/` in the role's ARN.
fn check_role_path(s: &str) -> Result<(), String> {
    if s.starts_with('/') {
        return Err("write the path without its leading \"/\", e.g. \"audit/NAME\"".into());
    }
    // Checked as part of an ARN so that paths and names obey exactly the [[role]] rules.
    parse_role_arn(&format!("arn:aws:iam::{WORST_CASE_ACCOUNT_ID}:role/{s}")).map(|_| ())
}

/// A `[[role_set]]` profile template: a valid profile name holding `{account_id}`, its only
/// placeholder (without it every account would get the same profile).
fn check_profile_template(s: &str) -> Result<(), String> {
    if !s.contains(PROFILE_PLACEHOLDER) {
        return Err(format!(
            "{s:?} does not contain {PROFILE_PLACEHOLDER}; without it every account of the set \
             would write the same profile"
        ));
    }
    if s.replace(PROFILE_PLACEHOLDER, "").contains(['{', '}']) {
        return Err(format!(
            "{s:?}: {PROFILE_PLACEHOLDER} (the target account) is the only placeholder of a \
             role_set profile"
        ));
    }
    check_profile(s).map_err(|why| format!("{s:?} cannot be a profile name: {why}"))
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME` → (partition, account).
fn parse_role_arn(s: &str) -> Result<(&str, &str), String> {
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
fn check_profile(s: &str) -> Result<(), String> {
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

#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    InstanceId,
    AccountId,
    Profile,
}

fn parse_template(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(['{', '}']) {
        if rest[i..].starts_with('}') {
            return Err(format!("{s:?} has a \"}}\" with no \"{{\" before it"));
        }
        let after = &rest[i + 1..];
        let Some(end) = after
            .find(['{', '}'])
            .filter(|&e| after[e..].starts_with('}'))
        else {
            return Err(format!("{s:?} has a \"{{\" with no \"}}\" after it"));
        };
        pieces.push(Piece::Text(&rest[..i]));
        pieces.push(match &after[..end] {
            "instance_id" => Piece::InstanceId,
            "account_id" => Piece::AccountId,
            "profile" => Piece::Profile,
            other => {
                return Err(format!(
                    "{{{other}}} is not a placeholder; use {{instance_id}}, {{account_id}} or \
                     {{profile}}"
                ))
            }
        });
        rest = &after[end + 1..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

fn fill(pieces: &[Piece], p: &Placeholders, profile: &str) -> String {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(t) => t,
            Piece::InstanceId => p.instance_id,
            Piece::AccountId => p.account_id,
            Piece::Profile => profile,
        })
        .collect()
}

fn check_session_name(s: &str) -> Result<(), String> {
    check_chars(s, 2, 64, iam_name_char, IAM_NAME_CHARS)
}

fn check_duration(d: i64) -> Result<i32, String> {
    match i32::try_from(d) {
        Ok(d @ 900..=43200) => Ok(d),
        _ => Err(format!(
            "{d} is out of range; STS accepts 900 to 43200 seconds (15 minutes to 12 hours)"
        )),
    }
}

/// Neither the value nor any character of it is echoed: some vendors treat their external id
/// as a shared secret.
fn check_external_id(s: &str) -> Result<(), String> {
    check_chars(s, 2, 1224, |_| true, "")?;
    let allowed = |c: char| iam_name_char(c) || c == ':' || c == '/';
    match s.chars().position(|c| !allowed(c)) {
        Some(i) => Err(format!(
            "character {} is not allowed; use only letters, digits and _ + = , . @ : / -",
            i + 1
        )),
        None => Ok(()),
    }
}

fn check_source_identity(s: &str) -> Result<(), String> {
    if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err("the \"aws:\" prefix is reserved".into());
    }
    check_chars(s, 2, 64, iam_name_char, IAM_NAME_CHARS)
}

/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, approximated with std's Unicode classes.
fn tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control())
        || "_.:/=+-@".contains(c)
}

const TAG_CHARS: &str = "letters, digits, spaces and _ . : / = + - @";

fn check_tag(key: &str, value: &str) -> Result<(), String> {
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(format!("tag key {key:?}: the \"aws:\" prefix is reserved"));
    }
    check_chars(key, 1, 128, tag_char, TAG_CHARS)
        .map_err(|why| format!("tag key {key:?} is invalid: {why}"))?;
    check_chars(value, 0, 256, tag_char, TAG_CHARS)
        .map_err(|why| format!("tag value {value:?} is invalid: {why}"))
}

/// `^[a-z]{2}(-[a-z]+)+-\d+$`, e.g. us-east-1, us-gov-west-1, us-isob-east-1.
fn check_region(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('-').collect();
    let shaped = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if shaped {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a region name; expected one like us-east-1 or eu-central-2"
        ))
    }
}

fn absolute_file(s: &str) -> Result<PathBuf, String> {
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

/// The portable shape of a user name (what useradd accepts by default): a letter or `_`, then
/// letters, digits, `_ . -`, an optional trailing `$`, at most 32 characters.
fn check_user_name(s: &str) -> Result<(), String> {
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

/// The parser's promises as checks that panic when one is broken: the property tests below and
/// the fuzz target (`fuzz/fuzz_targets/config.rs`) run the same ones.
#[cfg(any(test, fuzzing))]
pub mod invariants {
    use super::*;

    /// The path problems are reported under.
    pub const PATH: &str = "/etc/ec2-assume-role/config.toml";

    /// Parses `bytes` as `load` would and checks the outcome: every problem is one line of the
    /// promised `FILE:LINE: key: message` shape (LINE and key when known); a config that is
    /// accepted is accepted again, and again when written out in full.
    pub fn check(bytes: &[u8]) -> Result<Config, ConfigErrors> {
        let outcome = parse_bytes(bytes, Path::new(PATH));
        match &outcome {
            Err(errors) => check_errors(bytes, errors),
            Ok(config) => check_config(bytes, config),
        }
        outcome
    }

    fn check_errors(bytes: &[u8], errors: &ConfigErrors) {
        assert!(!errors.errors.is_empty(), "refused without a problem");
        let last_line = line_of(bytes, bytes.len());
        let shown = errors.to_string();
        assert_eq!(
            shown.split('\n').count(),
            errors.errors.len(),
            "not one line per problem:\n{shown}"
        );
        for (e, line) in errors.errors.iter().zip(shown.split('\n')) {
            let mut head = format!("{PATH}:");
            if let Some(n) = e.line {
                assert!(
                    (1..=last_line).contains(&n),
                    "line {n} of {last_line}: {line}"
                );
                head += &format!("{n}:");
            }
            head.push(' ');
            if let Some(key) = &e.key {
                assert!(!key.is_empty(), "an empty key: {line}");
                head += &format!("{key}: ");
            }
            assert!(
                line.starts_with(&head),
                "{line:?} does not start with {head:?}"
            );
            assert!(!e.message.trim().is_empty(), "no message: {line:?}");
            // A control character (a CR, an escape sequence) would garble the terminal or
            // the journal line that shows the problem.
            assert!(
                !line.chars().any(char::is_control),
                "control character in {line:?}"
            );
        }
        assert!(
            errors.errors.windows(2).all(|w| w[0].line <= w[1].line),
            "not in line order:\n{shown}"
        );
    }

    fn check_config(bytes: &[u8], config: &Config) {
        let again = parse_bytes(bytes, Path::new(PATH));
        assert!(
            again.as_ref() == Ok(config),
            "parsed differently the second time"
        );
        assert!(!config.roles.is_empty(), "a config without roles");
        let worst = Placeholders {
            instance_id: WORST_CASE_INSTANCE_ID,
            account_id: WORST_CASE_ACCOUNT_ID,
        };
        let mut profiles = std::collections::HashSet::new();
        for role in &config.roles {
            assert!(
                profiles.insert(&role.profile),
                "profile {} twice",
                role.profile
            );
            assert_eq!(check_profile(&role.profile), Ok(()));
            assert_eq!(
                parse_role_arn(&role.role_arn),
                Ok((role.partition.as_str(), role.account_id.as_str()))
            );
            if let Err(e) = role.session_name(&worst) {
                panic!("accepted, yet the session name fails at run time: {e}");
            }
        }
        let text = render(config);
        match parse(&text, Path::new(PATH)) {
            Ok(reparsed) => assert_eq!(without_lines(&reparsed), without_lines(config)),
            Err(e) => panic!("accepted, but refused when written out in full:\n{e}\n{text}"),
        }
    }

    fn without_lines(config: &Config) -> Config {
        let mut c = config.clone();
        for role in &mut c.roles {
            role.line = 0;
        }
        c
    }

    /// The config with every value explicit and each role (role sets expanded) as a `[[role]]`.
    pub fn render(config: &Config) -> String {
        use toml::{Table, Value};
        let string = |s: &str| Value::String(s.to_owned());
        let path = |p: &Path| Value::String(p.display().to_string());
        let int = |n: i64| Value::Integer(n);
        let table = |entries: Vec<(&str, Option<Value>)>| -> Table {
            entries
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                .collect()
        };
        let i = &config.instance;
        let c = &config.credentials;
        let d = &config.daemon;
        let roles = config
            .roles
            .iter()
            .map(|r| {
                let tags: Table = r.tags.iter().map(|(k, v)| (k.clone(), string(v))).collect();
                Value::Table(table(vec![
                    ("profile", Some(string(&r.profile))),
                    ("role_arn", Some(string(&r.role_arn))),
                    ("external_id", r.external_id.as_deref().map(string)),
                    ("role_session_name", Some(string(&r.role_session_name))),
                    ("duration_seconds", Some(int(r.duration_seconds.into()))),
                    ("region", r.region.as_deref().map(string)),
                    ("source_identity", r.source_identity.as_deref().map(string)),
                    ("tags", Some(Value::Table(tags))),
                ]))
            })
            .collect();
        let count = |n: u64| i64::try_from(n).expect("checked small at parse time");
        let file = table(vec![
            (
                "instance",
                Some(Value::Table(table(vec![
                    ("role_name", Some(string(&i.role_name))),
                    ("account_id", i.account_id.as_deref().map(string)),
                ]))),
            ),
            (
                "credentials",
                Some(Value::Table(table(vec![
                    ("file", c.file.as_deref().map(path)),
                    ("config_file", c.config_file.as_deref().map(path)),
                    ("owner", c.owner.as_deref().map(string)),
                    (
                        "replace_unmanaged",
                        Some(Value::Boolean(c.replace_unmanaged)),
                    ),
                    (
                        "credential_process",
                        Some(Value::Boolean(c.credential_process)),
                    ),
                ]))),
            ),
            (
                "daemon",
                Some(Value::Table(table(vec![
                    ("refresh_at", Some(Value::Float(d.refresh_at))),
                    ("jitter", Some(Value::Float(d.jitter))),
                    (
                        "safety_window_seconds",
                        Some(int(count(d.safety_window_seconds))),
                    ),
                    ("remove_expired", Some(Value::Boolean(d.remove_expired))),
                    ("state_file", Some(path(&d.state_file))),
                ]))),
            ),
            (
                "sts",
                Some(Value::Table(table(vec![
                    (
                        "max_concurrency",
                        Some(int(count(config.sts.max_concurrency as u64))),
                    ),
                    (
                        "boot_jitter_seconds",
                        Some(int(count(config.sts.boot_jitter_seconds))),
                    ),
                ]))),
            ),
            ("role", Some(Value::Array(roles))),
        ]);
        file.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:iam::111111111111:role/R";
    /// Lines 1-3.
    const INSTANCE: &str = "[instance]\nrole_name = \"EC2_Audit\"\n\n";

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
        format!(
            "{INSTANCE}[credentials]\n{body}\n\n[[role]]\nprofile = \"p\"\nrole_arn = \"{ARN}\"\n"
        )
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

    fn errors(text: &str) -> Vec<ConfigError> {
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
            // [credentials]
            (credentials("file = \"aws/credentials\""), Some(5), Some("credentials.file"), "\"aws/credentials\" is not an absolute path".into()),
            (credentials("config_file = \"~/.aws/config\""), Some(5), Some("credentials.config_file"), "is not an absolute path".into()),
            (credentials("file = \"/root/.aws/\""), Some(5), Some("credentials.file"), "names a directory".into()),
            (credentials("file = \"/root/.aws/config\""), Some(5), Some("credentials.file"), "would be both the credentials file and the config file".into()),
            // [daemon]
            (daemon("refresh_at = 0.99"), Some(5), Some("daemon.refresh_at"), "0.99 is out of range".into()),
            (daemon("refresh_at = 0.8\njitter = 0.2"), Some(6), Some("daemon.jitter"), "must stay between 0.05 and 0.95".into()),
            (daemon("safety_window_seconds = 5"), Some(5), Some("daemon.safety_window_seconds"), "5 is out of range: from 30 to 3600 seconds".into()),
            (daemon("reload_interval_seconds = 4"), Some(5), Some("daemon.reload_interval_seconds"), "4 is out of range: 0 (reload on SIGHUP only) or from 5 to 86400 seconds".into()),
            (daemon("reload_interval_seconds = -1"), Some(5), Some("daemon.reload_interval_seconds"), "-1 is out of range".into()),
            (daemon("reload_interval_seconds = 86401"), Some(5), Some("daemon.reload_interval_seconds"), "86401 is out of range".into()),
            (daemon("state_file = \"state.json\""), Some(5), Some("daemon.state_file"), "is not an absolute path".into()),
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
            (sts("boot_jitter_seconds = -1"), Some(5), Some("sts.boot_jitter_seconds"), "-1 is out of range: from 0 (no wait) to 300 seconds".into()),
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
            (format!("{INSTANCE}[[ro\x1b[2Jle]]\n"), "ro\\u{1b}[2Jle"),
            (format!("{INSTANCE}[\x0erole_set]\n"), "\\u{e}role_set"),
            (full("\"ta\\rg\" = 1"), "unknown key `ta\\rg`"),
        ] {
            let errs = errors(&text);
            let all = ConfigErrors { errors: errs }.to_string();
            assert!(all.contains(shown), "{all:?} lacks {shown:?}");
            assert!(!all.chars().any(char::is_control), "{all:?}");
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
file = "/home/ec2-user/.aws/credentials"
config_file = "/home/ec2-user/.aws/config"
owner = "ec2-user"
replace_unmanaged = false
credential_process = true

[daemon]
refresh_at = 0.6
jitter = 0.05
safety_window_seconds = 600
remove_expired = false
state_file = "/var/lib/ec2-assume-role/state.json"
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
                    safety_window_seconds: 600,
                    remove_expired: false,
                    state_file: "/var/lib/ec2-assume-role/state.json".into(),
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
                        line: 25,
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
                        region: Some("us-east-1".into()),
                        source_identity: None,
                        tags: vec![],
                        line: 32,
                    },
                ],
            }
        );
    }

    #[test]
    fn role_sets_expand_in_file_order_like_hand_written_roles() {
        let text = format!(
            "{INSTANCE}[sts]\nmax_concurrency = 3\nboot_jitter_seconds = 300\n\n\
             [defaults]\nduration_seconds = 900\n\n\
             [[role_set]]\nrole_name = \"audit/PerformSecurityAudit\"\n\
             accounts = [\"111111111111\", \"222222222222\"]\nprofile = \"audit-{{account_id}}\"\n\
             partition = \"aws-cn\"\nregion = \"cn-north-1\"\nexternal_id = \"x-1\"\n\
             role_session_name = \"{{profile}}\"\ntags = {{ team = \"audit\" }}\n\n\
             [[role]]\nprofile = \"own\"\nrole_arn = \"{ARN}\"\n\n\
             [[role_set]]\nrole_name = \"R\"\naccounts = [\"333333333333\"]\nprofile = \"{{account_id}}\"\n"
        );
        let config = parse(&text, Path::new("/c")).unwrap();
        assert_eq!(
            config.sts,
            StsOptions {
                max_concurrency: 3,
                boot_jitter_seconds: 300
            }
        );
        let audit = |account: &str| Role {
            profile: format!("audit-{account}"),
            role_arn: format!("arn:aws-cn:iam::{account}:role/audit/PerformSecurityAudit"),
            partition: "aws-cn".into(),
            account_id: account.into(),
            external_id: Some("x-1".into()),
            role_session_name: "{profile}".into(),
            duration_seconds: 900,
            region: Some("cn-north-1".into()),
            source_identity: None,
            tags: vec![("team".into(), "audit".into())],
            line: 11,
        };
        let plain = Role {
            profile: "own".into(),
            role_arn: ARN.into(),
            partition: "aws".into(),
            account_id: "111111111111".into(),
            external_id: None,
            role_session_name: DEFAULT_SESSION_NAME.into(),
            duration_seconds: 900,
            region: None,
            source_identity: None,
            tags: vec![],
            line: 21,
        };
        let last = Role {
            profile: "333333333333".into(),
            role_arn: "arn:aws:iam::333333333333:role/R".into(),
            account_id: "333333333333".into(),
            line: 25,
            ..plain.clone()
        };
        assert_eq!(
            config.roles,
            [audit("111111111111"), audit("222222222222"), plain, last]
        );
        // The session name fills {profile} with the expanded profile.
        let p = Placeholders {
            instance_id: "i-0abc",
            account_id: "000000000000",
        };
        assert_eq!(
            config.roles[1].session_name(&p).unwrap(),
            "audit-222222222222"
        );
        assert_eq!(
            parse(&full(""), Path::new("/c")).unwrap().sts,
            StsOptions::default()
        );
    }

    #[test]
    fn role_overrides_defaults_and_defaults_override_built_ins() {
        let base = "[[role]]\nprofile = \"bare\"\nrole_arn = \"arn:aws:iam::111111111111:role/R\"\n\
                    \n[[role]]\nprofile = \"own\"\nrole_arn = \"arn:aws:iam::111111111111:role/R\"\n\
                    duration_seconds = 900\nrole_session_name = \"own-{profile}\"\nregion = \"eu-central-2\"\n";
        let built_in = parse(&format!("{INSTANCE}{base}"), Path::new("/c")).unwrap();
        let with_defaults = parse(
            &format!(
                "{INSTANCE}[defaults]\nduration_seconds = 7200\nrole_session_name = \"d-{{account_id}}\"\n\
                 region = \"cn-north-1\"\n\n{base}"
            ),
            Path::new("/c"),
        )
        .unwrap();
        let summary = |c: &Config| -> Vec<(i32, String, Option<String>)> {
            c.roles
                .iter()
                .map(|r| {
                    (
                        r.duration_seconds,
                        r.role_session_name.clone(),
                        r.region.clone(),
                    )
                })
                .collect()
        };
        let own = (
            900,
            "own-{profile}".to_owned(),
            Some("eu-central-2".to_owned()),
        );
        assert_eq!(
            summary(&built_in),
            [(3600, DEFAULT_SESSION_NAME.to_owned(), None), own.clone()]
        );
        assert_eq!(
            summary(&with_defaults),
            [
                (
                    7200,
                    "d-{account_id}".to_owned(),
                    Some("cn-north-1".to_owned())
                ),
                own
            ]
        );
        assert_eq!(built_in.credentials, Credentials::default());
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
    fn session_name_fills_placeholders() {
        let config = parse(
            &full("role_session_name = \"{profile}@{account_id}.{instance_id}\""),
            Path::new("/c"),
        )
        .unwrap();
        let role = &config.roles[0];
        let p = Placeholders {
            instance_id: "i-0abc",
            account_id: "123456789012",
        };
        assert_eq!(role.session_name(&p).unwrap(), "p@123456789012.i-0abc");

        let plain = Role {
            role_session_name: DEFAULT_SESSION_NAME.into(),
            ..role.clone()
        };
        assert_eq!(plain.session_name(&p).unwrap(), "ec2-assume-role-i-0abc");

        // Longer than any instance id EC2 issues today: refused at run time, naming the role.
        let future = Placeholders {
            instance_id: &format!("i-{}", "f".repeat(60)),
            account_id: "123456789012",
        };
        let err = role.session_name(&future).unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(
            err.to_string()
                .starts_with("line 4: role_session_name (profile \"p\"): "),
            "{err}"
        );
        assert!(err.message.contains("the limit is 64"), "{err}");
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

    /// Properties of the parser (issue 7): `invariants::check` (the fuzz target's checks) on
    /// arbitrary bytes and on mutated valid configs; generated configs of roles and role sets
    /// parse into exactly the roles they describe; a profile used twice, across roles and
    /// sets, is always the one problem reported, naming both places.
    mod properties {
        use super::*;
        use proptest::collection::{btree_set, vec};
        use proptest::prelude::*;
        use proptest::sample::Index;

        /// A `[[role]]` (profile `PREFIX-ACCOUNT`) or a `[[role_set]]` (profile template
        /// `PREFIX-{account_id}`), as the generator describes it.
        #[derive(Clone, Debug)]
        enum Item {
            Role {
                prefix: String,
                account: String,
                partition: &'static str,
                name: String,
            },
            Set {
                prefix: String,
                accounts: Vec<String>,
                partition: &'static str,
                name: String,
            },
        }

        impl Item {
            fn prefix(&self) -> &str {
                match self {
                    Item::Role { prefix, .. } | Item::Set { prefix, .. } => prefix,
                }
            }

            fn accounts(&self) -> Vec<&str> {
                match self {
                    Item::Role { account, .. } => vec![account],
                    Item::Set { accounts, .. } => accounts.iter().map(String::as_str).collect(),
                }
            }
        }

        fn account() -> impl Strategy<Value = String> {
            "[0-9]{12}"
        }

        fn partition() -> impl Strategy<Value = &'static str> {
            proptest::sample::select(vec!["aws", "aws-cn", "aws-us-gov", "aws-eusc", "aws-iso-b"])
        }

        fn role_name() -> impl Strategy<Value = String> {
            "([A-Za-z0-9]{1,5}/){0,2}[A-Za-z0-9_+=,.@-]{1,16}"
        }

        /// Any characters a profile may hold, but `{` `}` (the template's) and `"` `\\`
        /// (which would need escaping in the TOML text).
        fn tag() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9_.@/:+=,-]{1,8}"
        }

        fn item() -> impl Strategy<Value = Item> {
            prop_oneof![
                (tag(), account(), partition(), role_name()).prop_map(
                    |(prefix, account, partition, name)| Item::Role {
                        prefix,
                        account,
                        partition,
                        name
                    }
                ),
                (tag(), btree_set(account(), 1..4), partition(), role_name()).prop_map(
                    |(prefix, accounts, partition, name)| Item::Set {
                        prefix,
                        accounts: accounts.into_iter().collect(),
                        partition,
                        name
                    }
                ),
            ]
        }

        /// Items whose profiles are all different: each prefix ends with `.INDEX`.
        fn items() -> impl Strategy<Value = Vec<Item>> {
            vec(item(), 1..8).prop_map(|items| {
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut item)| {
                        let (Item::Role { prefix, .. } | Item::Set { prefix, .. }) = &mut item;
                        prefix.push_str(&format!(".{i}"));
                        item
                    })
                    .collect()
            })
        }

        /// The config text, and the roles it must parse into.
        fn render(items: &[Item]) -> (String, Vec<Role>) {
            let mut text = String::from(INSTANCE);
            let mut roles = Vec::new();
            for item in items {
                let line = text.lines().count() + 1;
                let role = |profile: String, partition: &str, account: &str, name: &str| Role {
                    role_arn: format!("arn:{partition}:iam::{account}:role/{name}"),
                    profile,
                    partition: partition.to_owned(),
                    account_id: account.to_owned(),
                    external_id: None,
                    role_session_name: DEFAULT_SESSION_NAME.to_owned(),
                    duration_seconds: DEFAULT_DURATION_SECONDS,
                    region: None,
                    source_identity: None,
                    tags: Vec::new(),
                    line,
                };
                match item {
                    Item::Role {
                        prefix,
                        account,
                        partition,
                        name,
                    } => {
                        let r = role(format!("{prefix}-{account}"), partition, account, name);
                        text += &format!(
                            "[[role]]\nprofile = \"{}\"\nrole_arn = \"{}\"\n\n",
                            r.profile, r.role_arn
                        );
                        roles.push(r);
                    }
                    Item::Set {
                        prefix,
                        accounts,
                        partition,
                        name,
                    } => {
                        let list: Vec<String> =
                            accounts.iter().map(|a| format!("\"{a}\"")).collect();
                        text += &format!(
                            "[[role_set]]\nrole_name = \"{name}\"\naccounts = [{}]\n\
                             profile = \"{prefix}-{{account_id}}\"\npartition = \"{partition}\"\n\n",
                            list.join(", ")
                        );
                        for a in accounts {
                            roles.push(role(format!("{prefix}-{a}"), partition, a, name));
                        }
                    }
                }
            }
            (text, roles)
        }

        /// One edit of a config's bytes: a cut, an insertion (arbitrary bytes or a line of the
        /// file itself), or a changed byte.
        #[derive(Clone, Debug)]
        enum Mutation {
            Cut(Index, usize),
            Insert(Index, Vec<u8>),
            CopyLine(Index, Index),
            Set(Index, u8),
        }

        fn mutation() -> impl Strategy<Value = Mutation> {
            let token = proptest::sample::select(vec![
                &b"\n"[..],
                b"\r",
                b"\"",
                b"'",
                b"[",
                b"]",
                b"[[role]]\n",
                b"[[role_set]]\n",
                b"=",
                b"{",
                b"}",
                b"#",
                b"\\",
                b"\xff",
                b"\xef\xbb\xbf",
                b"\x00",
                b"\x1b",
                b"{account_id}",
                b"\"\"\"",
                b"1e400",
                b"-9999999999999999999",
                b"\xe2\x80\xae",
            ]);
            prop_oneof![
                (any::<Index>(), 1..40usize).prop_map(|(i, n)| Mutation::Cut(i, n)),
                (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
                (any::<Index>(), token).prop_map(|(i, t)| Mutation::Insert(i, t.to_vec())),
                (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::CopyLine(a, b)),
                (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            ]
        }

        fn mutate(text: &mut Vec<u8>, m: &Mutation) {
            let at = |i: &Index, len: usize| i.index(len + 1);
            match m {
                Mutation::Cut(i, n) => {
                    let start = at(i, text.len());
                    let end = (start + n).min(text.len());
                    text.drain(start..end);
                }
                Mutation::Insert(i, bytes) => {
                    let p = at(i, text.len());
                    text.splice(p..p, bytes.iter().copied());
                }
                Mutation::CopyLine(from, to) => {
                    let lines: Vec<Vec<u8>> = text
                        .split_inclusive(|&b| b == b'\n')
                        .map(<[u8]>::to_vec)
                        .collect();
                    if lines.is_empty() {
                        return;
                    }
                    let line = lines[from.index(lines.len())].clone();
                    let starts: Vec<usize> = lines
                        .iter()
                        .scan(0, |acc, l| {
                            let s = *acc;
                            *acc += l.len();
                            Some(s)
                        })
                        .collect();
                    let p = starts[to.index(starts.len())];
                    text.splice(p..p, line);
                }
                Mutation::Set(i, b) => {
                    if !text.is_empty() {
                        let p = i.index(text.len());
                        text[p] = *b;
                    }
                }
            }
        }

        /// Where a profile comes from in messages: `role[N]` or `role_set[N].accounts[K]`,
        /// for each item in file order and each of its accounts.
        fn origins(items: &[Item]) -> Vec<Vec<String>> {
            let (mut roles, mut sets) = (0, 0);
            items
                .iter()
                .map(|item| match item {
                    Item::Role { .. } => {
                        roles += 1;
                        vec![format!("role[{roles}]")]
                    }
                    Item::Set { accounts, .. } => {
                        sets += 1;
                        (1..=accounts.len())
                            .map(|k| format!("role_set[{sets}].accounts[{k}]"))
                            .collect()
                    }
                })
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(600))]

            #[test]
            fn arbitrary_bytes_are_refused_cleanly(bytes in vec(any::<u8>(), 0..400)) {
                let _ = invariants::check(&bytes);
            }

            #[test]
            fn mutated_configs_are_refused_cleanly_or_accepted_consistently(
                items in items(),
                mutations in vec(mutation(), 1..6),
            ) {
                let mut text = render(&items).0.into_bytes();
                for m in &mutations {
                    mutate(&mut text, m);
                }
                let _ = invariants::check(&text);
            }

            #[test]
            fn generated_configs_parse_into_the_roles_they_describe(items in items()) {
                let (text, expected) = render(&items);
                match invariants::check(text.as_bytes()) {
                    Ok(config) => prop_assert_eq!(config.roles, expected, "{}", text),
                    Err(e) => prop_assert!(false, "refused:\n{}\n{}", e, text),
                }
            }

            #[test]
            fn a_profile_used_twice_is_always_caught_naming_both_places(
                items in items(),
                original in any::<Index>(),
                which_account in any::<Index>(),
                after in any::<Index>(),
                as_set in any::<bool>(),
                others in btree_set(account(), 0..3),
                name in role_name(),
                at in any::<Index>(),
            ) {
                let i = original.index(items.len());
                let accounts = items[i].accounts();
                let k = which_account.index(accounts.len());
                let account = accounts[k].to_owned();
                let prefix = items[i].prefix().to_owned();
                // The copy goes anywhere after the original; a set's other accounts are new.
                let others: Vec<String> = others
                    .into_iter()
                    .filter(|a| !accounts.contains(&a.as_str()))
                    .collect();
                let copy = if as_set {
                    let mut list = others;
                    list.insert(at.index(list.len() + 1), account.clone());
                    Item::Set { prefix, accounts: list, partition: "aws", name }
                } else {
                    Item::Role { prefix, account: account.clone(), partition: "aws", name }
                };
                let j = i + 1 + after.index(items.len() - i);
                let mut with_copy = items.clone();
                with_copy.insert(j, copy);
                let (text, _) = render(&with_copy);
                let origin = &origins(&with_copy);
                let header = |n: usize| render(&with_copy[..n]).0.lines().count() + 1;
                let profile = format!("{}-{account}", items[i].prefix());
                let (key, line) = match &with_copy[j] {
                    Item::Role { .. } => (format!("{}.profile", origin[j][0]), header(j) + 1),
                    Item::Set { accounts, .. } => {
                        let pos = accounts.iter().position(|a| *a == account).unwrap();
                        (origin[j][pos].clone(), header(j) + 2)
                    }
                };
                let errors = invariants::check(text.as_bytes()).unwrap_err().errors;
                prop_assert_eq!(errors.len(), 1, "{:#?}\n{}", errors, text);
                let e = &errors[0];
                prop_assert_eq!(e.key.as_deref(), Some(key.as_str()), "{}", text);
                prop_assert_eq!(e.line, Some(line), "{}", text);
                let names = format!(
                    "{profile:?} is already the profile of {} (line {})",
                    origin[i][k],
                    header(i)
                );
                prop_assert!(e.message.contains(&names), "{} lacks {}", e, names);
            }
        }
    }
}

//! The checked config, as the rest of the crate sees it: `Config` and its parts, the built-in
//! defaults, and the one thing a role computes at run time, its session name. Everything here
//! has passed every check, so the types carry no `Spanned` and no raw TOML. It must never
//! parse or check a file itself (that is `check`'s), nor do any I/O.

use super::diagnostic::ConfigError;
use super::rules::check_session_name;
use super::template::{fill, parse_template, Placeholders};
use std::path::PathBuf;

pub const DEFAULT_PATH: &str = "/etc/ec2-assume-role/config.toml";

/// STS's own default, and a common maximum session duration for roles.
pub const DEFAULT_DURATION_SECONDS: i32 = 3600;

/// Names the tool and the instance in CloudTrail, so an auditor can tell who assumed the role.
pub const DEFAULT_SESSION_NAME: &str = "ec2-assume-role-{instance_id}";

/// `[sts] max_concurrency` by default: a thousand roles in about two seconds at STS's usual
/// latency, and at most 16 calls in flight from one instance, a small part of an account's
/// STS request rate; when STS throttles anyway, `sts`'s pacing slows every call down.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// More in flight buys nothing: the adaptive pacing in `sts` caps the rate anyway.
pub(super) const MAX_CONCURRENCY: usize = 64;
/// Five minutes spreads thousands of instances booting at once; more only delays the profiles.
pub(super) const MAX_BOOT_JITTER_SECONDS: u64 = 300;
/// No wait unless asked: most fleets are not thousands of instances booting at once.
pub(super) const DEFAULT_BOOT_JITTER_SECONDS: u64 = 0;
/// The most roles in one chain, the first assumed with the instance credentials: a hub and its
/// spokes are two. Each link is an AssumeRole the next one waits for.
pub const MAX_CHAIN_ROLES: usize = 4;
/// STS caps a session assumed with another role's credentials (role chaining) at one hour,
/// whatever the role's own maximum session duration.
pub const MAX_CHAINED_DURATION_SECONDS: i32 = 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub path: PathBuf,
    pub instance: Instance,
    pub credentials: Credentials,
    pub daemon: Daemon,
    pub sts: StsOptions,
    /// `[[role]]` tables and the expansions of `[[role_set]]` tables, in file order; after
    /// `expand`, the discovered sets' roles follow.
    pub roles: Vec<Role>,
    /// The role sets whose accounts come from AWS Organizations.
    pub discovered: Vec<DiscoveredSet>,
    pub discovery: Discovery,
    /// `[[user]]` tables, in file order: local users whose own files get the roles that
    /// name them.
    pub users: Vec<User>,
    /// `[endpoint]`: the daemon's credential endpoint; `None`: off.
    pub endpoint: Option<Endpoint>,
    /// What the file should change though it is accepted (a deprecated key), for the
    /// loader to log: `FILE:LINE: key: message`.
    pub warnings: Vec<ConfigError>,
}

/// How a role's `users` names `[credentials]`' files, the destination of a role without
/// `users`. No `[[user]]` may have this name.
pub const DEFAULT_USER: &str = "default";

/// A `[[user]]`: a local user, the owner of its files. `None` paths are resolved by the
/// caller: `credentials_file` to the user's `~/.aws/credentials`, `config_file` to `config`
/// beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub credentials_file: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    /// As `[credentials] credential_process`, for this user's files.
    pub credential_process: bool,
    /// Line of the `[[user]]` header.
    pub line: usize,
}

/// `[endpoint]`: where the daemon serves the container credential provider protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Loopback, or the ECS and EKS container hosts (what SDKs accept over plain HTTP).
    pub listen: Vec<std::net::SocketAddr>,
    /// Where each owner's token file goes (`OWNER.token`).
    pub token_dir: PathBuf,
    /// Connections served at once; more are closed at accept.
    pub max_connections: usize,
    /// Requests a second each client may make on average: each owner (by its token), each
    /// peer address (requests without a valid token); more are answered 429.
    pub rate_per_second: u32,
    /// Requests a client may make at once before `rate_per_second` holds it back.
    pub burst: u32,
    /// How often what the audit trail did not log one by one is summarised.
    pub audit_interval_seconds: u64,
    /// Lines of each kind of endpoint event logged per interval before the rest is counted.
    pub audit_lines: u32,
}

pub const DEFAULT_ENDPOINT_LISTEN: &str = "127.0.0.1:8722";
pub const DEFAULT_TOKEN_DIR: &str = "/run/ec2-assume-role/tokens";
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
pub const MAX_CONNECTIONS: usize = 4096;
/// The ECS agent's per-client figures for its credential endpoint (40 a second, burst 60).
pub const DEFAULT_RATE_PER_SECOND: u32 = 40;
pub const DEFAULT_BURST: u32 = 60;
pub const MAX_RATE_PER_SECOND: u32 = 100_000;
pub const DEFAULT_AUDIT_INTERVAL_SECONDS: u64 = 60;
pub const MAX_AUDIT_INTERVAL_SECONDS: u64 = 3600;
pub const DEFAULT_AUDIT_LINES: u32 = 20;
pub const MAX_AUDIT_LINES: u32 = 100_000;

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
            boot_jitter_seconds: DEFAULT_BOOT_JITTER_SECONDS,
        }
    }
}

/// A `[[role_set]]` whose accounts come from AWS Organizations (`[role_set.organization]`):
/// its roles are known only once the accounts are discovered (`Config::expand`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredSet {
    /// Where it was written, for messages: `role_set[2]`.
    pub origin: String,
    pub role_name: String,
    pub partition: String,
    /// The profile template, with `{account_id}`.
    pub profile: String,
    pub organization: Organization,
    /// Every option of the set's roles; `profile`, `role_arn` and `account_id` are filled in
    /// per account.
    pub(super) template: Role,
}

/// Which accounts of the organization a discovered role set covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Organization {
    /// Only the accounts under these OUs (or roots), and their children; empty: every account.
    pub ous: Vec<String>,
    pub exclude: Vec<String>,
    pub include_management_account: bool,
    /// The configured profile whose credentials call Organizations; `None`: the instance's.
    pub source_profile: Option<String>,
    /// The SSM parameter (name or ARN) where one host of the fleet (`[discovery] publish`)
    /// publishes the accounts and every other host reads them (`shared`), instead of each
    /// asking Organizations.
    pub shared_parameter: Option<String>,
}

/// `[discovery]`: where the last discovered accounts are kept, for a boot while Organizations
/// cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub cache_file: PathBuf,
    /// This host is the fleet's publisher: it lists the accounts of every set with a
    /// `shared_parameter` in Organizations and writes them there.
    pub publish: bool,
}

pub const DEFAULT_DISCOVERY_CACHE: &str = "/var/lib/ec2-assume-role/accounts.json";

/// How often the daemon re-reads a local config that discovers accounts (and so discovers
/// them again) unless `[daemon] reload_interval_seconds` says otherwise: daily. Accounts join
/// and leave an organization rarely, and Organizations' request quotas are shared by the
/// whole organization (docs/benchmarks.md, "Organizations discovery").
pub const DEFAULT_DISCOVERY_RELOAD_SECONDS: u64 = 86_400;

/// After a discovery that failed with nothing cached, the next try comes this soon (spread
/// from half to one and a half times it).
pub const DISCOVERY_RETRY_SECONDS: u64 = 300;

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            cache_file: PathBuf::from(DEFAULT_DISCOVERY_CACHE),
            publish: false,
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
    /// Prometheus metrics for node_exporter's textfile collector (`metrics`), rewritten after
    /// every refresh and reload and every `METRICS_INTERVAL`; `None`: no file.
    pub metrics_file: Option<PathBuf>,
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
pub(super) const MIN_RELOAD_SECONDS: u64 = 5;
/// A day: less often would leave a changed config unapplied for longer than anyone waits.
pub(super) const MAX_RELOAD_SECONDS: u64 = 86_400;

/// `[daemon] refresh_at`: half-way through the lifetime by default; before a tenth of it the
/// daemon would call STS for little gain, after nine tenths a failed refresh has no time left.
pub(super) const DEFAULT_REFRESH_AT: f64 = 0.5;
pub(super) const MIN_REFRESH_AT: f64 = 0.1;
pub(super) const MAX_REFRESH_AT: f64 = 0.9;
/// `[daemon] jitter`, either side of `refresh_at`.
pub(super) const DEFAULT_JITTER: f64 = 0.1;
pub(super) const MAX_JITTER: f64 = 0.4;
/// `[daemon] safety_window_seconds`: a refresh comes at least this long before expiry. SDK
/// clients ask for new credentials on every call once theirs have less than 15 minutes left
/// (`daemon::schedule::CLIENT_ADVISORY`), so the window is never shorter; the default adds 5
/// minutes for the refresh itself and, when STS fails, about five retries before that.
pub(super) const DEFAULT_SAFETY_WINDOW_SECONDS: u64 = 1200;
pub(super) const MIN_SAFETY_WINDOW_SECONDS: u64 = 900;
pub(super) const MAX_SAFETY_WINDOW_SECONDS: u64 = 3600;
pub(super) const DEFAULT_REMOVE_EXPIRED: bool = true;

/// How often the daemon rewrites `[daemon] metrics_file` when nothing else does, so that its
/// seconds until expiry (and the file's age, which node_exporter exports) stay current.
pub const METRICS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

pub const DEFAULT_STATE_FILE: &str = "/run/ec2-assume-role/state.json";

impl Default for Daemon {
    fn default() -> Self {
        Daemon {
            refresh_at: DEFAULT_REFRESH_AT,
            jitter: DEFAULT_JITTER,
            safety_window_seconds: DEFAULT_SAFETY_WINDOW_SECONDS,
            remove_expired: DEFAULT_REMOVE_EXPIRED,
            state_file: PathBuf::from(DEFAULT_STATE_FILE),
            metrics_file: None,
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

/// Where profiles are written (`file` is `credentials_file`). `None` paths are resolved by the caller: `file` to
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
    /// Role chaining: the configured profile whose credentials sign this role's AssumeRole;
    /// `None`: the instance-profile credentials do.
    pub source_profile: Option<String>,
    /// Where its profile is written: `DEFAULT_USER` for `[credentials]`, else `[[user]]`
    /// names; never empty. One AssumeRole serves them all.
    pub users: Vec<String>,
    /// A session policy (JSON, minified), which narrows the session to what both it and the
    /// role allow.
    pub policy: Option<String>,
    /// Managed policies that narrow the session as `policy` does; `{account_id}` in one is
    /// the role's account.
    pub policy_arns: Vec<String>,
    /// FIPS and dual-stack endpoints for its STS calls.
    pub endpoints: Endpoints,
    /// Line of this role's `[[role]]` (or `[[role_set]]`) header.
    pub line: usize,
}

/// Whether calls go to FIPS and dual-stack (IPv6) endpoints: `use_fips_endpoint` and
/// `use_dualstack_endpoint`. `None`: as the SDK's own settings say (`AWS_USE_FIPS_ENDPOINT`,
/// `AWS_USE_DUALSTACK_ENDPOINT`, or the same keys in the AWS config file), else no.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Endpoints {
    pub fips: Option<bool>,
    pub dual_stack: Option<bool>,
}

/// What `{account_id}` in a `policy_arns` entry stands for.
pub const POLICY_ACCOUNT_PLACEHOLDER: &str = "{account_id}";

impl Config {
    /// Whether some role goes to destination `user`, counting the roles of discovered sets
    /// that are not expanded yet.
    pub fn goes_to(&self, user: &str) -> bool {
        let templates = self.discovered.iter().map(|d| &d.template);
        self.roles.iter().chain(templates).any(|r| r.goes_to(user))
    }
}

impl Role {
    /// Its `policy_arns` with `{account_id}` filled.
    pub fn policy_arns(&self) -> Vec<String> {
        self.policy_arns
            .iter()
            .map(|a| a.replace(POLICY_ACCOUNT_PLACEHOLDER, &self.account_id))
            .collect()
    }

    /// Whether its profile is written to destination `user` (`DEFAULT_USER` or a `[[user]]`).
    pub fn goes_to(&self, user: &str) -> bool {
        self.users.iter().any(|u| u == user)
    }

    /// Whether two roles ask STS for the same thing (the line they are on does not matter):
    /// then credentials assumed for one serve the other.
    pub fn same_request(&self, other: &Role) -> bool {
        let (a, b) = (self, other);
        (
            &a.role_arn,
            &a.external_id,
            &a.role_session_name,
            a.duration_seconds,
            &a.region,
            &a.source_identity,
            &a.tags,
            &a.source_profile,
            (&a.policy, &a.policy_arns, a.endpoints),
        ) == (
            &b.role_arn,
            &b.external_id,
            &b.role_session_name,
            b.duration_seconds,
            &b.region,
            &b.source_identity,
            &b.tags,
            &b.source_profile,
            (&b.policy, &b.policy_arns, b.endpoints),
        )
    }

    /// The session name for this instance. Parsing already proved it valid for the longest
    /// instance id, so this fails only if EC2 starts issuing longer ones.
    pub fn session_name(&self, p: &Placeholders) -> Result<String, ConfigError> {
        let fail = |message: String| ConfigError {
            path: PathBuf::new(),
            line: Some(self.line),
            key: Some(format!("role_session_name (profile {:?})", self.profile)),
            message,
            place: None,
            help: None,
        };
        let pieces = parse_template(&self.role_session_name).map_err(&fail)?;
        let name = fill(&pieces, p, &self.profile);
        check_session_name(&name)
            .map_err(|why| fail(format!("{name:?} is not a valid session name: {why}")))?;
        Ok(name)
    }
}

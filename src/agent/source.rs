//! Where the config comes from, and the one way to load it: a local TOML file, or a parameter
//! in SSM Parameter Store (`--config ssm:/name`), so that one parameter configures a whole
//! fleet and a change to it reaches every instance at its next reload. The parameter name may
//! hold `{instance_id}`, `{account_id}` and `{region}`, filled from IMDS. A file is checked
//! (as root, nobody else may be able to change it) and parsed by `config`; a parameter is read
//! by `ssm` with the instance-profile credentials. Every command loads its config through
//! `load` here; it verifies nothing about the instance (that is `agent`'s job).
//!
//! `run` and the daemon load through `load_kept` instead, which keeps the last good config
//! from SSM on disk (`lastgood`) and decides how a start meets a Parameter Store that a whole
//! fleet is reading at once: the daemon starts from the kept copy at once and reads SSM later
//! (`schedule::start_read_delay`); without a copy (a new instance) the first read waits
//! `--start-spread` and is retried under `START_POLICY`, long enough for a throttled fleet to
//! converge; `run` reads SSM and falls back to the copy when SSM throttles or is down, never
//! when the parameter is missing, forbidden or invalid.

use crate::agent::error::Error;
use crate::aws::imds::{Identity, Imds};
use crate::aws::retry::Policy;
use crate::aws::ssm::{self, FetchError, SSM_PREFIX};
use crate::base::creds::TemporaryCredentials;
use crate::base::logging::message_id;
use crate::config::split_arn;
use crate::config::{self, Config};
use crate::store::fileio;
use crate::store::lastgood::Copy;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use tracing::{info, warn};

/// What `--config` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Ssm(Parameter),
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Source, String> {
        match s.strip_prefix(SSM_PREFIX) {
            Some(name) => Parameter::parse(name).map(Source::Ssm),
            None if s.is_empty() => Err("the config path is empty".into()),
            None => Ok(Source::File(PathBuf::from(s))),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Ssm(p) => write!(f, "{SSM_PREFIX}{}", p.template),
        }
    }
}

impl Source {
    /// The source as other processes and files name it: a file's absolute path (it need not
    /// exist), `ssm:NAME` as given, placeholders and all.
    pub fn absolute(&self) -> String {
        match self {
            Source::File(path) => std::path::absolute(path)
                .unwrap_or_else(|_| path.to_owned())
                .display()
                .to_string(),
            Source::Ssm(_) => self.to_string(),
        }
    }
}

/// An SSM parameter name or ARN, possibly with placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    template: String,
}

const PLACEHOLDERS: &[&str] = &["{instance_id}", "{account_id}", "{region}"];

/// SSM's limit for a fully qualified parameter name.
const MAX_NAME_CHARS: usize = 1011;

impl Parameter {
    /// Checks a name as SSM would (after filling placeholders with worst-case values), so that a
    /// typo is a usage error at once rather than a `ValidationException` from every instance.
    pub fn parse(template: &str) -> Result<Parameter, String> {
        let mut filled = template.to_owned();
        for (placeholder, worst) in
            PLACEHOLDERS
                .iter()
                .zip(["i-0123456789abcdef0", "000000000000", "ap-southeast-5"])
        {
            filled = filled.replace(placeholder, worst);
        }
        if let Some(open) = filled.find('{') {
            let end = filled[open..]
                .find('}')
                .map_or(filled.len(), |e| open + e + 1);
            return Err(format!(
                "{SSM_PREFIX}{template}: unknown placeholder {}; the name may use {}",
                &filled[open..end],
                PLACEHOLDERS.join(", ")
            ));
        }
        let (name, _) =
            split_arn(&filled).map_err(|why| format!("{SSM_PREFIX}{template}: {why}"))?;
        if name.is_empty() || name == "/" {
            return Err(format!(
                "{SSM_PREFIX}{template}: the parameter name is empty (e.g. ssm:/ec2-assume-role/config)"
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || "_.-/".contains(c)))
        {
            return Err(format!(
                "{SSM_PREFIX}{template}: {bad:?} cannot be in an SSM parameter name \
                 (letters, digits, _ . - / only)"
            ));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "{SSM_PREFIX}{template}: longer than SSM's {MAX_NAME_CHARS} characters"
            ));
        }
        Ok(Parameter {
            template: template.to_owned(),
        })
    }

    /// The name (or ARN) for this instance, placeholders filled.
    pub fn resolve(&self, identity: &Identity) -> String {
        self.template
            .replace("{instance_id}", &identity.instance_id)
            .replace("{account_id}", &identity.account_id)
            .replace("{region}", &identity.region)
    }
}
/// A config as loaded, with what reading it needed.
pub struct Loaded {
    pub config: Config,
    /// The SSM parameter's version, for a config from Parameter Store.
    pub version: Option<i64>,
    /// The identity IMDS gave, when reading the config needed it (a parameter in SSM).
    pub identity: Option<Identity>,
    /// The kept copy the config came from, when SSM was not read (or could not be).
    pub kept: Option<Copy>,
}

/// How `run` and the daemon read a config from SSM, and keep what they read.
#[derive(Clone, Debug)]
pub struct Keep {
    /// The kept copy (`lastgood::path`).
    pub file: PathBuf,
    /// `--start-spread`: the first read without a kept copy waits a random part of it.
    pub spread: Duration,
    /// The daemon, which may start from the copy and read SSM later; else `run` (one shot).
    pub daemon: bool,
}

/// Which read `load_kept` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// The first of the process: the kept copy may stand in for SSM.
    Start,
    /// The first, but the copy must not be used (it names another instance).
    StartWithoutCopy,
    /// A reload of the daemon: SSM only (the running config is the fallback).
    Reload,
}

/// How long the first read of a process without a kept copy retries throttling, 5xx and
/// network errors: until a fleet booting at once has been served at Parameter Store's
/// default 40 reads a second (10,000 instances need over four minutes), the waits growing to
/// a minute so that the throttled instances do not multiply the load
/// (`examples/fleet_sim.rs` measures it; docs/benchmarks.md has the numbers).
pub const START_POLICY: Policy = Policy {
    initial: Duration::from_secs(5),
    max: Duration::from_secs(60),
    deadline: Duration::from_secs(600),
};

/// The part of the unit's start budget (`TimeoutStartSec=`) that comes after the config is
/// read (boot jitter, STS): what the daemon asks systemd to add to its own waits.
const AFTER_READ: Duration = Duration::from_secs(540);

/// Loads and validates the config from `source`. A file must be trusted (`fileio::check_trusted`)
/// and parse; a parameter in SSM is read through `imds` with the instance-profile
/// credentials (its name's placeholders filled from the identity), and must parse.
pub async fn load(source: &Source, http: &SharedHttpClient, imds: &Imds) -> Result<Loaded, Error> {
    match source {
        Source::File(path) => Ok(Loaded {
            config: load_file(path)?,
            version: None,
            identity: None,
            kept: None,
        }),
        Source::Ssm(parameter) => {
            let identity = read_identity(imds).await?;
            let instance = instance_credentials(imds, &identity).await?;
            let (config, fetched) =
                fetch(http, &instance, &identity, parameter, ssm::POLICY).await?;
            let version = fetched.version;
            Ok(Loaded {
                config,
                version: Some(version),
                identity: Some(identity),
                kept: None,
            })
        }
    }
}

/// `load` for `run` and the daemon: a config from SSM is kept on disk after every good read,
/// and at `Read::Start` the kept copy (same parameter name, still valid) stands in for SSM:
/// the daemon starts from it without reading SSM (it reads later, spread), `run` uses it only
/// when SSM throttles or fails otherwise transiently. Without a copy the first read waits a
/// random part of `keep.spread` and retries under `START_POLICY`.
pub async fn load_kept(
    source: &Source,
    http: &SharedHttpClient,
    imds: &Imds,
    keep: &Keep,
    read: Read,
) -> Result<Loaded, Error> {
    let Source::Ssm(parameter) = source else {
        return load(source, http, imds).await;
    };
    let identity = read_identity(imds).await?;
    let name = parameter.resolve(&identity);
    let kept = match read {
        Read::Start => kept_copy(&keep.file, &name),
        Read::StartWithoutCopy | Read::Reload => None,
    };
    let from_copy = |(copy, config): (Copy, Config), identity: Identity| Loaded {
        config,
        version: Some(copy.parameter_version),
        identity: Some(identity),
        kept: Some(copy),
    };
    if keep.daemon {
        if let Some(kept) = kept {
            log_kept(&kept.0, "SSM is read later");
            return Ok(from_copy(kept, identity));
        }
    }
    let first = read != Read::Reload;
    let policy = if first && kept.is_none() {
        let wait = start_wait(keep.spread, fastrand::f64());
        if keep.daemon {
            // Type=notify: systemd counts the wait and the retries against TimeoutStartSec.
            let usec = (wait + START_POLICY.deadline + AFTER_READ).as_micros();
            let usec = u32::try_from(usec).unwrap_or(u32::MAX);
            let extend = [sd_notify::NotifyState::ExtendTimeoutUsec(usec)];
            if let Err(err) = sd_notify::notify(&extend) {
                tracing::debug!("sd_notify: {err}");
            }
        }
        if !wait.is_zero() {
            info!(
                "waiting {:.1} s before reading ssm:{name} (--start-spread {} s; no kept copy)",
                wait.as_secs_f64(),
                keep.spread.as_secs()
            );
            tokio::time::sleep(wait).await;
        }
        START_POLICY
    } else {
        ssm::POLICY
    };
    let instance = instance_credentials(imds, &identity).await?;
    match fetch(http, &instance, &identity, parameter, policy).await {
        Ok((config, fetched)) => {
            let copy = Copy::new(
                &name,
                fetched.version,
                &fetched.text,
                OffsetDateTime::now_utc(),
            );
            if let Err(err) = copy.write(&keep.file) {
                warn!(file = %keep.file.display(), "keeping a copy of the config: {err}");
            }
            Ok(Loaded {
                config,
                version: Some(fetched.version),
                identity: Some(identity),
                kept: None,
            })
        }
        Err(Error::ConfigUnavailable { parameter, source }) => match (source.as_ref(), kept) {
            // Throttling, 5xx, the network: the parameter itself may be fine.
            (FetchError::Failed { .. }, Some(kept)) => {
                let err = Error::ConfigUnavailable { parameter, source };
                warn!(message_id = message_id::CONFIG_UNAVAILABLE, "{err}");
                log_kept(&kept.0, "SSM could not be read");
                Ok(from_copy(kept, identity))
            }
            _ => Err(Error::ConfigUnavailable { parameter, source }),
        },
        Err(err) => Err(err),
    }
}

/// The kept copy for `name` and its config, when there is one and it is valid; a copy that
/// cannot be used is ignored with the reason.
fn kept_copy(file: &Path, name: &str) -> Option<(Copy, Config)> {
    let ignored = |why: &str| {
        warn!(file = %file.display(), "ignoring the kept copy of the config: {why}");
    };
    let copy = match Copy::read(file, name) {
        Ok(copy) => copy?,
        Err(why) => {
            ignored(&why);
            return None;
        }
    };
    let label = format!("{SSM_PREFIX}{name}");
    match config::parse(&copy.text, Path::new(&label)) {
        Ok(config) => Some((copy, config)),
        Err(errors) => {
            ignored(&format!("it is no longer a valid config: {errors}"));
            None
        }
    }
}

fn log_kept(copy: &Copy, why: &str) {
    let age = copy.age(OffsetDateTime::now_utc()).as_secs();
    warn!(
        message_id = message_id::CONFIG_KEPT,
        parameter = %copy.parameter,
        version = copy.parameter_version,
        age_seconds = age,
        "using the kept copy of ssm:{} (version {}, read {} ago) until SSM answers: {why}",
        copy.parameter,
        copy.parameter_version,
        humantime(age)
    );
}

/// `age` seconds as people say it: `45 s`, `12 min`, `3 h`, `2 d`.
fn humantime(age: u64) -> String {
    match age {
        0..120 => format!("{age} s"),
        120..7200 => format!("{} min", age / 60),
        7200..172_800 => format!("{} h", age / 3600),
        _ => format!("{} d", age / 86_400),
    }
}

/// The instance identity, as IMDS tells it.
pub async fn read_identity(imds: &Imds) -> Result<Identity, Error> {
    imds.identity()
        .await
        .map_err(Error::imds("reading the instance identity"))
}

/// The instance-profile credentials IMDS serves now (they rotate: read them every time).
pub async fn instance_credentials(
    imds: &Imds,
    identity: &Identity,
) -> Result<TemporaryCredentials, Error> {
    imds.role_credentials(&identity.role_name)
        .await
        .map_err(Error::imds("reading the instance-profile credentials"))
}

fn load_file(path: &Path) -> Result<Config, Error> {
    // As root, a config another user can edit would let them choose where root writes.
    if let Err(err) = fileio::check_trusted(path) {
        if path.exists() {
            return Err(Error::ConfigUntrusted(err));
        }
    }
    let config = config::load(path).map_err(|errors| Error::ConfigInvalid {
        errors,
        parameter: None,
    })?;
    warn_about(&config);
    Ok(config)
}

/// What the config should change though it was accepted (a deprecated key), with its file
/// and line.
fn warn_about(config: &Config) {
    for warning in &config.warnings {
        warn!("{warning}");
    }
}

/// Reads the config from SSM Parameter Store under `policy` and parses it. Returns the config
/// and what was read.
async fn fetch(
    http: &SharedHttpClient,
    instance: &TemporaryCredentials,
    identity: &Identity,
    parameter: &Parameter,
    policy: Policy,
) -> Result<(Config, ssm::Fetched), Error> {
    let name = parameter.resolve(identity);
    let fetched = ssm::fetch(http.clone(), instance, identity, &name, policy)
        .await
        .map_err(|source| Error::ConfigUnavailable {
            parameter: name.clone(),
            source: Box::new(source),
        })?;
    let config = config::parse(&fetched.text, Path::new(&fetched.label)).map_err(|errors| {
        Error::ConfigInvalid {
            errors,
            parameter: Some((name.clone(), fetched.version)),
        }
    })?;
    warn_about(&config);
    info!(
        message_id = message_id::CONFIG_LOADED,
        parameter = %name,
        version = fetched.version,
        "read the config from {} (version {}, {} roles)",
        fetched.label,
        fetched.version,
        config.roles.len()
    );
    Ok((config, fetched))
}

/// How long the first read of a config in SSM waits without a kept copy, for `--start-spread
/// spread`, from `random_unit` (0..1): uniform over the spread, so that a fleet started
/// together reaches Parameter Store spread over it.
pub fn start_wait(spread: Duration, random_unit: f64) -> Duration {
    spread.mul_f64(random_unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            instance_id: "i-0123456789abcdef0".into(),
            account_id: "000000000000".into(),
            region: "eu-west-1".into(),
            instance_profile_arn: "arn:aws:iam::000000000000:instance-profile/p".into(),
            role_name: "EC2_PerformSecurityAudit".into(),
        }
    }

    #[test]
    fn config_argument_is_a_file_unless_it_starts_with_ssm() {
        assert_eq!(
            "/etc/ec2-assume-role/config.toml".parse::<Source>(),
            Ok(Source::File("/etc/ec2-assume-role/config.toml".into()))
        );
        assert_eq!(
            "./ssm:x".parse::<Source>(),
            Ok(Source::File("./ssm:x".into()))
        );
        let source: Source = "ssm:/ear/{account_id}/config".parse().unwrap();
        assert_eq!(source.to_string(), "ssm:/ear/{account_id}/config");
        assert!("".parse::<Source>().is_err());
    }

    #[test]
    fn names_are_checked_as_ssm_would() {
        let ok = [
            "/ec2-assume-role/config",
            "ec2-assume-role.config",
            "/ear/{account_id}/{region}/{instance_id}",
            "arn:aws:ssm:us-east-1:111111111111:parameter/shared/ear",
            "arn:aws-cn:ssm:cn-north-1:111111111111:parameter/x",
        ];
        for name in ok {
            assert!(Parameter::parse(name).is_ok(), "{name}");
        }
        let bad = [
            ("", "is empty"),
            ("/", "is empty"),
            ("/ear/{acount_id}", "unknown placeholder {acount_id}"),
            ("/ear/{account_id", "unknown placeholder {account_id"),
            ("/ear config", "' ' cannot be in an SSM parameter name"),
            ("arn:aws:s3:::bucket/key", "not an SSM parameter ARN"),
            (
                "arn:aws:ssm:us-east-1:111111111111:document/x",
                "ends in :parameter/NAME",
            ),
        ];
        for (name, want) in bad {
            let err = Parameter::parse(name).unwrap_err();
            assert!(err.contains(want), "{name}: {err}");
            assert!(err.starts_with("ssm:"), "{name}: {err}");
        }
        let long = format!("/{}", "a".repeat(MAX_NAME_CHARS));
        assert!(Parameter::parse(&long).unwrap_err().contains("1011"));
    }

    #[test]
    fn placeholders_come_from_the_instance() {
        let p = Parameter::parse("/ear/{account_id}/{region}/{instance_id}/{account_id}").unwrap();
        assert_eq!(
            p.resolve(&identity()),
            "/ear/000000000000/eu-west-1/i-0123456789abcdef0/000000000000"
        );
    }
}

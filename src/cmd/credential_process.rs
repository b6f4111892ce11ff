//! `ec2-assume-role credential-process --profile NAME`: the AWS `credential_process` protocol.
//! Prints `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}` for
//! one configured profile, from the credentials the daemon keeps fresh (the cache file with
//! `credential_process = true`, else the credentials file), or, when none are fresh, by
//! assuming the role itself (identity verified through IMDSv2 first, as `run` does). Fresh
//! means clear of the SDKs' mandatory refresh window (`FRESH_FOR`), so that a client never
//! waits on every call for what this prints. Kept credentials that are no longer fresh but
//! still valid are printed when AWS cannot be reached, rather than nothing.
//! stdout carries that JSON and nothing else; logs go where `--log` says. It never writes a
//! file: keeping files fresh is the daemon's job.

use crate::agent::error::Error;
use crate::agent::files::Destination;
use crate::agent::source::{self, Source};
use crate::agent::Agent;
use crate::aws::imds::Imds;
use crate::base::creds::{rfc3339, Secret, TemporaryCredentials};
use crate::config::Config;
use crate::daemon::schedule;
use crate::store::credfile::{self, FileKind};
use crate::store::fileio;
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;
use tracing::{debug, warn};

/// Print one profile's credentials in the AWS `credential_process` format (JSON on stdout),
/// from the daemon's fresh credentials, else by assuming the role now.
#[derive(Debug, Args)]
pub struct CredentialProcess {
    /// The profile (as configured in [[role]]) to print credentials for.
    #[arg(long)]
    pub profile: String,

    /// How long to wait for IMDS when the role must be assumed now, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub wait: u64,

    /// The file the daemon keeps the credentials in (it writes this option into
    /// `credential_process` itself): fresh credentials there are served without reading the
    /// config, so that a config in SSM is not read on every AWS CLI command.
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
}

/// Kept credentials are handed out while they have more than this left: enough to keep the
/// client out of the window in which every call waits for new credentials
/// (`schedule::CLIENT_MANDATORY`, 10 minutes) for longer than a refresh takes. The daemon keeps
/// them fuller than that (its safety window, 15 minutes or more, or three quarters of a
/// lifetime too short for it: 11:15 of STS's shortest); less means it is failing or stopped,
/// and a role assumed now lives its whole lifetime.
const FRESH_FOR: time::Duration =
    time::Duration::seconds(schedule::CLIENT_MANDATORY.as_secs() as i64 + 30);

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Output<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
}

impl CredentialProcess {
    pub async fn run(&self, source: &Source) -> Result<(), Error> {
        let wait = Duration::from_secs(self.wait);
        let creds = fresh(source, &self.profile, wait, self.cache.as_deref()).await?;
        print(&json(&creds))
    }
}

/// `profile`'s credentials: fresh ones from `cache` (without reading the config), else from
/// the file the daemon keeps for the config, else assumed now; when that fails for want of
/// IMDS, SSM or STS, the kept ones while they have not expired (the client asks again soon).
/// An unknown profile is an error that lists the configured ones.
pub async fn fresh(
    source: &Source,
    profile: &str,
    wait: Duration,
    cache: Option<&Path>,
) -> Result<TemporaryCredentials, Error> {
    let kept = cache.and_then(|f| kept_in(f, profile));
    if let Some(creds) = kept.as_ref().filter(|c| is_fresh(c)) {
        return Ok(creds.clone());
    }
    let http = crate::aws::http::client();
    let loaded = source::load(source, &http, &Imds::new(http.clone(), wait)).await;
    let config = match loaded {
        Ok(loaded) => loaded.config,
        Err(err) => return or_kept(err, kept, profile),
    };
    configured(&config, profile)?;
    let kept = match (kept, kept_for(&config, profile)) {
        (Some(a), Some(b)) => Some(if a.expiration >= b.expiration { a } else { b }),
        (a, b) => a.or(b),
    };
    if let Some(creds) = kept.as_ref().filter(|c| is_fresh(c)) {
        return Ok(creds.clone());
    }
    if let Some(creds) = &kept {
        debug!(
            "the kept credentials of {profile} expire at {}; assuming the role",
            rfc3339(creds.expiration)
        );
    }
    match assume(source, profile, wait).await {
        Ok(creds) => Ok(creds),
        Err(err) => or_kept(err, kept, profile),
    }
}

/// Whether `creds` have more than `FRESH_FOR` left.
fn is_fresh(creds: &TemporaryCredentials) -> bool {
    creds.expiration - OffsetDateTime::now_utc() > FRESH_FOR
}

/// `err`, unless it says AWS could not be reached (IMDS, SSM, STS) and the `kept` credentials
/// are still valid: then those, and a warning.
fn or_kept(
    err: Error,
    kept: Option<TemporaryCredentials>,
    profile: &str,
) -> Result<TemporaryCredentials, Error> {
    let unavailable = matches!(
        err,
        Error::Imds { .. } | Error::ConfigUnavailable { .. } | Error::RolesFailed { .. }
    );
    match kept.filter(|c| unavailable && c.expiration > OffsetDateTime::now_utc()) {
        Some(creds) => {
            warn!(
                profile = %profile,
                "{err}; handing out the kept credentials of {profile}, which expire at {}",
                rfc3339(creds.expiration)
            );
            Ok(creds)
        }
        None => Err(err),
    }
}

/// The index of `profile` in the config, or the error that lists what is configured.
fn configured(config: &Config, profile: &str) -> Result<usize, Error> {
    config
        .roles
        .iter()
        .position(|r| r.profile == profile)
        .ok_or_else(|| Error::ProfileNotConfigured {
            profile: profile.to_owned(),
            config: config.path.clone(),
            configured: config.roles.iter().map(|r| r.profile.clone()).collect(),
        })
}

/// The credentials of `profile` in a file the daemon keeps (any of its destinations'), if
/// any, fresh or not.
fn kept_for(config: &Config, profile: &str) -> Option<TemporaryCredentials> {
    let role = config.roles.iter().find(|r| r.profile == profile)?;
    Destination::resolve_all(config)
        .ok()?
        .iter()
        .filter(|d| role.goes_to(&d.name))
        .find_map(|d| kept_in(&d.files.credentials, profile))
}

/// The credentials of `profile` in `file` (a cache or credentials file), if any, fresh or
/// not.
fn kept_in(file: &Path, profile: &str) -> Option<TemporaryCredentials> {
    let text = match fileio::read(file) {
        Ok(Some(text)) => text,
        Ok(None) => return None,
        Err(err) => {
            debug!("not using {}: {err}", file.display());
            return None;
        }
    };
    let section = credfile::managed_sections(&text, FileKind::Credentials)
        .into_iter()
        .find(|s| s.profile == profile)?;
    let get = |key: &str| {
        section
            .entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let expiration = OffsetDateTime::parse(
        &get(credfile::EXPIRES_KEY)?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    Some(TemporaryCredentials {
        access_key_id: get("aws_access_key_id")?,
        secret_access_key: Secret::new(get("aws_secret_access_key")?),
        session_token: Secret::new(get("aws_session_token")?),
        expiration,
    })
}

/// Assumes the role of `profile` now. The config is read again by `Agent::start` (with the
/// identity check), so a parameter in SSM may have changed meanwhile: look the profile up anew.
async fn assume(
    source: &Source,
    profile: &str,
    wait: Duration,
) -> Result<TemporaryCredentials, Error> {
    let agent = Agent::start(source, wait).await?;
    let index = configured(&agent.config, profile)?;
    agent.assume_one(index).await
}

/// The `credential_process` JSON of `creds`, one line.
pub fn json(creds: &TemporaryCredentials) -> String {
    let out = Output {
        version: 1,
        access_key_id: &creds.access_key_id,
        secret_access_key: creds.secret_access_key.expose(),
        session_token: creds.session_token.expose(),
        expiration: rfc3339(creds.expiration),
    };
    // Serialising these plain strings cannot fail.
    let mut json = serde_json::to_string(&out).unwrap_or_default();
    json.push('\n');
    json
}

/// Writes `text` (credentials) to stdout, all of it or an error.
pub fn print(text: &str) -> Result<(), Error> {
    super::print_stdout(text)
}

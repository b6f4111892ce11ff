//! `ec2-assume-role credential-process --profile NAME`: the AWS `credential_process` protocol.
//! Prints `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}` for
//! one configured profile, from the credentials the daemon keeps fresh (the cache file with
//! `credential_process = true`, else the credentials file), or, when none are fresh, by
//! assuming the role itself (identity verified through IMDSv2 first, as `run` does).
//! stdout carries that JSON and nothing else; logs go where `--log` says. It never writes a
//! file: keeping files fresh is the daemon's job.

use crate::cli::Exit;
use crate::config::Config;
use crate::credfile::{self, FileKind};
use crate::creds::{rfc3339, Secret, TemporaryCredentials};
use crate::fileio;
use crate::run::{self, Agent, Files};
use crate::source::Source;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;
use tracing::{debug, error};

/// Cached credentials with less than this left are not served: SDKs call the process again
/// only when the credentials are about to expire, and must get ones that last a while.
const FRESH_FOR: time::Duration = time::Duration::minutes(5);

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Output<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
}

pub async fn credential_process(
    source: &Source,
    profile: &str,
    cache: Option<&Path>,
    wait: Duration,
) -> Exit {
    if let Some(creds) = cache.and_then(|file| cached_in(file, profile)) {
        return print(&creds);
    }
    let config = match run::load(source, wait).await {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    if !config.roles.iter().any(|r| r.profile == profile) {
        not_configured(&config, profile);
        return Exit::ConfigInvalid;
    }
    let creds = match cached(&config, profile) {
        Some(creds) => creds,
        None => match assume(source, profile, wait).await {
            Ok(creds) => creds,
            Err(exit) => return exit,
        },
    };
    print(&creds)
}

fn not_configured(config: &Config, profile: &str) {
    error!(
        "profile {profile} is not configured in {}; configured: {}",
        config.path.display(),
        config
            .roles
            .iter()
            .map(|r| r.profile.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The fresh credentials of `profile` in the file the daemon keeps, if any.
fn cached(config: &Config, profile: &str) -> Option<TemporaryCredentials> {
    let files = Files::resolve(config).ok()?;
    cached_in(&files.credentials, profile)
}

/// The fresh credentials of `profile` in `file` (a cache or credentials file), if any.
fn cached_in(file: &Path, profile: &str) -> Option<TemporaryCredentials> {
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
    if expiration - OffsetDateTime::now_utc() < FRESH_FOR {
        debug!("cached credentials of {profile} expire at {expiration}; assuming the role");
        return None;
    }
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
) -> Result<TemporaryCredentials, Exit> {
    let agent = Agent::start(source, wait).await?;
    let Some(index) = agent.config.roles.iter().position(|r| r.profile == profile) else {
        not_configured(&agent.config, profile);
        return Err(Exit::ConfigInvalid);
    };
    agent.assume_one(index).await
}

fn print(creds: &TemporaryCredentials) -> Exit {
    let out = Output {
        version: 1,
        access_key_id: &creds.access_key_id,
        secret_access_key: creds.secret_access_key.expose(),
        session_token: creds.session_token.expose(),
        expiration: rfc3339(creds.expiration),
    };
    match serde_json::to_string(&out) {
        Ok(json) => {
            println!("{json}");
            Exit::Ok
        }
        Err(err) => {
            error!("encoding the credential_process answer: {err}");
            Exit::Other
        }
    }
}

//! `ec2-assume-role doctor`: what to run when it does not work on an instance. Each check in
//! order, passed, failed with its fix, or skipped when an earlier failure makes it
//! meaningless: the config, IMDS over IMDSv2, the instance identity, the clock against STS's,
//! each role (one real AssumeRole, nothing written), each destination's files, what would
//! shadow the profiles, the daemon, the endpoint and the metrics file (`remote` has the
//! checks that ask AWS; `files`, `shadow` and `service` those of this machine; `report` the
//! output).
//!
//! It must answer within 30 seconds whatever is wrong: every network call has a short
//! deadline and none is retried past it, and the clock is checked before the roles. It must
//! never write a file, signal the daemon or print a credential.

mod files;
mod remote;
mod report;
mod service;
mod shadow;

use crate::agent::error::Error;
use crate::agent::files::Destination;
use crate::agent::source::Source;
use clap::Args;
use report::{Check, Status};
use std::io::Write;
use time::OffsetDateTime;

/// Find out why profiles are missing or do not work, and how to fix it; write nothing.
///
/// Checks, in order: the config, IMDS, the instance identity, the clock against STS's, each
/// role (one AssumeRole each, nothing written), each destination's files, what would shadow
/// the profiles for AWS clients, the daemon, the endpoint and the metrics file. Each is passed
/// (✓), failed (✗, with the fix) or skipped (–, saying why). Answers within 30 seconds; exits
/// 0 when every check passes, 9 when any fails.
#[derive(Debug, Args)]
pub struct Doctor {
    /// Print JSON (an array of {check, status, detail, fix}, and only that) on stdout.
    #[arg(long)]
    pub json: bool,
}

impl Doctor {
    pub async fn run(&self, source: &Source) -> Result<(), Error> {
        let checks = checks(source).await;
        let text = if self.json {
            report::json(&checks)
        } else {
            report::human(&checks)
        };
        // write_all rather than print!, which panics when stdout is a closed pipe (`| head`).
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(Error::io("writing the checks to stdout"))?;
        let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
        match failed {
            0 => Ok(()),
            failed => Err(Error::ChecksFailed {
                failed,
                total: checks.len(),
            }),
        }
    }
}

/// Every check, in order.
async fn checks(source: &Source) -> Vec<Check> {
    let http = crate::aws::http::client();
    let imds = remote::imds_client(&http);
    let mut checks = Vec::new();
    // A config in SSM is read through IMDS: IMDS is checked first then.
    let mut instance = None;
    let imds_first = matches!(source, Source::Ssm(_));
    if imds_first {
        let (check, found) = remote::imds(&imds).await;
        checks.push(check);
        instance = found;
    }
    let loaded = remote::load(source, &http, &imds).await;
    let config = match loaded {
        Ok(config) => config,
        Err(why) => {
            checks.push(Check::fail(
                "config",
                why,
                "`ec2-assume-role check` shows each problem with its file, line and key",
            ));
            checks.push(Check::skip("the rest", "the config could not be loaded"));
            return checks;
        }
    };
    let roles = config.roles.len();
    checks.push(Check::pass(
        "config",
        format!(
            "{}: {roles} role{}",
            source,
            if roles == 1 { "" } else { "s" }
        ),
    ));
    if !imds_first {
        let (check, found) = remote::imds(&imds).await;
        checks.push(check);
        instance = found;
    }
    match instance {
        None => {
            let why = remote::skipped_after_imds();
            for name in ["instance identity", "clock", "roles"] {
                checks.push(Check::skip(name, why));
            }
        }
        Some(instance) => {
            let identity = remote::identity(&config, &instance.identity);
            let verified = identity.status == Status::Pass;
            checks.push(identity);
            if !verified {
                let why = "the instance is not the one the config names";
                checks.push(Check::skip("clock", why));
                checks.push(Check::skip("roles", why));
            } else {
                let (clock, unusable) = remote::clock(&http, &instance).await;
                checks.push(clock);
                match unusable {
                    Some(why) => checks.push(Check::skip("roles", why)),
                    None => checks.extend(remote::roles(&config, source, &instance.identity).await),
                }
            }
        }
    }
    for set in &config.discovered {
        checks.push(Check::skip(
            format!("role set {}", set.origin),
            "its accounts come from AWS Organizations, which doctor does not list \
             (`ec2-assume-role check` shows the last discovered ones)",
        ));
    }
    let destinations = match Destination::resolve_all(&config) {
        Ok(destinations) => destinations,
        Err(err) => {
            checks.push(Check::fail(
                "files",
                err.to_string(),
                "`ec2-assume-role check` says what is wrong with the config",
            ));
            return checks;
        }
    };
    checks.extend(destinations.iter().map(files::files));
    checks.push(shadow::environment(&config, &destinations));
    checks.push(shadow::systemd().await);
    checks.push(shadow::shadowing(&config, &destinations));
    checks.push(service::daemon(&config, source, &destinations));
    checks.extend(service::endpoint(&config).await);
    checks.extend(service::metrics(&config, OffsetDateTime::now_utc()));
    checks
}

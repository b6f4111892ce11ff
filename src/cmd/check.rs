//! `ec2-assume-role check`: validate the config, and with `--imds` the instance identity too;
//! write nothing and call no STS. A config in SSM Parameter Store can only be read through
//! IMDS, so its check always verifies the identity as well.

use super::Wait;
use crate::agent::{self, Agent};
use crate::config::Config;
use crate::creds::rfc3339;
use crate::discovery;
use crate::error::Error;
use crate::files::Destination;
use crate::imds::Imds;
use crate::logging::SUMMARY;
use crate::source::{self, Source};
use clap::Args;
use tracing::info;

/// Validate the config (and, with --imds, the instance identity); write nothing.
#[derive(Debug, Args)]
pub struct Check {
    /// Also read the instance identity through IMDSv2 and check it against [instance].
    #[arg(long)]
    pub imds: bool,

    #[command(flatten)]
    pub wait: Wait,
}

impl Check {
    pub async fn run(&self, source: &Source) -> Result<(), Error> {
        let wait = self.wait.duration();
        let (config, files) = match source {
            Source::File(_) => {
                let http = crate::http::client();
                let imds = Imds::new(http.clone(), wait);
                let config = source::load(source, &http, &imds).await?.config;
                let files = Destination::resolve_all(&config)?;
                if self.imds {
                    let identity = source::read_identity(&imds).await?;
                    agent::verify_identity(&config, &identity)?;
                }
                (config, files)
            }
            Source::Ssm(_) => {
                let agent = Agent::start(source, wait).await?;
                (agent.config, agent.destinations)
            }
        };
        info!(
            target: SUMMARY,
            roles = config.roles.len(),
            "{}: valid; {} role{}, profiles go to {}",
            config.path.display(),
            config.roles.len(),
            if config.roles.len() == 1 { "" } else { "s" },
            list(&files)
        );
        show_discovered(&config);
        Ok(())
    }
}

/// One line per role set whose accounts come from AWS Organizations: the query, and the
/// expansion the agent would use without reaching Organizations (the discovery cache's).
fn show_discovered(config: &Config) {
    let cache = discovery::Cache::read(&config.discovery.cache_file);
    for set in &config.discovered {
        let o = &set.organization;
        let scope = if o.ous.is_empty() {
            "every ACTIVE account of the organization".to_owned()
        } else {
            format!("the ACTIVE accounts under {}", o.ous.join(", "))
        };
        let known = match &cache {
            Ok(cache) => match cache.get(set) {
                Some(k) => {
                    let accounts: Vec<&String> = k
                        .accounts
                        .iter()
                        .filter(|a| !o.exclude.contains(a))
                        .collect();
                    let profiles: Vec<String> =
                        accounts.iter().map(|a| set.role(a).profile).collect();
                    format!(
                        "{} discovered at {}: {}",
                        accounts.len(),
                        rfc3339(k.discovered),
                        profiles.join(", ")
                    )
                }
                None => "none discovered yet (`run` and the daemon discover them)".to_owned(),
            },
            Err(why) => format!("the discovery cache is unusable ({why})"),
        };
        let how = match (&o.shared_parameter, config.discovery.publish) {
            (Some(name), false) => {
                format!(" (read from ssm:{name}, where the publisher puts them)")
            }
            (Some(name), true) => format!(" (listed here and published to ssm:{name})"),
            (None, _) => String::new(),
        };
        info!(
            target: SUMMARY,
            role_set = %set.origin,
            "{}: role {} in {scope}{}{how}; {known}",
            set.origin,
            set.role_name,
            if o.exclude.is_empty() {
                String::new()
            } else {
                format!(" but {}", o.exclude.join(", "))
            }
        );
    }
}

/// `/home/a/.aws/credentials, /home/b/.aws/credentials (user bob)`.
fn list(destinations: &[Destination]) -> String {
    let files: Vec<String> = destinations
        .iter()
        .map(|d| match d.name.as_str() {
            crate::config::DEFAULT_USER => d.files.credentials.display().to_string(),
            user => format!("{} (user {user})", d.files.credentials.display()),
        })
        .collect();
    files.join(", ")
}

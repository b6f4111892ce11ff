//! `ec2-assume-role check`: validate the config, and with `--imds` the instance identity too,
//! and say where each role's STS calls will go; write nothing and call no STS. A config in SSM
//! Parameter Store can only be read through IMDS, so its check always verifies the identity as
//! well.

use super::Wait;
use crate::agent::error::Error;
use crate::agent::files::Destination;
use crate::agent::source::{self, Source};
use crate::agent::{self, Agent};
use crate::aws::imds::Imds;
use crate::base::creds::rfc3339;
use crate::base::logging::SUMMARY;
use crate::config::Config;
use crate::store::discovery;
use clap::Args;
use tracing::info;

/// Validate the config (and, with --imds, the instance identity), show each role's STS
/// endpoint; write nothing.
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
        let (config, files, region) = match source {
            Source::File(_) => {
                let http = crate::aws::http::client();
                let imds = Imds::new(http.clone(), wait);
                let config = source::load(source, &http, &imds).await?.config;
                let files = Destination::resolve_all(&config)?;
                let mut region = None;
                if self.imds {
                    let identity = source::read_identity(&imds).await?;
                    agent::verify_identity(&config, &identity)?;
                    region = Some(identity.region);
                }
                (config, files, region)
            }
            Source::Ssm(_) => {
                let agent = Agent::start(source, wait).await?;
                let region = agent.identity.region.clone();
                (agent.config, agent.destinations, Some(region))
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
        show_endpoints(&config, region.as_deref()).await;
        Ok(())
    }
}

/// One line per STS endpoint the roles' `AssumeRole` calls go to, with the profiles that go
/// there: what FIPS and dual-stack settings (ours, the environment's, the AWS config file's)
/// come to, before any call. A role without a region of its own goes to the instance's,
/// known only with `--imds`.
async fn show_endpoints(config: &Config, instance_region: Option<&str>) {
    // The SDK's settings as any SDK client on this host reads them; the region is given so
    // that nothing is asked of IMDS, and no credentials are looked for.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::from_static("us-east-1"))
        .no_credentials()
        .load()
        .await;
    let mut endpoints: Vec<(String, Vec<&str>)> = Vec::new();
    let mut unknown = Vec::new();
    for role in &config.roles {
        let Some(region) = role.region.as_deref().or(instance_region) else {
            unknown.push(role.profile.as_str());
            continue;
        };
        let endpoint = crate::aws::sts::endpoint_of(region, role.endpoints, &sdk);
        match endpoints.iter_mut().find(|(e, _)| *e == endpoint) {
            Some((_, profiles)) => profiles.push(&role.profile),
            None => endpoints.push((endpoint, vec![&role.profile])),
        }
    }
    for (endpoint, profiles) in &endpoints {
        info!(target: SUMMARY, "STS endpoint {endpoint}: {}", few(profiles));
    }
    if !unknown.is_empty() {
        info!(
            target: SUMMARY,
            "STS endpoint in the instance's region (check --imds resolves it): {}",
            few(&unknown)
        );
    }
}

/// `a, b, c` or, past 5, `a, b, c, d, e and 7 more`.
fn few(profiles: &[&str]) -> String {
    let shown = profiles[..profiles.len().min(5)].join(", ");
    match profiles.len() {
        n if n > 5 => format!("{shown} and {} more", n - 5),
        _ => shown,
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

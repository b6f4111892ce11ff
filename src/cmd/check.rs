//! `ec2-assume-role check`: validate the config, and with `--imds` the instance identity too;
//! write nothing and call no STS. A config in SSM Parameter Store can only be read through
//! IMDS, so its check always verifies the identity as well.

use super::Wait;
use crate::agent::{self, Agent};
use crate::error::Error;
use crate::files::Files;
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
                let files = Files::resolve(&config)?;
                if self.imds {
                    let identity = source::read_identity(&imds).await?;
                    agent::verify_identity(&config, &identity)?;
                }
                (config, files)
            }
            Source::Ssm(_) => {
                let agent = Agent::start(source, wait).await?;
                (agent.config, agent.files)
            }
        };
        info!(
            target: SUMMARY,
            roles = config.roles.len(),
            "{}: valid; {} role{}, profiles go to {}",
            config.path.display(),
            config.roles.len(),
            if config.roles.len() == 1 { "" } else { "s" },
            files.credentials.display()
        );
        Ok(())
    }
}

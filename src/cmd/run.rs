//! `ec2-assume-role run`: verify the identity, assume every role once, write the profiles,
//! and say how it went in one summary event (the journal and stderr).

use super::{Spread, Wait};
use crate::agent::error::Error;
use crate::agent::source::Source;
use crate::agent::{Agent, RoleOutcome};
use crate::base::logging::{message_id, SUMMARY};
use clap::Args;
use std::collections::BTreeSet;
use tracing::info;

/// Verify the instance identity, assume every role once and write the profiles.
/// A config from SSM is kept on disk; when SSM throttles or is down the kept copy is used.
#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    pub wait: Wait,
    #[command(flatten)]
    pub spread: Spread,
}

impl Run {
    pub async fn run(&self, source: &Source) -> Result<(), Error> {
        let keep = self.spread.keep(false);
        let agent = Agent::boot(source, self.wait.duration(), &keep).await?;
        let all: Vec<usize> = (0..agent.config.roles.len()).collect();
        let outcomes = agent.refresh(&all, &BTreeSet::new()).await?;
        let mut unwritten = agent.write_profiles_config()?;
        for outcome in &outcomes {
            if let RoleOutcome::NotWritten(files) = outcome {
                unwritten.extend(files.iter().cloned());
            }
        }
        unwritten.sort();
        unwritten.dedup();
        let total = outcomes.len();
        let failed = outcomes
            .iter()
            .filter(|o| !matches!(o, RoleOutcome::Written { .. }))
            .count();
        let written = total - failed;
        let files: Vec<String> = agent
            .credentials_files()
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        let file = files.join(", ");
        info!(
            target: SUMMARY,
            message_id = message_id::RUN_SUMMARY,
            written,
            failed,
            file = %file,
            "wrote {written} of {total} profiles to {file}{}",
            if failed > 0 { format!("; {failed} failed") } else { String::new() }
        );
        // A file that could not be written is the operator's to fix, whatever else failed.
        if !unwritten.is_empty() {
            return Err(Error::FilesNotWritten { files: unwritten });
        }
        // A role set whose accounts could not be discovered (nor were cached) failed whole.
        let undiscovered = agent.undiscovered.len();
        if failed + undiscovered > 0 {
            Err(Error::RolesFailed {
                failed: failed + undiscovered,
                total: total + undiscovered,
            })
        } else if !agent.unpublished.is_empty() {
            Err(Error::NotPublished {
                sets: agent.unpublished.clone(),
            })
        } else {
            Ok(())
        }
    }
}

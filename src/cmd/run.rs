//! `ec2-assume-role run`: verify the identity, assume every role once, write the profiles,
//! and say how it went: one summary line on stdout (`--json`: one JSON object) that counts
//! the profiles written, failed, kept (not refreshed, but their still-valid credentials stay)
//! and the role sets whose accounts could not be discovered; and the same as one summary
//! event for the journal (and a stderr that is not a terminal).

use super::{Spread, Wait};
use crate::agent::error::Error;
use crate::agent::source::Source;
use crate::agent::{Agent, RoleOutcome};
use crate::base::logging::{message_id, SUMMARY};
use crate::base::term;
use crate::policy::yaml::{map, strings, Node};
use crate::store::credfile::{self, FileKind};
use crate::store::fileio;
use clap::Args;
use std::collections::BTreeSet;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::info;

/// Verify the instance identity, assume every role once and write the profiles.
/// A config from SSM is kept on disk; when SSM throttles or is down the kept copy is used.
#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    pub wait: Wait,
    #[command(flatten)]
    pub spread: Spread,

    /// Print the summary as one JSON object instead of a line.
    #[arg(long)]
    pub json: bool,
}

impl Run {
    pub async fn run(&self, source: &Source) -> Result<(), Error> {
        let keep = self.spread.keep(false);
        let agent = Agent::boot(source, self.wait.duration(), &keep).await?;
        let all: Vec<usize> = (0..agent.config.roles.len()).collect();
        // Many roles on a terminal: a bar of roles assumed and failed while STS answers.
        let bar = match all.len() {
            n if n > BAR_FROM_ROLES => term::Bar::start(n),
            _ => None,
        };
        let outcomes = agent.refresh(&all, &BTreeSet::new()).await;
        drop(bar);
        let outcomes = outcomes?;
        let mut unwritten = agent.write_profiles_config()?;
        for outcome in &outcomes {
            if let RoleOutcome::NotWritten(files) = outcome {
                unwritten.extend(files.iter().cloned());
            }
        }
        unwritten.sort();
        unwritten.dedup();
        let total = outcomes.len();
        let not_refreshed: Vec<&str> = outcomes
            .iter()
            .zip(&agent.config.roles)
            .filter(|(o, _)| !matches!(o, RoleOutcome::Written { .. }))
            .map(|(_, role)| role.profile.as_str())
            .collect();
        let failed = not_refreshed.len();
        let written = total - failed;
        let kept = still_valid(&agent, &not_refreshed, OffsetDateTime::now_utc());
        let files: Vec<String> = agent
            .credentials_files()
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        let file = files.join(", ");
        let undiscovered = &agent.undiscovered;
        info!(
            target: SUMMARY,
            message_id = message_id::RUN_SUMMARY,
            written,
            failed,
            kept = kept.len(),
            undiscovered = undiscovered.len(),
            file = %file,
            "wrote {written} of {total} profiles to {file}{}{}",
            if failed > 0 { format!("; {failed} failed") } else { String::new() },
            match undiscovered.len() {
                0 => String::new(),
                n => format!(
                    "; {n} role set{} not discovered ({})",
                    if n == 1 { "" } else { "s" },
                    undiscovered.join(", ")
                ),
            }
        );
        let summary = Summary {
            written,
            failed: not_refreshed
                .iter()
                .filter(|p| !kept.contains(p))
                .copied()
                .collect(),
            kept,
            undiscovered,
            files: &files,
        };
        super::print_stdout(&match self.json {
            true => summary.json().to_json(),
            false => summary.line(),
        })?;
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

/// Past this many roles, a `run` on a terminal shows a progress bar.
const BAR_FROM_ROLES: usize = 50;

/// What `run` did, as its summary says it.
struct Summary<'a> {
    written: usize,
    /// Not refreshed, and no valid credentials left for them.
    failed: Vec<&'a str>,
    /// Not refreshed, but their earlier credentials are still valid and stay.
    kept: Vec<&'a str>,
    /// The role sets whose accounts could not be discovered (nor were cached).
    undiscovered: &'a [String],
    files: &'a [String],
}

impl Summary<'_> {
    /// `2 profiles written, 1 failed, 0 kept, 0 undiscovered role sets; in FILE`.
    fn line(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| match n {
            1 => format!("1 {one}"),
            n => format!("{n} {many}"),
        };
        let mut line = format!(
            "{} written, {} failed, {} kept, {} undiscovered",
            plural(self.written, "profile", "profiles"),
            self.failed.len(),
            self.kept.len(),
            self.undiscovered.len(),
        );
        for (what, names) in [
            ("failed", self.failed.to_vec()),
            ("kept", self.kept.to_vec()),
            (
                "undiscovered",
                self.undiscovered.iter().map(String::as_str).collect(),
            ),
        ] {
            if !names.is_empty() {
                line.push_str(&format!("; {what}: {}", super::check::few(&names)));
            }
        }
        format!("{line}; in {}\n", self.files.join(", "))
    }

    fn json(&self) -> Node {
        let count = |n: usize| Node::Int(i64::try_from(n).unwrap_or(i64::MAX));
        map([
            ("written", count(self.written)),
            ("failed", count(self.failed.len())),
            ("kept", count(self.kept.len())),
            ("undiscovered", count(self.undiscovered.len())),
            ("failed_profiles", strings(&self.failed)),
            ("kept_profiles", strings(&self.kept)),
            ("undiscovered_role_sets", strings(self.undiscovered)),
            ("files", strings(self.files)),
        ])
    }
}

/// Which of `profiles` (not refreshed now) still have unexpired credentials in every file
/// they go to, as written now.
fn still_valid<'a>(agent: &Agent, profiles: &[&'a str], now: OffsetDateTime) -> Vec<&'a str> {
    if profiles.is_empty() {
        return Vec::new();
    }
    // Per destination: each managed profile and when its credentials expire.
    type Expiries = Vec<(String, Option<OffsetDateTime>)>;
    let mut expiry: Vec<(String, Expiries)> = Vec::new();
    for dest in &agent.destinations {
        let bytes = fileio::read(&dest.files.credentials)
            .ok()
            .flatten()
            .unwrap_or_default();
        let sections = credfile::managed_sections(&bytes, FileKind::Credentials)
            .into_iter()
            .map(|s| {
                let expires = s
                    .entries
                    .iter()
                    .find(|(key, _)| key == credfile::EXPIRES_KEY)
                    .and_then(|(_, v)| OffsetDateTime::parse(v, &Rfc3339).ok());
                (s.profile, expires)
            })
            .collect();
        expiry.push((dest.name.clone(), sections));
    }
    profiles
        .iter()
        .filter(|&&profile| {
            let Some(role) = agent.config.roles.iter().find(|r| r.profile == profile) else {
                return false;
            };
            let mut goes = expiry
                .iter()
                .filter(|(dest, _)| role.goes_to(dest))
                .peekable();
            goes.peek().is_some()
                && goes.all(|(_, sections)| {
                    sections
                        .iter()
                        .any(|(p, e)| p == profile && e.is_some_and(|e| e > now))
                })
        })
        .copied()
        .collect()
}

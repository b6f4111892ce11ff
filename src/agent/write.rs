//! The file side of the agent: one atomic update of the credentials file (or the cache file
//! with `credential_process = true`) and one of the AWS config file per refresh, each
//! reporting what it removed and what it refused to overwrite. It calls no AWS API.

use super::*;

impl Agent {
    /// The second half of `refresh`: writes what `assume` returned for `indices` in one
    /// update of the credentials file. The daemon calls the halves apart so that signals and
    /// watchdog pings are served while STS is slow, and so that a stop never interrupts a write.
    pub fn write(
        &self,
        indices: &[usize],
        results: Vec<Result<sts::Assumed, sts::Error>>,
        expired: &BTreeSet<String>,
    ) -> Result<Vec<RoleOutcome>, Error> {
        let roles: Vec<&Role> = indices.iter().map(|&i| &self.config.roles[i]).collect();

        let mut sections = Vec::new();
        for (role, result) in roles.iter().zip(&results) {
            match result {
                Ok(a) => {
                    sections.push(credfile::credentials_section(&role.profile, &a.credentials))
                }
                Err(err) => log_failure(role, err),
            }
        }
        let drop: BTreeSet<&String> = roles
            .iter()
            .zip(&results)
            .filter(|(role, result)| result.is_err() && expired.contains(&role.profile))
            .map(|(role, _)| &role.profile)
            .collect();
        let mut keep: BTreeSet<String> = self
            .config
            .roles
            .iter()
            .map(|r| r.profile.clone())
            .filter(|p| !drop.contains(p))
            .collect();
        keep.extend(self.unknown_but_kept(&self.files.credentials, FileKind::Credentials));
        let plan = Plan {
            kind: FileKind::Credentials,
            write: &sections,
            configured: &keep,
            replace_unmanaged: self.config.credentials.replace_unmanaged,
        };
        let path = &self.files.credentials;
        let written = update(path, self.files.owner.as_ref(), &plan, "credentials file")?;
        for profile in &written.removed {
            if drop.contains(profile) {
                warn!(
                    message_id = message_id::PROFILE_REMOVED,
                    profile = %profile,
                    file = %path.display(),
                    "removed profile {profile}: its credentials expired and could not be refreshed"
                );
            } else {
                info!(
                    message_id = message_id::PROFILE_REMOVED,
                    profile = %profile,
                    file = %path.display(),
                    "removed profile {profile}: it is no longer in the config"
                );
            }
        }

        let mut outcomes = Vec::with_capacity(roles.len());
        for (role, result) in roles.iter().zip(results) {
            outcomes.push(match result {
                Err(err) => RoleOutcome::Failed(err),
                Ok(_) if written.conflicts.contains(&role.profile) => {
                    error!(
                        message_id = message_id::PROFILE_CONFLICT,
                        profile = %role.profile,
                        file = %path.display(),
                        "profile {} already exists in {} and was not written by ec2-assume-role; \
                         not overwriting it (rename one of them, or set replace_unmanaged = true \
                         in [credentials])",
                        role.profile,
                        path.display()
                    );
                    RoleOutcome::Conflict
                }
                Ok(a) => {
                    let expiration = a.credentials.expiration;
                    info!(
                        message_id = message_id::ROLE_ASSUMED,
                        profile = %role.profile,
                        role_arn = %role.role_arn,
                        assumed_role_arn = %a.assumed_role_arn,
                        expiration = %rfc3339(expiration),
                        "wrote profile {} for {} (expires {})",
                        role.profile,
                        role.role_arn,
                        rfc3339(expiration)
                    );
                    RoleOutcome::Written {
                        expiration,
                        assumed_role_arn: a.assumed_role_arn,
                    }
                }
            });
        }
        Ok(outcomes)
    }

    /// Writes each configured profile's settings in the AWS config file.
    pub fn write_profiles_config(&self) -> Result<(), Error> {
        let keep = self.unknown_but_kept(&self.files.config, FileKind::Config);
        write_profiles_config(
            &self.config,
            &self.source,
            &self.identity,
            &self.files,
            &keep,
        )
    }
}

/// Writes `[profile NAME]` in the AWS config file for each configured role: its `region`,
/// and with `credential_process = true` the command that serves its credentials. In that
/// mode the user's credentials file must hold no static keys of ours (they would shadow
/// `credential_process`), so sections we wrote there earlier are removed. A profile the user
/// already defined in the config file is theirs: we leave it and say so.
pub(super) fn write_profiles_config(
    config: &Config,
    source: &Source,
    identity: &Identity,
    files: &Files,
    also_keep: &BTreeSet<String>,
) -> Result<(), Error> {
    let mut configured: BTreeSet<String> = config.roles.iter().map(|r| r.profile.clone()).collect();
    configured.extend(also_keep.iter().cloned());
    let process = match &files.shadowed {
        Some(user_file) => {
            prune(user_file, files.owner.as_ref())?;
            Some(files::process_command(source, &files.credentials)?)
        }
        None => None,
    };
    let sections: Vec<Section> = config
        .roles
        .iter()
        .map(|r| {
            let mut entries = vec![(
                "region".to_owned(),
                r.region.clone().unwrap_or_else(|| identity.region.clone()),
            )];
            if let Some(command) = &process {
                entries.push((
                    "credential_process".to_owned(),
                    format!("{command} --profile {}", r.profile),
                ));
            }
            Section {
                profile: r.profile.clone(),
                entries,
            }
        })
        .collect();
    let plan = Plan {
        kind: FileKind::Config,
        write: &sections,
        configured: &configured,
        replace_unmanaged: config.credentials.replace_unmanaged,
    };
    let outcome = update(
        &files.config,
        files.owner.as_ref(),
        &plan,
        "AWS config file",
    )?;
    for profile in &outcome.conflicts {
        warn!(
            message_id = message_id::PROFILE_CONFLICT,
            profile = %profile,
            file = %files.config.display(),
            "[profile {profile}] already exists in {} and was not written by ec2-assume-role; \
             leaving its settings (and region) as they are",
            files.config.display()
        );
    }
    Ok(())
}

/// Removes every section we manage from `path` (the user's credentials file, when the keys
/// live in the cache file instead).
pub(super) fn prune(path: &Path, owner: Option<&Owner>) -> Result<(), Error> {
    let plan = Plan {
        kind: FileKind::Credentials,
        write: &[],
        configured: &BTreeSet::new(),
        replace_unmanaged: false,
    };
    let outcome = update(path, owner, &plan, "credentials file")?;
    for profile in &outcome.removed {
        info!(
            message_id = message_id::PROFILE_REMOVED,
            profile = %profile,
            file = %path.display(),
            "removed static keys of profile {profile} from {}: credential_process serves it now",
            path.display()
        );
    }
    Ok(())
}

/// Applies `plan` to the file at `path` atomically; `what` names the file in the error.
pub(super) fn update(
    path: &Path,
    owner: Option<&Owner>,
    plan: &Plan,
    what: &'static str,
) -> Result<credfile::Outcome, Error> {
    fileio::update(path, owner, |old| {
        let o = credfile::apply(old, plan);
        (o.text.clone(), o)
    })
    .map_err(|source| Error::FileNotWritten {
        what,
        path: path.to_owned(),
        source,
    })
}

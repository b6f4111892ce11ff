//! The file side of the agent: per refresh, for each destination (`[credentials]`, each
//! `[[user]]`), one atomic update of its credentials file (or the cache file with
//! `credential_process = true`) and one of its AWS config file, each reporting what it
//! removed and what it refused to overwrite. One destination's failure never stops another's
//! write. It calls no AWS API.

use super::*;
use std::path::PathBuf;

impl Agent {
    /// The second half of `refresh`: writes what `assume` returned for `indices`, one update
    /// of each destination's credentials file, whatever happened to the others: one user's
    /// broken home never stops another's write. The daemon calls the halves apart so that
    /// signals and watchdog pings are served while STS is slow, and so that a stop never
    /// interrupts a write. `Err` only when no destination could be written (the error of the
    /// first; the others are reported here); a role some of whose files could not be written
    /// comes back `NotWritten`, each file's error reported here.
    pub fn write(
        &self,
        indices: &[usize],
        results: Vec<Result<sts::Assumed, sts::Error>>,
        expired: &BTreeSet<String>,
    ) -> Result<Vec<RoleOutcome>, Error> {
        let roles: Vec<&Role> = indices.iter().map(|&i| &self.config.roles[i]).collect();
        for (role, result) in roles.iter().zip(&results) {
            if let Err(err) = result {
                log_failure(role, err);
            }
        }
        let drop: BTreeSet<&String> = roles
            .iter()
            .zip(&results)
            .filter(|(role, result)| result.is_err() && expired.contains(&role.profile))
            .map(|(role, _)| &role.profile)
            .collect();

        // Per role (by position in `roles`): the files it could not be written to, and
        // whether an unmanaged section was in its way in any.
        let mut unwritten: Vec<Vec<PathBuf>> = vec![Vec::new(); roles.len()];
        let mut conflicted = vec![false; roles.len()];
        let mut errors = Vec::new();
        for dest in &self.destinations {
            let path = &dest.files.credentials;
            match self.write_destination(dest, &roles, &results, &drop) {
                Ok(conflicts) => {
                    for (i, role) in roles.iter().enumerate() {
                        if role.goes_to(&dest.name) && conflicts.contains(&role.profile) {
                            conflicted[i] = true;
                        }
                    }
                }
                Err(err) => {
                    for (i, role) in roles.iter().enumerate() {
                        if role.goes_to(&dest.name) {
                            unwritten[i].push(path.clone());
                        }
                    }
                    errors.push(err);
                }
            }
        }
        settle(errors, self.destinations.len())?;

        let mut outcomes = Vec::with_capacity(roles.len());
        for (i, (role, result)) in roles.iter().zip(results).enumerate() {
            outcomes.push(match result {
                Err(err) => RoleOutcome::Failed(err),
                Ok(_) if conflicted[i] => RoleOutcome::Conflict,
                Ok(_) if !unwritten[i].is_empty() => {
                    RoleOutcome::NotWritten(std::mem::take(&mut unwritten[i]))
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

    /// One update of `dest`'s credentials file: the sections of the roles that go there,
    /// minus the managed sections of profiles no longer configured for it and of `drop`.
    /// Returns the profiles an unmanaged section kept out (each reported here).
    fn write_destination(
        &self,
        dest: &Destination,
        roles: &[&Role],
        results: &[Result<sts::Assumed, sts::Error>],
        drop: &BTreeSet<&String>,
    ) -> Result<BTreeSet<String>, Error> {
        let path = &dest.files.credentials;
        let sections: Vec<Section> = roles
            .iter()
            .zip(results)
            .filter(|(role, _)| role.goes_to(&dest.name))
            .filter_map(|(role, result)| {
                let a = result.as_ref().ok()?;
                Some(credfile::credentials_section(&role.profile, &a.credentials))
            })
            .collect();
        let mut keep: BTreeSet<String> = self
            .config
            .roles
            .iter()
            .filter(|r| r.goes_to(&dest.name))
            .map(|r| r.profile.clone())
            .filter(|p| !drop.contains(p))
            .collect();
        keep.extend(self.unknown_but_kept(path, FileKind::Credentials));
        let plan = Plan {
            kind: FileKind::Credentials,
            write: &sections,
            configured: &keep,
            replace_unmanaged: self.config.credentials.replace_unmanaged,
        };
        let written = update(path, dest.files.owner.as_ref(), &plan, "credentials file")?;
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
        for profile in &written.conflicts {
            error!(
                message_id = message_id::PROFILE_CONFLICT,
                profile = %profile,
                file = %path.display(),
                "profile {profile} already exists in {} and was not written by ec2-assume-role; \
                 not overwriting it (rename one of them, or set replace_unmanaged = true \
                 in [credentials])",
                path.display()
            );
        }
        Ok(written.conflicts.into_iter().collect())
    }

    /// Writes each configured profile's settings in each destination's AWS config file. As
    /// `write`: one destination's failure does not stop the others; `Err` only when none
    /// could be written (the first error; the others are reported here), else the files that
    /// could not be (each error reported here).
    pub fn write_profiles_config(&self) -> Result<Vec<PathBuf>, Error> {
        let mut errors = Vec::new();
        let mut unwritten = Vec::new();
        for dest in &self.destinations {
            let keep = self.unknown_but_kept(&dest.files.config, FileKind::Config);
            if let Err(err) =
                write_profiles_config(&self.config, &self.source, &self.identity, dest, &keep)
            {
                unwritten.push(dest.files.config.clone());
                errors.push(err);
            }
        }
        settle(errors, self.destinations.len())?;
        Ok(unwritten)
    }
}

/// The errors of writing `tried` destinations' files: the first as `Err` when every one
/// failed (the others reported here), else each reported here, so that one destination's
/// failure never hides the others' writes.
fn settle(mut errors: Vec<Error>, tried: usize) -> Result<(), Error> {
    if !errors.is_empty() && errors.len() == tried {
        let first = errors.remove(0);
        errors.iter().for_each(Error::report);
        return Err(first);
    }
    errors.iter().for_each(Error::report);
    Ok(())
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
    dest: &Destination,
    also_keep: &BTreeSet<String>,
) -> Result<(), Error> {
    let files = &dest.files;
    let mine = || config.roles.iter().filter(|r| r.goes_to(&dest.name));
    let mut configured: BTreeSet<String> = mine().map(|r| r.profile.clone()).collect();
    configured.extend(also_keep.iter().cloned());
    let process = match &files.shadowed {
        Some(user_file) => {
            prune(user_file, files.owner.as_ref())?;
            Some(files::process_command(source, &files.credentials)?)
        }
        None => None,
    };
    let sections: Vec<Section> = mine()
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

//! The one-shot job behind `run` and `check`: config, identity, AssumeRole for every role,
//! then one atomic update of the credentials file and one of the AWS config file.
//!
//! Order matters and is the safety argument: the config is validated before any network
//! call; the identity is verified before any STS call; nothing is written until every role
//! has an outcome, and then each file is written once. One role's failure is that role's:
//! its old section (still-valid credentials) stays, and the others are written.
//!
//! At most `[sts] max_concurrency` AssumeRole calls are in flight, and the first refresh of a
//! process (`run`, or the daemon's first) may wait `[sts] boot_jitter_seconds` first.

use crate::cli::Exit;
use crate::config::{self, Config, Placeholders, Role};
use crate::credfile::{self, FileKind, Plan, Section};
use crate::creds::{rfc3339, TemporaryCredentials};
use crate::fileio::{self, Owner};
use crate::imds::{self, Identity, Imds};
use crate::logging::{message_id, SUMMARY};
use crate::retry::Policy;
use crate::source::{self, Source};
use crate::sts::{self, Sts};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

/// Set by the first refresh of this process: only it waits the boot jitter, so that a reload
/// of the daemon (a new `Agent`) does not wait again.
static BOOT_WAIT_DONE: AtomicBool = AtomicBool::new(false);

/// The outcome of one role in one refresh.
#[derive(Debug)]
pub enum RoleOutcome {
    /// Assumed and written to the credentials file.
    Written {
        expiration: OffsetDateTime,
        assumed_role_arn: String,
    },
    /// AssumeRole failed; any old section of the profile stays as it was.
    Failed(sts::Error),
    /// An unmanaged section of that name is in the way (and `replace_unmanaged` is off).
    Conflict,
}

/// A verified instance, ready to assume its roles: what `run` does once and the daemon on
/// every refresh.
pub struct Agent {
    pub config: Config,
    /// Where `config` came from (what `credential_process` passes on as `--config`).
    pub source: Source,
    /// The SSM parameter's version, for a config from Parameter Store.
    pub version: Option<i64>,
    files: Files,
    http: SharedHttpClient,
    imds: Imds,
    pub identity: Identity,
}

impl Agent {
    /// Loads the config and verifies the instance identity: everything before any STS call.
    /// A config in SSM Parameter Store needs the identity (placeholders, region) and the
    /// instance-profile credentials first; it is verified against the identity all the same.
    pub async fn start(source: &Source, wait: Duration) -> Result<Agent, Exit> {
        let http = crate::http::client();
        let imds = Imds::new(http.clone(), wait);
        let (config, version, identity) = match source {
            Source::File(path) => (load_config(path)?, None, None),
            Source::Ssm(parameter) => {
                let identity = read_identity(&imds).await?;
                let (config, version) = fetch_config(&http, &imds, &identity, parameter).await?;
                (config, Some(version), Some(identity))
            }
        };
        let files = Files::resolve(&config)?;
        let identity = match identity {
            Some(identity) => identity,
            None => read_identity(&imds).await?,
        };
        verify_identity(&config, &identity)?;
        Ok(Agent {
            config,
            source: source.clone(),
            version,
            files,
            http,
            imds,
            identity,
        })
    }

    /// Assumes the roles at `indices` of the config and writes them in one update of the
    /// credentials file. Managed sections of profiles no longer configured are removed, and
    /// so are those in `expired` whose refresh fails now (expired credentials would only fail
    /// later with a confusing error); every other configured profile keeps its section.
    /// Outcomes come back in `indices` order.
    pub async fn refresh(
        &self,
        indices: &[usize],
        expired: &BTreeSet<String>,
    ) -> Result<Vec<RoleOutcome>, Exit> {
        let results = if indices.is_empty() {
            // Nothing to assume: only prune sections of roles no longer configured.
            Vec::new()
        } else {
            self.assume(indices, Policy::STS).await?
        };
        self.write(indices, results, expired)
    }

    /// The second half of `refresh`: writes what `assume` returned for `indices` in one
    /// update of the credentials file. The daemon calls the halves apart so that signals and
    /// watchdog pings are served while STS is slow, and so that a stop never interrupts a write.
    pub fn write(
        &self,
        indices: &[usize],
        results: Vec<Result<sts::Assumed, sts::Error>>,
        expired: &BTreeSet<String>,
    ) -> Result<Vec<RoleOutcome>, Exit> {
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
        let keep: BTreeSet<String> = self
            .config
            .roles
            .iter()
            .map(|r| r.profile.clone())
            .filter(|p| !drop.contains(p))
            .collect();
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

    /// Assumes one role without writing anything (for `credential-process`).
    pub async fn assume_one(&self, index: usize) -> Result<TemporaryCredentials, Exit> {
        let role = &self.config.roles[index];
        // An AWS client waits on this call: no boot jitter.
        match self.assume_now(&[index], Policy::STS).await?.pop() {
            Some(Ok(assumed)) => Ok(assumed.credentials),
            Some(Err(err)) => {
                log_failure(role, &err);
                Err(Exit::SomeRolesFailed)
            }
            None => Err(Exit::Other),
        }
    }

    /// Assumes the roles at `indices` with the current instance-profile credentials, retrying
    /// each under `policy`. Writes nothing. The first call in this process waits a random part
    /// of `[sts] boot_jitter_seconds` first.
    pub async fn assume(
        &self,
        indices: &[usize],
        policy: Policy,
    ) -> Result<Vec<Result<sts::Assumed, sts::Error>>, Exit> {
        let max = self.config.sts.boot_jitter_seconds;
        if !BOOT_WAIT_DONE.swap(true, Ordering::Relaxed) && max > 0 {
            let wait = boot_wait(max, fastrand::f64());
            info!(
                "waiting {:.1} s before the first STS call (boot_jitter_seconds = {max})",
                wait.as_secs_f64()
            );
            tokio::time::sleep(wait).await;
        }
        self.assume_now(indices, policy).await
    }

    async fn assume_now(
        &self,
        indices: &[usize],
        policy: Policy,
    ) -> Result<Vec<Result<sts::Assumed, sts::Error>>, Exit> {
        let roles: Vec<&Role> = indices.iter().map(|&i| &self.config.roles[i]).collect();
        let limit = self.config.sts.max_concurrency;
        let sts = self.sts().await?;
        let mut results = assume_all(&roles, &self.identity, &sts, policy, limit).await;
        // The instance-profile credentials rotated after we read them: read the new ones and
        // try those roles once more with them.
        let stale: Vec<usize> = (0..results.len())
            .filter(|&i| matches!(&results[i], Err(e) if e.instance_credentials_expired()))
            .collect();
        if !stale.is_empty() {
            info!(
                "STS says the instance-profile credentials expired; reading the new ones from \
                 IMDS and retrying {} role(s)",
                stale.len()
            );
            let sts = self.sts().await?;
            let again: Vec<&Role> = stale.iter().map(|&i| roles[i]).collect();
            let retried = assume_all(&again, &self.identity, &sts, policy, limit).await;
            for (i, result) in stale.into_iter().zip(retried) {
                results[i] = result;
            }
        }
        Ok(results)
    }

    /// An STS client signing with the instance-profile credentials IMDS serves now (they
    /// rotate, so they are read every time).
    async fn sts(&self) -> Result<Arc<Sts>, Exit> {
        let instance = instance_credentials(&self.imds, &self.identity).await?;
        Ok(Arc::new(
            Sts::new(self.http.clone(), &instance, &self.identity.region).await,
        ))
    }

    /// Writes each configured profile's settings in the AWS config file.
    pub fn write_profiles_config(&self) -> Result<(), Exit> {
        write_profiles_config(&self.config, &self.source, &self.identity, &self.files)
    }

    pub fn credentials_file(&self) -> &Path {
        &self.files.credentials
    }
}

fn log_failure(role: &Role, err: &sts::Error) {
    error!(
        message_id = message_id::ROLE_FAILED,
        profile = %role.profile,
        role_arn = %role.role_arn,
        error_code = %err.code,
        "could not assume {} for profile {}: {err}",
        role.role_arn,
        role.profile
    );
}

/// `ec2-assume-role run`.
pub async fn run(source: &Source, wait: Duration) -> Exit {
    let agent = match Agent::start(source, wait).await {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    let all: Vec<usize> = (0..agent.config.roles.len()).collect();
    let outcomes = match agent.refresh(&all, &BTreeSet::new()).await {
        Ok(o) => o,
        Err(exit) => return exit,
    };
    if let Err(exit) = agent.write_profiles_config() {
        return exit;
    }
    let total = outcomes.len();
    let failed = outcomes
        .iter()
        .filter(|o| !matches!(o, RoleOutcome::Written { .. }))
        .count();
    let written = total - failed;
    let file = agent.credentials_file();
    info!(
        target: SUMMARY,
        message_id = message_id::RUN_SUMMARY,
        written,
        failed,
        file = %file.display(),
        "wrote {written} of {total} profiles to {}{}",
        file.display(),
        if failed > 0 { format!("; {failed} failed") } else { String::new() }
    );
    if failed > 0 {
        Exit::SomeRolesFailed
    } else {
        Exit::Ok
    }
}

/// `ec2-assume-role check`: the config, and with `imds_wait` the instance identity too. A
/// config in SSM Parameter Store can only be read through IMDS, so its check always verifies
/// the identity as well.
pub async fn check(source: &Source, imds_wait: Option<Duration>, wait: Duration) -> Exit {
    let (config, files) = match source {
        Source::File(path) => {
            let config = match load_config(path) {
                Ok(c) => c,
                Err(exit) => return exit,
            };
            let files = match Files::resolve(&config) {
                Ok(f) => f,
                Err(exit) => return exit,
            };
            if let Some(wait) = imds_wait {
                let imds = Imds::new(crate::http::client(), wait);
                if let Err(exit) = verified_identity(&imds, &config).await {
                    return exit;
                }
            }
            (config, files)
        }
        Source::Ssm(_) => match Agent::start(source, imds_wait.unwrap_or(wait)).await {
            Ok(agent) => (agent.config, agent.files),
            Err(exit) => return exit,
        },
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
    Exit::Ok
}

/// The config from `source`, without verifying the identity (for `status` and
/// `credential-process`, which read files or verify later). A parameter in SSM is read
/// through IMDS with the instance-profile credentials, waiting up to `wait` for IMDS.
pub async fn load(source: &Source, wait: Duration) -> Result<Config, Exit> {
    match source {
        Source::File(path) => load_config(path),
        Source::Ssm(parameter) => {
            let http = crate::http::client();
            let imds = Imds::new(http.clone(), wait);
            let identity = read_identity(&imds).await?;
            Ok(fetch_config(&http, &imds, &identity, parameter).await?.0)
        }
    }
}

/// Loads the config, logging each problem; `Exit::ConfigInvalid` when there is any.
pub fn load_config(path: &Path) -> Result<Config, Exit> {
    // As root, a config another user can edit would let them choose where root writes.
    if let Err(err) = fileio::check_trusted(path) {
        if path.exists() {
            error!(
                message_id = message_id::CONFIG_INVALID,
                "invalid config: {err}"
            );
            return Err(Exit::ConfigInvalid);
        }
    }
    config::load(path).map_err(|errors| {
        for err in &errors.errors {
            error!(
                message_id = message_id::CONFIG_INVALID,
                "invalid config: {err}"
            );
        }
        Exit::ConfigInvalid
    })
}

async fn verified_identity(imds: &Imds, config: &Config) -> Result<Identity, Exit> {
    let identity = read_identity(imds).await?;
    verify_identity(config, &identity)?;
    Ok(identity)
}

async fn read_identity(imds: &Imds) -> Result<Identity, Exit> {
    imds.identity().await.map_err(|err| {
        error!(
            message_id = message_id::IMDS_UNAVAILABLE,
            "reading the instance identity: {err}"
        );
        Exit::ImdsUnavailable
    })
}

fn verify_identity(config: &Config, identity: &Identity) -> Result<(), Exit> {
    if let Err(mismatch) = imds::verify(&config.instance, identity) {
        error!(
            message_id = message_id::IDENTITY_REFUSED,
            instance_role = %identity.role_name,
            instance_profile_arn = %identity.instance_profile_arn,
            "{mismatch} (config {})",
            config.path.display()
        );
        return Err(Exit::IdentityRefused);
    }
    info!(
        message_id = message_id::IDENTITY_VERIFIED,
        instance_id = %identity.instance_id,
        account_id = %identity.account_id,
        instance_role = %identity.role_name,
        region = %identity.region,
        "instance {} in account {} runs as {}",
        identity.instance_id,
        identity.account_id,
        identity.role_name
    );
    Ok(())
}

/// The instance-profile credentials IMDS serves now (they rotate: read them every time).
async fn instance_credentials(
    imds: &Imds,
    identity: &Identity,
) -> Result<TemporaryCredentials, Exit> {
    imds.role_credentials(&identity.role_name)
        .await
        .map_err(|err| {
            error!(
                message_id = message_id::IMDS_UNAVAILABLE,
                "reading the instance-profile credentials: {err}"
            );
            Exit::ImdsUnavailable
        })
}

/// Reads the config from SSM Parameter Store with the instance-profile credentials and parses
/// it; errors are logged. Returns the config and the parameter's version.
async fn fetch_config(
    http: &SharedHttpClient,
    imds: &Imds,
    identity: &Identity,
    parameter: &source::Parameter,
) -> Result<(Config, i64), Exit> {
    let instance = instance_credentials(imds, identity).await?;
    let name = parameter.resolve(identity);
    let fetched = source::fetch(http.clone(), &instance, identity, &name, source::POLICY)
        .await
        .map_err(|err| {
            error!(
                message_id = message_id::CONFIG_UNAVAILABLE,
                parameter = %name,
                "reading the config: {err}"
            );
            Exit::ConfigUnavailable
        })?;
    let config = config::parse(&fetched.text, Path::new(&fetched.label)).map_err(|errors| {
        for err in &errors.errors {
            error!(
                message_id = message_id::CONFIG_INVALID,
                parameter = %name,
                version = fetched.version,
                "invalid config (version {}): {err}",
                fetched.version
            );
        }
        Exit::ConfigInvalid
    })?;
    info!(
        message_id = message_id::CONFIG_LOADED,
        parameter = %name,
        version = fetched.version,
        "read the config from {} (version {}, {} roles)",
        fetched.label,
        fetched.version,
        config.roles.len()
    );
    Ok((config, fetched.version))
}

/// A uniform wait in 0..`max_seconds` from `random_unit` (0..1).
fn boot_wait(max_seconds: u64, random_unit: f64) -> Duration {
    Duration::from_secs(max_seconds).mul_f64(random_unit.clamp(0.0, 1.0))
}

/// Assumes `roles`, at most `concurrency` at once (a permit is held across a role's retries
/// too); outcomes in the same order.
async fn assume_all(
    roles: &[&Role],
    identity: &Identity,
    sts: &Arc<Sts>,
    policy: Policy,
    concurrency: usize,
) -> Vec<Result<sts::Assumed, sts::Error>> {
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let placeholders = Placeholders {
        instance_id: &identity.instance_id,
        account_id: &identity.account_id,
    };
    let mut tasks = Vec::with_capacity(roles.len());
    for role in roles {
        let request = role
            .session_name(&placeholders)
            .map(|session| sts::Request {
                role_arn: role.role_arn.clone(),
                role_session_name: session,
                duration_seconds: role.duration_seconds,
                region: role
                    .region
                    .clone()
                    .unwrap_or_else(|| identity.region.clone()),
                external_id: role.external_id.clone(),
                source_identity: role.source_identity.clone(),
                tags: role.tags.clone(),
            });
        let sts = Arc::clone(sts);
        let limit = Arc::clone(&limit);
        tasks.push(tokio::spawn(async move {
            let request = request.map_err(|e| sts::Error {
                code: "InvalidSessionName".into(),
                message: e.to_string(),
                request_id: None,
                retryable: false,
            })?;
            let _permit = limit.acquire_owned().await;
            sts.assume(&request, policy).await
        }));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.unwrap_or_else(|join| {
            Err(sts::Error {
                code: "Internal".into(),
                message: join.to_string(),
                request_id: None,
                retryable: false,
            })
        }));
    }
    outcomes
}

/// Writes `[profile NAME]` in the AWS config file for each configured role: its `region`,
/// and with `credential_process = true` the command that serves its credentials. In that
/// mode the user's credentials file must hold no static keys of ours (they would shadow
/// `credential_process`), so sections we wrote there earlier are removed. A profile the user
/// already defined in the config file is theirs: we leave it and say so.
fn write_profiles_config(
    config: &Config,
    source: &Source,
    identity: &Identity,
    files: &Files,
) -> Result<(), Exit> {
    let configured: BTreeSet<String> = config.roles.iter().map(|r| r.profile.clone()).collect();
    let process = match &files.shadowed {
        Some(user_file) => {
            prune(user_file, files.owner.as_ref())?;
            Some(process_command(source, &files.credentials)?)
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
fn prune(path: &Path, owner: Option<&Owner>) -> Result<(), Exit> {
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
fn update(
    path: &Path,
    owner: Option<&Owner>,
    plan: &Plan,
    what: &str,
) -> Result<credfile::Outcome, Exit> {
    fileio::update(path, owner, |old| {
        let o = credfile::apply(old, plan);
        (o.text.clone(), o)
    })
    .map_err(|err| {
        error!(
            message_id = message_id::FILE_WRITE_FAILED,
            file = %path.display(),
            "writing the {what}: {err}"
        );
        Exit::FileNotWritten
    })
}

/// `credential_process` command for this binary and config, up to `--profile`. AWS clients run
/// it through a shell (the Rust SDK) or split it like one (botocore), so quote what needs it.
/// A config from SSM is passed on as `ssm:NAME`, placeholders and all. `--cache` names the file
/// the keys are in, which `credential-process` reads before (and usually instead of) the config.
fn process_command(source: &Source, cache: &Path) -> Result<String, Exit> {
    let exe = std::env::current_exe().map_err(|err| {
        error!("finding this program's own path for credential_process: {err}");
        Exit::Other
    })?;
    let config = match source {
        Source::File(path) => std::path::absolute(path)
            .unwrap_or_else(|_| path.to_owned())
            .display()
            .to_string(),
        Source::Ssm(_) => source.to_string(),
    };
    let quote = |s: String| {
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c))
        {
            s
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    Ok(format!(
        "{} credential-process --config {} --cache {}",
        quote(exe.display().to_string()),
        quote(config),
        quote(cache.display().to_string())
    ))
}

/// The files a run writes and who must own them.
pub struct Files {
    /// Where the keys go: the credentials file, or with `credential_process = true` the cache
    /// file beside it that `credential-process` reads.
    pub credentials: PathBuf,
    pub config: PathBuf,
    pub owner: Option<Owner>,
    /// With `credential_process = true`: the user's credentials file, which must not hold
    /// keys of ours.
    pub shadowed: Option<PathBuf>,
}

/// The cache file's name, beside the credentials file.
pub const CACHE_FILE: &str = "ec2-assume-role-cache";

impl Files {
    /// Resolves the defaults of `[credentials]`; an unknown `owner` is a config error.
    pub fn resolve(config: &Config) -> Result<Files, Exit> {
        let owner = match &config.credentials.owner {
            Some(name) => Some(Owner::lookup(name).map_err(|err| {
                error!(
                    message_id = message_id::CONFIG_INVALID,
                    "invalid config: {}: [credentials] owner: {err}",
                    config.path.display()
                );
                Exit::ConfigInvalid
            })?),
            None => None,
        };
        let credentials = match (&config.credentials.file, &owner) {
            (Some(file), _) => file.clone(),
            (None, Some(owner)) => owner.home.join(".aws/credentials"),
            (None, None) => Owner::current()
                .map_err(|err| {
                    error!("finding the home directory of the running user: {err}");
                    Exit::Other
                })?
                .home
                .join(".aws/credentials"),
        };
        let config_file = config.credentials.config_file.clone().unwrap_or_else(|| {
            credentials
                .parent()
                .unwrap_or(Path::new("/"))
                .join("config")
        });
        let (credentials, shadowed) = if config.credentials.credential_process {
            let cache = credentials.with_file_name(CACHE_FILE);
            (cache, Some(credentials))
        } else {
            (credentials, None)
        };
        Ok(Files {
            credentials,
            config: config_file,
            owner,
            shadowed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_wait_spans_zero_to_the_maximum() {
        for (max, random, want_ms) in [
            (0, 0.7, 0),
            (10, 0.0, 0),
            (10, 0.25, 2500),
            (300, 1.0, 300_000),
            (5, 7.0, 5000),
        ] {
            assert_eq!(
                boot_wait(max, random),
                Duration::from_millis(want_ms),
                "{max} {random}"
            );
        }
    }
}

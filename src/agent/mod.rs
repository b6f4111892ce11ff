//! The one-shot job that `run` does once and the daemon on every refresh: a verified instance
//! (config loaded, identity checked) assumes its roles, then one atomic update of the
//! credentials file and one of the AWS config file of each destination (`[credentials]`,
//! each `[[user]]`); a role is assumed once however many destinations it goes to.
//!
//! Order matters and is the safety argument: the config is validated before any network
//! call; the identity is verified before any STS call; nothing is written until every role
//! has an outcome, and then each file is written once. One role's failure is that role's:
//! its old section (still-valid credentials) stays, and the others are written.
//!
//! At most `[sts] max_concurrency` AssumeRole calls are in flight, and the first refresh of a
//! process (`run`, or the daemon's first) may wait `[sts] boot_jitter_seconds` first.
//!
//! Role chaining: a role with `source_profile` is signed with its source's credentials, which
//! the agent keeps in memory from the source's last AssumeRole (never read back from a file).
//! A batch assumes sources before their dependents, level by level from the instance
//! credentials; `plan` adds to a batch every source whose credentials are missing or would
//! expire within `SOURCE_MARGIN`, so that no call is signed with credentials that expire
//! before it ends. A source that fails fails its dependents, each naming the source.
//!
//! Discovered role sets (`[role_set.organization]`) are expanded in `start`, before any STS
//! call but the one a reader role may need.
//!
//! This file holds the agent and its start; `assume` the AssumeRole side (batches, chains,
//! sources), `write` the file side, `discover` the accounts from AWS Organizations.

use crate::agent::error::Error;
use crate::aws::imds::{self, Identity, Imds};
use crate::aws::org;
use crate::aws::retry::Policy;
use crate::aws::sts::{self, Sts};
use crate::base::creds::{rfc3339, TemporaryCredentials};
use crate::base::logging::message_id;
use crate::config::{Config, DiscoveredSet, Placeholders, Role};
use crate::store::credfile::{self, FileKind, Plan, Section};
use crate::store::discovery;
use crate::store::fileio::{self, Owner};
use crate::store::lastgood::Copy;
use crate::{aws::shared, aws::ssm};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use files::Destination;
use source::{Keep, Loaded, Read, Source};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

mod assume;
mod discover;
pub mod error;
pub mod files;
pub mod source;
mod write;

/// How old the cache of a discovered set may be and still be used instead of asking
/// Organizations: at a process start (a reboot), a whole rediscovery interval; at a reload of
/// the daemon, 80% of it, so that the reload timer lists the accounts about once an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rediscover {
    IfStale,
    Now,
}

/// Whether an `assume` may first wait `[sts] boot_jitter_seconds`: only the first refresh of a
/// process does, so that a daemon's reloads and later refreshes never wait again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootJitter {
    Wait,
    No,
}

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
    /// Assumed, but these of its files could not be written (each error was reported); the
    /// others were.
    NotWritten(Vec<std::path::PathBuf>),
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
    /// The kept copy of the SSM config this agent runs on, until SSM is read (`lastgood`).
    pub kept: Option<Copy>,
    /// Where the profiles go: `[credentials]`' files and each `[[user]]`'s.
    pub destinations: Vec<Destination>,
    http: SharedHttpClient,
    imds: Imds,
    pub identity: Identity,
    /// The credentials of each role that signs another (its source_profile), as last assumed.
    sources: Mutex<HashMap<String, TemporaryCredentials>>,
    /// The discovered role sets whose accounts are unknown (Organizations failed, no cache).
    pub undiscovered: Vec<String>,
    /// On the fleet's publisher: the discovered role sets whose accounts could not be
    /// published to their shared parameter.
    pub unpublished: Vec<String>,
    /// Each STS attempt is given up after this (`doctor`); `None`: the usual timeouts.
    quick: Option<Duration>,
}

/// A source's credentials sign a dependent's call only with more than this left: a call and
/// its retries take up to `Policy::STS.deadline` (a minute), and the margin covers a clock
/// that is off by a little.
pub const SOURCE_MARGIN: time::Duration = time::Duration::minutes(5);

type Assumed = Result<sts::Assumed, sts::Error>;

impl Agent {
    /// Loads the config and verifies the instance identity: everything before any STS call.
    /// A config in SSM Parameter Store needs the identity (placeholders, region) and the
    /// instance-profile credentials first; it is verified against the identity all the same.
    pub async fn start(source: &Source, wait: Duration) -> Result<Agent, Error> {
        Agent::start_discovering(source, wait, Rediscover::IfStale, None).await
    }

    /// `start` for `run` and the daemon: a config from SSM is kept on disk, and the kept copy
    /// may stand in for SSM (`source::load_kept`). A kept copy that names another instance
    /// role or account is set aside and SSM read instead.
    pub async fn boot(source: &Source, wait: Duration, keep: &Keep) -> Result<Agent, Error> {
        let read = Some((keep, Read::Start));
        Agent::start_discovering(source, wait, Rediscover::IfStale, read).await
    }

    /// `start` for a reload of the daemon: discovered sets are listed anew unless the cache
    /// is younger than 80% of the rediscovery interval (see `Rediscover`); a config from SSM
    /// is read from SSM (and kept).
    pub async fn reload(source: &Source, wait: Duration, keep: &Keep) -> Result<Agent, Error> {
        Agent::start_discovering(source, wait, Rediscover::Now, Some((keep, Read::Reload))).await
    }

    async fn start_discovering(
        source: &Source,
        wait: Duration,
        rediscover: Rediscover,
        keep: Option<(&Keep, Read)>,
    ) -> Result<Agent, Error> {
        let http = crate::aws::http::client();
        let imds = Imds::new(http.clone(), wait);
        let mut keep = keep;
        let (config, version, identity, kept, destinations) = loop {
            let Loaded {
                config,
                version,
                identity,
                kept,
            } = match keep {
                Some((keep, read)) => source::load_kept(source, &http, &imds, keep, read).await?,
                None => source::load(source, &http, &imds).await?,
            };
            let destinations = Destination::resolve_all(&config)?;
            files::warn_env_mismatches(&destinations);
            let identity = match identity {
                Some(identity) => identity,
                None => source::read_identity(&imds).await?,
            };
            match (verify_identity(&config, &identity), keep) {
                (Ok(()), _) => break (config, version, identity, kept, destinations),
                // A kept copy that names another instance role or account (an image made on
                // another instance): set it aside and read SSM.
                (Err(Error::IdentityRefused { mismatch, .. }), Some((k, _))) if kept.is_some() => {
                    warn!(
                        "ignoring the kept copy of the config: it does not fit this instance \
                         ({mismatch}); reading SSM"
                    );
                    keep = Some((k, Read::StartWithoutCopy));
                }
                (Err(err), _) => return Err(err),
            }
        };
        let mut agent = Agent {
            config,
            source: source.clone(),
            version,
            kept,
            destinations,
            http,
            imds,
            identity,
            sources: Mutex::default(),
            undiscovered: Vec::new(),
            unpublished: Vec::new(),
            quick: None,
        };
        if !agent.config.discovered.is_empty() {
            agent.discover(rediscover).await?;
        }
        Ok(agent)
    }

    /// An agent for `doctor`, which tries the roles and writes nothing: the config is loaded
    /// and the identity read and verified by the caller (refused here all the same), nothing is
    /// discovered (a discovered set's roles are not tried), IMDS is waited for at most
    /// `imds_wait` and each STS attempt given up after `attempt`.
    pub fn checking(
        config: Config,
        source: &Source,
        identity: Identity,
        imds_wait: Duration,
        attempt: Duration,
    ) -> Result<Agent, Error> {
        refuse_another(&config, &identity)?;
        let destinations = Destination::resolve_all(&config)?;
        let http = crate::aws::http::client();
        Ok(Agent {
            config,
            source: source.clone(),
            version: None,
            kept: None,
            destinations,
            imds: Imds::new(http.clone(), imds_wait),
            http,
            identity,
            sources: Mutex::default(),
            undiscovered: Vec::new(),
            unpublished: Vec::new(),
            quick: Some(attempt),
        })
    }

    /// Assumes the roles at `indices` of the config and writes them in one update of the
    /// credentials file. Managed sections of profiles no longer configured are removed, and
    /// so are those in `expired` whose refresh fails now (expired credentials would only fail
    /// later with a confusing error); every other configured profile keeps its section.
    /// Outcomes come back in `indices` order. It is the first refresh of this process
    /// (`run`), so it may wait the boot jitter first.
    pub async fn refresh(
        &self,
        indices: &[usize],
        expired: &BTreeSet<String>,
    ) -> Result<Vec<RoleOutcome>, Error> {
        let results = if indices.is_empty() {
            // Nothing to assume: only prune sections of roles no longer configured.
            Vec::new()
        } else {
            self.assume(indices, Policy::STS, BootJitter::Wait).await?
        };
        self.write(indices, results, expired)
    }

    /// Assumes one role without writing anything (for `credential-process`).
    pub async fn assume_one(&self, index: usize) -> Result<TemporaryCredentials, Error> {
        let role = &self.config.roles[index];
        // An AWS client waits on this call: no boot jitter.
        let failed = Error::RolesFailed {
            failed: 1,
            total: 1,
        };
        match self.assume_with_chain(index).await? {
            Ok(assumed) => Ok(assumed.credentials),
            Err(err) => {
                log_failure(role, &err);
                Err(failed)
            }
        }
    }

    /// An STS client signing with the instance-profile credentials IMDS serves now (they
    /// rotate, so they are read every time).
    async fn sts(&self) -> Result<Arc<Sts>, Error> {
        let instance = source::instance_credentials(&self.imds, &self.identity).await?;
        let sts = Sts::new(
            self.http.clone(),
            &instance,
            &self.identity.region,
            &self.identity.role_arn(),
        )
        .await;
        Ok(Arc::new(self.timed(sts)))
    }

    /// `sts` with `doctor`'s short attempts, for an agent that is `checking`.
    fn timed(&self, sts: Sts) -> Sts {
        match self.quick {
            Some(attempt) => sts.quick(attempt),
            None => sts,
        }
    }

    /// Every destination's credentials file (or cache file), in destination order.
    pub fn credentials_files(&self) -> Vec<&Path> {
        self.destinations
            .iter()
            .map(|d| d.files.credentials.as_path())
            .collect()
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

/// Checks the identity against the config's `[instance]`: before any STS call.
pub fn verify_identity(config: &Config, identity: &Identity) -> Result<(), Error> {
    refuse_another(config, identity)?;
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

/// `verify_identity` without the event that says it was verified.
fn refuse_another(config: &Config, identity: &Identity) -> Result<(), Error> {
    imds::verify(&config.instance, identity).map_err(|mismatch| Error::IdentityRefused {
        mismatch,
        identity: Box::new(identity.clone()),
        config: config.path.clone(),
    })
}

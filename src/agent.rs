//! The one-shot job that `run` does once and the daemon on every refresh: a verified instance
//! (config loaded, identity checked) assumes its roles, then one atomic update of the
//! credentials file and one of the AWS config file.
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

use crate::config::{Config, DiscoveredSet, Placeholders, Role};
use crate::credfile::{self, FileKind, Plan, Section};
use crate::creds::{rfc3339, TemporaryCredentials};
use crate::discovery;
use crate::error::Error;
use crate::fileio::{self, Owner};
use crate::files::{self, Files};
use crate::imds::{self, Identity, Imds};
use crate::logging::message_id;
use crate::org;
use crate::retry::Policy;
use crate::source::{self, Loaded, Source};
use crate::sts::{self, Sts};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

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
    pub files: Files,
    http: SharedHttpClient,
    imds: Imds,
    pub identity: Identity,
    /// The credentials of each role that signs another (its source_profile), as last assumed.
    sources: Mutex<HashMap<String, TemporaryCredentials>>,
    /// The discovered role sets whose accounts are unknown (Organizations failed, no cache).
    pub undiscovered: Vec<String>,
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
        Agent::start_discovering(source, wait, Rediscover::IfStale).await
    }

    /// `start` for a reload of the daemon: discovered sets are listed anew unless the cache
    /// is younger than 80% of the rediscovery interval (see `Rediscover`).
    pub async fn reload(source: &Source, wait: Duration) -> Result<Agent, Error> {
        Agent::start_discovering(source, wait, Rediscover::Now).await
    }

    async fn start_discovering(
        source: &Source,
        wait: Duration,
        rediscover: Rediscover,
    ) -> Result<Agent, Error> {
        let http = crate::http::client();
        let imds = Imds::new(http.clone(), wait);
        let Loaded {
            config,
            version,
            identity,
        } = source::load(source, &http, &imds).await?;
        let files = Files::resolve(&config)?;
        let identity = match identity {
            Some(identity) => identity,
            None => source::read_identity(&imds).await?,
        };
        verify_identity(&config, &identity)?;
        let mut agent = Agent {
            config,
            source: source.clone(),
            version,
            files,
            http,
            imds,
            identity,
            sources: Mutex::default(),
            undiscovered: Vec::new(),
        };
        if !agent.config.discovered.is_empty() {
            agent.discover(rediscover).await?;
        }
        Ok(agent)
    }

    /// Expands the config's discovered role sets with their accounts from AWS Organizations,
    /// keeping what it found in the discovery cache; a set that cannot be discovered now
    /// keeps the accounts the cache has for it, and without those adds no roles (and is
    /// listed in `undiscovered`). Changes since the cache are one journal event per set.
    async fn discover(&mut self, rediscover: Rediscover) -> Result<(), Error> {
        let interval = self.config.rediscovery_seconds();
        // A reload (its timer spreads ±10%) lists anew once 80% of the interval has passed.
        let fresh_for = match rediscover {
            Rediscover::IfStale => interval,
            Rediscover::Now => interval / 5 * 4,
        };
        let now = OffsetDateTime::now_utc();
        let fresh = |k: &discovery::Known| {
            (now - k.discovered).whole_seconds() < i64::try_from(fresh_for).unwrap_or(i64::MAX)
        };
        let path = self.config.discovery.cache_file.clone();
        let mut cache = discovery::Cache::read(&path).unwrap_or_else(|why| {
            warn!(file = %path.display(), "not using the discovery cache: {why}");
            discovery::Cache {
                version: discovery::VERSION,
                ..Default::default()
            }
        });
        let before = cache.clone();
        let mut accounts = Vec::with_capacity(self.config.discovered.len());
        for set in self.config.discovered.clone() {
            let known = cache.get(&set).map(|k| k.accounts.clone());
            if let Some(k) = cache.get(&set).filter(|k| fresh(k)) {
                // A restart soon after a discovery (a reboot): Organizations is not asked again.
                info!(
                    role_set = %set.origin,
                    "{}: using the {} accounts discovered at {} (rediscovered every {interval} s)",
                    set.origin,
                    k.accounts.len(),
                    rfc3339(k.discovered)
                );
                accounts.push(k.accounts.clone());
                continue;
            }
            let found = match self.discover_set(&set).await {
                Ok(found) => {
                    report_changes(&set, known.as_deref(), &found);
                    let now = OffsetDateTime::now_utc();
                    let entry = discovery::Known {
                        accounts: found.clone(),
                        discovered: now,
                    };
                    cache.sets.insert(discovery::key(&set), entry);
                    found
                }
                Err(why) => match cache.get(&set) {
                    Some(k) => {
                        warn!(
                            message_id = message_id::ACCOUNTS_DISCOVERED,
                            role_set = %set.origin,
                            "{}: {why}; using the {} accounts discovered at {}",
                            set.origin,
                            k.accounts.len(),
                            rfc3339(k.discovered)
                        );
                        k.accounts.clone()
                    }
                    None => {
                        error!(
                            message_id = message_id::ACCOUNTS_DISCOVERED,
                            role_set = %set.origin,
                            "{}: {why}; no accounts were discovered before, so its profiles \
                             cannot be written yet (those already written are kept)",
                            set.origin
                        );
                        self.undiscovered.push(set.origin.clone());
                        Vec::new()
                    }
                },
            };
            accounts.push(found);
        }
        if cache != before {
            if let Err(err) = cache.write(&path) {
                warn!(file = %path.display(), "writing the discovery cache: {err}");
            }
        }
        let (config, shadowed) = self.config.expand(&accounts);
        for profile in shadowed {
            warn!(
                profile = %profile,
                "a discovered account's profile {profile} is also a written [[role]]'s; the \
                 written one is kept"
            );
        }
        self.config = config;
        Ok(())
    }

    /// The accounts of one discovered set, signed with its `organization.source_profile`'s
    /// credentials (assumed first) or the instance's; the error says why not.
    async fn discover_set(&self, set: &DiscoveredSet) -> Result<Vec<String>, String> {
        let o = &set.organization;
        let signer = match &o.source_profile {
            None => source::instance_credentials(&self.imds, &self.identity)
                .await
                .map_err(|e| format!("listing its accounts: {e}"))?,
            Some(profile) => {
                let index = self.config.roles.iter().position(|r| &r.profile == profile);
                let index = index.ok_or_else(|| format!("no role writes profile {profile}"))?;
                let plan = self.plan(&[index], OffsetDateTime::now_utc());
                let results = self
                    .assume(&plan, Policy::STS, BootJitter::No)
                    .await
                    .map_err(|e| format!("listing its accounts: {e}"))?;
                let at = plan.iter().position(|&i| i == index).unwrap_or_default();
                match results.into_iter().nth(at) {
                    Some(Ok(assumed)) => assumed.credentials,
                    Some(Err(err)) => {
                        return Err(format!(
                            "listing its accounts needs organization.source_profile {profile}, \
                             which could not be assumed ({err})"
                        ))
                    }
                    None => return Err(format!("{profile} was not assumed")),
                }
            }
        };
        let query = org::Query {
            ous: &o.ous,
            include_management_account: o.include_management_account,
        };
        org::discover(
            self.http.clone(),
            &signer,
            &set.partition,
            query,
            org::POLICY,
        )
        .await
        .map_err(|e| format!("listing its accounts in AWS Organizations failed: {e}"))
    }

    /// Profiles managed in `path` that must stay although no role of the config writes them:
    /// while a discovered set's accounts are unknown, every profile in the file, since any of
    /// them may be one of its accounts.
    fn unknown_but_kept(&self, path: &Path, kind: FileKind) -> BTreeSet<String> {
        if self.undiscovered.is_empty() {
            return BTreeSet::new();
        }
        match fileio::read(path) {
            Ok(Some(text)) => credfile::managed_sections(&text, kind)
                .into_iter()
                .map(|s| s.profile)
                .collect(),
            _ => BTreeSet::new(),
        }
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

    /// Assumes one role without writing anything (for `credential-process`).
    pub async fn assume_one(&self, index: usize) -> Result<TemporaryCredentials, Error> {
        let role = &self.config.roles[index];
        // An AWS client waits on this call: no boot jitter.
        let failed = Error::RolesFailed {
            failed: 1,
            total: 1,
        };
        let plan = self.plan(&[index], OffsetDateTime::now_utc());
        let mut results = self.assume(&plan, Policy::STS, BootJitter::No).await?;
        let at = plan.iter().position(|&i| i == index);
        match at.map(|at| results.swap_remove(at)) {
            Some(Ok(assumed)) => Ok(assumed.credentials),
            Some(Err(err)) => {
                log_failure(role, &err);
                Err(failed)
            }
            None => Err(failed),
        }
    }

    /// `indices` and, before them, every source of theirs (transitively) whose credentials
    /// are not in memory or expire within `SOURCE_MARGIN` of `now`: what a batch must assume,
    /// in the order it must be assumed (by distance from the instance credentials).
    pub fn plan(&self, indices: &[usize], now: OffsetDateTime) -> Vec<usize> {
        let mut plan: Vec<usize> = indices.to_vec();
        let mut next = 0;
        while next < plan.len() {
            if let Some(source) = self.config.source_of(plan[next]) {
                let fresh = self
                    .source_credentials(source)
                    .is_some_and(|c| c.expiration - now > SOURCE_MARGIN);
                if !plan.contains(&source) && !fresh {
                    plan.push(source);
                }
            }
            next += 1;
        }
        plan.sort_by_key(|&i| self.config.depth(i));
        plan
    }

    /// Assumes the roles at `indices`, each signed with the instance-profile credentials IMDS
    /// serves now or, for a chained role, with its source's (assumed earlier in this batch, or
    /// kept from an earlier one: see `plan`), retrying each under `policy`. Writes nothing.
    /// Outcomes come back in `indices` order. With `BootJitter::Wait` (the first refresh of a
    /// process), it waits a random part of `[sts] boot_jitter_seconds` first.
    pub async fn assume(
        &self,
        indices: &[usize],
        policy: Policy,
        jitter: BootJitter,
    ) -> Result<Vec<Assumed>, Error> {
        let max = self.config.sts.boot_jitter_seconds;
        if jitter == BootJitter::Wait && max > 0 {
            let wait = boot_wait(max, fastrand::f64());
            info!(
                "waiting {:.1} s before the first STS call (boot_jitter_seconds = {max})",
                wait.as_secs_f64()
            );
            tokio::time::sleep(wait).await;
        }
        let depths: Vec<usize> = indices.iter().map(|&i| self.config.depth(i)).collect();
        let mut results: Vec<Option<Assumed>> = indices.iter().map(|_| None).collect();
        for depth in 0..=depths.iter().copied().max().unwrap_or(0) {
            let level: Vec<usize> = (0..indices.len()).filter(|&k| depths[k] == depth).collect();
            if level.is_empty() {
                continue;
            }
            let at: Vec<usize> = level.iter().map(|&k| indices[k]).collect();
            let assumed = if depth == 0 {
                self.assume_as_instance(&at, policy).await?
            } else {
                let failed: HashMap<usize, &sts::Error> = (0..indices.len())
                    .filter_map(|k| match &results[k] {
                        Some(Err(err)) => Some((indices[k], err)),
                        _ => None,
                    })
                    .collect();
                self.assume_chained(&at, &failed, policy).await
            };
            for (k, result) in level.into_iter().zip(assumed) {
                if let Ok(a) = &result {
                    self.keep_if_source(indices[k], &a.credentials);
                } else {
                    self.forget_source(indices[k]);
                }
                results[k] = Some(result);
            }
        }
        Ok(results.into_iter().flatten().collect())
    }

    /// The credentials kept for `roles[i]`, a source of other roles.
    fn source_credentials(&self, i: usize) -> Option<TemporaryCredentials> {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.get(&self.config.roles[i].profile).cloned()
    }

    /// After a reload: keeps the source credentials `old` had for roles that are the same in
    /// this config, so that their dependents need no extra AssumeRole.
    pub fn keep_sources_of(&self, old: &Agent) {
        let same = |r: &Role| Role {
            line: 0,
            ..r.clone()
        };
        let theirs = old
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut ours = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        for (profile, credentials) in theirs {
            let role = |c: &Config| c.roles.iter().find(|r| r.profile == profile).map(same);
            if role(&self.config).is_some() && role(&self.config) == role(&old.config) {
                ours.insert(profile, credentials);
            }
        }
    }

    /// Keeps the credentials of `roles[i]` when it signs another role.
    fn keep_if_source(&self, i: usize, credentials: &TemporaryCredentials) {
        if (0..self.config.roles.len()).any(|j| self.config.source_of(j) == Some(i)) {
            let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
            sources.insert(self.config.roles[i].profile.clone(), credentials.clone());
        }
    }

    /// A source that failed now: its dependents must not be signed with what it had before
    /// (they may be why it failed, e.g. revoked), so the next batch assumes it again first.
    fn forget_source(&self, i: usize) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.remove(&self.config.roles[i].profile);
    }

    /// Assumes chained roles (`at`, all one distance from the instance credentials), grouped
    /// by source, each group signed with its source's credentials. A source with none at hand
    /// (it failed in this batch: `failed` has why) fails the group, naming it.
    async fn assume_chained(
        &self,
        at: &[usize],
        failed: &HashMap<usize, &sts::Error>,
        policy: Policy,
    ) -> Vec<Assumed> {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (k, &i) in at.iter().enumerate() {
            let source = self.config.source_of(i).unwrap_or(i);
            match groups.iter_mut().find(|(s, _)| *s == source) {
                Some((_, members)) => members.push(k),
                None => groups.push((source, vec![k])),
            }
        }
        let mut out: Vec<Option<Assumed>> = at.iter().map(|_| None).collect();
        let limit = self.config.sts.max_concurrency;
        for (source, members) in groups {
            let profile = &self.config.roles[source].profile;
            let signer = self
                .source_credentials(source)
                .filter(|c| c.expiration > OffsetDateTime::now_utc());
            let results = match signer {
                Some(credentials) => {
                    let region = &self.identity.region;
                    // The source signs: its role ARN is what the target's trust policy sees.
                    let signer = &self.config.roles[source].role_arn;
                    let sts = Sts::new(self.http.clone(), &credentials, region, signer).await;
                    let sts = Arc::new(sts);
                    let roles: Vec<&Role> =
                        members.iter().map(|&k| &self.config.roles[at[k]]).collect();
                    assume_all(&roles, &self.identity, &sts, policy, limit).await
                }
                None => {
                    let err = sts::Error::source_failed(profile, failed.get(&source).copied());
                    members.iter().map(|_| Err(err.clone())).collect()
                }
            };
            for (k, result) in members.into_iter().zip(results) {
                out[k] = Some(result);
            }
        }
        out.into_iter().flatten().collect()
    }

    /// Assumes `at` with the instance-profile credentials IMDS serves now. When STS says those
    /// expired (they rotated after we read them), reads the new ones and tries those roles
    /// once more.
    async fn assume_as_instance(
        &self,
        at: &[usize],
        policy: Policy,
    ) -> Result<Vec<Assumed>, Error> {
        let roles: Vec<&Role> = at.iter().map(|&i| &self.config.roles[i]).collect();
        let limit = self.config.sts.max_concurrency;
        let sts = self.sts().await?;
        let mut results = assume_all(&roles, &self.identity, &sts, policy, limit).await;
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
    async fn sts(&self) -> Result<Arc<Sts>, Error> {
        let instance = source::instance_credentials(&self.imds, &self.identity).await?;
        Ok(Arc::new(
            Sts::new(
                self.http.clone(),
                &instance,
                &self.identity.region,
                &self.identity.role_arn(),
            )
            .await,
        ))
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

    pub fn credentials_file(&self) -> &Path {
        &self.files.credentials
    }
}

/// One journal event for what a discovery found, when it differs from what was known.
fn report_changes(set: &DiscoveredSet, known: Option<&[String]>, found: &[String]) {
    let (added, removed) = discovery::changes(known.unwrap_or_default(), found);
    if added.is_empty() && removed.is_empty() && known.is_some() {
        return;
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    info!(
        message_id = message_id::ACCOUNTS_DISCOVERED,
        role_set = %set.origin,
        accounts = found.len(),
        added = %added.join(","),
        removed = %removed.join(","),
        "{}: {} accounts in AWS Organizations; added: {}; removed: {}",
        set.origin,
        found.len(),
        list(&added),
        list(&removed)
    );
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
    if let Err(mismatch) = imds::verify(&config.instance, identity) {
        return Err(Error::IdentityRefused {
            mismatch,
            identity: Box::new(identity.clone()),
            config: config.path.clone(),
        });
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
fn prune(path: &Path, owner: Option<&Owner>) -> Result<(), Error> {
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

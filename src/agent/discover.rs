//! Discovered role sets: their accounts listed in AWS Organizations (signed with the
//! instance's credentials or a reader role's), the discovery cache consulted and updated, and
//! one journal event per set whose accounts changed. It writes only the cache.

use super::*;

impl Agent {
    /// Expands the config's discovered role sets with their accounts from AWS Organizations,
    /// keeping what it found in the discovery cache; a set that cannot be discovered now
    /// keeps the accounts the cache has for it, and without those adds no roles (and is
    /// listed in `undiscovered`). Changes since the cache are one journal event per set.
    pub(super) async fn discover(&mut self, rediscover: Rediscover) -> Result<(), Error> {
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
            discovery::Cache::default()
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
                    let from = match (
                        &set.organization.shared_parameter,
                        self.config.discovery.publish,
                    ) {
                        (Some(name), false) => format!("published in ssm:{name}"),
                        _ => "in AWS Organizations".to_owned(),
                    };
                    report_changes(&set, known.as_deref(), &found, &from);
                    if let (Some(name), true) = (
                        &set.organization.shared_parameter,
                        self.config.discovery.publish,
                    ) {
                        self.publish_set(&set, name, &found).await;
                    }
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

    /// The accounts of one discovered set: read from its shared parameter, or listed in
    /// Organizations (always on the fleet's publisher); the error says why not.
    pub(super) async fn discover_set(&self, set: &DiscoveredSet) -> Result<Vec<String>, String> {
        match (
            &set.organization.shared_parameter,
            self.config.discovery.publish,
        ) {
            (Some(name), false) => self.read_shared(set, name).await,
            _ => self.list_set(set).await,
        }
    }

    /// The accounts the fleet's publisher put in `name`, read with the instance credentials.
    async fn read_shared(&self, set: &DiscoveredSet, name: &str) -> Result<Vec<String>, String> {
        let signer = source::instance_credentials(&self.imds, &self.identity)
            .await
            .map_err(|e| format!("reading its accounts from ssm:{name}: {e}"))?;
        let region = &self.identity.region;
        let read = shared::read(
            self.http.clone(),
            &signer,
            region,
            name,
            set.endpoints(),
            ssm::POLICY,
        )
        .await;
        let published = read.map_err(|e| format!("reading its published accounts: {e}"))?;
        let age = (OffsetDateTime::now_utc() - published.published).whole_seconds();
        let interval = self.config.rediscovery_seconds();
        if age > i64::try_from(interval.saturating_mul(2)).unwrap_or(i64::MAX) {
            warn!(
                role_set = %set.origin,
                "{}: the accounts in ssm:{name} were published at {}, {} h ago, more than twice \
                 the rediscovery interval ({interval} s): is the publisher ([discovery] publish \
                 = true) running?",
                set.origin,
                rfc3339(published.published),
                age / 3600
            );
        }
        Ok(published.accounts)
    }

    /// Puts what was found in the set's shared parameter; a failure is reported, remembered
    /// in `unpublished` (the run fails, the daemon tries again soon) and costs no profile.
    async fn publish_set(&mut self, set: &DiscoveredSet, name: &str, found: &[String]) {
        let region = self.identity.region.clone();
        let signer = source::instance_credentials(&self.imds, &self.identity).await;
        let done = match signer {
            Ok(signer) => {
                let http = self.http.clone();
                let endpoints = set.endpoints();
                shared::publish(http, &signer, &region, name, found, endpoints, ssm::POLICY).await
            }
            Err(e) => Err(e.to_string()),
        };
        match done {
            Ok(parts) => info!(
                message_id = message_id::ACCOUNTS_PUBLISHED,
                role_set = %set.origin,
                accounts = found.len(),
                parameter = %name,
                "{}: published its {} accounts to ssm:{name} ({parts} parts)",
                set.origin,
                found.len()
            ),
            Err(why) => {
                error!(
                    message_id = message_id::ACCOUNTS_PUBLISHED,
                    role_set = %set.origin,
                    parameter = %name,
                    "{}: publishing its accounts to ssm:{name} failed: {why}; the fleet keeps \
                     the list published before",
                    set.origin
                );
                self.unpublished.push(set.origin.clone());
            }
        }
    }

    /// The accounts of one discovered set listed in Organizations, signed with its
    /// `organization.source_profile`'s credentials (assumed first) or the instance's.
    async fn list_set(&self, set: &DiscoveredSet) -> Result<Vec<String>, String> {
        let o = &set.organization;
        let signer = match &o.source_profile {
            None => source::instance_credentials(&self.imds, &self.identity)
                .await
                .map_err(|e| format!("listing its accounts: {e}"))?,
            Some(profile) => {
                let index = self.config.roles.iter().position(|r| &r.profile == profile);
                let index = index.ok_or_else(|| format!("no role writes profile {profile}"))?;
                let assumed = self
                    .assume_with_chain(index)
                    .await
                    .map_err(|e| format!("listing its accounts: {e}"))?;
                match assumed {
                    Ok(assumed) => assumed.credentials,
                    Err(err) => {
                        return Err(format!(
                            "listing its accounts needs organization.source_profile {profile}, \
                             which could not be assumed ({err})"
                        ))
                    }
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
            set.endpoints(),
            org::POLICY,
        )
        .await
        .map_err(|e| format!("listing its accounts in AWS Organizations failed: {e}"))
    }

    /// Profiles managed in `path` that must stay although no role of the config writes them:
    /// while a discovered set's accounts are unknown, every profile in the file, since any of
    /// them may be one of its accounts.
    pub(super) fn unknown_but_kept(&self, path: &Path, kind: FileKind) -> BTreeSet<String> {
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
}

/// One journal event for what a discovery found, when it differs from what was known.
/// `from` says where they were found: `in AWS Organizations`, `published in ssm:NAME`.
pub(super) fn report_changes(
    set: &DiscoveredSet,
    known: Option<&[String]>,
    found: &[String],
    from: &str,
) {
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
        "{}: {} accounts {from}; added: {}; removed: {}",
        set.origin,
        found.len(),
        list(&added),
        list(&removed)
    );
}

//! The AssumeRole side of the agent: a batch's plan (its roles and the sources they need),
//! assumed level by level from the instance credentials, at most `[sts] max_concurrency` at
//! once; the sources' credentials kept in memory. It writes no file.

use super::*;
use crate::base::term;
use std::collections::HashSet;
use tokio::task::{self, JoinSet};

impl Agent {
    /// `indices` and, before them, every source of theirs (transitively) whose credentials
    /// are not in memory or expire within `SOURCE_MARGIN` of `now`: what a batch must assume,
    /// in the order it must be assumed (by distance from the instance credentials).
    pub fn plan(&self, indices: &[usize], now: OffsetDateTime) -> Vec<usize> {
        let sources = self.config.sources();
        let mut plan: Vec<usize> = indices.to_vec();
        let mut planned: HashSet<usize> = plan.iter().copied().collect();
        let mut next = 0;
        while next < plan.len() {
            if let Some(source) = sources[plan[next]] {
                let fresh = self
                    .source_credentials(source)
                    .is_some_and(|c| c.expiration - now > SOURCE_MARGIN);
                if !planned.contains(&source) && !fresh {
                    plan.push(source);
                    planned.insert(source);
                }
            }
            next += 1;
        }
        let depths = self.config.depths();
        plan.sort_by_key(|&i| depths[i]); // Stable: the order of `indices` within a depth.
        plan
    }

    /// Assumes `roles[index]` now, and first whatever of its chain has no fresh credentials in
    /// memory (`plan`); no boot jitter, since a caller waits on it.
    pub(super) async fn assume_with_chain(&self, index: usize) -> Result<Assumed, Error> {
        let plan = self.plan(&[index], crate::aws::skew::now());
        let mut results = self.assume(&plan, Policy::STS, BootJitter::No).await?;
        // `plan` always holds `index`; its outcome is at the same place.
        let at = plan.iter().position(|&i| i == index).unwrap_or_default();
        Ok(results.swap_remove(at))
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
        let depths = {
            let all = self.config.depths();
            indices.iter().map(|&i| all[i]).collect::<Vec<usize>>()
        };
        // The profiles that sign another role: their credentials are kept for it.
        let signers: BTreeSet<&str> = (self.config.roles.iter())
            .filter_map(|r| r.source_profile.as_deref())
            .collect();
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
                let profile = &self.config.roles[indices[k]].profile;
                if signers.contains(profile.as_str()) {
                    self.keep_source(profile, result.as_ref().ok().map(|a| &a.credentials));
                }
                results[k] = Some(result);
            }
        }
        Ok(results.into_iter().flatten().collect())
    }

    /// The credentials kept for `roles[i]`, a source of other roles.
    pub(super) fn source_credentials(&self, i: usize) -> Option<TemporaryCredentials> {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.get(&self.config.roles[i].profile).cloned()
    }

    /// After a reload: keeps the source credentials `old` had for roles that are the same in
    /// this config, so that their dependents need no extra AssumeRole.
    pub fn keep_sources_of(&self, old: &Agent) {
        let theirs = old
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut ours = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        for (profile, credentials) in theirs {
            let role = |c: &Config| c.roles.iter().position(|r| r.profile == profile);
            let new = role(&self.config).map(|i| &self.config.roles[i]);
            let was = role(&old.config).map(|i| &old.config.roles[i]);
            if let (Some(new), Some(was)) = (new, was) {
                if new.same_request(was) {
                    ours.insert(profile, credentials);
                }
            }
        }
    }

    /// Keeps the credentials a source was just given, or after a failure forgets what it had:
    /// its dependents must not be signed with those (they may be why it failed, e.g. revoked),
    /// so the next batch assumes it again first.
    fn keep_source(&self, profile: &str, credentials: Option<&TemporaryCredentials>) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        match credentials {
            Some(c) => sources.insert(profile.to_owned(), c.clone()),
            None => sources.remove(profile),
        };
    }

    /// Assumes chained roles (`at`, all one distance from the instance credentials), grouped
    /// by source, each group signed with its source's credentials. A source with none at hand
    /// (it failed in this batch: `failed` has why) fails the group, naming it.
    pub(super) async fn assume_chained(
        &self,
        at: &[usize],
        failed: &HashMap<usize, &sts::Error>,
        policy: Policy,
    ) -> Vec<Assumed> {
        let sources = self.config.sources();
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (k, &i) in at.iter().enumerate() {
            let source = sources[i].unwrap_or(i);
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
                .filter(|c| c.expiration > crate::aws::skew::now());
            let results = match signer {
                Some(credentials) => {
                    let region = &self.identity.region;
                    // The source signs: its role ARN is what the target's trust policy sees.
                    let signer = &self.config.roles[source].role_arn;
                    let sts = Sts::new(self.http.clone(), &credentials, region, signer).await;
                    let sts = Arc::new(self.timed(sts));
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
    pub(super) async fn assume_as_instance(
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
}

/// A uniform wait in 0..`max_seconds` from `random_unit` (0..1).
pub(super) fn boot_wait(max_seconds: u64, random_unit: f64) -> Duration {
    Duration::from_secs(max_seconds).mul_f64(random_unit.clamp(0.0, 1.0))
}

/// Assumes `roles`, at most `concurrency` at once (a permit is held across a role's retries
/// too); outcomes in the same order. A role's task is spawned only once it has its permit, and
/// finished ones are reaped as the next start: a task holds its whole SDK call's future from
/// the spawn until it is joined, and all of them spawned at once (5,000 at organization size)
/// held tens of MB.
pub(super) async fn assume_all(
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
    let mut outcomes: Vec<Option<Assumed>> = roles.iter().map(|_| None).collect();
    let mut tasks = JoinSet::new();
    let mut index_of = HashMap::new();
    for (k, role) in roles.iter().enumerate() {
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
                policy: role.policy.clone(),
                policy_arns: role.policy_arns(),
                endpoints: role.endpoints,
            });
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                term::role_done(false);
                outcomes[k] = Some(Err(sts::Error {
                    code: "InvalidSessionName".into(),
                    message: e.to_string(),
                    request_id: None,
                    retryable: false,
                }));
                continue;
            }
        };
        // A role without a region of its own is assumed in the instance's, which the config
        // could not check: one of another partition can never work (STS would only say it
        // does not know the signature).
        let region_partition = crate::base::partitions::of_region(&request.region).map(|p| &p.id);
        if role.region.is_none() && region_partition.is_some_and(|p| *p != role.partition) {
            term::role_done(false);
            outcomes[k] = Some(Err(sts::Error {
                code: "WrongPartition".into(),
                message: format!(
                    "the role is in partition {}, but it would be assumed in the instance's \
                     region {} (partition {}); give the role a region of {} (region = ...)",
                    role.partition,
                    request.region,
                    region_partition.map_or("?", |p| p.as_str()),
                    role.partition
                ),
                request_id: None,
                retryable: false,
            }));
            continue;
        }
        let permit = Arc::clone(&limit).acquire_owned().await;
        while let Some(done) = tasks.try_join_next_with_id() {
            let (id, outcome) = joined(done);
            outcomes[index_of[&id]] = Some(outcome);
        }
        let sts = Arc::clone(sts);
        let task = tasks.spawn(async move {
            let _permit = permit;
            let result = sts.assume(&request, policy).await;
            term::role_done(result.is_ok());
            result
        });
        index_of.insert(task.id(), k);
    }
    while let Some(done) = tasks.join_next_with_id().await {
        let (id, outcome) = joined(done);
        outcomes[index_of[&id]] = Some(outcome);
    }
    outcomes.into_iter().flatten().collect()
}

/// A joined task's outcome; one that panicked or was cancelled is that role's failure.
fn joined(done: Result<(task::Id, Assumed), task::JoinError>) -> (task::Id, Assumed) {
    match done {
        Ok(done) => done,
        Err(join) => {
            let outcome = Err(sts::Error {
                code: "Internal".into(),
                message: join.to_string(),
                request_id: None,
                retryable: false,
            });
            (join.id(), outcome)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn boot_wait_spans_zero_to_the_maximum() {
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

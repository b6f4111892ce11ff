//! What the daemon knows of each profile, and how each refresh outcome changes it: when it is
//! due, how often it failed, its last error. Each profile's record is the `state::Profile`
//! that the state file holds (so `status` reads exactly what the daemon tracks). Times and
//! randomness come in from the caller, so every rule here is a table test; the only I/O is
//! the journal line a failure gets.

use crate::agent::RoleOutcome;
use crate::config::Role;
use crate::creds::rfc3339;
use crate::schedule::{self, Failure, Settings};
use crate::state::{self, LastError, Profile, State};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use time::OffsetDateTime;
use tracing::{info, warn};

/// A role due within this much of a wakeup is refreshed in it, together with the others, in
/// one IMDS read and one file write: a hundred jittered roles then wake the daemon a few dozen
/// times an hour instead of two hundred. Never more than a tenth of the role's own interval,
/// so short-lived credentials are not refreshed much early.
const BATCH_WINDOW: time::Duration = time::Duration::seconds(60);

/// Every tracked profile, by name. A profile not tracked yet is due at once.
#[derive(Debug, Default)]
pub struct Tracked {
    profiles: BTreeMap<String, Profile>,
}

impl Tracked {
    pub fn new() -> Tracked {
        Tracked::default()
    }

    /// The indices of `roles` that are due at `now`.
    pub fn due(&self, roles: &[Role], now: OffsetDateTime) -> Vec<usize> {
        (0..roles.len())
            .filter(|&i| {
                self.profiles
                    .get(&roles[i].profile)
                    .is_none_or(|p| is_due(p, now))
            })
            .collect()
    }

    /// When the credentials of `profile` expire, if we know.
    pub fn expiration(&self, profile: &str) -> Option<OffsetDateTime> {
        self.profiles.get(profile).and_then(|p| p.expiration)
    }

    /// Which of `profiles` have credentials that expired by `now`, as far as we know.
    pub fn expired<'a>(
        &self,
        profiles: impl Iterator<Item = &'a String>,
        now: OffsetDateTime,
    ) -> BTreeSet<String> {
        profiles
            .filter(|p| self.expiration(p).is_some_and(|e| e <= now))
            .cloned()
            .collect()
    }

    /// Makes every profile due at once (the clock was set: every plan is off).
    pub fn all_due(&mut self) {
        for p in self.profiles.values_mut() {
            p.next_refresh = None;
        }
    }

    /// The earliest due time; `None` when nothing is scheduled (no roles).
    pub fn next_wake(&self) -> Option<OffsetDateTime> {
        self.profiles.values().filter_map(|p| p.next_refresh).min()
    }

    /// Records what one refresh of `role` came to at `now`; `expired`: its credentials had
    /// expired, so a failure removed its section. `random` is uniform in [0, 1].
    pub fn record(
        &mut self,
        role: &Role,
        outcome: &RoleOutcome,
        expired: bool,
        settings: &Settings,
        now: OffsetDateTime,
        random: f64,
    ) {
        match outcome {
            RoleOutcome::Written { expiration, .. } => {
                *self.entry(role) = Profile {
                    role_arn: role.role_arn.clone(),
                    expiration: Some(*expiration),
                    last_refresh: Some(now),
                    next_refresh: Some(schedule::next_refresh(now, *expiration, settings, random)),
                    failures: 0,
                    last_error: None,
                };
            }
            RoleOutcome::Failed(err) => {
                let kind = if err.retryable {
                    Failure::Transient
                } else {
                    Failure::Denied
                };
                self.failed(role, now, kind, &err.code, &err.message, random);
                if expired {
                    self.entry(role).expiration = None;
                }
            }
            RoleOutcome::Conflict => self.failed(
                role,
                now,
                Failure::Denied,
                "ProfileConflict",
                "an unmanaged section of the same name is in the credentials file",
                random,
            ),
        }
    }

    /// Records a failed refresh of `role` and schedules its retry; says so in the journal.
    pub fn failed(
        &mut self,
        role: &Role,
        now: OffsetDateTime,
        kind: Failure,
        code: &str,
        message: &str,
        random: f64,
    ) {
        let p = self.entry(role);
        p.failures += 1;
        let next = schedule::retry_at(p.failures, now, p.expiration.unwrap_or(now), kind, random);
        p.next_refresh = Some(next);
        p.last_error = Some(LastError {
            code: code.to_owned(),
            message: message.to_owned(),
            at: now,
        });
        match p.expiration.map(|e| e - now) {
            Some(left) if left <= time::Duration::ZERO => warn!(
                profile = %role.profile,
                role_arn = %role.role_arn,
                error_code = %code,
                "profile {} has expired credentials and could not be refreshed ({code}); \
                 next try at {}",
                role.profile,
                rfc3339(next)
            ),
            _ => info!(
                profile = %role.profile,
                role_arn = %role.role_arn,
                error_code = %code,
                "refresh of profile {} failed {} time(s) in a row ({code}); the current \
                 credentials stay; next try at {}",
                role.profile,
                p.failures,
                rfc3339(next)
            ),
        }
    }

    /// Forgets profiles no longer configured.
    pub fn keep_configured(&mut self, roles: &[Role]) {
        self.profiles
            .retain(|profile, _| roles.iter().any(|r| &r.profile == profile));
    }

    /// After a reload: roles that are new, or whose AssumeRole request changed, are due now.
    pub fn reschedule_changed(&mut self, old: &[Role], new: &[Role]) {
        for role in new {
            let unchanged = old
                .iter()
                .any(|o| o.profile == role.profile && same_request(o, role));
            if !unchanged {
                if let Some(p) = self.profiles.get_mut(&role.profile) {
                    p.next_refresh = None;
                }
            }
        }
    }

    /// The state file's content: the tracked profiles of `roles`.
    pub fn state(&self, roles: &[Role], credentials_file: PathBuf, now: OffsetDateTime) -> State {
        let profiles = roles
            .iter()
            .filter_map(|role| {
                let p = self.profiles.get(&role.profile)?;
                Some((role.profile.clone(), p.clone()))
            })
            .collect();
        State {
            version: state::VERSION,
            pid: std::process::id(),
            updated: Some(now),
            credentials_file,
            profiles,
        }
    }

    /// The one-line STATUS systemd shows in `systemctl status`, for `total` configured roles.
    pub fn summary(&self, total: usize) -> String {
        let failing: Vec<&str> = self
            .profiles
            .iter()
            .filter(|(_, p)| p.failures > 0)
            .map(|(name, _)| name.as_str())
            .collect();
        let next = self
            .next_wake()
            .map(|t| format!("; next refresh {}", rfc3339(t)))
            .unwrap_or_default();
        if failing.is_empty() {
            format!("{total} profiles fresh{next}")
        } else {
            format!(
                "{} of {total} profiles fresh; failing: {}{next}",
                total - failing.len(),
                failing.join(", ")
            )
        }
    }

    /// The record of `role`, created (due at once) if it has none; its ARN kept current.
    fn entry(&mut self, role: &Role) -> &mut Profile {
        let p = self.profiles.entry(role.profile.clone()).or_default();
        if p.role_arn != role.role_arn {
            p.role_arn.clone_from(&role.role_arn);
        }
        p
    }
}

fn is_due(p: &Profile, now: OffsetDateTime) -> bool {
    let Some(next) = p.next_refresh else {
        return true;
    };
    let interval = p
        .last_refresh
        .map_or(time::Duration::ZERO, |last| next - last);
    next <= now + BATCH_WINDOW.min(interval / 10).max(time::Duration::SECOND)
}

/// Whether two roles ask STS for the same thing (the line they are on does not matter).
fn same_request(a: &Role, b: &Role) -> bool {
    (
        &a.role_arn,
        &a.external_id,
        &a.role_session_name,
        a.duration_seconds,
        &a.region,
        &a.source_identity,
        &a.tags,
    ) == (
        &b.role_arn,
        &b.external_id,
        &b.role_session_name,
        b.duration_seconds,
        &b.region,
        &b.source_identity,
        &b.tags,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn due_table() {
        let now = datetime!(2026-11-23 09:00 UTC);
        let secs = time::Duration::seconds;
        // (last refresh, next, due?)
        let table = [
            (None, None, true),
            (Some(now - secs(1800)), Some(now + secs(59)), true), // 1 h creds: 60 s window
            (Some(now - secs(1800)), Some(now + secs(61)), false),
            (Some(now - secs(6)), Some(now + secs(1)), true), // 12 s creds: 1 s floor
            (Some(now - secs(6)), Some(now + secs(2)), false),
            (Some(now - secs(200)), Some(now + secs(15)), true), // a tenth of 215 s
            (Some(now - secs(200)), Some(now + secs(30)), false),
            (None, Some(now - secs(5)), true), // overdue after a failure
            // the clock jumped forward hours past the plan (suspend, stall): due at once
            (Some(now - secs(36_000)), Some(now - secs(34_200)), true),
        ];
        for (last_refresh, next_refresh, want) in table {
            let p = Profile {
                last_refresh,
                next_refresh,
                ..Profile::default()
            };
            assert_eq!(
                is_due(&p, now),
                want,
                "last {last_refresh:?} next {next_refresh:?}"
            );
        }
    }
}

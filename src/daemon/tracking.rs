//! What the daemon knows of each profile, and how each refresh outcome changes it: when it is
//! due, how often it failed, its last error. Each profile's record is the `state::Profile`
//! that the state file holds (so `status` reads exactly what the daemon tracks). Times and
//! randomness come in from the caller, so every rule here is a table test; the only I/O is
//! the journal line a failure gets.

use crate::agent::RoleOutcome;
use crate::base::creds::rfc3339;
use crate::config::Role;
use crate::daemon::schedule::{self, Failure, Settings};
use crate::store::state::{self, LastError, Origin, Profile, State};
use std::collections::{BTreeMap, BTreeSet};
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

    /// What is known of `profile`, if it is tracked.
    pub fn profile(&self, profile: &str) -> Option<&Profile> {
        self.profiles.get(profile)
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
            // Retried soon, as a failed AssumeRole would be: the file may be fixed by then.
            RoleOutcome::NotWritten(files) => {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                let message = format!("could not write {}", names.join(", "));
                self.failed(
                    role,
                    now,
                    Failure::Transient,
                    "FileNotWritten",
                    &message,
                    random,
                );
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

    /// After a reload: roles that are new, or whose AssumeRole request or files changed, are
    /// due now (a user added to a role gets its profile without waiting for the refresh).
    pub fn reschedule_changed(&mut self, old: &[Role], new: &[Role]) {
        for role in new {
            let unchanged = old.iter().any(|o| {
                o.profile == role.profile && o.same_request(role) && o.users == role.users
            });
            if !unchanged {
                if let Some(p) = self.profiles.get_mut(&role.profile) {
                    p.next_refresh = None;
                }
            }
        }
    }

    /// The state file's content: the tracked profiles of `roles`, and what they are of.
    pub fn state(&self, roles: &[Role], origin: Origin, now: OffsetDateTime) -> State {
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
            credentials_file: origin.files.first().cloned().unwrap_or_default(),
            config: Some(origin.config),
            files: origin.files,
            profiles,
            ..State::default()
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

    fn roles(arn_2: &str) -> Vec<Role> {
        let text = format!(
            "[instance]\nrole_name = \"EC2_PerformSecurityAudit\"\n\
             [[role]]\nprofile = \"a\"\nrole_arn = \"arn:aws:iam::111111111111:role/R\"\n\
             [[role]]\nprofile = \"b\"\nrole_arn = \"{arn_2}\"\n"
        );
        crate::config::parse(&text, std::path::Path::new("c.toml"))
            .unwrap()
            .roles
    }

    fn sts_error(code: &str, retryable: bool) -> RoleOutcome {
        RoleOutcome::Failed(crate::aws::sts::Error {
            code: code.into(),
            message: "no".into(),
            request_id: None,
            retryable,
        })
    }

    /// A profile's record through a success, two failures and a success again.
    #[test]
    fn outcomes_move_a_profile_between_fresh_and_failing() {
        let now = datetime!(2026-11-23 09:00 UTC);
        let hour = time::Duration::hours(1);
        let settings = Settings::from(&crate::config::Daemon::default());
        let roles = roles("arn:aws:iam::222222222222:role/R");
        let mut tracked = Tracked::new();
        assert_eq!(
            tracked.due(&roles, now),
            vec![0, 1],
            "untracked: due at once"
        );
        assert_eq!(tracked.summary(2), "2 profiles fresh");

        let written = RoleOutcome::Written {
            expiration: now + hour,
            assumed_role_arn: "arn:aws:sts::111111111111:assumed-role/R/s".into(),
        };
        tracked.record(&roles[0], &written, false, &settings, now, 0.5);
        let a = &tracked.profiles["a"];
        // Half-way through the hour with the draw in the middle of the jitter.
        assert_eq!(a.next_refresh, Some(now + hour / 2));
        assert_eq!((a.failures, a.expiration), (0, Some(now + hour)));
        assert_eq!(a.role_arn, roles[0].role_arn);
        assert_eq!(tracked.due(&roles, now), vec![1]);

        let later = now + time::Duration::minutes(30);
        tracked.record(
            &roles[0],
            &sts_error("Throttling", true),
            false,
            &settings,
            later,
            0.5,
        );
        tracked.record(
            &roles[0],
            &sts_error("AccessDenied", false),
            false,
            &settings,
            later,
            0.5,
        );
        let a = &tracked.profiles["a"];
        assert_eq!(a.failures, 2);
        assert_eq!(
            a.last_error.as_ref().map(|e| e.code.as_str()),
            Some("AccessDenied")
        );
        assert!(a.next_refresh.is_some_and(|n| n > later && n < now + hour));
        assert_eq!(a.expiration, Some(now + hour), "the valid credentials stay");
        assert!(tracked
            .summary(2)
            .starts_with("1 of 2 profiles fresh; failing: a; next refresh"));

        // Expired and still failing: the section was removed, so the expiry is forgotten.
        let expired = tracked.expired([&roles[0].profile].into_iter(), now + hour);
        assert!(expired.contains("a"));
        tracked.record(
            &roles[0],
            &RoleOutcome::Conflict,
            true,
            &settings,
            now + hour,
            0.5,
        );
        assert_eq!(
            tracked.profiles["a"].last_error.as_ref().unwrap().code,
            "ProfileConflict"
        );
        tracked.record(
            &roles[0],
            &sts_error("Throttling", true),
            true,
            &settings,
            now + hour,
            0.5,
        );
        assert_eq!(tracked.profiles["a"].expiration, None);

        tracked.record(&roles[0], &written, false, &settings, now + hour, 0.5);
        let a = &tracked.profiles["a"];
        assert_eq!((a.failures, a.last_error.clone()), (0, None));
    }

    /// Two roles written at `now` with 1 h credentials: (now, settings, roles, outcome,
    /// tracked).
    fn written_at_nine() -> (OffsetDateTime, Settings, Vec<Role>, RoleOutcome, Tracked) {
        let now = datetime!(2026-11-23 09:00 UTC);
        let settings = Settings::from(&crate::config::Daemon::default());
        let old = roles("arn:aws:iam::222222222222:role/R");
        let written = RoleOutcome::Written {
            expiration: now + time::Duration::hours(1),
            assumed_role_arn: String::new(),
        };
        let mut tracked = Tracked::new();
        for role in &old {
            tracked.record(role, &written, false, &settings, now, 0.5);
        }
        (now, settings, old, written, tracked)
    }

    /// After a reload, a role whose request changed is due at once; an unchanged one keeps its
    /// plan; a removed one is forgotten and leaves the state file.
    #[test]
    fn a_reload_reschedules_only_what_changed() {
        let (now, settings, old, written, mut tracked) = written_at_nine();
        let new = roles("arn:aws:iam::333333333333:role/R");
        tracked.reschedule_changed(&old, &new);
        assert_eq!(tracked.due(&new, now), vec![1]);
        tracked.record(&new[1], &written, false, &settings, now, 0.5);
        let origin = Origin {
            config: "/etc/c.toml".into(),
            files: vec!["/c".into()],
        };
        let state = tracked.state(&new, origin.clone(), now);
        assert_eq!(state.mismatch(&origin), None);
        assert_eq!(
            state.profiles["b"].role_arn,
            "arn:aws:iam::333333333333:role/R"
        );

        tracked.keep_configured(&new[..1]);
        assert_eq!(tracked.state(&new, origin, now).profiles.len(), 1);
        tracked.all_due();
        assert_eq!(tracked.due(&new[..1], now), vec![0]);
        assert_eq!(tracked.next_wake(), None);
    }

    /// A role given to one more user after a reload is due at once, so that the user gets
    /// the profile without waiting for the next refresh; a file written on failure retries.
    #[test]
    fn a_reload_that_changes_a_roles_users_makes_it_due() {
        let (now, settings, old, _, mut tracked) = written_at_nine();
        let mut new = old.clone();
        new[0].users.push("alice".into());
        tracked.reschedule_changed(&old, &new);
        assert_eq!(tracked.due(&new, now), vec![0]);

        let unwritten = RoleOutcome::NotWritten(vec!["/home/alice/.aws/credentials".into()]);
        tracked.record(&new[0], &unwritten, false, &settings, now, 0.5);
        let a = &tracked.profiles["a"];
        assert_eq!(a.failures, 1);
        let error = a.last_error.as_ref().unwrap();
        assert_eq!(error.code, "FileNotWritten");
        assert!(error.message.contains("/home/alice/.aws/credentials"));
        assert!(a
            .next_refresh
            .is_some_and(|next| next < now + time::Duration::hours(1)));
    }
}

//! Role chaining: a role whose `source_profile` names another configured role is assumed with
//! that role's credentials instead of the instance's. This file owns the rules of a chain (the
//! source exists, is not the role itself, no cycle, at most `MAX_CHAIN_ROLES` roles from the
//! instance credentials to the last one) and the questions the agent asks of a valid config
//! (whose credentials sign a role, in which order to assume them). The one-hour cap STS puts on
//! a chained session is checked with the role's options (`check`). It must never do I/O.

use super::check::Checker;
use super::model::{Config, Role, MAX_CHAIN_ROLES};
use super::role_set::Source;
use std::collections::HashMap;
use std::ops::Range;

impl Checker<'_> {
    /// Checks every role's `source_profile`; `sources[i]` is the key and place it was written
    /// for `roles[i]`.
    pub(super) fn chains(&mut self, roles: &[Role], sources: &[(String, Option<Range<usize>>)]) {
        let index: HashMap<&str, usize> = roles
            .iter()
            .enumerate()
            .map(|(i, r)| (r.profile.as_str(), i))
            .collect();
        for (i, role) in roles.iter().enumerate() {
            let Some(source) = &role.source_profile else {
                continue;
            };
            let (key, span) = &sources[i];
            let fail = |c: &mut Self, message: String| {
                c.fail(span.clone(), Some(key.clone()), message);
            };
            if source == &role.profile {
                fail(
                    self,
                    format!(
                        "{source:?} is this role's own profile; name the role whose credentials \
                         should assume it, or leave source_profile out to use the instance's"
                    ),
                );
                continue;
            }
            if !index.contains_key(source.as_str()) {
                let configured: Vec<&str> = roles
                    .iter()
                    .filter(|r| r.profile != role.profile)
                    .map(|r| r.profile.as_str())
                    .collect();
                fail(
                    self,
                    format!(
                        "no configured role writes profile {source:?}; source_profile names \
                         another [[role]] or [[role_set]] profile of this config (configured: \
                         {})",
                        configured.join(", ")
                    ),
                );
                continue;
            }
            // Walk to the instance credentials: a role seen twice is a cycle.
            let mut chain = vec![i];
            let mut at = i;
            while let Some(next) = roles[at]
                .source_profile
                .as_deref()
                .and_then(|p| index.get(p).copied())
            {
                if let Some(from) = chain.iter().position(|&c| c == next) {
                    // Reported by the roles on the cycle only, each naming it from itself.
                    if from == 0 {
                        let names: Vec<&str> = chain
                            .iter()
                            .chain([&next])
                            .map(|&c| roles[c].profile.as_str())
                            .collect();
                        fail(
                            self,
                            format!(
                                "the chain {} comes back to {:?}: one role of a chain must be \
                                 assumed with the instance credentials (no source_profile)",
                                names.join(" -> "),
                                role.profile
                            ),
                        );
                    }
                    break;
                }
                chain.push(next);
                at = next;
            }
            let reaches_instance = roles[at].source_profile.is_none();
            if reaches_instance && chain.len() > MAX_CHAIN_ROLES {
                let names: Vec<&str> = chain
                    .iter()
                    .rev()
                    .map(|&c| roles[c].profile.as_str())
                    .collect();
                fail(
                    self,
                    format!(
                        "the chain {} is {} roles long; at most {MAX_CHAIN_ROLES} are allowed \
                         (each is an AssumeRole call the next one waits for)",
                        names.join(" -> "),
                        chain.len()
                    ),
                );
            }
        }
    }
}

impl Checker<'_> {
    /// The sources a discovered set names (for its roles, and for the Organizations calls)
    /// must be written roles, since discovered ones come and go; with them, the chain must fit
    /// `MAX_CHAIN_ROLES` as any other.
    pub(super) fn discovered_sources(&mut self, roles: &[Role], sources: &[Source]) {
        for s in sources {
            let fail = |c: &mut Self, message: String| {
                c.fail(Some(s.span.clone()), Some(s.key.clone()), message);
            };
            let Some(mut at) = roles.iter().position(|r| r.profile == s.profile) else {
                fail(
                    self,
                    format!(
                        "no [[role]] (or role_set with accounts) writes profile {:?}; the source \
                         of a role set with [role_set.organization] must be a written role",
                        s.profile
                    ),
                );
                continue;
            };
            let mut length = 2;
            while let Some(next) = roles[at].source_profile.as_ref() {
                match roles.iter().position(|r| &r.profile == next) {
                    Some(n) if length <= MAX_CHAIN_ROLES => (at, length) = (n, length + 1),
                    _ => break, // Reported by `chains`.
                }
            }
            if length > MAX_CHAIN_ROLES {
                fail(
                    self,
                    format!(
                        "through {:?}, the chain is {length} roles long; at most \
                         {MAX_CHAIN_ROLES} are allowed",
                        s.profile
                    ),
                );
            }
        }
    }
}

impl Config {
    /// The index of the role whose credentials sign `roles[i]`'s AssumeRole; `None`: the
    /// instance credentials do.
    pub fn source_of(&self, i: usize) -> Option<usize> {
        let source = self.roles[i].source_profile.as_deref()?;
        self.roles.iter().position(|r| r.profile == source)
    }

    /// The profiles from the first role of `roles[i]`'s chain (assumed with the instance
    /// credentials) to `roles[i]` itself: `["hub", "audit-111111111111"]`.
    pub fn chain(&self, i: usize) -> Vec<&str> {
        let mut chain = vec![self.roles[i].profile.as_str()];
        let mut at = i;
        while let Some(source) = self.source_of(at) {
            if chain.len() > MAX_CHAIN_ROLES {
                break; // Cannot happen in a checked config; never loop on one that is not.
            }
            chain.push(self.roles[source].profile.as_str());
            at = source;
        }
        chain.reverse();
        chain
    }

    /// How often discovered role sets are listed again: `[daemon] reload_interval_seconds`
    /// when set (and not 0), else `DEFAULT_DISCOVERY_RELOAD_SECONDS`. A process that starts
    /// within that time of the last discovery uses the cache instead.
    pub fn rediscovery_seconds(&self) -> u64 {
        match self.daemon.reload_interval_seconds {
            Some(n) if n > 0 => n,
            _ => super::model::DEFAULT_DISCOVERY_RELOAD_SECONDS,
        }
    }

    /// How far `roles[i]` is from the instance credentials: 0 when they sign it.
    pub fn depth(&self, i: usize) -> usize {
        self.chain(i).len() - 1
    }

    /// `source_of` of every role, from one map of the profiles: a batch asks it of each of its
    /// roles, and a scan of the roles per role is quadratic (25 million comparisons at 5,000).
    pub fn sources(&self) -> Vec<Option<usize>> {
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(self.roles.len());
        for (i, role) in self.roles.iter().enumerate() {
            index.entry(role.profile.as_str()).or_insert(i); // The first, as `source_of`.
        }
        (self.roles.iter())
            .map(|r| {
                r.source_profile
                    .as_deref()
                    .and_then(|p| index.get(p).copied())
            })
            .collect()
    }

    /// `depth` of every role, from `sources`.
    pub fn depths(&self) -> Vec<usize> {
        let sources = self.sources();
        (0..sources.len())
            .map(|i| {
                let (mut depth, mut at) = (0, i);
                while let Some(source) = sources[at] {
                    if depth >= MAX_CHAIN_ROLES {
                        break; // As `chain`: never loop on a config that was not checked.
                    }
                    (depth, at) = (depth + 1, source);
                }
                depth
            })
            .collect()
    }
}

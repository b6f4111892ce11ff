//! What the agent remembers of AWS Organizations between runs: the accounts each discovered
//! role set was last found to cover, in one JSON file (`[discovery] cache_file`, by default
//! under /var/lib/ec2-assume-role), replaced atomically and 0600 like every file we write. A
//! boot while Organizations is down or throttling then still writes every profile, and
//! `status` and `check` can show the expansion without calling AWS. Also the pure parts of a
//! discovery: a set's cache key and what changed between two lists. It holds account ids and
//! times only, never a credential.

use crate::config::{Config, DiscoveredSet};
use crate::store::fileio::{self, FileError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use time::OffsetDateTime;

pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    pub version: u32,
    /// By `key`.
    pub sets: BTreeMap<String, Known>,
}

/// The accounts one query returned, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    pub accounts: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub discovered: OffsetDateTime,
}

/// What a role set asks Organizations, as the cache knows it: two sets that ask the same
/// thing share an entry; the exclusion list is applied afterwards, so it is not part of it.
pub fn key(set: &DiscoveredSet) -> String {
    let o = &set.organization;
    let signer = o.source_profile.as_deref().unwrap_or("instance");
    let ous = if o.ous.is_empty() {
        "all".to_owned()
    } else {
        o.ous.join(",")
    };
    format!(
        "{}:{ous}:management={}:signer={signer}",
        set.partition, o.include_management_account
    )
}

/// `(added, removed)` going from `old` to `new` (both sorted).
pub fn changes(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let added = new.iter().filter(|a| !old.contains(a)).cloned().collect();
    let removed = old.iter().filter(|a| !new.contains(a)).cloned().collect();
    (added, removed)
}

/// An empty cache of this version (what there is before the first discovery).
impl Default for Cache {
    fn default() -> Cache {
        Cache {
            version: VERSION,
            sets: BTreeMap::new(),
        }
    }
}

impl Cache {
    /// The cache at `path`; an empty one when there is none. A file that cannot be used is
    /// `Err` with the reason (the caller goes on without it).
    pub fn read(path: &Path) -> Result<Cache, String> {
        let Some(bytes) = fileio::read(path).map_err(|e| e.to_string())? else {
            return Ok(Cache::default());
        };
        match serde_json::from_slice::<Cache>(&bytes) {
            Ok(c) if c.version == VERSION => Ok(c),
            Ok(c) => Err(format!(
                "{}: cache version {}, expected {VERSION}",
                path.display(),
                c.version
            )),
            Err(err) => Err(format!("{}: not a discovery cache: {err}", path.display())),
        }
    }

    /// Replaces the cache file atomically (0600, its directory created 0700 if missing).
    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        // Serialising these plain types cannot fail.
        let mut json = serde_json::to_vec_pretty(self).unwrap_or_default();
        json.push(b'\n');
        fileio::update(path, None, |_| (json.clone(), ()))
    }

    /// The accounts last known for `set`, if any.
    pub fn get(&self, set: &DiscoveredSet) -> Option<&Known> {
        self.sets.get(&key(set))
    }

    /// `config` with its discovered sets expanded from what this cache knows (sets it knows
    /// nothing of add no roles): what `status` and `check` show without calling AWS.
    pub fn expand(&self, config: &Config) -> Config {
        let accounts: Vec<Vec<String>> = config
            .discovered
            .iter()
            .map(|set| {
                self.get(set)
                    .map(|k| k.accounts.clone())
                    .unwrap_or_default()
            })
            .collect();
        config.expand(&accounts).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn config(ous: &str, exclude: &str) -> Config {
        let text = format!(
            "[instance]\nrole_name = \"R\"\n\
             [[role]]\nprofile = \"audit-111111111111\"\nrole_arn = \"arn:aws:iam::111111111111:role/Own\"\n\
             [[role_set]]\nrole_name = \"PerformSecurityAudit\"\nprofile = \"audit-{{account_id}}\"\n\
             [role_set.organization]\nous = [{ous}]\nexclude = [{exclude}]\n"
        );
        crate::config::parse(&text, Path::new("c.toml")).unwrap()
    }

    #[test]
    fn a_cache_round_trips_and_expands_the_sets_it_knows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib/accounts.json");
        let config = config("\"ou-ab12-cdef3456\"", "\"333333333333\"");
        let set = &config.discovered[0];
        assert_eq!(
            key(set),
            "aws:ou-ab12-cdef3456:management=false:signer=instance"
        );
        let mut cache = Cache::read(&path).unwrap();
        assert_eq!(cache.expand(&config).roles.len(), 1, "nothing known yet");
        cache.sets.insert(
            key(set),
            Known {
                accounts: ["111111111111", "222222222222", "333333333333"]
                    .map(String::from)
                    .to_vec(),
                discovered: datetime!(2026-11-23 08:00 UTC),
            },
        );
        cache.write(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let read = Cache::read(&path).unwrap();
        assert_eq!(read, cache);
        let expanded = read.expand(&config);
        let profiles: Vec<&str> = expanded.roles.iter().map(|r| r.profile.as_str()).collect();
        // The written role keeps its profile; 333333333333 is excluded.
        assert_eq!(profiles, ["audit-111111111111", "audit-222222222222"]);
        assert_eq!(
            expanded.roles[1].role_arn,
            "arn:aws:iam::222222222222:role/PerformSecurityAudit"
        );
        std::fs::write(&path, b"{").unwrap();
        assert!(Cache::read(&path).unwrap_err().contains("accounts.json"));
    }

    #[test]
    fn changes_name_what_came_and_went() {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(
            changes(&s(&["1", "2", "3"]), &s(&["2", "3", "4"])),
            (s(&["4"]), s(&["1"]))
        );
        assert_eq!(changes(&s(&[]), &s(&["1"])), (s(&["1"]), s(&[])));
    }
}

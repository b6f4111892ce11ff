//! The daemon's state file: what it last did for each profile and what it plans next, so that
//! `status` can answer without asking the daemon. Written atomically (through `fileio`) after
//! every refresh; read by `status`. A `Profile` is also what the daemon keeps in memory for
//! each profile (`tracking`), so the file is that record as is. It holds times, ARNs and error
//! codes, never a credential.
//!
//! Several configs may share a state file (the default path is the same for all), so the file
//! says what it describes: the config it was written for and the files its profiles go to.
//! `status` uses it only when both are its own (`State::mismatch`).
//!
//! The daemon's file is its own user's, mode 0600: it names every user's profiles. Each other
//! owner of profiles gets a file of their own beside it (`owner_path`: `state.alice.json`),
//! theirs and mode 0600, holding only their profiles and files (`State::of`), so that `status`
//! run by that user answers without sudo and shows nothing of anyone else's. The directory is
//! left for others to enter (`Readers::OwnerInSharedDirectory`).

use crate::store::fileio::{self, Owner, Readers};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// The daemon's process id, to tell a running daemon from a stale file.
    pub pid: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated: Option<OffsetDateTime>,
    pub credentials_file: PathBuf,
    /// The config this state is for, as `Origin::config`; `None` in a file written before
    /// the state said so.
    #[serde(default)]
    pub config: Option<String>,
    /// Every file the profiles are written to, as `Origin::files`; empty in such older files.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    pub profiles: BTreeMap<String, Profile>,
    /// Seconds this instance's clock was ahead of AWS's (negative: behind) at the last signed
    /// answer with a `Date`; `None` before one (or in an older file).
    #[serde(default)]
    pub clock_skew_seconds: Option<i64>,
    /// The part of that skew the daemon corrects for when it signs and when it reads expiry
    /// times (`aws::skew`); 0 when it does not.
    #[serde(default)]
    pub clock_correction_seconds: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub role_arn: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expiration: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_refresh: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_refresh: Option<OffsetDateTime>,
    /// Failed refreshes in a row.
    pub failures: u32,
    pub last_error: Option<LastError>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    pub code: String,
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What a state describes: the config (its absolute path, or `ssm:NAME` as given) and the
/// files its profiles are written to, in config order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub config: String,
    pub files: Vec<PathBuf>,
}

impl State {
    /// Why this state does not describe `ours` (and so must not be shown against it), or
    /// `None` when it does.
    pub fn mismatch(&self, ours: &Origin) -> Option<String> {
        let Some(config) = &self.config else {
            return Some(
                "it does not say which config it describes (an older ec2-assume-role wrote it)"
                    .into(),
            );
        };
        let list = |files: &[PathBuf]| {
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            names.join(", ")
        };
        if *config != ours.config {
            Some(format!("it describes config {config}, not {}", ours.config))
        } else if self.files != ours.files {
            Some(format!(
                "it describes the files {}, not {} (the config changed since the daemon \
                 last wrote it)",
                list(&self.files),
                list(&ours.files)
            ))
        } else {
            None
        }
    }

    /// Replaces the state file atomically: mode 0600, owned by `owner` (the running user
    /// when `None`), in a directory others may still enter.
    pub fn write(&self, path: &Path, owner: Option<&Owner>) -> Result<(), fileio::FileError> {
        // Serialising these plain types cannot fail; an empty file would be read as "no state".
        let mut json = serde_json::to_vec_pretty(self).unwrap_or_default();
        json.push(b'\n');
        let readers = Readers::OwnerInSharedDirectory;
        fileio::update_for(path, owner, readers, |_| (json.clone(), ()))
    }

    /// This state cut down to `profiles`, as one owner's file describes it: `origin` is that
    /// owner's files, `credentials_file` the first of them.
    pub fn of(&self, profiles: &BTreeSet<&str>, origin: Origin) -> State {
        State {
            credentials_file: origin.files.first().cloned().unwrap_or_default(),
            config: Some(origin.config),
            files: origin.files,
            profiles: (self.profiles.iter())
                .filter(|(name, _)| profiles.contains(name.as_str()))
                .map(|(name, p)| (name.clone(), p.clone()))
                .collect(),
            ..self.clone()
        }
    }

    /// Reads the state file; `Ok(None)` when there is none, `Err` with the reason when there
    /// is one that cannot be used. Read through `fileio::read`, so that a FIFO or a symlink
    /// planted at the path cannot hang or mislead the reader.
    pub fn read(path: &Path) -> Result<Option<State>, String> {
        let Some(bytes) = fileio::read(path).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        match serde_json::from_slice::<State>(&bytes) {
            Ok(s) if s.version == VERSION => Ok(Some(s)),
            Ok(s) => Err(format!(
                "{}: state file version {}, expected {VERSION}",
                path.display(),
                s.version
            )),
            Err(err) => Err(format!("{}: not a state file: {err}", path.display())),
        }
    }

    /// The state file of `owner`'s profiles, beside the daemon's `path`: `state.json` gives
    /// `state.alice.json`.
    pub fn owner_path(path: &Path, owner: &str) -> PathBuf {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let name = match path.extension() {
            Some(ext) => format!("{stem}.{owner}.{}", ext.to_string_lossy()),
            None => format!("{stem}.{owner}"),
        };
        path.with_file_name(name)
    }

    /// Whether the daemon that wrote this file is still running.
    pub fn daemon_alive(&self) -> bool {
        self.pid != 0 && Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/state.json");
        assert_eq!(State::read(&path).unwrap(), None);
        let mut state = State {
            version: VERSION,
            pid: std::process::id(),
            updated: Some(datetime!(2026-11-23 08:00 UTC)),
            credentials_file: "/home/ec2-user/.aws/credentials".into(),
            config: Some("/etc/ec2-assume-role/config.toml".into()),
            files: vec!["/home/ec2-user/.aws/credentials".into()],
            profiles: BTreeMap::new(),
            clock_skew_seconds: Some(-600),
            clock_correction_seconds: -600,
        };
        state.profiles.insert(
            "audit-111111111111".into(),
            Profile {
                role_arn: "arn:aws:iam::111111111111:role/PerformSecurityAudit".into(),
                expiration: Some(datetime!(2026-11-23 09:00 UTC)),
                last_refresh: Some(datetime!(2026-11-23 08:00 UTC)),
                next_refresh: Some(datetime!(2026-11-23 08:30 UTC)),
                failures: 1,
                last_error: Some(LastError {
                    code: "Throttling".into(),
                    message: "Rate exceeded".into(),
                    at: datetime!(2026-11-23 07:59 UTC),
                }),
            },
        );
        state.write(&path, None).unwrap();
        assert_eq!(State::read(&path).unwrap(), Some(state.clone()));
        assert!(state.daemon_alive());
        std::fs::write(&path, b"{").unwrap();
        assert!(State::read(&path).unwrap_err().contains("state.json"));
    }

    #[test]
    fn a_state_is_used_only_for_the_config_and_files_it_describes() {
        let ours = Origin {
            config: "/etc/ec2-assume-role/config.toml".into(),
            files: vec!["/home/a/.aws/credentials".into()],
        };
        let state = |config: Option<&str>, files: &[&str]| State {
            version: VERSION,
            config: config.map(String::from),
            files: files.iter().map(PathBuf::from).collect(),
            ..State::default()
        };
        let cases = [
            (
                state(Some(&ours.config), &["/home/a/.aws/credentials"]),
                None,
            ),
            (
                state(Some("/etc/other.toml"), &["/home/a/.aws/credentials"]),
                Some("it describes config /etc/other.toml, not /etc/ec2-assume-role/config.toml"),
            ),
            (
                state(Some("ssm:/ear/config"), &["/home/a/.aws/credentials"]),
                Some("it describes config ssm:/ear/config, not"),
            ),
            (
                state(Some(&ours.config), &["/home/b/.aws/credentials"]),
                Some("it describes the files /home/b/.aws/credentials, not /home/a/"),
            ),
            (
                state(Some(&ours.config), &[]),
                Some("it describes the files , not"),
            ),
            (
                state(None, &["/home/a/.aws/credentials"]),
                Some("it does not say which config it describes"),
            ),
        ];
        for (state, want) in cases {
            let got = state.mismatch(&ours);
            match want {
                None => assert_eq!(got, None, "{state:?}"),
                Some(start) => assert!(
                    got.as_deref().is_some_and(|g| g.starts_with(start)),
                    "{got:?} should start {start:?}"
                ),
            }
        }
    }

    #[test]
    fn an_older_state_file_reads_as_of_unknown_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(
            &path,
            br#"{"version": 1, "pid": 42, "updated": null,
                "credentials_file": "/home/a/.aws/credentials", "profiles": {}}"#,
        )
        .unwrap();
        let state = State::read(&path).unwrap().unwrap();
        assert_eq!((state.pid, state.config, state.files), (42, None, vec![]));
    }

    /// An owner's file sits beside the daemon's and holds only that owner's profiles and
    /// files; writing either leaves the directory for others to enter.
    #[test]
    fn each_owner_gets_a_file_of_their_own_profiles_only() {
        use std::os::unix::fs::PermissionsExt;
        let p = Path::new;
        assert_eq!(
            State::owner_path(p("/run/e/state.json"), "alice"),
            p("/run/e/state.alice.json")
        );
        assert_eq!(
            State::owner_path(p("/run/e/state"), "bob"),
            p("/run/e/state.bob")
        );

        let profile = |arn: &str| Profile {
            role_arn: arn.into(),
            ..Profile::default()
        };
        let all = State {
            version: VERSION,
            pid: 42,
            config: Some("/etc/c.toml".into()),
            credentials_file: "/root/.aws/credentials".into(),
            files: vec![
                "/root/.aws/credentials".into(),
                "/home/alice/.aws/credentials".into(),
            ],
            profiles: [("root-p", "arn:1"), ("alice-p", "arn:2")]
                .map(|(n, a)| (n.to_owned(), profile(a)))
                .into(),
            ..State::default()
        };
        let alice = Origin {
            config: "/etc/c.toml".into(),
            files: vec!["/home/alice/.aws/credentials".into()],
        };
        let hers = all.of(&["alice-p"].into(), alice.clone());
        assert_eq!(hers.profiles.keys().collect::<Vec<_>>(), ["alice-p"]);
        assert_eq!(hers.files, alice.files);
        assert_eq!(hers.credentials_file, p("/home/alice/.aws/credentials"));
        assert_eq!((hers.pid, hers.mismatch(&alice)), (42, None));
        assert!(!serde_json::to_string(&hers).unwrap().contains("root"));

        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        for path in [
            run.join("state.json"),
            State::owner_path(&run.join("state.json"), "alice"),
        ] {
            all.write(&path, None).unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                (mode(&path), mode(&run)),
                (0o600, 0o755),
                "{}",
                path.display()
            );
        }
    }
}

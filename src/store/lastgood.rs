//! The last good config from SSM Parameter Store, kept on disk so that a boot while SSM
//! throttles (a fleet starting at once) or is down still writes every profile. After every
//! good read `run` and the daemon replace it atomically (0600, in the service's state
//! directory, `$STATE_DIRECTORY` as systemd sets it, else /var/lib/ec2-assume-role), with the
//! resolved parameter name and version it came from. It is used only for the same name, and
//! only whole: a copy that no longer reads or parses is ignored with the reason, never used
//! in part. It holds the parameter's text as is (a `SecureString` may hold an `external_id`),
//! so it is never logged and never readable by anyone but root.

use crate::store::fileio::{self, FileError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The file's format version.
pub const VERSION: u32 = 1;

/// Where the copy lives without `$STATE_DIRECTORY` (the unit's `StateDirectory=`).
pub const DEFAULT_DIR: &str = "/var/lib/ec2-assume-role";

pub const FILE_NAME: &str = "ssm-config.json";

/// One kept copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copy {
    pub version: u32,
    /// The resolved parameter name (or ARN) it was read from.
    pub parameter: String,
    /// The parameter's version then.
    pub parameter_version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub read_at: OffsetDateTime,
    pub text: String,
}

/// The kept copy's path: `FILE_NAME` in the first directory of `state_directory` (systemd's
/// `$STATE_DIRECTORY`, a colon-separated list), else in `DEFAULT_DIR`.
pub fn path(state_directory: Option<&str>) -> PathBuf {
    let dir = state_directory
        .and_then(|dirs| dirs.split(':').find(|d| d.starts_with('/')))
        .unwrap_or(DEFAULT_DIR);
    Path::new(dir).join(FILE_NAME)
}

impl Copy {
    /// A copy of `text`, read from `parameter` at `parameter_version` at `read_at`.
    pub fn new(
        parameter: &str,
        parameter_version: i64,
        text: &str,
        read_at: OffsetDateTime,
    ) -> Copy {
        Copy {
            version: VERSION,
            parameter: parameter.to_owned(),
            parameter_version,
            read_at,
            text: text.to_owned(),
        }
    }

    /// The copy at `path` for `parameter`: `Ok(None)` when there is none, `Err` with the reason
    /// when the file cannot be used (unreadable, not a copy, another format, another
    /// parameter's). The caller goes on without it.
    pub fn read(path: &Path, parameter: &str) -> Result<Option<Copy>, String> {
        let Some(bytes) = fileio::read(path).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let copy: Copy = serde_json::from_slice(&bytes)
            .map_err(|err| format!("{}: not a kept config: {err}", path.display()))?;
        if copy.version != VERSION {
            return Err(format!(
                "{}: format version {}, expected {VERSION}",
                path.display(),
                copy.version
            ));
        }
        if copy.parameter != parameter {
            return Err(format!(
                "{}: it was read from {}, not {parameter}",
                path.display(),
                copy.parameter
            ));
        }
        Ok(Some(copy))
    }

    /// Replaces the file at `path` atomically (0600, its directory created 0700 if missing).
    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        // Serialising these plain types cannot fail.
        let mut json = serde_json::to_vec_pretty(self).unwrap_or_default();
        json.push(b'\n');
        fileio::update(path, None, |_| (json.clone(), ()))
    }

    /// How old the copy is at `now` (zero if the clock went back), in whole seconds.
    pub fn age(&self, now: OffsetDateTime) -> std::time::Duration {
        std::time::Duration::try_from(now - self.read_at)
            .map(|d| std::time::Duration::from_secs(d.as_secs()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_path_follows_systemds_state_directory() {
        assert_eq!(
            path(None),
            Path::new("/var/lib/ec2-assume-role/ssm-config.json")
        );
        assert_eq!(
            path(Some("/var/lib/a:/var/lib/b")),
            Path::new("/var/lib/a/ssm-config.json")
        );
        // Not absolute: not systemd's; the default is safer than a relative path.
        assert_eq!(
            path(Some("relative")),
            Path::new("/var/lib/ec2-assume-role/ssm-config.json")
        );
    }

    #[test]
    fn a_copy_is_read_back_only_for_its_own_parameter_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state/ssm-config.json");
        let at = datetime!(2026-12-02 04:00 UTC);
        assert_eq!(Copy::read(&file, "/p"), Ok(None));

        let copy = Copy::new("/p", 3, "[instance]\n", at);
        copy.write(&file).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Copy::read(&file, "/p"), Ok(Some(copy.clone())));
        let other = Copy::read(&file, "/q").unwrap_err();
        assert!(other.contains("it was read from /p, not /q"), "{other}");
        assert_eq!(
            copy.age(at + time::Duration::seconds(90)),
            std::time::Duration::from_secs(90)
        );
        assert_eq!(
            copy.age(at - time::Duration::hours(1)),
            std::time::Duration::ZERO
        );

        std::fs::write(&file, "{\"version\": 1, \"parameter\": \"/p\"").unwrap();
        let bad = Copy::read(&file, "/p").unwrap_err();
        assert!(bad.contains("not a kept config"), "{bad}");
        std::fs::write(
            &file,
            serde_json::to_string(&Copy { version: 9, ..copy }).unwrap(),
        )
        .unwrap();
        let newer = Copy::read(&file, "/p").unwrap_err();
        assert!(newer.contains("format version 9"), "{newer}");
    }
}

//! The one error type of a command, and the documented exit codes it maps to.
//!
//! Modules below this one (`config`, `imds`, `sts`, `ssm`, `fileio`) have errors of their own
//! that say what went wrong; an `Error` here wraps one with what we were doing, and knows its
//! exit code, its journal MESSAGE_ID and the structured fields operators search by. A command
//! returns it; `main` reports it once (`Error::report`) and exits with its code. The daemon
//! reports the errors of a refresh or a reload the same way and carries on.
//!
//! This module never formats a credential: the errors it wraps carry paths, ARNs, profile
//! names, error codes and messages only.

use crate::aws::imds::{self, Identity};
use crate::aws::ssm::FetchError;
use crate::base::logging::message_id;
use crate::base::term;
use crate::config::ConfigErrors;
use crate::policy::PolicyError;
use crate::store::fileio::FileError;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing::error;

/// Documented exit codes (`--help`, the man page and docs/operations.md list them); once published, a number never
/// changes meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    Other = 1,
    Usage = 2,
    SomeRolesFailed = 3,
    ConfigInvalid = 4,
    IdentityRefused = 5,
    ImdsUnavailable = 6,
    FileNotWritten = 7,
    ConfigUnavailable = 8,
    DoctorFoundProblems = 9,
    ProfileUnknown = 10,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Why a command (or one refresh or reload of the daemon) could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file or parameter has problems; each is reported on a line of its own.
    #[error("{errors}")]
    ConfigInvalid {
        errors: ConfigErrors,
        /// For a config read from SSM Parameter Store: the parameter's name and version.
        parameter: Option<(String, i64)>,
    },
    /// As root, a config file that another user can change.
    #[error("invalid config: {0}")]
    ConfigUntrusted(FileError),
    /// `[credentials] owner` names no user.
    #[error("invalid config: {}: [credentials] owner: {source}", config.display())]
    OwnerUnknown { config: PathBuf, source: FileError },
    /// A profile asked for on the command line is not in the config.
    #[error(
        "profile {profile} is not configured in {}; configured: {}",
        config.display(),
        configured.join(", ")
    )]
    ProfileNotConfigured {
        profile: String,
        config: PathBuf,
        configured: Vec<String>,
    },
    #[error("reading the config: {source}")]
    ConfigUnavailable {
        parameter: String,
        source: Box<FetchError>,
    },
    /// IMDS did not give what `doing` needed.
    #[error("{doing}: {source}")]
    Imds {
        doing: &'static str,
        source: imds::Error,
    },
    #[error("{mismatch} (config {})", config.display())]
    IdentityRefused {
        mismatch: imds::Mismatch,
        identity: Box<Identity>,
        config: PathBuf,
    },
    /// `what` names the file: "credentials file", "AWS config file".
    #[error("writing the {what}: {source}")]
    FileNotWritten {
        what: &'static str,
        path: PathBuf,
        source: FileError,
    },
    /// Some destinations' files could not be written (each was reported as it happened);
    /// the others were.
    #[error("{} could not be written; the other files were", list(files))]
    FilesNotWritten { files: Vec<PathBuf> },
    /// Some roles failed; each was reported as it happened.
    #[error("{failed} of {total} roles failed")]
    RolesFailed { failed: usize, total: usize },
    /// The fleet's publisher wrote its profiles but could not publish these role sets'
    /// accounts (each was reported as it happened).
    #[error("the accounts of {} could not be published", sets.join(", "))]
    NotPublished { sets: Vec<String> },
    /// The daemon's credential endpoint could not start (an address taken, the token file).
    #[error("{0}")]
    Endpoint(String),
    /// `status`: some profile is missing or expired (the table says which).
    #[error("some profiles are missing or expired")]
    NotFresh,
    /// `doctor`: some checks failed (each was printed with its fix).
    #[error("{failed} of {total} checks failed")]
    ChecksFailed { failed: usize, total: usize },
    /// Reading a file failed, or finding one (a home directory) did, while `doing`.
    #[error("{doing}: {source}")]
    File {
        doing: &'static str,
        source: FileError,
    },
    /// Anything else: `doing` says what, in lowercase, as the message starts.
    #[error("{doing}: {source}")]
    Io {
        doing: &'static str,
        source: std::io::Error,
    },
    /// The command line is wrong in a way clap cannot see.
    #[error("{0}")]
    Usage(String),
    /// `policy` cannot write what was asked of this config.
    #[error("{0}")]
    Policy(#[from] PolicyError),
    /// Before logging is set up, so it is printed to stderr rather than logged.
    #[error("{0}")]
    Startup(String),
    /// A task of ours ended abnormally (a panic, which the panic hook reported).
    #[error("{0}")]
    Internal(String),
}

fn list(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(", ")
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::ConfigInvalid { .. }
            | Error::ConfigUntrusted(_)
            | Error::OwnerUnknown { .. } => Exit::ConfigInvalid,
            Error::ProfileNotConfigured { .. } => Exit::ProfileUnknown,
            Error::ConfigUnavailable { .. } => Exit::ConfigUnavailable,
            Error::Imds { .. } => Exit::ImdsUnavailable,
            Error::IdentityRefused { .. } => Exit::IdentityRefused,
            Error::FileNotWritten { .. } | Error::FilesNotWritten { .. } => Exit::FileNotWritten,
            Error::RolesFailed { .. } | Error::NotPublished { .. } | Error::NotFresh => {
                Exit::SomeRolesFailed
            }
            Error::ChecksFailed { .. } => Exit::DoctorFoundProblems,
            Error::Usage(_) => Exit::Usage,
            // Only the config can fix that: no option makes one template of both roles.
            Error::Policy(PolicyError::MixedRoles { .. }) => Exit::Other,
            Error::Policy(_) => Exit::Usage,
            Error::File { .. }
            | Error::Io { .. }
            | Error::Startup(_)
            | Error::Endpoint(_)
            | Error::Internal(_) => Exit::Other,
        }
    }

    /// The journal MESSAGE_ID of the event that reports this error, if it has one.
    pub fn message_id(&self) -> Option<&'static str> {
        match self {
            Error::ConfigInvalid { .. }
            | Error::ConfigUntrusted(_)
            | Error::OwnerUnknown { .. } => Some(message_id::CONFIG_INVALID),
            Error::ConfigUnavailable { .. } => Some(message_id::CONFIG_UNAVAILABLE),
            Error::Imds { .. } => Some(message_id::IMDS_UNAVAILABLE),
            Error::IdentityRefused { .. } => Some(message_id::IDENTITY_REFUSED),
            Error::FileNotWritten { .. } => Some(message_id::FILE_WRITE_FAILED),
            Error::ProfileNotConfigured { .. }
            | Error::RolesFailed { .. }
            | Error::FilesNotWritten { .. }
            | Error::NotPublished { .. }
            | Error::NotFresh
            | Error::ChecksFailed { .. }
            | Error::File { .. }
            | Error::Io { .. }
            | Error::Usage(_)
            | Error::Policy(_)
            | Error::Startup(_)
            | Error::Endpoint(_)
            | Error::Internal(_) => None,
        }
    }

    /// A short error code for the daemon's state file (`status` shows it as `failing: CODE`).
    pub fn code(&self) -> &'static str {
        match self.exit() {
            Exit::ImdsUnavailable => "ImdsUnavailable",
            Exit::FileNotWritten => "FileNotWritten",
            Exit::ConfigInvalid => "ConfigInvalid",
            Exit::ConfigUnavailable => "ConfigUnavailable",
            Exit::IdentityRefused => "IdentityRefused",
            Exit::Ok
            | Exit::Other
            | Exit::Usage
            | Exit::SomeRolesFailed
            | Exit::DoctorFoundProblems
            | Exit::ProfileUnknown => "Internal",
        }
    }

    /// Reports the error once, as the event operators search for (`journalctl MESSAGE_ID=`),
    /// with its structured fields. Errors already reported where they happened (each failed
    /// role, the `status` table) add nothing. The program's own usage errors are `error:`
    /// lines as clap prints its own, not events; on a terminal, config errors are drawn as
    /// rustc draws errors (the journal gets them too, one line each, when it is in use).
    pub fn report(&self) {
        let id = self.message_id();
        match self {
            Error::Usage(_) | Error::Policy(_) | Error::ProfileNotConfigured { .. } => {
                term::error(&self.to_string())
            }
            Error::ConfigInvalid { errors, parameter } if term::stderr_is_terminal() => {
                let mut drawn = errors.render(term::stderr_colour());
                if let Some((name, version)) = parameter {
                    drawn = format!("ssm:{name} (version {version}):\n{drawn}");
                }
                // The terminal's log filter leaves these out: they were just drawn.
                term::print_err(&drawn);
                for err in &errors.errors {
                    error!(target: term::DRAWN, message_id = id, "invalid config: {err}");
                }
            }
            Error::ConfigInvalid { errors, parameter } => {
                for err in &errors.errors {
                    match parameter {
                        None => error!(message_id = id, "invalid config: {err}"),
                        Some((name, version)) => error!(
                            message_id = id,
                            parameter = %name,
                            version,
                            "invalid config (version {version}): {err}"
                        ),
                    }
                }
            }
            Error::ConfigUnavailable { parameter, .. } => {
                error!(message_id = id, parameter = %parameter, "{self}")
            }
            Error::IdentityRefused { identity, .. } => error!(
                message_id = id,
                instance_role = %identity.role_name,
                instance_profile_arn = %identity.instance_profile_arn,
                "{self}"
            ),
            Error::FileNotWritten { path, .. } => {
                error!(message_id = id, file = %path.display(), "{self}")
            }
            Error::RolesFailed { .. }
            | Error::FilesNotWritten { .. }
            | Error::NotFresh
            | Error::ChecksFailed { .. } => {}
            Error::Startup(_) => eprintln!("ec2-assume-role: {self}"),
            Error::ConfigUntrusted(_)
            | Error::OwnerUnknown { .. }
            | Error::Imds { .. }
            | Error::File { .. }
            | Error::Io { .. }
            | Error::NotPublished { .. }
            | Error::Endpoint(_)
            | Error::Internal(_) => error!(message_id = id, "{self}"),
        }
    }

    /// `doing` failed with `source`.
    pub fn io(doing: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Io { doing, source }
    }

    /// Reading or finding a file failed while `doing`.
    pub fn file(doing: &'static str) -> impl FnOnce(FileError) -> Error {
        move |source| Error::File { doing, source }
    }

    /// IMDS failed while `doing`.
    pub fn imds(doing: &'static str) -> impl FnOnce(imds::Error) -> Error {
        move |source| Error::Imds { doing, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit code, MESSAGE_ID and state-file code of each kind agree with docs/operations.md.
    #[test]
    fn each_kind_has_its_documented_exit_code_and_message_id() {
        let disabled = || imds::Error::Disabled("true".into());
        let table: Vec<(Error, u8, Option<&str>, &str)> = vec![
            (
                Error::imds("reading the instance identity")(disabled()),
                6,
                Some(message_id::IMDS_UNAVAILABLE),
                "ImdsUnavailable",
            ),
            (
                Error::RolesFailed {
                    failed: 1,
                    total: 2,
                },
                3,
                None,
                "Internal",
            ),
            (Error::NotFresh, 3, None, "Internal"),
            (
                Error::ChecksFailed {
                    failed: 2,
                    total: 9,
                },
                9,
                None,
                "Internal",
            ),
            (
                Error::ProfileNotConfigured {
                    profile: "p".into(),
                    config: "/c".into(),
                    configured: vec!["a".into(), "b".into()],
                },
                10,
                None,
                "Internal",
            ),
            (
                Error::FileNotWritten {
                    what: "credentials file",
                    path: "/f".into(),
                    source: FileError::NotAFilePath { path: "/f".into() },
                },
                7,
                Some(message_id::FILE_WRITE_FAILED),
                "FileNotWritten",
            ),
            (
                Error::io("installing signal handlers")(std::io::ErrorKind::Other.into()),
                1,
                None,
                "Internal",
            ),
            (Error::Usage("--template".into()), 2, None, "Internal"),
            (
                Error::Policy(PolicyError::AccountUnknown {
                    role_name: "r".into(),
                }),
                2,
                None,
                "Internal",
            ),
            (
                Error::Policy(PolicyError::MixedRoles {
                    name: "n".into(),
                    first: "a".into(),
                    other: "b".into(),
                }),
                1,
                None,
                "Internal",
            ),
        ];
        for (err, exit, id, code) in table {
            assert_eq!(err.exit() as u8, exit, "{err}");
            assert_eq!(err.message_id(), id, "{err}");
            assert_eq!(err.code(), code, "{err}");
        }
        let err = Error::ProfileNotConfigured {
            profile: "p".into(),
            config: "/c".into(),
            configured: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            err.to_string(),
            "profile p is not configured in /c; configured: a, b"
        );
    }
}

//! The defences docs/security.md names, each proven against the real binary: the instance's
//! identity checked over IMDSv2 only, the credentials file replaced atomically and only where
//! its owner allows, and no secret in any log, state file or /proc.

mod files;
mod identity;
mod secrets;

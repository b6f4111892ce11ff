//! Test helpers, ripgrep style: a `TestDir` (temp dir + fakes) and a command builder that
//! runs the real `ec2-assume-role` binary, so every test reads like a shell session.
//!
//! Fail closed: every process started from here (the binary, the AWS CLI, boto3) gets a
//! cleared environment whose endpoint variables point at loopback fakes, and building a
//! command panics if one is unset or not loopback. Nothing here may ever reach
//! 169.254.169.254 or anything off this machine.
//!
//! One module a job: `testdir` (the temp dir and its fakes), `command` (the builder, the
//! background process), `story` (the reference story's constants and configs), `files`
//! (reading the written files), `secrets`, `wait` (polling with a deadline), `net`, and the
//! stories several test files share: `daemon`, `ssm` (a config in Parameter Store),
//! `organizations` (discovered role sets) and `endpoint` (two owners of the credential
//! endpoint, a keep-alive client); `notify` (systemd's socket), `procfs`, and `faults` (a
//! proxy that answers as an outage does, in front of a fake).

mod command;
pub mod daemon;
pub mod endpoint;
pub mod faults;
mod files;
mod net;
pub mod notify;
pub mod organizations;
pub mod procfs;
mod secrets;
pub mod ssm;
mod story;
mod testdir;
mod wait;

pub use command::{venv, Output, Running, TestCommand, BIN};
pub use files::{assert_profile_written, credential_process, mode, section, user_bytes, value};
pub use net::{free_port, ip};
pub use secrets::{assert_no_secrets, issued_secrets};
pub use story::*;
pub use testdir::TestDir;
pub use wait::wait_for;

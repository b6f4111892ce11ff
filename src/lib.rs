//! ec2-assume-role: assumes IAM roles with an EC2 instance's own credentials (read through
//! IMDSv2 only) and writes them as named profiles in a user's AWS credentials file.
//!
//! The binary in `main.rs` is a thin edge over this library: it parses the command line with
//! `cli`, runs it, and maps the `error::Error` it ends with to a documented exit code.
//! Dependencies run one way, from the edge down: `cli` → `cmd::*` (one file per command) →
//! `agent` (the one-shot job), `tracking` (the daemon's bookkeeping) → `source`, `files` →
//! `config`, `imds`, `sts`, `ssm`, `credfile`, `fileio`, `schedule`, `state`, `clock`, `retry`,
//! `http`, `creds`, `logging`. `error` wraps the lower modules' errors; nothing below `cli`
//! imports `cli`.

pub mod agent;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod credfile;
pub mod creds;
pub mod error;
pub mod fileio;
pub mod files;
pub mod http;
pub mod imds;
pub mod logging;
pub mod retry;
pub mod schedule;
pub mod source;
pub mod ssm;
pub mod state;
pub mod sts;
pub mod tracking;

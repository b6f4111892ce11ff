//! ec2-assume-role: assumes IAM roles with an EC2 instance's own credentials (read through
//! IMDSv2 only) and writes them as named profiles in a user's AWS credentials file.
//!
//! The binary in `main.rs` is a thin edge over this library: it parses the command line with
//! `cli`, runs it, and maps the `agent::error::Error` it ends with to a documented exit code.
//! The folders are the layers, and dependencies run one way, from the edge down:
//! `cli` → `cmd` (one file per command) → `daemon` (the daemon's own parts) → `agent` (the
//! job: where the config comes from, where the files go, the one error) → `aws` (every call
//! to AWS), `store` (every file kept) and `policy` (the IAM side), none of which imports
//! another → `config` → `base` (credentials types, partitions, logs, metrics). `layout` checks
//! this on the source, at every depth; ARCHITECTURE.md explains it.

pub mod agent;
pub mod aws;
pub mod base;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod policy;
pub mod store;

#[cfg(test)]
mod layout;

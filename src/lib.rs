//! ec2-assume-role: assumes IAM roles with an EC2 instance's own credentials (read through
//! IMDSv2 only) and writes them as named profiles in a user's AWS credentials file.
//!
//! The binary in `main.rs` is a thin edge over this library: it parses the command line and
//! calls `cli::main`, which runs the subcommand and returns a documented exit code.

pub mod cli;
pub mod clock;
pub mod config;
pub mod credfile;
pub mod creds;
pub mod daemon;
pub mod fileio;
pub mod http;
pub mod imds;
pub mod logging;
pub mod process;
pub mod retry;
pub mod run;
pub mod schedule;
pub mod source;
pub mod state;
pub mod status;
pub mod sts;

//! The integration tests, one binary (ripgrep's layout): the real `ec2-assume-role` binary
//! against the loopback fakes of `testkit` (IMDS, STS, SSM, Organizations) or moto, each test
//! a short story (write a config, run the binary, read the files with real AWS clients, count
//! the calls), plus the fleet simulation's arithmetic. These tests never reach anything off
//! loopback: `util` fails closed.
//!
//! The modules follow the user docs' pages, so a page's promises are proven in one place:
//! `quickstart` (README's quick start, the reference story), `configuration`, `accounts`,
//! `users`, `iam`, `operations`, `troubleshooting`, `security`, `install` and `benchmarks`
//! (docs/*.md); `util` is the one helper set they all share.

mod accounts;
mod benchmarks;
mod configuration;
mod iam;
mod install;
mod operations;
mod quickstart;
mod security;
mod troubleshooting;
mod users;
mod util;

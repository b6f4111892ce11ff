//! The integration tests, one binary (ripgrep's layout): the real `ec2-assume-role` binary
//! against the loopback fakes of `testkit` (IMDS, STS, SSM) or moto, each test a short story
//! (write a config, run the binary, read the files with real AWS clients, count the calls),
//! plus the fleet simulation's arithmetic. These tests never reach anything off loopback:
//! `util` fails closed.

mod bridge;
mod chain;
mod daemon;
mod discovery;
mod discovery_moto;
mod e2e_moto;
mod endpoint;
mod export;
mod fleet_sim;
mod hardening;
mod metrics;
mod network;
mod policy;
mod process;
mod run;
mod scale;
mod ssm;
mod ssm_kept;
mod status;
mod sts_faults;
mod terminal;
mod users;
mod util;

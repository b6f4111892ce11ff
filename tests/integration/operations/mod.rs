//! Running the agent (docs/operations.md): the daemon and its refreshes, signals, systemd
//! and state file; `status`; the Prometheus metrics; the logs (stderr, journald) and the
//! exit codes, with what the user sees when IMDS or STS fails, and every AWS call through an
//! outage (`outages`); what a person sees at a terminal.

mod clock_skew;
mod daemon;
mod imds_faults;
mod logs;
mod metrics;
mod outages;
mod status;
mod sts_faults;
mod terminal;

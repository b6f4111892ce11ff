//! One file per subcommand, each with its clap arguments and its `run()`; `cli` puts them
//! together. A command returns `Ok` or the `Error` that says why not (and so its exit code);
//! it never exits the process or imports from `cli`.

pub mod check;
pub mod credential_process;
pub mod daemon;
pub mod doctor;
pub mod export;
pub mod policy;
pub mod run;
pub mod status;

use crate::agent::error::Error;
use crate::agent::source::Keep;
use crate::store::lastgood;
use clap::Args;
use std::time::Duration;

/// `--wait`, for the commands that may run at boot.
#[derive(Debug, Args)]
pub struct Wait {
    /// How long to wait for IMDS and the instance-profile credentials at boot, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub wait: u64,
}

impl Wait {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.wait)
    }
}

/// `--start-spread`, for the commands that may run at boot with a config in SSM.
#[derive(Debug, Args)]
pub struct Spread {
    /// With a config in SSM Parameter Store and no kept copy of it yet: wait a random part of
    /// SECONDS (0 to 1800) before the first read, so that a fleet booting together stays under
    /// the account's Parameter Store throughput (40 reads/s by default). The daemon starts
    /// from a kept copy at once and reads SSM within max(SECONDS, 600) instead.
    #[arg(
        long,
        env = "EC2_ASSUME_ROLE_START_SPREAD",
        default_value_t = 0,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(0..=1800)
    )]
    pub start_spread: u64,
}

impl Spread {
    /// How `run` (`daemon` false) or the daemon reads and keeps a config from SSM: the kept
    /// copy in systemd's `$STATE_DIRECTORY`.
    pub fn keep(&self, daemon: bool) -> Keep {
        let state_directory = std::env::var("STATE_DIRECTORY").ok();
        Keep {
            file: lastgood::path(state_directory.as_deref()),
            spread: Duration::from_secs(self.start_spread),
            daemon,
        }
    }
}

/// A command's result on stdout (diagnostics go to stderr).
pub fn print_stdout(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::io("writing to stdout"))
}

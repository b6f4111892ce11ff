//! One file per subcommand, each with its clap arguments and its `run()`; `cli` puts them
//! together. A command returns `Ok` or the `Error` that says why not (and so its exit code);
//! it never exits the process or imports from `cli`.

pub mod check;
pub mod credential_process;
pub mod daemon;
pub mod export;
pub mod policy;
pub mod run;
pub mod status;

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

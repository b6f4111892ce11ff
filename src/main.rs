//! The `ec2-assume-role` binary: parse the command line, run it, and exit with the documented
//! code of the error it ended with, after reporting that error once.

use ec2_assume_role::{agent::error::Exit, base::logging, cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    logging::install_panic_hook();
    match cli::run(cli::parse()) {
        Ok(()) => Exit::Ok.into(),
        Err(err) => {
            err.report();
            err.exit().into()
        }
    }
}

//! The `ec2-assume-role` binary: parse the command line, run, exit with a documented code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    ec2_assume_role::cli::main(ec2_assume_role::cli::Cli::parse())
}

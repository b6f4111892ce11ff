//! The command line: the global options, the subcommands (each defined in its own file under
//! `cmd/`), and the exit codes they document. `run` sets up logging and the async runtime
//! and runs the chosen command. Every exit code is listed in `--help`, in docs/operations.md and in the
//! man page (docgen/ renders `command()` and `EXIT_CODES`); once published, a number never
//! changes meaning (`agent::error::Exit`).

use crate::agent::error::Error;
use crate::agent::source::Source;
use crate::base::logging;
use crate::cmd::{check, credential_process, daemon, doctor, export, policy, run, status};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// The exit codes, as `--help` shows them: a heading, then one `  N  meaning` entry per code,
/// continued on lines indented further (docgen/ reads this layout for the man page).
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every configured profile was written
  1  any other error (see the message)
  2  the command line is wrong (for `policy`: or lacks what the config does not say)
  3  some roles failed (each is logged with its profile, role ARN and error code);
     the others were written. On the fleet's publisher ([discovery] publish): or a role
     set's accounts could not be published. For `status`: some profile is missing or expired
  4  the config file is invalid (the message names file, line and key); nothing was written
  5  the instance identity was refused: its role or account is not the one [instance] names;
     nothing was written and STS was not called
  6  IMDS did not answer (or the instance has no instance-profile credentials) before the
     --wait deadline, or it refused IMDSv2; nothing was written
  7  the credentials or AWS config file could not be written; it was left as it was. With
     several users: some user's file could not be written (each is logged); every other
     file was. For `daemon`: or [daemon] metrics_file could not be written at start
  8  the config could not be read from SSM Parameter Store (no such parameter, access
     denied, or SSM unreachable until the retry deadline); nothing was written
  9  `doctor` found problems (each failed check is printed with its fix)
  10  `export`, `credential-process`: the profile asked for is not in the config";

/// Assumes IAM roles with this EC2 instance's own credentials (read through IMDSv2 only)
/// and writes each as a named profile in a user's ~/.aws/credentials.
#[derive(Debug, Parser)]
#[command(name = "ec2-assume-role", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The TOML config: a file, or `ssm:NAME` for a parameter in SSM Parameter Store (String
    /// or SecureString, read with the instance-profile credentials; NAME may use {instance_id},
    /// {account_id} and {region}).
    #[arg(
        long,
        global = true,
        env = "EC2_ASSUME_ROLE_CONFIG",
        default_value = crate::config::DEFAULT_PATH,
        value_name = "PATH|ssm:NAME"
    )]
    pub config: Source,

    /// Where logs go: the journal when its socket exists, else stderr (auto), or one of them.
    #[arg(long, global = true, value_enum, default_value_t = logging::Target::Auto)]
    pub log: logging::Target,

    /// More detail (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less detail (-q warnings and errors only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; each one's `--help` ends with the exit codes too (`parse`).
#[derive(Debug, Subcommand)]
pub enum Command {
    Run(run::Run),
    Check(check::Check),
    Daemon(daemon::Daemon),
    Status(status::Status),
    CredentialProcess(credential_process::CredentialProcess),
    Export(export::Export),
    Policy(policy::Policy),
    Doctor(doctor::Doctor),
}

/// The command line's definition, with the exit codes under every subcommand's `--help` as
/// under the top one's: what `parse` parses and docgen/ renders.
pub fn command() -> clap::Command {
    Cli::command().mut_subcommands(|c| c.after_help(EXIT_CODES))
}

/// Parses the process's command line (exiting with clap's message and code 2 when it is
/// wrong).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
}

/// Sets up logging and the async runtime, then runs the command.
pub fn run(cli: Cli) -> Result<(), Error> {
    let verbosity =
        i8::try_from(cli.verbose).unwrap_or(i8::MAX) - i8::try_from(cli.quiet).unwrap_or(i8::MAX);
    logging::init(cli.log, verbosity).map_err(Error::Startup)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| Error::Startup(format!("starting the async runtime: {err}")))?;
    let source = &cli.config;
    runtime.block_on(async {
        match &cli.command {
            Command::Run(c) => c.run(source).await,
            Command::Check(c) => c.run(source).await,
            Command::Daemon(c) => c.run(source).await,
            Command::Status(c) => c.run(source).await,
            Command::CredentialProcess(c) => c.run(source).await,
            Command::Export(c) => c.run(source).await,
            Command::Policy(c) => c.run(source).await,
            Command::Doctor(c) => c.run(source).await,
        }
    })
}
